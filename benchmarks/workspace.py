"""Workspace save and load of the Beijing demo project, on SQLite and on PostgreSQL + PostGIS.

The project: the demo dataset (16 districts, 343 townships, 700 facilities), two dated ledger
snapshots (township counts) and three siting scenarios. *Save* writes all of it into a new
project; *load* reads the dataset back, lists the scenarios, loads each plan and computes the
progress table. Baseline, in the same process: writing / reading the same three layers to a
GeoPackage with pyogrio (what the GeoPackage export does). Prints the median of ``REPEATS``
runs and the ratio to the baseline.

Run with ``.venv/bin/python benchmarks/workspace.py`` (PostgreSQL needs the Debian packages of
``make db-deps``; a throw-away cluster is started and stopped).
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pyogrio

from planning import workspace as wsp
from planning.demo import beijing_demo
from planning.roles import Actor
from planning.siting.plan import SitingOptions, suggest_sites
from planning.workspace.pgtemp import ClusterUnavailable, start_cluster

REPEATS = 3
ACTOR = Actor("bench", "editor")
DISTRICTS = ("东城区", "西城区", "朝阳区")


def _project(demo):
    plans = {f"cover@{d}": (suggest_sites(demo.subset([d]), SitingOptions()), d)
             for d in DISTRICTS}
    base = demo.units.set_index("unit_id")[["patients", "patients_served", "eligible"]]
    later = base.assign(patients_served=base["patients"])
    return plans, {dt.date(2020, 12, 31): base, dt.date(2022, 12, 31): later}


def _save(ws, name, demo, plans, snaps) -> None:
    ws.create_project(name, actor=ACTOR)
    wsp.save_dataset(ws, name, demo, actor=ACTOR)
    for when, counts in snaps.items():
        wsp.import_ledger(ws, name, counts, report_date=when, actor=ACTOR)
    for scen, (plan, district) in plans.items():
        wsp.save_scenario(ws, name, scen, plan, actor=ACTOR, district=district,
                          dataset_token=demo.token)


def _load(ws, name) -> dict[str, float]:
    t0 = time.perf_counter()
    wsp.load_dataset(ws, name)
    t1 = time.perf_counter()
    for n in wsp.list_scenarios(ws, name)["name"]:
        wsp.get_scenario(ws, name, n)
    t2 = time.perf_counter()
    wsp.progress_table(ws, name, "beijing-2018")
    t3 = time.perf_counter()
    return {"dataset": t1 - t0, "scenarios": t2 - t1, "progress": t3 - t2}


def _gpkg(demo, folder: Path, k: int) -> tuple[float, float]:
    path = folder / f"demo{k}.gpkg"
    t0 = time.perf_counter()
    for layer in ("districts", "units", "facilities"):
        pyogrio.write_dataframe(getattr(demo, layer), path, layer=layer)
    t1 = time.perf_counter()
    for layer in ("districts", "units", "facilities"):
        gpd.read_file(path, layer=layer, engine="pyogrio")
    return t1 - t0, time.perf_counter() - t1


def _time(ws, demo, plans, snaps) -> tuple[float, dict[str, float]]:
    saves, loads = [], []
    for k in range(REPEATS):
        name = f"北京示例 {k}"
        t0 = time.perf_counter()
        _save(ws, name, demo, plans, snaps)
        saves.append(time.perf_counter() - t0)
        loads.append(_load(ws, name))
    return statistics.median(saves), {k: statistics.median(d[k] for d in loads)
                                      for k in loads[0]}


def main() -> None:
    demo = beijing_demo()
    plans, snaps = _project(demo)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = [_gpkg(demo, folder, k) for k in range(REPEATS)]
        b_save = statistics.median(b[0] for b in base)
        b_load = statistics.median(b[1] for b in base)
        print(f"baseline GeoPackage (3 layers, pyogrio): write {b_save:.3f} s, "
              f"read {b_load:.3f} s")
        backends = {"sqlite": f"sqlite:///{folder / 'workspace.sqlite'}"}
        cluster = None
        try:
            cluster = start_cluster()
            backends["postgresql+postgis"] = cluster.url
        except ClusterUnavailable as exc:
            print(f"postgresql: skipped ({exc})", file=sys.stderr)
        try:
            for label, url in backends.items():
                ws = wsp.Workspace.open(url=url)
                save, load = _time(ws, demo, plans, snaps)
                ws.close()
                total = sum(load.values())
                print(f"{label:>19}: save {save:.3f} s ({save / b_save:.1f}x GeoPackage write); "
                      f"load {total:.3f} s = dataset {load['dataset']:.3f} s "
                      f"({load['dataset'] / b_load:.1f}x GeoPackage read) + 3 scenarios "
                      f"{load['scenarios']:.3f} s + progress table {load['progress']:.3f} s")
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
