"""Command line: ``jingkang check | suggest | export`` over the same engine as the app.

Exit codes: 0 success; 1 compliance failures found (``check --fail-on-findings``) or no proven
optimum (``suggest``); 2 bad input (file, row and field are printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planning.data.model import Dataset

if TYPE_CHECKING:  # annotations only: the commands import the engine lazily (fast --help)
    import geopandas as gpd
    import pandas as pd

    from planning.batch.runner import PartitionOutcome
    from planning.rules.profile import Profile
from planning.errors import InfeasibleError, InputError

app = typer.Typer(
    help="jingkang-planner: check, site and export the community mental-health rehab network.",
    no_args_is_help=True,
    add_completion=False,
)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Directory with districts.*, units.*, facilities.* "
                 "(GeoJSON/GPKG/zipped SHP/CSV/Excel). Default: the Beijing demo."),
]
DatumOpt = Annotated[str, typer.Option(help="Coordinates of the files: wgs84, gcj02 or bd09.")]
DistrictOpt = Annotated[str | None, typer.Option(help="Restrict to one district (by name).")]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", help="Import mapping (YAML saved by the Data page): column names, "
                 "fixed values, category -> kind, datum per file, dataset name and sources."),
]
RepairOpt = Annotated[bool, typer.Option("--repair", help="Make invalid polygons valid (keep "
                                          "their polygonal parts) and report what changed.")]
LangOpt = Annotated[str, typer.Option(help="Language of labels: zh or en.")]


@app.callback()
def _setup() -> None:
    """jingkang-planner: check, site and export the community mental-health rehab network."""
    from planning.publish.privacy import configure_logging

    configure_logging()


def _find(folder: Path, stem: str) -> Path:
    if not folder.is_dir():
        msg = "not a folder (or it does not exist)"
        raise InputError(msg, source=str(folder), field="--data")
    found = [folder / f"{stem}{suffix}"
             for suffix in (".gpkg", ".geojson", ".json", ".zip", ".shp", ".csv", ".xlsx")
             if (folder / f"{stem}{suffix}").exists()]
    if len(found) > 1:
        msg = (f"several {stem} files ({', '.join(p.name for p in found)}); keep one of them "
               "in the folder so it is clear which one to read")
        raise InputError(msg, source=str(folder), field=stem)
    if found:
        return found[0]
    msg = f"no {stem}.* file (gpkg/geojson/zip/shp/csv/xlsx) in {folder}"
    raise InputError(msg, source=str(folder))


OUT_SUFFIXES = {"check": (".xlsx", ".csv", ".gpkg"), "suggest": (".gpkg", ".csv")}
EXPORT_FORMATS = ("html", "png", "pdf", "gpkg", "brief")


def _out_file(out: Path | None, command: str) -> Path | None:
    """Check ``--out`` before any work: a known suffix; its folder is created if missing."""
    if out is None:
        return None
    allowed = OUT_SUFFIXES[command]
    if out.suffix.lower() not in allowed:
        msg = f"unsupported output {out.suffix or '(none)'}; use {', '.join(allowed)}"
        raise InputError(msg, source=str(out), field="--out")
    if out.is_dir():
        msg = "is a folder; give a file name"
        raise InputError(msg, source=str(out), field="--out")
    _make_folder(out.parent)
    return out


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the output folder: {exc.strerror or exc}"
        raise InputError(msg, source=str(folder), field="--out") from exc


def _formats(formats: str) -> list[str]:
    """Check every export format asked for before anything is written."""
    wanted = sorted({f.strip().lower() for f in formats.split(",") if f.strip()})
    unknown = [f for f in wanted if f not in EXPORT_FORMATS]
    if unknown or not wanted:
        msg = (f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from "
               f"{', '.join(EXPORT_FORMATS)}")
        raise InputError(msg, field="--formats")
    return wanted


def _check_year(prof: object, year: int | None) -> None:
    """Refuse a ``--year`` the profile has no milestone for (names the milestones)."""
    if year is None:
        return
    if hasattr(prof, "check_year"):  # the profile knows its valid years
        prof.check_year(year)
        return
    milestones = tuple(getattr(prof, "milestones", ()) or ())
    if milestones and year not in milestones:
        msg = (f"year {year} is not a milestone of profile {getattr(prof, 'name', '')!r}; "
               f"milestones: {', '.join(map(str, milestones))}")
        raise InputError(msg, source=getattr(prof, "source", None), field="--year")


def _safe_csv(frame: object) -> object:
    """Text cells starting with ``= + - @`` get a leading ``'`` so no spreadsheet runs them."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v)
    return out


