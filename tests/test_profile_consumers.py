"""One source for every policy number: an edited profile reaches every consumer.

The staff : client ratio, the floor-area minimum by zone and the client eligibility are written
once, in the profile YAML. A planner who copies ``beijing-2018.yaml`` and edits it must see the
change in siting capacity, the 2SFCA supply, the floor-area check, candidate exclusion and the
ledger's eligible count — with nothing left behind in Python.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planning import rules
from planning.access.coverage import AccessOptions, township_access
from planning.data.ledger import summarise_ledger
from planning.rules.profile import Profile
from planning.siting.plan import SitingOptions, build_candidates, suggest_sites

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dongcheng(demo):
    return demo.subset(["东城区"])


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """beijing-2018 with 1:10 staff, a 200 m² core-zone minimum and risk 0–2 eligibility."""
    text = rules.profile_text("beijing-2018")
    text = text.replace("threshold: 0.2", "threshold: 0.1", 1)
    text = text.replace("threshold_by_zone: {core: 50,", "threshold_by_zone: {core: 200,", 1)
    text = text.replace("- {risk_level: [0, 0], label:", "- {risk_level: [0, 2], label:", 1)
    path = tmp_path_factory.mktemp("profiles") / "my.yaml"
    path.write_text(text, encoding="utf-8")
    return rules.load_profile(path)


def test_the_edit_is_read_from_the_yaml(edited) -> None:
    base = rules.load_profile("beijing-2018")
    assert base.clients_per_staff == pytest.approx(5.0)
    assert edited.clients_per_staff == pytest.approx(10.0)
    assert base.min_floor_area_by_zone["core"] == 50
    assert edited.min_floor_area_by_zone["core"] == 200
    assert base.eligibility != edited.eligibility  # the risk branch of 000 §二(一)3 moved
    assert base.hash != edited.hash  # caches keyed on content see the edit


def test_siting_capacity_follows_the_staff_ratio(dongcheng, edited) -> None:
    base = rules.load_profile("beijing-2018")
    staff = dongcheng.stations()["staff"].to_numpy(dtype=float)
    c5 = build_candidates(dongcheng, clients_per_staff=base.clients_per_staff)
    c10 = build_candidates(dongcheng, clients_per_staff=edited.clients_per_staff)
    np.testing.assert_allclose(c5.loc[c5["locked"], "capacity"], staff * 5)
    np.testing.assert_allclose(c10.loc[c10["locked"], "capacity"], staff * 10)
    opts = SitingOptions(model="cap_pmedian", p=3, weight="eligible", spacing_m=1500)
    plan = suggest_sites(dongcheng, opts, profile=edited)
    locked = plan.candidates[plan.candidates["locked"]]
    np.testing.assert_allclose(locked["capacity"], staff * 10)


def test_2sfca_supply_follows_the_staff_ratio(dongcheng, edited) -> None:
    base = rules.load_profile("beijing-2018")
    a5 = township_access(dongcheng, AccessOptions(clients_per_staff=base.clients_per_staff))
    a10 = township_access(dongcheng, AccessOptions(clients_per_staff=edited.clients_per_staff))
    x5 = a5.townships["access_2sfca"].to_numpy(dtype=float)
    x10 = a10.townships["access_2sfca"].to_numpy(dtype=float)
    assert np.nanmax(x5) > 0
    np.testing.assert_allclose(x10, 2 * x5)  # supply is linear in clients per worker
    none = township_access(dongcheng, AccessOptions(clients_per_staff=None))
    assert none.townships["access_2sfca"].isna().all()  # no ratio, no guessed index


def test_floor_area_check_and_candidate_exclusion_follow_the_zone_minimum(dongcheng,
                                                                           edited) -> None:
    def fails(profile) -> set[str]:
        f = rules.evaluate(dongcheng, profile)
        rows = f[(f["rule_id"] == "bj.station_floor_area") & (f["status"] == "fail")]
        return set(rows["entity_id"])

    st = dongcheng.stations()
    between = set(st.loc[(st["floor_area_m2"] >= 50) & (st["floor_area_m2"] < 200),
                         "facility_id"])
    assert between, "the demo's core-zone stations lie between 50 and 200 m²"
    assert not between & fails("beijing-2018")
    assert between <= fails(edited)
    opts = SitingOptions(model="township_cover", zone_floor_area=True, spacing_m=50_000)
    cands = build_candidates(dongcheng, spacing_m=50_000)
    uid = cands.loc[~cands["locked"], "unit_id"].iloc[0]
    user = cands.loc[~cands["locked"]].iloc[[0]].assign(floor_area_m2=120.0, source="user")
    user = user[["unit_id", "floor_area_m2", "source", "geometry"]]
    ok = suggest_sites(dongcheng, opts, profile="beijing-2018", candidates=user)
    small = suggest_sites(dongcheng, opts, profile=edited, candidates=user)
    assert (ok.candidates["floor_area_m2"] == 120.0).any()
    # 120 m² passes the 50 m² core minimum but not the edited 200 m²: never chosen there
    assert not (small.sites["floor_area_m2"] == 120.0).any()
    assert uid in set(small.sites["unit_id"]) | set(dongcheng.stations()["unit_id"])


def test_ledger_eligibility_follows_the_profile(dongcheng, edited) -> None:
    units = dongcheng.units
    pts = units.to_crs(3857).representative_point().to_crs(4326)
    n = len(units)
    ledger = pd.DataFrame({
        "患者编号": [f"P{i}" for i in range(2 * n)],
        "经度": np.tile(pts.x.to_numpy(), 2), "纬度": np.tile(pts.y.to_numpy(), 2),
        "年龄": 40, "危险性评估等级": [0] * n + [2] * n, "在家状态": "在家",
    })
    base = rules.load_profile("beijing-2018")
    a0 = summarise_ledger(ledger, units, eligibility=base.eligibility).aggregates
    a2 = summarise_ledger(ledger, units, eligibility=edited.eligibility).aggregates
    assert int(a0["eligible"].sum()) == n  # Beijing 000 §二(一)3: risk level 0
    assert int(a2["eligible"].sum()) == 2 * n


def test_no_policy_number_is_written_in_python() -> None:
    """Zone floor areas (50/70/100 m²) and the 1:5 ratio appear in no engine module."""
    suspicious = []
    for path in (ROOT / "planning").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                numbers = [v for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, int | float)]
                if {"core", "expansion"} <= keys and numbers:
                    suspicious.append(f"{path.name}:{node.lineno} zone dict")
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div)
                    and any(isinstance(s, ast.Constant) and s.value == 5
                            for s in (node.left, node.right))):
                src = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
                if re.search(r"staff|client", src):
                    suspicious.append(f"{path.name}:{node.lineno} {src}")
    assert not suspicious, suspicious
