"""National batch runs on dask: compliance, access and township siting per province/prefecture.

:func:`run_batch` partitions national layers by province (2-digit admin code) or prefecture
(4-digit) and runs, per partition, on a dask cluster (a ``dask.distributed.LocalCluster`` unless a
scheduler address is given):

1. validation: :func:`planning.data.model.make_dataset` on the partition's three layers;
2. compliance: :func:`planning.rules.evaluate` with the chosen profile (city-scope rules treat the
   partition as the "city"; city figures come from the store's ``figures`` table);
3. access: for each township, straight-line minutes from its representative point to the
   nearest rehab station, and the share of population within ``threshold_min``. The distances
   are great-circle distances found with a KD-tree on geocentric unit-sphere coordinates
   (``scipy.spatial.cKDTree``; chord → arc), O(n log n) instead of the dense
   :func:`planning.access.straight_line_matrix`, and converted to minutes with the same
   formula (× ``settings.detour_factor`` at the mode's speed) — labelled
   ``straight_line_fallback``;
4. siting: :class:`planning.siting.TownshipCover` gives every township without a station ≥1 new
   site among candidates inside it (``candidates="centroid"``: its representative point;
   ``"grid"``: a ``spacing_m`` grid, the site nearest its residents' point is chosen), on the
   dense straight-line matrix of the townships needing a site.

Inputs are read per partition from a GeoParquet store (:mod:`planning.batch.national`) through
dask-geopandas collections with one partition per planning partition
(``dask.dataframe.from_map``), so a worker reads only its own rows. Outputs::

    out/findings/<key>.parquet     findings (GeoParquet; facility point / area point)
    out/townships/<key>.parquet    township summary (polygons)
    out/sites/<key>.parquet        suggested sites (points)
    out/_done/<key>.json           done marker: fingerprint, summary row, runtime
    out/_failed/<key>.json         the error and traceback of a failed partition
    out/national_summary.xlsx      one row per partition + totals, fails per rule, run notes

Every file is written to a temporary name and renamed; the done marker is written last. A
rerun skips partitions whose marker matches the input files and options (the fingerprint);
a failed partition is reported and can be rerun alone (``only=[key]``). Read an output layer
back as one partitioned frame with :func:`read_output`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planning import rules
from planning.batch import national
from planning.batch.partition import (
    CANDIDATES,
    BatchSpec,
    PartitionOutput,
    compute_partition,
)
from planning.errors import InputError
from planning.settings import DEFAULT, Settings

OUTPUTS: tuple[str, ...] = ("findings", "townships", "sites")
#: Summary columns that are counts (summed in the totals row).
COUNT_COLUMNS: tuple[str, ...] = (
    "districts", "townships", "population", "stations", "townships_without_station",
    "population_within", "population_within_after", "new_sites", "findings", "pass", "fail",
    "not_assessable",
)


@dataclass(frozen=True)
class PartitionOutcome:
    """Result of one partition in a run: ``status`` is ``done``, ``skipped`` or ``failed``."""

    key: str
    status: str
    row: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    runtime_s: float = 0.0


@dataclass(frozen=True, eq=False)
class BatchResult:
    """A finished batch run.

    Attributes
    ----------
    out_dir
        Output directory.
    summary
        One row per partition (``status`` done/failed/pending), no totals row.
    totals
        Count columns summed over done partitions, shares recomputed from the sums.
    computed, skipped
        Partition keys computed in this run / skipped as already done.
    failed
        Key → error line for partitions that failed (details in ``out/_failed/<key>.json``).
    workbook
        Path of the national summary workbook.
    runtime_s
        Wall time of the run.
    scheduler
        Where the partitions ran (``sync``, a LocalCluster or a scheduler address).
    """

    out_dir: Path
    summary: pd.DataFrame
    totals: pd.Series
    computed: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: Mapping[str, str]
    workbook: Path
    runtime_s: float
    scheduler: str

    @property
    def ok(self) -> bool:
        """Whether no partition failed."""
        return not self.failed


# --------------------------------------------------------------------------- files

def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _done(out: Path, key: str, fingerprint: str) -> dict[str, Any] | None:
    """Return the done marker of ``key`` if it matches ``fingerprint`` and every output exists."""
    marker = _read_json(out / "_done" / f"{key}.json")
    if not marker or marker.get("fingerprint") != fingerprint:
        return None
    if not all((out / name / f"{key}.parquet").exists() for name in OUTPUTS):
        return None
    return marker


def _store_files(root: Path, key: str) -> list[Path]:
    return [root / layer / f"{key[:2]}.parquet" for layer in national.LAYERS]


def fingerprint(root: Path, key: str, spec: BatchSpec) -> str:
    """Hash of the partition's input files (bytes) and of the run options."""
    h = hashlib.sha1(spec.token().encode())
    h.update(key.encode())
    for f in [*_store_files(root, key), root / "figures.parquet"]:
        h.update(f.read_bytes() if f.exists() else b"-")
    return h.hexdigest()[:20]


