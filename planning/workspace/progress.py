"""Progress over time: dated ledger snapshots and milestone indicators against their targets.

Each ledger-summary import is a dated snapshot of **township counts** (never patient rows),
stored unsuppressed together with the dataset version current at import. :func:`progress_table`
recomputes, for every snapshot, the milestone indicators city-wide and per district

* ``coverage``: share of townships with a community rehab station (``coverage_share`` rule),
* ``home_service_rate``: home patients receiving community rehab (``served_rate`` rule),
* ``staffing``: station staff per client (``staff_client_ratio`` rule),

and sets them against the profile's targets for each milestone year (2020, 2022, 2025 …).
Small-cell suppression happens here, when the table is made for showing or exporting: a rate
whose patient count is from 1 to ``threshold - 1`` is blanked (``suppressed`` is True); the
stored counts are untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from planning.data.ledger import LedgerSummary
from planning.data.model import Dataset
from planning.errors import InputError
from planning.roles import Actor
from planning.rules import load_profile
from planning.rules.profile import Profile
from planning.settings import Settings
from planning.workspace import schema as S
from planning.workspace.datasets import load_dataset
from planning.workspace.store import NotFoundError, Workspace, now

#: Indicator → (metric of the profile rule holding its targets, 中文, English).
INDICATORS: dict[str, tuple[str, str, str]] = {
    "coverage": ("coverage_share", "驿站覆盖率", "Station coverage"),
    "home_service_rate": ("served_rate", "居家患者接受社区康复比例",
                          "Home patients receiving community rehab"),
    "staffing": ("staff_client_ratio", "驿站服务人员与服务对象比", "Station staff per client"),
}
CITY = "全市 city"
_MAIN = ("patients", "patients_served", "eligible")


# --- snapshots ---------------------------------------------------------------------------------
def _counts_frame(counts: LedgerSummary | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(counts, LedgerSummary):
        frame, source = counts.aggregates, counts.source
    elif isinstance(counts, pd.DataFrame):
        frame, source = counts, ""
        if "unit_id" in frame.columns:
            frame = frame.set_index("unit_id")
    else:
        msg = (f"ledger counts: got {type(counts).__name__} but expected a LedgerSummary or a "
               "DataFrame of township counts indexed by unit_id")
        raise InputError(msg)
    missing = [c for c in ("patients", "patients_served") if c not in frame.columns]
    if missing:
        msg = (f"ledger counts: got columns {', '.join(map(str, frame.columns[:8]))} but "
               f"expected township counts including {', '.join(missing)}")
        raise InputError(msg, field=missing[0])
    if frame.index.has_duplicates:
        msg = "ledger counts: a township appears twice; expected one row per unit_id"
        raise InputError(msg, field="unit_id")
    return frame, source


def _int(v: Any) -> int | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else int(v)


def import_ledger(ws: Workspace, project: str, counts: LedgerSummary | pd.DataFrame, *,
                  report_date: date, actor: Actor, replace: bool = False,
                  expected_version: int | None = None) -> int:
    """Store a ledger summary as the project's snapshot for ``report_date``.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name.
    counts : LedgerSummary or DataFrame
        Township counts (:attr:`LedgerSummary.aggregates`, or a frame indexed by ``unit_id``
        with at least ``patients`` and ``patients_served``). Only counts are stored.
    report_date : date
        The reporting date (keyword-only).
    actor : Actor
        Needs ``import_ledger``.
    replace : bool
        Replace an existing snapshot of that date (otherwise refused).
    expected_version : int, optional
        The project version the caller read.

    Returns
    -------
    int
        Number of townships stored.

    Raises
    ------
    InputError
        Not township counts, or a snapshot of that date exists and ``replace`` is False.
    """
    frame, source = _counts_frame(counts)
    if not isinstance(report_date, date):
        msg = f"report_date: got {report_date!r} but expected a date, e.g. 2024-12-31"
        raise InputError(msg, field="report_date")
    rows = []
    for unit_id, rec in frame.iterrows():
        extra = {str(k): _int(v) if k != "visits_per_patient_year" else (
            None if pd.isna(v) else float(v))
            for k, v in rec.items() if k not in _MAIN}
        rows.append({"unit_id": str(unit_id), **{c: _int(rec.get(c)) for c in _MAIN},
                     "extra": json.dumps(extra)})
    target = report_date.isoformat()
    with ws.write(actor, "import_ledger", project=project, target=target) as conn:
        proj = ws.project_in(conn, project)
        ws.bump_project(conn, proj, expected_version)
        old = conn.execute(sa.select(S.ledger_snapshots.c.id).where(
            (S.ledger_snapshots.c.project_id == proj.id)
            & (S.ledger_snapshots.c.report_date == report_date))).scalar()
        if old is not None:
            if not replace:
                msg = (f"project {project!r} already has a ledger snapshot for {target}; "
                       "confirm replacing it, or pick the right reporting date")
                raise InputError(msg, field="report_date")
            conn.execute(S.ledger_snapshots.delete().where(S.ledger_snapshots.c.id == old))
        version_id = conn.execute(sa.select(S.dataset_versions.c.id).where(
            S.dataset_versions.c.project_id == proj.id).order_by(
            S.dataset_versions.c.number.desc()).limit(1)).scalar()
        snap = conn.execute(S.ledger_snapshots.insert().values(
            project_id=proj.id, report_date=report_date, dataset_version_id=version_id,
            source=source[:300], created_at=now(), created_by=actor.name).returning(
            S.ledger_snapshots.c.id)).scalar_one()
        if rows:
            conn.execute(S.ledger_counts.insert(), [{**r, "snapshot_id": snap} for r in rows])
        ws.audit_in(conn, actor, "import_ledger", target, project=project,
                    detail=f"{'replaced' if old else 'stored'} snapshot: {len(rows)} townships")
    return len(rows)


def snapshots(ws: Workspace, project: str) -> pd.DataFrame:
    """List the project's ledger snapshots, oldest first.

    Columns: ``report_date, source, townships, created_at, created_by, dataset_version``.
    """
    d = S.ledger_snapshots
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        n = sa.select(sa.func.count()).where(S.ledger_counts.c.snapshot_id == d.c.id)
        rows = conn.execute(sa.select(
            d.c.report_date, d.c.source, n.scalar_subquery().label("townships"),
            d.c.created_at, d.c.created_by, S.dataset_versions.c.number.label("dataset_version"))
            .outerjoin(S.dataset_versions, S.dataset_versions.c.id == d.c.dataset_version_id)
            .where(d.c.project_id == proj.id).order_by(d.c.report_date)).mappings().all()
    return pd.DataFrame(rows, columns=["report_date", "source", "townships", "created_at",
                                       "created_by", "dataset_version"])


def snapshot_counts(ws: Workspace, project: str, report_date: date, *,
                    suppress: bool = True, settings: Settings | None = None) -> pd.DataFrame:
    """Township counts of one snapshot, indexed by ``unit_id``.

    With ``suppress`` (the default, for showing or exporting) counts from 1 to
    ``threshold - 1`` become ``"<5"``-style text via
    :func:`planning.publish.privacy.suppress_frame_for_export`; ``suppress=False`` gives the
    stored numbers, for computation only.
    """
    from planning.publish.privacy import suppress_frame_for_export

    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        snap = conn.execute(sa.select(S.ledger_snapshots.c.id).where(
            (S.ledger_snapshots.c.project_id == proj.id)
            & (S.ledger_snapshots.c.report_date == report_date))).scalar()
        if snap is None:
            msg = f"project {project!r} has no ledger snapshot for {report_date}"
            raise NotFoundError(msg)
        rows = conn.execute(sa.select(S.ledger_counts).where(
            S.ledger_counts.c.snapshot_id == snap).order_by(S.ledger_counts.c.id)).mappings()
        recs = [{"unit_id": r["unit_id"], **{c: r[c] for c in _MAIN}, **json.loads(r["extra"])}
                for r in rows]
    frame = pd.DataFrame.from_records(recs).set_index("unit_id") if recs else pd.DataFrame(
        columns=list(_MAIN))
    for col in frame.columns:
        if col != "visits_per_patient_year":
            frame[col] = frame[col].astype("Int64")
    if suppress:
        frame = suppress_frame_for_export(frame, settings=settings)
    return frame


# --- progress ----------------------------------------------------------------------------------
def _with_counts(ds: Dataset, counts: pd.DataFrame) -> Dataset:
    units = ds.units.copy()
    ids = units["unit_id"].astype(str)
    for col in _MAIN:
        if col in counts.columns:
            units[col] = pd.array(ids.map(counts[col]).to_numpy(dtype=object, na_value=pd.NA),
                                  dtype="Int64")
    return Dataset(name=ds.name, districts=ds.districts, units=units, facilities=ds.facilities,
                   synthetic=ds.synthetic, sources=ds.sources, data_date=ds.data_date)


def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    """Read a count column as floats, missing as 0 (as the headline indicators count)."""
    return pd.to_numeric(frame[col], errors="coerce").fillna(0).astype(float)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num.astype(float) / den.astype(float)).where(den != 0)


def area_indicators(dataset: Dataset) -> pd.DataFrame:
    """Compute the three milestone indicators city-wide and per district, in one pass.

    Same definitions as :func:`planning.rules.indicators.headline` (``coverage``) and
    :func:`~planning.rules.indicators.overview` (``home_service_rate``, ``staffing`` = staff
    per client) for ``district=None`` and each district, without building a subset per area.

    Returns
    -------
    pandas.DataFrame
        Index: :data:`CITY` then the district names; columns ``coverage``,
        ``home_service_rate``, ``staffing`` and ``patients`` (the count behind the rate).
    """
    units, st = dataset.units, dataset.stations()
    covered_pairs = set(zip(st["district"], st["unit_id"], strict=True))
    covered_any = set(st["unit_id"].dropna())
    u = pd.DataFrame({
        "district": units["district"].to_numpy(dtype=object),
        "n": 1,
        "covered": [(d, i) in covered_pairs for d, i in zip(units["district"], units["unit_id"],
                                                             strict=True)],
        "covered_city": units["unit_id"].isin(covered_any).to_numpy(),
        "patients": _num(units, "patients").to_numpy(),
        "served": _num(units, "patients_served").to_numpy(),
        "known": pd.to_numeric(units["patients"], errors="coerce").notna().to_numpy(),
    })
    s = pd.DataFrame({"district": st["district"].to_numpy(dtype=object),
                      "staff": _num(st, "staff").to_numpy(),
                      "clients": _num(st, "clients").to_numpy()})
    by = u.groupby("district").agg(n=("n", "sum"), covered=("covered", "sum"),
                                   patients=("patients", "sum"), served=("served", "sum"),
                                   known=("known", "sum"))
    staff = s.groupby("district")[["staff", "clients"]].sum()
    names = list(dataset.districts["name"])
    by = by.reindex(names).fillna(0)
    staff = staff.reindex(names).fillna(0)
    city = pd.DataFrame({"n": [len(u)], "covered": [u["covered_city"].sum()],
                         "patients": [u["patients"].sum()], "served": [u["served"].sum()],
                         "known": [u["known"].sum()]}, index=[CITY])
    city_staff = pd.DataFrame({"staff": [s["staff"].sum()], "clients": [s["clients"].sum()]},
                              index=[CITY])
    by, staff = pd.concat([city, by]), pd.concat([city_staff, staff])
    return pd.DataFrame({
        "coverage": _ratio(by["covered"], by["n"]),
        "home_service_rate": _ratio(by["served"], by["patients"]),
        "staffing": _ratio(staff["staff"], staff["clients"]),
        "patients": by["patients"].where(by["known"] > 0),
    })


def _targets(profile: Profile) -> dict[str, dict[int, float]]:
    """Target per milestone year of each indicator, from every rule of its metric.

    A rule with ``targets`` gives one per year; a rule with a ``milestone`` and a ``threshold``
    gives that year's; a threshold without a milestone applies to every year not set otherwise.
    """
    years = profile.milestones
    out: dict[str, dict[int, float]] = {}
    for ind, (metric, _zh, _en) in INDICATORS.items():
        dated: dict[int, float] = {}
        standing: float | None = None
        for rule in (r for r in profile.rules if r.metric == metric):
            if rule.targets:
                dated.update({int(y): float(v) for y, v in rule.targets.items()})
            elif rule.threshold is not None and rule.milestone is not None:
                dated[int(rule.milestone)] = float(rule.threshold)
            elif rule.threshold is not None and standing is None:
                standing = float(rule.threshold)
        out[ind] = {y: dated.get(y, standing) for y in years
                    if dated.get(y, standing) is not None}
    return out


@dataclass(frozen=True)
class ProgressOptions:
    """How :func:`progress_table` reports.

    Attributes
    ----------
    districts : bool
        One row per district as well as city-wide.
    suppress : bool
        Blank rates resting on 1 … ``threshold - 1`` patients (for showing and exporting).
    settings : Settings, optional
        Gives ``suppression_threshold`` (default 5).
    """

    districts: bool = True
    suppress: bool = True
    settings: Settings | None = None


def progress_table(ws: Workspace, project: str, profile: Profile | str, *,
                   options: ProgressOptions | None = None) -> pd.DataFrame:
    """Milestone indicators over time, city-wide and per district, against the targets.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name; every ledger snapshot is one date.
    profile : Profile or str
        Policy profile with the milestone targets (e.g. ``"beijing-2018"``).
    options : ProgressOptions, optional
        Districts or city only, suppression.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (``report_date``, ``area``, ``indicator``) with ``label_zh``,
        ``label_en``, ``value``, ``suppressed`` and ``target_<year>`` for every milestone year
        of the profile (NaN where the profile sets none), plus ``met_<year>``.
    """
    opts = options or ProgressOptions()
    prof = load_profile(profile)
    targets = _targets(prof)
    threshold = opts.settings.suppression_threshold if opts.settings is not None else 5
    snaps = snapshots(ws, project)
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        version_of = dict(conn.execute(sa.select(
            S.ledger_snapshots.c.report_date, S.dataset_versions.c.number).outerjoin(
            S.dataset_versions,
            S.dataset_versions.c.id == S.ledger_snapshots.c.dataset_version_id).where(
            S.ledger_snapshots.c.project_id == proj.id)).all())
    cache: dict[int | None, Dataset] = {}
    records = []
    for report_date in snaps["report_date"]:
        number = version_of.get(report_date)
        if number not in cache:
            cache[number] = load_dataset(ws, project, version=number)
        counts = snapshot_counts(ws, project, report_date, suppress=False)
        table = area_indicators(_with_counts(cache[number], counts))
        if not opts.districts:
            table = table.loc[[CITY]]
        for area, values in table.iterrows():
            small = 0 < values["patients"] < threshold if pd.notna(values["patients"]) else False
            for ind, (_metric, zh, en) in INDICATORS.items():
                hide = opts.suppress and ind == "home_service_rate" and bool(small)
                rec = {"report_date": report_date, "area": area,
                       "level": "city" if area == CITY else "district", "indicator": ind,
                       "label_zh": zh, "label_en": en,
                       "value": np.nan if hide else float(values[ind]), "suppressed": hide}
                for year in prof.milestones:
                    target = targets[ind].get(year, np.nan)
                    rec[f"target_{year}"] = target
                    rec[f"met_{year}"] = (bool(rec["value"] >= target)
                                          if pd.notna(target) and pd.notna(rec["value"])
                                          else pd.NA)
                records.append(rec)
    cols = ["report_date", "area", "level", "indicator", "label_zh", "label_en", "value",
            "suppressed", *(f"target_{y}" for y in prof.milestones),
            *(f"met_{y}" for y in prof.milestones)]
    return pd.DataFrame.from_records(records, columns=cols)