def load(data: Path | None, datum: str, *, mapping: Path | None = None,
         repair: bool = False) -> Dataset:
    """Return the dataset from ``--data`` (through ``--mapping``) or the Beijing demo.

    With a mapping or ``--repair`` the import's statements (datum conversions with their shift,
    ignored rows, repairs) and cross-layer warnings are printed to stderr.
    """
    if mapping is not None or repair:
        from planning.data.mapping import import_files, load_mapping

        spec = load_mapping(mapping) if mapping is not None else None
        folder = data if data is not None else (mapping.parent if mapping else Path("."))
        named = {k for k, v in (spec.layers.items() if spec else []) if v.file}
        files = {k: _find(folder, k) for k in ("districts", "units", "facilities")
                 if k not in named}
        result = import_files(files, spec, name=folder.name, datum=datum, repair=repair,
                              folder=folder)
        for line in result.describe("en"):
            typer.echo(f"import: {line}", err=True)
        for issue in result.issues:
            typer.secho(f"{issue.level}: {issue}", err=True, fg=typer.colors.YELLOW)
        if any(i.level == "error" for i in result.issues):
            raise InputError(str(next(i for i in result.issues if i.level == "error")))
        return result.dataset
    if data is None:
        from planning.demo import beijing_demo

        return beijing_demo()
    from planning.data.io import load_dataset

    return load_dataset(_find(data, "districts"), _find(data, "units"),
                        _find(data, "facilities"), name=data.name, datum=datum)