def _read_part(key: str, *, root: str, layer: str, by: str) -> gpd.GeoDataFrame:
    """One layer of one partition from the store (runs on a worker)."""
    path = Path(root) / layer / f"{key[:2]}.parquet"
    if not path.exists():
        msg = f"no {layer} file for partition {key}"
        raise InputError(msg, source=str(path))
    return gpd.read_parquet(path, filters=[(by, "==", key)])


Task = Callable[..., PartitionOutput]


@dataclass(frozen=True)
class _Job:
    """What every partition of one run shares (picklable, shipped to the workers)."""

    meta: national.NationalLayers
    spec: BatchSpec
    out: str
    settings: Settings
    task: Task


def _run_one(key: str, districts: gpd.GeoDataFrame, units: gpd.GeoDataFrame,
             facilities: gpd.GeoDataFrame, *, job: _Job, fp: str) -> dict[str, Any]:
    """Compute and write one partition unless its done marker already matches (idempotent)."""
    meta, spec, out, settings, task = job.meta, job.spec, job.out, job.settings, job.task
    out_dir = Path(out)
    marker = _done(out_dir, key, fp)
    if marker is not None:
        return {**marker, "status": "skipped"}
    t0 = time.perf_counter()
    layers = national.NationalLayers(districts, units, facilities, meta.figures, meta.names,
                                     meta.synthetic, meta.sources)
    res = task(key, layers, spec, settings=settings)
    for name in OUTPUTS:
        frame = getattr(res, name)
        _atomic_write(out_dir / name / f"{key}.parquet", frame.to_parquet)
    runtime = round(time.perf_counter() - t0, 3)
    marker = {"key": key, "fingerprint": fp, "row": res.row, "fails_by_rule": res.fails_by_rule,
              "runtime_s": runtime, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "host": socket.gethostname(), "pid": os.getpid()}
    _write_json(out_dir / "_done" / f"{key}.json", marker)
    (out_dir / "_failed" / f"{key}.json").unlink(missing_ok=True)
    return {**marker, "status": "done"}


# --------------------------------------------------------------------------- driver

def _prepare(source: national.NationalLayers | str | Path, out: Path) -> tuple[Path, Any]:
    if isinstance(source, national.NationalLayers):
        root = out / "_inputs"
        national.write_store(source, root)
        return root, source
    root = Path(source)
    if not (root / "districts").is_dir():
        msg = "expected a GeoParquet store (districts/, units/, facilities/) written by " \
              "planning.batch.national.write_store"
        raise InputError(msg, source=str(root))
    return root, None


def _meta(root: Path, layers: national.NationalLayers | None) -> national.NationalLayers:
    """Names, figures and labels without the rows (shipped to every task)."""
    if layers is None:
        figs = root / "figures.parquet"
        names = root / "names.parquet"
        meta = pd.read_parquet(root / "meta.parquet").iloc[0] if (root / "meta.parquet") \
            .exists() else None
        layers = national.NationalLayers(
            None, None, None,  # type: ignore[arg-type]
            pd.read_parquet(figs) if figs.exists() else pd.DataFrame(),
            pd.read_parquet(names)["name"].to_dict() if names.exists() else {},
            tuple(s for s in str(meta["synthetic"]).split(";") if s) if meta is not None else (),
            tuple(s for s in str(meta["sources"]).split("\n") if s) if meta is not None else ())
    return national.NationalLayers(None, None, None, layers.figures,  # type: ignore[arg-type]
                                   layers.names, layers.synthetic, layers.sources)


def _outcome(key: str, rec: Mapping[str, Any]) -> PartitionOutcome:
    return PartitionOutcome(key, rec["status"], rec.get("row", {}), None,
                            float(rec.get("runtime_s", 0.0)))


