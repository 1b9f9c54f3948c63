"""The workspace storage suite, run on both backends: embedded SQLite and PostgreSQL + PostGIS.

The PostgreSQL cases start a throw-away local cluster (``planning.workspace.pgtemp``) once per
session; `make test` installs Debian's postgresql and postgresql-15-postgis-3 first (``make
db-deps``) and sets ``JINGKANG_REQUIRE_PG=1`` so a missing server fails instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import uuid

import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from planning.data.ledger import summarise_ledger
from planning.errors import InputError, PermissionDenied
from planning.roles import Actor
from planning.settings import Settings
from planning.siting.plan import SitingOptions, suggest_sites
from planning.workspace import progress as pr
from planning.workspace import scenarios as sc
from planning.workspace import schema as S
from planning.workspace.datasets import (
    dataset_mapping,
    dataset_versions,
    load_dataset,
    save_dataset,
)
from planning.workspace.pgtemp import ClusterUnavailable, start_cluster
from planning.workspace.store import (
    HEAD,
    NotFoundError,
    ScenarioExistsError,
    StaleWriteError,
    Workspace,
    database_url,
    make_engine,
    schema_revision,
    upgrade,
)

ANNA = Actor("anna", "editor")
BO = Actor("bo", "editor")
VIEWER = Actor("vic", "viewer")
DISTRICT = "东城区"


# --- backends ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("JINGKANG_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL/PostGIS cluster unavailable: {exc}")
        pytest.skip(f"PostgreSQL/PostGIS cluster unavailable: {exc}")
    yield cluster
    cluster.stop()


def _new_pg_database(cluster) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres",
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE jingkang')
    return f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty workspace URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ws' / 'workspace.sqlite'}"
    return _new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def ws(url):
    w = Workspace.open(url=url)
    w.create_project("北京", actor=ANNA)
    yield w
    w.close()


# --- data --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(demo):
    return demo.subset([DISTRICT])


@pytest.fixture(scope="module")
def plans(small):
    a = suggest_sites(small, SitingOptions(model="township_cover"))
    b = suggest_sites(small, SitingOptions(model="pmedian", p=2, weight="patients"))
    return a, b


# --- datasets ----------------------------------------------------------------------------------
def test_dataset_round_trip_keeps_content_and_types(ws, demo):
    mapping = {"units": {"街道名称": "name"}}
    assert save_dataset(ws, "北京", demo, actor=ANNA, mapping=mapping) == 1
    back = load_dataset(ws, "北京")
    assert back.token == demo.token
    for layer in ("districts", "units", "facilities"):
        assert dict(getattr(back, layer).dtypes) == dict(getattr(demo, layer).dtypes)
        assert getattr(back, layer).crs == getattr(demo, layer).crs
    assert (back.synthetic, back.sources, back.name) == (demo.synthetic, demo.sources, demo.name)
    assert dataset_mapping(ws, "北京") == mapping
    if ws.backend == "postgresql":  # really PostGIS: the database can answer spatial queries
        with ws.engine.connect() as conn:
            n = conn.execute(sa.text(
                "select count(*) from features where layer = 'units' and "
                "ST_Contains(geom, ST_SetSRID(ST_Centroid(geom), 4326))")).scalar()
            kind = conn.execute(sa.text(
                "select type from geometry_columns where f_table_name = 'features'")).scalar()
        assert n > 0.9 * len(demo.units)
        assert kind == "GEOMETRY"


def test_dataset_versions_are_numbered_and_kept(ws, small, demo):
    save_dataset(ws, "北京", demo, actor=ANNA)
    save_dataset(ws, "北京", small, actor=BO)
    versions = dataset_versions(ws, "北京")
    assert list(versions["number"]) == [1, 2]
    assert list(versions["created_by"]) == ["anna", "bo"]
    assert load_dataset(ws, "北京", version=1).token == demo.token
    assert load_dataset(ws, "北京").token == small.token
    with pytest.raises(NotFoundError, match="no version 7"):
        load_dataset(ws, "北京", version=7)


# --- scenarios ---------------------------------------------------------------------------------
def test_scenario_round_trip(ws, plans, small):
    plan = plans[1]
    name = sc.default_scenario_name(plan.params["model"], plan.params, district=DISTRICT)
    assert sc.save_scenario(ws, "北京", name, plan, actor=ANNA, district=DISTRICT,
                            dataset_token=small.token) == 1
    got = sc.get_scenario(ws, "北京", name)
    pd.testing.assert_frame_equal(got.plan.sites, plan.sites)
    pd.testing.assert_frame_equal(got.plan.candidates, plan.candidates)
    pd.testing.assert_frame_equal(got.plan.assignment, plan.assignment)
    pd.testing.assert_frame_equal(got.plan.kpis, plan.kpis)
    np.testing.assert_array_equal(got.plan.result.selected, plan.result.selected)
    assert got.plan.result.objective == pytest.approx(plan.result.objective)
    assert (got.model, got.district, got.dataset_token) == (plan.result.model, DISTRICT,
                                                             small.token)
    assert got.created_by == "anna" and got.version == 1 and not got.adopted


def test_default_names_follow_model_and_options(plans):
    a, b = plans
    na = sc.default_scenario_name(a.params["model"], a.params)
    nb = sc.default_scenario_name(b.params["model"], b.params)
    assert na != nb
    assert nb.startswith("pmedian-p2-") and "patients" in nb
    assert sc.default_scenario_name("pmedian", SitingOptions(model="pmedian", p=4)) \
        .startswith("pmedian-p4-")


def test_manage_rename_duplicate_delete_adopt_compare(ws, plans):
    a, b = plans
    sc.save_scenario(ws, "北京", "甲", a, actor=ANNA)
    sc.save_scenario(ws, "北京", "乙", b, actor=ANNA)
    sc.rename_scenario(ws, "北京", "甲", "方案一", actor=BO, expected_version=1)
    copy = sc.duplicate_scenario(ws, "北京", "方案一", actor=BO)
    assert copy == "方案一 (2)"
    sc.adopt_scenario(ws, "北京", "乙", actor=ANNA)
    sc.adopt_scenario(ws, "北京", "方案一", actor=ANNA)
    listed = sc.list_scenarios(ws, "北京").set_index("name")
    assert list(listed.index) == ["方案一", "乙", "方案一 (2)"]
    assert list(listed["adopted"]) == [True, False, False]
    assert listed.loc["方案一", "model"] == a.result.model
    assert listed.loc["乙", "model"] == b.result.model
    sc.delete_scenario(ws, "北京", "方案一 (2)", actor=ANNA)
    assert "方案一 (2)" not in set(sc.list_scenarios(ws, "北京")["name"])
    table = sc.compare_scenarios(ws, "北京", ["方案一", "乙"])
    assert list(table.columns) == ["方案一", "乙"]
    assert table.loc["new_sites", "乙"] == len(b.sites)
    notes = ws.notes("北京")
    assert notes["kind"].eq("decision").sum() == 2
    assert "方案一" in notes["text"].iloc[-1]


def test_overwrite_asks_first_and_keeps_the_model(ws, plans):
    a, b = plans
    sc.save_scenario(ws, "北京", "run", a, actor=ANNA)
    with pytest.raises(ScenarioExistsError, match="confirm to overwrite"):
        sc.save_scenario(ws, "北京", "run", b, actor=ANNA)
    assert sc.get_scenario(ws, "北京", "run").model == a.result.model
    assert sc.save_scenario(ws, "北京", "run", b, actor=ANNA, replace=1) == 2
    assert sc.get_scenario(ws, "北京", "run").model == b.result.model


def test_export_import_file_between_projects(ws, plans):
    sc.save_scenario(ws, "北京", "方案", plans[0], actor=ANNA, district=DISTRICT)
    data = sc.export_scenario(ws, "北京", "方案", actor=VIEWER)
    ws.create_project("other", actor=BO)
    assert sc.import_scenario(ws, "other", data, actor=BO) == "方案"
    got = sc.get_scenario(ws, "other", "方案")
    pd.testing.assert_frame_equal(got.plan.sites, plans[0].sites)
    assert got.district == DISTRICT
    with pytest.raises(InputError, match="expected 'jingkang-scenario'"):
        sc.import_scenario(ws, "other", b'{"format": "geojson"}', actor=BO)
    with pytest.raises(InputError, match="not UTF-8 JSON"):
        sc.import_scenario(ws, "other", b"\xff\xfe garbage", actor=BO)


# --- concurrency -------------------------------------------------------------------------------
def test_two_stale_writers(url, plans, small):
    first = Workspace.open(url=url)
    first.create_project("p", actor=ANNA)
    sc.save_scenario(first, "p", "s", plans[0], actor=ANNA)
    second = Workspace.open(url=url)  # another planner, another process' engine
    seen_by_anna = sc.get_scenario(first, "p", "s").version
    seen_by_bo = sc.get_scenario(second, "p", "s").version
    sc.save_scenario(first, "p", "s", plans[1], actor=ANNA, replace=seen_by_anna)
    with pytest.raises(StaleWriteError, match="you read version 1, it is now version 2"):
        sc.delete_scenario(second, "p", "s", actor=BO, expected_version=seen_by_bo)
    with pytest.raises(StaleWriteError):
        sc.save_scenario(second, "p", "s", plans[0], actor=BO, replace=seen_by_bo)
    kept = sc.get_scenario(second, "p", "s")
    assert (kept.model, kept.version, kept.updated_by) == (plans[1].result.model, 2, "anna")
    # project-level: a stale dataset replacement adds no version
    v = second.project("p").version
    first.add_note("p", "agreed at the bureau meeting", actor=ANNA, expected_version=v)
    with pytest.raises(StaleWriteError, match="changed by someone else"):
        save_dataset(second, "p", small, actor=BO, expected_version=v)
    assert dataset_versions(first, "p").empty
    log = first.audit_log("p")
    assert {"conflict"} <= set(log["outcome"])
    assert set(log.loc[log["outcome"] == "conflict", "actor"]) == {"bo"}
    first.close()
    second.close()


def test_simultaneous_overwrites_exactly_one_wins(url, plans):
    ws_a, ws_b = Workspace.open(url=url), Workspace.open(url=url)
    ws_a.create_project("p", actor=ANNA)
    sc.save_scenario(ws_a, "p", "s", plans[0], actor=ANNA)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def write(w, actor, plan):
        barrier.wait()
        try:
            sc.save_scenario(w, "p", "s", plan, actor=actor, replace=1)
            outcomes.append("ok")
        except StaleWriteError:
            outcomes.append("stale")

    threads = [threading.Thread(target=write, args=(ws_a, ANNA, plans[1])),
               threading.Thread(target=write, args=(ws_b, BO, plans[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["ok", "stale"]
    assert sc.get_scenario(ws_a, "p", "s").version == 2
    ws_a.close()
    ws_b.close()


_KILLER = textwrap.dedent("""
    import os, signal, sys
    import sqlalchemy as sa
    from planning.demo import beijing_demo
    from planning.roles import Actor
    from planning.workspace.datasets import save_dataset
    from planning.workspace.store import Workspace

    ws = Workspace.open(url=sys.argv[1])
    seen = {"features": 0}

    @sa.event.listens_for(ws.engine, "after_cursor_execute")
    def _maybe_die(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO FEATURES"):
            seen["features"] += 1
            if seen["features"] == 2:  # half way through the layers: die, no cleanup
                os.kill(os.getpid(), signal.SIGKILL)

    save_dataset(ws, "p", beijing_demo(), actor=Actor("crash", "editor"))
    print("finished")  # never reached
""")


def test_killed_write_leaves_previous_state(url, small):
    ws = Workspace.open(url=url)
    ws.create_project("p", actor=ANNA)
    save_dataset(ws, "p", small, actor=ANNA)
    before = ws.project("p").version
    ws.close()
    proc = subprocess.run([sys.executable, "-c", _KILLER, url], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert "finished" not in proc.stdout
    again = Workspace.open(url=url)  # as after a restart
    assert list(dataset_versions(again, "p")["number"]) == [1]
    assert again.project("p").version == before
    assert load_dataset(again, "p").token == small.token
    with again.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(S.features)).scalar()
    assert n == len(small.districts) + len(small.units) + len(small.facilities)
    assert "crash" not in set(again.audit_log()["actor"])
    again.close()


def test_exception_mid_save_rolls_back(ws, plans, monkeypatch):
    def boom(*args, **kwargs):
        msg = "disk on fire"
        raise RuntimeError(msg)

    monkeypatch.setattr(ws, "audit_in", boom)  # after the scenario row is written
    with pytest.raises(RuntimeError, match="disk on fire"):
        sc.save_scenario(ws, "北京", "half", plans[0], actor=ANNA)
    monkeypatch.undo()
    assert sc.list_scenarios(ws, "北京").empty


def test_everything_survives_a_reopen(url, plans, small):
    ws = Workspace.open(url=url)
    ws.create_project("p", actor=ANNA, description="desc")
    save_dataset(ws, "p", small, actor=ANNA)
    sc.save_scenario(ws, "p", "s", plans[0], actor=ANNA)
    pr.import_ledger(ws, "p", small.units.set_index("unit_id")[["patients", "patients_served"]],
                     report_date=dt.date(2024, 12, 31), actor=ANNA)
    ws.close()
    again = Workspace.open(url=url)
    assert [p.name for p in again.projects()] == ["p"]
    assert list(sc.list_scenarios(again, "p")["name"]) == ["s"]
    assert list(pr.snapshots(again, "p")["report_date"]) == [dt.date(2024, 12, 31)]
    assert load_dataset(again, "p").token == small.token
    assert len(again.audit_log("p")) == 4
    again.close()


# --- roles and audit ---------------------------------------------------------------------------
def test_refusals_are_audited_and_change_nothing(ws, plans, small):
    with pytest.raises(PermissionDenied):
        sc.save_scenario(ws, "北京", "x", plans[0], actor=VIEWER)
    with pytest.raises(PermissionDenied):
        save_dataset(ws, "北京", small, actor=VIEWER)
    with pytest.raises(PermissionDenied):
        pr.import_ledger(ws, "北京", small.units.set_index("unit_id")[
            ["patients", "patients_served"]], report_date=dt.date(2024, 1, 1), actor=VIEWER)
    assert sc.list_scenarios(ws, "北京").empty
    assert dataset_versions(ws, "北京").empty
    log = ws.audit_log("北京")
    refused = log[log["outcome"] == "refused"]
    assert list(refused["action"]) == ["import_ledger", "replace_data", "save_scenario"]
    assert set(refused["role"]) == {"viewer"} and set(refused["actor"]) == {"vic"}
    assert refused["at"].notna().all()


def test_record_and_filter(ws):
    ws.record(ANNA, "export_aggregates", "report.xlsx", outcome="ok", project="北京")
    ws.record(BO, "view", "", outcome="refused", detail="no session")
    assert len(ws.audit_log()) == 3  # + the project's creation
    mine = ws.audit_log("北京")
    assert list(mine["action"]) == ["export_aggregates", "edit_project"]
    assert mine["at"].is_monotonic_decreasing


# --- privacy -----------------------------------------------------------------------------------
def _ledger(units) -> pd.DataFrame:
    pts = units.to_crs(3857).representative_point().to_crs(4326)
    big, tiny = pts.iloc[0], pts.iloc[1]
    n_big = 12
    return pd.DataFrame({
        "患者编号": [f"11010119800101{1000 + i}" for i in range(n_big + 2)],
        "姓名": [f"测试患者{i}号" for i in range(n_big + 2)],
        "住址": [f"机密地址{i}号楼" for i in range(n_big + 2)],
        "经度": [big.x] * n_big + [tiny.x] * 2,
        "纬度": [big.y] * n_big + [tiny.y] * 2,
        "在家状态": ["在家"] * (n_big + 2),
        "是否接受社区康复": ["是"] * 8 + ["否"] * 4 + ["是", "否"],
    })


def _all_text(ws) -> str:
    parts = []
    with ws.engine.connect() as conn:
        for table in S.metadata.sorted_tables:
            cols = [c for c in table.columns if c.name != "geom"]
            parts += [str(tuple(r)) for r in conn.execute(sa.select(*cols)).all()]
    return "\n".join(parts)


def test_privacy_only_aggregates_stored_and_suppressed_when_shown(ws, small):
    save_dataset(ws, "北京", small, actor=ANNA)
    table = _ledger(small.units)
    summary = summarise_ledger(table, small.units, source="台账.xlsx")
    pr.import_ledger(ws, "北京", summary, report_date=dt.date(2024, 6, 30), actor=ANNA)
    dump = _all_text(ws)
    for column in ("患者编号", "姓名", "住址"):
        for value in table[column]:
            assert value not in dump
    tiny = small.units["unit_id"].iloc[1]
    raw = pr.snapshot_counts(ws, "北京", dt.date(2024, 6, 30), suppress=False)
    assert raw.loc[tiny, "patients"] == 2  # stored as counted
    shown = pr.snapshot_counts(ws, "北京", dt.date(2024, 6, 30))
    assert shown.loc[tiny, "patients"] == "<5"
    assert "2" not in set(shown["patients"].dropna())  # the small count is never shown
    assert raw.loc[small.units["unit_id"].iloc[0], "patients"] == 12
    assert not _audit_mentions(ws, table)


def _audit_mentions(ws, table) -> bool:
    text = ws.audit_log().astype(str).to_string()
    return any(v in text for c in ("患者编号", "姓名", "住址") for v in table[c])


def test_progress_suppresses_rates_of_small_districts(ws, demo):
    save_dataset(ws, "北京", demo, actor=ANNA)
    counts = demo.units.set_index("unit_id")[["patients", "patients_served"]].copy()
    small_d = demo.units.loc[demo.units["district"] == DISTRICT, "unit_id"]
    counts.loc[small_d, "patients"] = 0
    counts.loc[small_d[:1], "patients"] = 3
    counts.loc[small_d, "patients_served"] = 0
    counts.loc[small_d[:1], "patients_served"] = 1
    pr.import_ledger(ws, "北京", counts, report_date=dt.date(2021, 12, 31), actor=ANNA)
    shown = pr.progress_table(ws, "北京", "beijing-2018")
    row = shown[(shown["area"] == DISTRICT) & (shown["indicator"] == "home_service_rate")]
    assert row["suppressed"].item() and np.isnan(row["value"].item())
    raw = pr.progress_table(ws, "北京", "beijing-2018",
                            options=pr.ProgressOptions(suppress=False))
    row = raw[(raw["area"] == DISTRICT) & (raw["indicator"] == "home_service_rate")]
    assert row["value"].item() == pytest.approx(1 / 3)


def test_exported_scenario_suppresses_small_patient_cells(ws, plans):
    b = plans[1]  # weighted by patients
    sc.save_scenario(ws, "北京", "pat", b, actor=ANNA)
    doc = json.loads(sc.export_scenario(ws, "北京", "pat", actor=ANNA,
                                        settings=Settings(suppression_threshold=60)))
    t = doc["plan"]["assignment"]
    j = t["columns"].index("weight")
    exported = [row[j] for row in t["data"]]
    stored = b.assignment["weight"].to_numpy()
    hidden = (stored > 0) & (stored < 60)
    assert hidden.any() and not hidden.all()
    assert all(v is None for v, h in zip(exported, hidden, strict=True) if h)
    assert all(v == s for v, s, h in zip(exported, stored, hidden, strict=True) if not h)
    assert "assignment.weight" in doc["suppressed"]
    kept = sc.get_scenario(ws, "北京", "pat").plan.assignment["weight"].to_numpy()
    np.testing.assert_array_equal(kept, stored)  # storage keeps the numbers


# --- progress ----------------------------------------------------------------------------------
def test_progress_over_time_against_targets(ws, demo):
    save_dataset(ws, "北京", demo, actor=ANNA)
    base = demo.units.set_index("unit_id")[["patients", "patients_served", "eligible"]]
    later = base.copy()
    later["patients_served"] = base["patients"]  # everyone served by the later date
    pr.import_ledger(ws, "北京", base, report_date=dt.date(2020, 12, 31), actor=ANNA)
    pr.import_ledger(ws, "北京", later, report_date=dt.date(2022, 12, 31), actor=ANNA)
    with pytest.raises(InputError, match="already has a ledger snapshot for 2022-12-31"):
        pr.import_ledger(ws, "北京", later, report_date=dt.date(2022, 12, 31), actor=ANNA)
    table = pr.progress_table(ws, "北京", "beijing-2018")
    city = table[(table["level"] == "city")].set_index(["report_date", "indicator"])
    rate0 = base["patients_served"].sum() / base["patients"].sum()
    assert city.loc[(dt.date(2020, 12, 31), "home_service_rate"), "value"] == pytest.approx(rate0)
    assert city.loc[(dt.date(2022, 12, 31), "home_service_rate"), "value"] == pytest.approx(1.0)
    assert city.loc[(dt.date(2022, 12, 31), "home_service_rate"), "target_2025"] == 0.7
    assert city.loc[(dt.date(2020, 12, 31), "home_service_rate"), "target_2020"] == 0.5
    assert bool(city.loc[(dt.date(2022, 12, 31), "home_service_rate"), "met_2025"])
    assert city.loc[(dt.date(2020, 12, 31), "staffing"), "target_2020"] == 0.2
    n_districts = len(demo.districts)
    assert len(table) == 2 * (1 + n_districts) * 3
    assert set(table["area"]) == {pr.CITY, *demo.district_names()}


def test_bad_ledger_counts_are_refused_clearly(ws):
    with pytest.raises(InputError, match="expected a LedgerSummary or a DataFrame"):
        pr.import_ledger(ws, "北京", [1, 2, 3], report_date=dt.date(2024, 1, 1), actor=ANNA)
    with pytest.raises(InputError, match="including patients"):
        pr.import_ledger(ws, "北京", pd.DataFrame({"x": [1]}), report_date=dt.date(2024, 1, 1),
                         actor=ANNA)


# --- schema and files --------------------------------------------------------------------------
def test_migration_from_v1_keeps_data(url, plans):
    engine = make_engine(url)
    upgrade(engine, "0001")
    assert schema_revision(engine) == "0001"
    doc = json.dumps(sc.plan_document(plans[0], name="old"), ensure_ascii=False)
    ts = dt.datetime(2021, 5, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("scenarios")}
        assert "adopted" not in cols
        conn.execute(sa.text(
            "insert into projects (name, description, version, created_at, updated_at, "
            "created_by) values ('old', '', 1, :ts, :ts, 'x')"), {"ts": ts})
        conn.execute(sa.text(
            "insert into scenarios (project_id, name, model, district, params, kpis, objective,"
            " status, document, dataset_token, version, created_at, updated_at, created_by,"
            " updated_by) values (1, 'old', :m, null, '{}', '{}', 1.0, 'optimal', :doc, '',"
            " 1, :ts, :ts, 'x', 'x')"), {"m": plans[0].result.model, "doc": doc, "ts": ts})
    engine.dispose()
    ws = Workspace.open(url=url)  # a newer version opens the old workspace
    assert schema_revision(ws.engine) == HEAD
    listed = sc.list_scenarios(ws, "old")
    assert list(listed["name"]) == ["old"] and not listed["adopted"].any()
    pd.testing.assert_frame_equal(sc.get_scenario(ws, "old", "old").plan.sites, plans[0].sites)
    sc.adopt_scenario(ws, "old", "old", actor=ANNA)  # the new column and table work
    assert sc.get_scenario(ws, "old", "old").adopted
    ws.close()


def test_migrated_schema_matches_the_tables(url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ws = Workspace.open(url=url)
    with ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), S.metadata)
    tables = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column",
                                            "remove_column")]
    tables = [d for d in tables if not (d[0] == "remove_table" and d[1].name
                                        in ("spatial_ref_sys",))]
    assert tables == []
    ws.close()


def test_sqlite_file_is_owner_only(tmp_path, plans):
    path = tmp_path / "new" / "workspace.sqlite"
    ws = Workspace.open(url=f"sqlite:///{path}")
    ws.create_project("p", actor=ANNA)
    sc.save_scenario(ws, "p", "s", plans[0], actor=ANNA)
    for f in path.parent.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    ws.close()


def test_database_url_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("JINGKANG_DB", "postgresql://u@db.example:5432/plan")
    assert database_url() == "postgresql+psycopg://u@db.example:5432/plan"
    monkeypatch.delenv("JINGKANG_DB")
    monkeypatch.setenv("JINGKANG_DATA_DIR", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path / 'workspace.sqlite'}"
    monkeypatch.setenv("JINGKANG_DB", "mysql://x")
    with pytest.raises(InputError, match="expected 'postgresql://"):
        database_url()


def test_unknown_project_names_the_ones_there(ws):
    with pytest.raises(NotFoundError, match="projects: '北京'"):
        ws.project("上海")
    with pytest.raises(InputError, match="exists already"):
        ws.create_project("北京", actor=ANNA)
    assert ws.create_project("北京", actor=ANNA, exist_ok=True).name == "北京"


def test_progress_sheet_in_the_workbook(tmp_path, demo):
    import io

    import openpyxl

    from planning.publish.workbook import progress_sheet

    ws = Workspace.open(url=f"sqlite:///{tmp_path / 'w.sqlite'}")
    ws.create_project("p", actor=ANNA)
    save_dataset(ws, "p", demo, actor=ANNA)
    base = demo.units.set_index("unit_id")[["patients", "patients_served"]]
    pr.import_ledger(ws, "p", base, report_date=dt.date(2020, 12, 31), actor=ANNA)
    table = pr.progress_table(ws, "p", "beijing-2018")
    wb = openpyxl.Workbook()
    progress_sheet(wb, table)
    buf = io.BytesIO()
    wb.save(buf)
    sheet = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))["progress"]
    rows = list(sheet.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == "报告日期")
    assert "2020年目标" in rows[head] and "2025年目标" in rows[head]
    body = rows[head + 2:]
    assert len(body) == len(table)
    city = next(r for r in body if r[1] == pr.CITY and r[3] == "Home patients receiving "
                "community rehab")
    rate = base["patients_served"].sum() / base["patients"].sum()
    assert city[4] == pytest.approx(rate)
    assert city[0] == "2020-12-31"
    ws.close()


def test_area_indicators_match_the_headline_definitions(demo):
    from planning.rules.indicators import headline, overview

    table = pr.area_indicators(demo)
    assert list(table.index) == [pr.CITY, *demo.district_names()]
    for area in table.index:
        district = None if area == pr.CITY else area
        h, o = headline(demo, district=district), overview(demo, district=district)
        assert table.loc[area, "coverage"] == pytest.approx(h.coverage, nan_ok=True)
        assert table.loc[area, "home_service_rate"] == pytest.approx(o.home_service_rate,
                                                                     nan_ok=True)
        assert table.loc[area, "staffing"] == pytest.approx(o.staff_per_client, nan_ok=True)
    assert table.loc[pr.CITY, "coverage"] < 1  # the demo has townships without a station


def test_database_url_from_settings_value(tmp_path, monkeypatch):
    monkeypatch.delenv("JINGKANG_DB", raising=False)
    assert database_url(Settings(database_url="postgres://a@h/db")) == \
        "postgresql+psycopg://a@h/db"
    assert database_url(Settings(database_url=None, data_dir=tmp_path)) == \
        f"sqlite:///{tmp_path / 'workspace.sqlite'}"


def test_project_geopackage_for_qgis(ws, demo, plans, tmp_path):
    import dataclasses

    import pyogrio

    from planning.workspace.exports import export_project_gpkg

    units = demo.units.copy()
    units.loc[units.index[:3], "patients"] = 3  # small cells
    demo = dataclasses.replace(demo, units=units)
    save_dataset(ws, "北京", demo, actor=ANNA)
    sc.save_scenario(ws, "北京", "plan", plans[1], actor=ANNA, district=DISTRICT)
    sc.adopt_scenario(ws, "北京", "plan", actor=ANNA)
    pr.import_ledger(ws, "北京", demo.units.set_index("unit_id")[["patients", "patients_served"]],
                     report_date=dt.date(2023, 12, 31), actor=ANNA)
    path = export_project_gpkg(ws, "北京", tmp_path / "p.gpkg", actor=VIEWER,
                               profile="beijing-2018")
    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert {"districts", "units", "facilities", "adopted_sites", "progress"} <= layers
    units = pyogrio.read_dataframe(path, layer="units")
    small = demo.units["patients"].between(1, 4)
    assert small.any()
    shown = units.set_index("unit_id").loc[demo.units.loc[small, "unit_id"], "patients"]
    assert not shown.astype(str).str.fullmatch(r"[1-4]").any()
    sites = pyogrio.read_dataframe(path, layer="adopted_sites")
    assert len(sites) == len(plans[1].sites) and set(sites["scenario"]) == {"plan"}
    log = ws.audit_log("北京")
    assert ((log["action"] == "export_aggregates") & (log["actor"] == "vic")).any()