def _fail_input(exc: InputError) -> None:
    typer.secho(f"input error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _identity(ds: Dataset, district: str | None, year: int | None) -> None:
    """Print what the numbers below describe: dataset, date, sources, synthetic parts, scope."""
    scope = district or "all districts"
    typer.echo(f"dataset: {ds.name}" + (f" ({ds.data_date})" if ds.data_date else "")
               + f"; scope: {scope}" + (f"; milestone {year}" if year else ""))
    for line in ds.sources:
        typer.echo(f"  source: {line}")
    if ds.synthetic:
        typer.echo(f"  SYNTHETIC: {', '.join(ds.synthetic)}")


def _scope(ds: Dataset, district: str | None) -> Dataset:
    """Return the dataset restricted to ``district`` (unknown names are an input error)."""
    if district is None:
        return ds
    names = ds.district_names()
    if district not in names:
        close = [n for n in names if district and (district in n or n in district)]
        hint = (f"did you mean {', '.join(repr(n) for n in close)}? Give the full name" if close
                else f"expected one of {', '.join(names)}")
        msg = f"unknown district {district!r}; {hint}"
        raise InputError(msg, field="district")
    return ds.subset([district])


@app.command()
def check(
    data: DataOpt = None,
    datum: DatumOpt = "wgs84",
    mapping: MappingOpt = None,
    repair: RepairOpt = False,
    district: DistrictOpt = None,
    profile: Annotated[str, typer.Option(help="Profile name (see --list) or path to a YAML.")]
    = "beijing-2018",
    year: Annotated[int | None, typer.Option(help="Milestone year (default: every milestone).")]
    = None,
    out: Annotated[Path | None, typer.Option(help="Write findings to .xlsx (workbook), .csv "
                                             "or .gpkg.")] = None,
    list_profiles: Annotated[bool, typer.Option("--list", help="List profiles and exit.")]
    = False,
    fail_on_findings: Annotated[bool, typer.Option(help="Exit 1 when any rule fails.")] = False,
) -> None:
    """Check every rule of a policy profile; print failures per rule with their clause."""
    from planning import rules

    if list_profiles:
        for name in rules.list_profiles():
            typer.echo(name)
        return
    try:
        out = _out_file(out, "check")
        ds = load(data, datum, mapping=mapping, repair=repair)
        prof = rules.load_profile(profile)
        _check_year(prof, year)
        _scope(ds, district)
        findings = rules.evaluate_scope(ds, prof, district=district, year=year)
    except InputError as exc:
        _fail_input(exc)
    _identity(ds, district, year)
    summary = rules.summarise(findings)
    for _, r in summary.by_rule.iterrows():
        mark = "FAIL" if r["fail"] else ("n/a " if r["not_assessable"] else "ok  ")
        ms = f" [{int(r['milestone'])}]" if not _isna(r["milestone"]) else ""
        typer.echo(f"{mark} {r['rule_id']}{ms}: {r['fail']} fail / {r['pass']} pass / "
                   f"{r['not_assessable']} n/a — {r['clause']} {r['title_en']}")
    n_fail = int((findings["status"] == "fail").sum())
    typer.echo(f"{n_fail} failing findings in {len(findings)}")
    if out is not None:
        try:
            _write_findings(_public(findings, ds, prof), prof, _scope(ds, district), out)
        except OSError as exc:
            _fail_input(InputError(f"cannot write: {exc.strerror or exc}", source=str(out)))
        typer.echo(f"wrote {out}")
    if fail_on_findings and n_fail:
        raise typer.Exit(1)


def _isna(v: object) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def _public(findings: pd.DataFrame, ds: Dataset, prof: Profile) -> pd.DataFrame:
    """Return findings as files may carry them (patient rates of small areas blanked)."""
    from planning.publish.privacy import public_findings

    return public_findings(findings, ds.units, {r.id: r.metric for r in prof.rules})


def _write_findings(findings: pd.DataFrame, prof: Profile, ds: Dataset, out: Path) -> None:
    from planning.publish import report, workbook

    suffix = out.suffix.lower()
    if suffix == ".xlsx":
        note = ds.synthetic_note
        workbook.compliance_workbook(findings, prof, out, dataset_name=ds.name,
                                     synthetic_note=note)
    elif suffix == ".csv":
        _safe_csv(findings).to_csv(out, index=False, encoding="utf-8-sig")
    elif suffix == ".gpkg":
        report.export_gpkg(ds, out, findings=findings)
    else:
        typer.secho(f"unsupported output {suffix}; use .xlsx, .csv or .gpkg", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(2)


def _write_points(points: gpd.GeoDataFrame, out: Path, *, layer: str) -> None:
    """Write a point layer to ``out``: CSV with lon/lat (formula-safe) or a GeoPackage layer."""
    if out.suffix.lower() == ".csv":
        _safe_csv(points.drop(columns="geometry").assign(
            lon=points.geometry.x, lat=points.geometry.y)).to_csv(out, index=False)
    else:
        from planning.data.io import write_gpkg

        write_gpkg({layer: points}, out)
    typer.echo(f"wrote {out}")


@app.command()
def suggest(
    data: DataOpt = None,
    datum: DatumOpt = "wgs84",
    mapping: MappingOpt = None,
    repair: RepairOpt = False,
    district: DistrictOpt = None,
    model: Annotated[str, typer.Option(help="township_cover, mclp, pmedian, lscp, "
                                       "cap_pmedian or fair_mclp")] = "township_cover",
    p: Annotated[int, typer.Option(help="New sites (mclp, pmedian, cap_pmedian).")] = 3,
    threshold: Annotated[float, typer.Option(help="Minutes (coverage models).")] = 30.0,
    mode: Annotated[str, typer.Option(help="walk or drive.")] = "walk",
    weight: Annotated[str, typer.Option(help="population, eligible or patients.")]
    = "population",
    network: Annotated[Path | None, typer.Option(help="OSM XML or GraphML street network; "
                                                 "default: straight-line fallback.")] = None,
    time_limit: Annotated[float, typer.Option(help="Solver time limit, seconds.")] = 60.0,
    out: Annotated[Path | None, typer.Option(help="Write sites to .gpkg or .csv.")] = None,
    profile: Annotated[str, typer.Option(help="Profile name or YAML path: station capacity, "
                                         "floor areas, findings before/after.")]
    = "beijing-2018",
    year: Annotated[int | None, typer.Option(help="Milestone year for the findings count.")]
    = None,
    participation: Annotated[float, typer.Option(
        help="cap_pmedian: share of eligible patients expected to attend (clients).")] = 0.5,
    min_share: Annotated[float | None, typer.Option(
        help="fair_mclp: minimum share of every township within the threshold "
             "(default: maximise the worst-served township).")] = None,
) -> None:
    """Suggest new station sites with an exact model; print status, objective, bound, gap."""
    from planning.rules import load_profile
    from planning.siting.plan import SitingOptions, suggest_sites

    try:
        out = _out_file(out, "suggest")
        ds = _scope(load(data, datum, mapping=mapping, repair=repair), district)
        prof = load_profile(profile)
        _check_year(prof, year)
        _identity(ds, district, year)
        net = None
        if network is not None:
            from planning.access import network as netmod

            net = netmod.routing_network(netmod.graph_from_file(network, mode=mode))
        with typer.progressbar(length=1, label="solving") as bar:
            options = SitingOptions(model=model, p=p, threshold_min=threshold, mode=mode,
                                    weight=weight, time_limit=time_limit, year=year,
                                    participation=participation, min_share=min_share)
            plan = suggest_sites(ds, options, profile=prof, network=net)
            bar.update(1)
    except InputError as exc:
        _fail_input(exc)
    except InfeasibleError as exc:
        typer.secho(f"infeasible: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    r = plan.result
    typer.echo(f"{r.model}: status={r.status} objective={r.objective:.6g} bound={r.bound:.6g} "
               f"gap={r.gap:.3%} runtime={r.runtime_s:.2f}s costs={plan.method}")
    if plan.fairness is not None:
        f = plan.fairness
        typer.echo(f"fairness: worst township share={f.worst_share:.1%} "
                   f"({f.unreachable} township(s) no candidate reaches left out) "
                   f"price of fairness={f.price_of_fairness:.2%} against mclp "
                   f"objective={f.baseline.objective:.6g} ({f.baseline.status})")
    for _, row in plan.sites.iterrows():
        typer.echo(f"  {row['site_id']} {row['district']} {row['unit_id']} "
                   f"lon={row.geometry.x:.5f} lat={row.geometry.y:.5f} ({row['source']})")
    typer.echo(plan.kpis.to_string())
    if out is not None:
        _write_points(plan.sites, out, layer="suggested_sites")
    if r.status != "optimal":
        raise typer.Exit(1)


@app.command("plan-years")
def plan_years(
    years: Annotated[str, typer.Option(help="Milestone years, e.g. 2025,2026,2027.")],
    budget: Annotated[str, typer.Option(help="Budget per year, e.g. 300000,300000,300000.")],
    data: DataOpt = None,
    datum: DatumOpt = "wgs84",
    district: DistrictOpt = None,
    threshold: Annotated[float, typer.Option(help="Minutes counted as covered.")] = 15.0,
    site_cost: Annotated[float, typer.Option(help="One-off cost of a new station.")] = 100_000,
    staff_cost: Annotated[float, typer.Option(help="Yearly cost of a new station.")] = 0.0,
    targets: Annotated[str | None, typer.Option(
        help="Covered share required per year, e.g. 0.8,0.9,1.0.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the schedule to .csv or .gpkg.")]
    = None,
) -> None:
    """Open stations year by year under a budget per year; print what opens when."""
    from planning.siting import YearPlan
    from planning.siting.plan import SitingOptions, plan_by_year

    try:
        out = _out_file(out, "suggest")
        ds = _scope(load(data, datum), district)
        plan = YearPlan.from_text(years, budget, targets or "")
        res = plan_by_year(ds, SitingOptions(threshold_min=threshold), plan,
                           site_cost=site_cost, staff_cost=staff_cost)
    except InputError as exc:
        _fail_input(exc)
    except InfeasibleError as exc:
        typer.secho(f"infeasible: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    r = res.result
    typer.echo(f"multi-period: status={r.status} objective={r.objective:.6g} "
               f"bound={r.bound:.6g} gap={r.gap:.3%} costs={res.method}")
    typer.echo(r.kpis.to_string(index=False))
    for _, row in res.schedule.iterrows():
        typer.echo(f"  {row['year']} {row['site_id']} {row['district']} {row['unit_id']} "
                   f"lon={row.geometry.x:.5f} lat={row.geometry.y:.5f}")
    if out is not None:
        _write_points(res.schedule, out, layer="schedule")
    if r.status != "optimal":
        raise typer.Exit(1)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output directory (created if missing).")],
    data: DataOpt = None,
    datum: DatumOpt = "wgs84",
    mapping: MappingOpt = None,
    repair: RepairOpt = False,
    district: DistrictOpt = None,
    lang: LangOpt = "zh",
    profile: Annotated[str, typer.Option(help="Profile name or YAML path (findings).")]
    = "beijing-2018",
    year: Annotated[int | None, typer.Option(help="Milestone year (findings).")] = None,
    formats: Annotated[str, typer.Option(help="Comma list of html,png,pdf,gpkg,brief")]
    = "html,png,pdf,gpkg",
) -> None:
    """Export the coverage map (HTML/PNG/PDF), a GeoPackage and district briefs."""
    from planning import rules
    from planning.publish import report

    try:
        steps = _formats(formats)
        full = load(data, datum, mapping=mapping, repair=repair)
        ds = _scope(full, district)  # every export holds only the chosen district
        prof = rules.load_profile(profile)
        _check_year(prof, year)
        findings = _public(rules.evaluate_scope(full, prof, district=district, year=year),
                           full, prof)
        _make_folder(out)
    except InputError as exc:
        _fail_input(exc)
    _identity(ds, district, year)
    stem = f"coverage_{district}" if district else "coverage"
    with typer.progressbar(steps, label="exporting") as bar:
        for fmt in bar:
            if fmt == "html":
                (out / f"{stem}.html").write_bytes(
                    report.map_html_bytes(ds, district=district, lang=lang))
            elif fmt in ("png", "pdf"):
                fig = report.coverage_figure(ds, district=district, lang=lang)
                report.save_figure(fig, out / f"{stem}.{fmt}")
            elif fmt == "gpkg":
                report.export_gpkg(ds, out / f"{stem}.gpkg", findings=findings)
            elif fmt == "brief":
                for name in [district] if district else ds.district_names():
                    report.district_brief(ds, name, out / f"brief_{name}.pdf",
                                          findings=findings, lang=lang)
            else:
                typer.secho(f"unknown format {fmt!r}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2)
    typer.echo(f"wrote {', '.join(steps)} to {out}")


@app.command()
def batch(
    out: Annotated[Path, typer.Argument(help="Output directory (GeoParquet per partition + "
                                        "national_summary.xlsx).")],
    store: Annotated[Path | None, typer.Option(help="GeoParquet store (planning.batch.national."
                                               "write_store). Default: the synthetic national "
                                               "set (real counties, SYNTHETIC below).")] = None,
    provinces: Annotated[str | None, typer.Option(help="Synthetic set only: comma list of "
                                                  "province codes, e.g. 11,12.")] = None,
    by: Annotated[str, typer.Option(help="Partition by province or prefecture.")] = "province",
    profile: Annotated[str, typer.Option(help="Profile name or YAML path.")] = "beijing-2018",
    year: Annotated[int | None, typer.Option(help="Milestone year.")] = None,
    threshold_min: Annotated[float, typer.Option(help="Access threshold, minutes.")] = 30.0,
    mode: Annotated[str, typer.Option(help="walk or drive (straight-line speeds).")] = "drive",
    candidates: Annotated[str, typer.Option(help="centroid or grid.")] = "centroid",
    only: Annotated[str | None, typer.Option(help="Comma list of partitions to (re)run.")]
    = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, or 'sync' "
                                                  "(no dask). Default: a LocalCluster.")] = None,
    workers: Annotated[int | None, typer.Option(help="LocalCluster workers.")] = None,
    retries: Annotated[int, typer.Option(help="Dask retries of a failing partition.")] = 0,
    force: Annotated[bool, typer.Option(help="Recompute completed partitions.")] = False,
) -> None:
    """National batch run on dask: compliance, access and township siting per partition.

    Completed partitions are skipped on a rerun; exit 1 when a partition failed (rerun it with
    --only), 2 on bad input.
    """
    from planning import batch as batch_mod
    from planning.batch import national

    def show(o: PartitionOutcome, i: int, n: int) -> None:
        r = o.row
        what = (f"{r.get('townships', 0)} townships, {r.get('fail', 0)} fails, "
                f"{r.get('new_sites', 0)} new sites" if o.status != "failed" else o.error)
        typer.echo(f"[{i}/{n}] {o.key} {r.get('name', '')} {o.status}: {what} "
                   f"({o.runtime_s:.1f} s)")

    try:
        source = store if store is not None else national.ensure_store()
        keys = [k.strip() for k in only.split(",")] if only else None
        if store is None and provinces:
            source = national.synthetic_national(provinces=provinces.split(","))
        options = batch_mod.BatchOptions(by=by, profile=profile, year=year,
                                         threshold_min=threshold_min, mode=mode,
                                         candidates=candidates)
        run = batch_mod.RunOptions(only=tuple(keys) if keys else None, scheduler=scheduler,
                                   n_workers=workers, retries=retries, force=force)
        res = batch_mod.run_batch(source, out, options, run=run, progress=show)
    except InputError as exc:
        _fail_input(exc)
    t = res.totals
    typer.echo(f"{len(res.computed)} computed, {len(res.skipped)} skipped, {len(res.failed)} "
               f"failed in {res.runtime_s:.1f} s on {res.scheduler}; {int(t['townships'])} "
               f"townships, {int(t['fail'])} failing findings, {int(t['new_sites'])} new sites; "
               f"wrote {res.workbook}")
    if res.failed:
        typer.secho(f"failed: {', '.join(res.failed)}; rerun with --only "
                    f"{','.join(res.failed)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``jingkang`` command."""
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