def _fail(out: Path, key: str, exc: BaseException, tb: str, fp: str) -> PartitionOutcome:
    error = f"{type(exc).__name__}: {exc}"
    _write_json(out / "_failed" / f"{key}.json", {
        "key": key, "error": error, "traceback": tb, "fingerprint": fp,
        "failed": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return PartitionOutcome(key, "failed", {}, error)


def _run_sync(todo: list[str], run: Callable[[str], dict[str, Any]], out: Path,
              fps: Mapping[str, str], report: Callable[[PartitionOutcome], None]) -> None:
    for key in todo:
        try:
            report(_outcome(key, run(key)))
        except Exception as exc:  # a failed partition is reported, the others go on
            report(_fail(out, key, exc, traceback.format_exc(), fps[key]))


@dataclass(frozen=True)
class _Where:
    root: Path
    by: str
    out: Path


def _run_dask(todo: list[str], job: _Job, where: _Where,
              fps: Mapping[str, str], report: Callable[[PartitionOutcome], None], *,
              client: Any, retries: int) -> None:
    root, by, out = where.root, where.by, where.out
    import dask.dataframe as dd
    from dask import delayed
    from distributed import as_completed

    frames = {}
    for layer in national.LAYERS:
        meta = _read_part(todo[0], root=str(root), layer=layer, by=by).iloc[:0]
        # one dask-geopandas partition per planning partition; read on the worker
        frames[layer] = dd.from_map(_read_part, todo, root=str(root), layer=layer, by=by,
                                    meta=meta, enforce_metadata=False)
    tasks = [delayed(_run_one, pure=False)(key, *(frames[n].partitions[i]
                                                  for n in national.LAYERS), job=job,
                                           fp=fps[key])
             for i, key in enumerate(todo)]
    futures = client.compute(tasks, retries=retries)
    key_of = {f.key: k for f, k in zip(futures, todo, strict=True)}
    for fut in as_completed(futures):
        key = key_of[fut.key]
        if fut.status == "finished":
            report(_outcome(key, fut.result()))
        else:
            exc = fut.exception()
            tb = "".join(traceback.format_tb(fut.traceback())) if fut.traceback() else ""
            report(_fail(out, key, exc, tb, fps[key]))
        fut.release()


def _client(scheduler: str | None, n_workers: int | None, processes: bool) -> tuple[Any, str]:
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        return Client(address), str(address)
    n = n_workers or min(4, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                           dashboard_address=None, host="127.0.0.1" if processes else None)
    return Client(cluster), f"LocalCluster({n} {'processes' if processes else 'threads'})"


@dataclass(frozen=True)
class BatchOptions:
    """What to compute in every partition.

    Attributes
    ----------
    by : str
        Partition level: ``province`` or ``prefecture``.
    profile : str
        Packaged profile name or YAML path, for :func:`planning.rules.evaluate`.
    year : int, optional
        Milestone year (``None``: every milestone).
    threshold_min : float
        Access threshold in minutes.
    mode : str
        ``walk`` or ``drive``; speeds from ``settings``.
    candidates : str
        Siting candidates: ``centroid`` (one per township without a station) or ``grid``.
    spacing_m : float
        Grid spacing for ``candidates="grid"``.
    """

    by: str = "province"
    profile: str = "beijing-2018"
    year: int | None = None
    threshold_min: float = 30.0
    mode: str = "drive"
    candidates: str = "centroid"
    spacing_m: float = 5000.0


@dataclass(frozen=True)
class RunOptions:
    """How to run the partitions: which, where, and how hard to retry.

    Attributes
    ----------
    only : tuple of str, optional
        Run only these partition keys (others are untouched; the workbook still lists all).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); ``"sync"`` runs the
        partitions one after another in this process without dask. ``None``: the dask config's
        ``scheduler-address`` (env ``DASK_SCHEDULER_ADDRESS``), else a new LocalCluster on
        127.0.0.1 with no dashboard. Workers must see ``out_dir`` and the store at the same path.
    client : distributed.Client, optional
        An existing client to use instead (not closed here).
    n_workers : int, optional
        LocalCluster size (default ``min(4, cpu_count)``).
    processes : bool
        LocalCluster worker kind.
    retries : int
        Automatic dask retries of a partition that raised (a killed worker is always retried
        by dask up to its ``allowed-failures``).
    force : bool
        Recompute partitions even when done.
    task : callable
        The per-partition computation (default :func:`compute_partition`); must be picklable.
    """

    only: tuple[str, ...] | None = None
    scheduler: str | None = None
    client: Any = None
    n_workers: int | None = None
    processes: bool = True
    retries: int = 0
    force: bool = False
    task: Task = compute_partition


def run_batch(
    source: national.NationalLayers | str | Path,
    out_dir: str | Path,
    options: BatchOptions | None = None,
    *,
    run: RunOptions | None = None,
    progress: Callable[[PartitionOutcome, int, int], None] | None = None,
    settings: Settings = DEFAULT,
) -> BatchResult:
    """Run the compliance check, access summary and township siting per partition on dask.

    Parameters
    ----------
    source
        :class:`~planning.batch.national.NationalLayers` (written to ``out_dir/_inputs`` first) or
        the directory of a GeoParquet store (:func:`planning.batch.national.write_store`).
    out_dir
        Output directory (see the module docstring for the layout).
    options
        What to compute (:class:`BatchOptions`; default: Beijing 2018 profile by province).
    run
        Which partitions and where (:class:`RunOptions`; default: all, new LocalCluster).
    progress
        Called after each partition with ``(outcome, n_finished, n_todo)``.
    settings
        Speeds, detour factor and solver limits recorded in the fingerprint.

    Returns
    -------
    BatchResult

    Raises
    ------
    InputError
        Unknown options or partition keys, or a store that cannot be read.
    """
    t0 = time.perf_counter()
    opts, run = options or BatchOptions(), run or RunOptions()
    by, profile, mode, candidates = opts.by, opts.profile, opts.mode, opts.candidates
    if candidates not in CANDIDATES:
        msg = f"unknown candidates {candidates!r}; expected one of {', '.join(CANDIDATES)}"
        raise InputError(msg, field="candidates")
    if mode not in ("walk", "drive"):
        msg = f"unknown mode {mode!r}; expected walk or drive"
        raise InputError(msg, field="mode")
    rules.load_profile(profile)  # refuse a bad profile before starting workers
    spec = BatchSpec(by=national._check_level(by), profile=str(profile), year=opts.year,
                     threshold_min=float(opts.threshold_min), mode=mode, candidates=candidates,
                     spacing_m=float(opts.spacing_m),
                     speed_kmh=settings.walk_speed_kmh if mode == "walk"
                     else settings.drive_speed_kmh,
                     detour_factor=settings.detour_factor,
                     time_limit=settings.solver_time_limit_s, mip_gap=settings.solver_mip_gap)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root, layers = _prepare(source, out)
    keys = national.store_keys(root, by)
    if run.only is not None:
        wanted = [str(k) for k in run.only]
        unknown = sorted(set(wanted) - set(keys))
        if unknown:
            msg = f"unknown partition(s) {', '.join(unknown)}; known: {', '.join(keys)}"
            raise InputError(msg, field="only")
        selected = [k for k in keys if k in set(wanted)]
    else:
        selected = keys
    fps = {k: fingerprint(root, k, spec) for k in keys}
    outcomes: dict[str, PartitionOutcome] = {}
    todo = []
    for key in selected:
        if not run.force and (marker := _done(out, key, fps[key])) is not None:
            outcomes[key] = _outcome(key, {**marker, "status": "skipped"})
        else:
            todo.append(key)
    if run.force:
        for key in todo:
            (out / "_done" / f"{key}.json").unlink(missing_ok=True)

    def report(o: PartitionOutcome) -> None:
        outcomes[o.key] = o
        if progress is not None:
            progress(o, sum(k in outcomes for k in todo), len(todo))

    job = _Job(_meta(root, layers), spec, str(out), settings, run.task)
    where = "sync"
    if todo and run.scheduler == "sync":
        def one(key: str) -> dict[str, Any]:
            parts = [_read_part(key, root=str(root), layer=n, by=by) for n in national.LAYERS]
            return _run_one(key, *parts, job=job, fp=fps[key])

        _run_sync(todo, one, out, fps, report)
    elif todo:
        own = run.client is None
        client, where = (run.client, str(run.client.scheduler.address)) if not own else \
            _client(run.scheduler, run.n_workers, run.processes)
        try:
            _run_dask(todo, job, _Where(root, by, out), fps, report, client=client,
                      retries=run.retries)
        finally:
            if own:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None:
                    cluster.close()
    summary, by_rule = _collect(out, keys, fps)
    totals = _totals(summary)
    workbook = out / "national_summary.xlsx"
    _write_workbook(workbook, summary, totals, by_rule, spec, layers or _meta(root, None),
                    where)
    return BatchResult(
        out_dir=out, summary=summary, totals=totals,
        computed=tuple(k for k in todo if outcomes.get(k) and outcomes[k].status == "done"),
        skipped=tuple(k for k, o in outcomes.items() if o.status == "skipped"),
        failed={k: o.error or "" for k, o in outcomes.items() if o.status == "failed"},
        workbook=workbook, runtime_s=time.perf_counter() - t0, scheduler=where)


# --------------------------------------------------------------------------- summary

def _collect(out: Path, keys: list[str],
             fps: Mapping[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary rows of every partition (done from its marker; failed/pending otherwise)."""
    rows, fails = [], {}
    for key in keys:
        marker = _done(out, key, fps[key])
        if marker is not None:
            rows.append({**marker["row"], "status": "done", "runtime_s": marker["runtime_s"],
                         "error": ""})
            fails[key] = marker.get("fails_by_rule", {})
            continue
        failed = _read_json(out / "_failed" / f"{key}.json")
        status = "failed" if failed and failed.get("fingerprint") == fps[key] else "pending"
        rows.append({"partition": key, "status": status,
                     "error": failed["error"] if status == "failed" else ""})
    summary = pd.DataFrame(rows)
    for col in COUNT_COLUMNS:
        if col not in summary:
            summary[col] = np.nan
    summary = _shares(summary)
    by_rule = pd.DataFrame.from_dict(fails, orient="index").fillna(0).astype(int)
    by_rule.index.name = "partition"
    return summary, by_rule.reindex(sorted(by_rule.columns), axis=1)


def _shares(frame: pd.DataFrame) -> pd.DataFrame:
    pop = frame["population"].astype(float)
    town = frame["townships"].astype(float)
    return frame.assign(
        station_coverage=1 - frame["townships_without_station"].astype(float)
        / town.where(town > 0),
        share_within=frame["population_within"].astype(float) / pop.where(pop > 0),
        share_within_after=frame["population_within_after"].astype(float) / pop.where(pop > 0))


def _totals(summary: pd.DataFrame) -> pd.Series:
    """Count summed over done partitions; shares recomputed from the sums."""
    done = summary[summary["status"] == "done"]
    sums = done[list(COUNT_COLUMNS)].astype(float).sum()
    tot = _shares(pd.DataFrame([sums]))
    out = tot.iloc[0].astype(object)
    out["partition"], out["name"], out["status"] = "TOTAL", "全国合计 total", \
        f"{len(done)}/{len(summary)} done"
    return out


def _write_workbook(path: Path, summary: pd.DataFrame, totals: pd.Series,
                    by_rule: pd.DataFrame, spec: BatchSpec, meta: national.NationalLayers,
                    where: str) -> None:
    first = ["partition", "name", "status"]
    cols = first + [c for c in summary.columns if c not in first]
    table = pd.concat([summary[cols], totals.to_frame().T.reindex(columns=cols)],
                      ignore_index=True)
    rule_tab = by_rule.copy()
    if len(rule_tab):
        rule_tab.loc["TOTAL"] = rule_tab.sum()
    synthetic = ", ".join(meta.synthetic) or "none"
    about = pd.DataFrame({"item": [
        "what", "partitions", "synthetic layers", "access method", "siting", "scheduler",
        *[f"option {k}" for k in asdict(spec)], *[f"source {i + 1}" for i in
                                                  range(len(meta.sources))]],
        "value": [
        "National batch run: compliance (rules.evaluate), access, township siting",
        f"{len(summary)} by {spec.by}; the last row of 'partitions' is the total "
        "(counts summed, shares recomputed)",
        f"{synthetic} — SYNTHETIC data are labelled in every output (column 'synthetic')",
        "straight-line fallback: great-circle distance (KD-tree) × detour factor at the mode "
        "speed, from each township's representative point to the nearest rehab station",
        f"TownshipCover: every township without a station gets ≥1 new site "
        f"({spec.candidates} candidates)",
        where, *[str(v) for v in asdict(spec).values()], *meta.sources]})

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            table.to_excel(xl, sheet_name="partitions", index=False)
            rule_tab.to_excel(xl, sheet_name="fails_by_rule")
            about.to_excel(xl, sheet_name="about", index=False)
            ws = xl.sheets["partitions"]
            ws.freeze_panes = "D2"
            for col in ws.columns:
                ws.column_dimensions[col[0].column_letter].width = max(
                    10, min(28, len(str(col[0].value)) + 2))

    _atomic_write(path, write)


def read_output(out_dir: str | Path, layer: str = "townships") -> Any:
    """One output layer of a run as a dask-geopandas GeoDataFrame (one partition per file).

    ``layer`` is ``findings``, ``townships`` or ``sites``; call ``.compute()`` for a
    GeoDataFrame.
    """
    import dask_geopandas

    if layer not in OUTPUTS:
        msg = f"unknown output layer {layer!r}; expected one of {', '.join(OUTPUTS)}"
        raise InputError(msg, field="layer")
    files = sorted((Path(out_dir) / layer).glob("*.parquet"))
    if not files:
        msg = f"no {layer}/*.parquet in {out_dir}; run the batch first"
        raise InputError(msg, source=str(out_dir))
    return dask_geopandas.read_parquet([str(f) for f in files])
