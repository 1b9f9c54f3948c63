"""Plans by milestone year on a dataset (plan_by_year) and from the CLI (jingkang plan-years)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planning.cli import app
from planning.siting import YearPlan
from planning.siting.plan import SitingOptions, build_candidates, demand_points, plan_by_year


@pytest.fixture(scope="module")
def dongcheng(demo):
    return demo.subset(["东城区"])


def test_budget_per_year_limits_what_opens_and_matches_enumeration(dongcheng):
    opts = SitingOptions(threshold_min=6, spacing_m=3000)
    years = YearPlan((2025, 2026), (250_000.0, 150_000.0))
    res = plan_by_year(dongcheng, opts, years, site_cost=100_000, staff_cost=20_000)
    assert res.result.status == "optimal" and res.result.gap == pytest.approx(0.0, abs=1e-9)
    sched = res.schedule
    assert set(sched["year"]) <= {2025, 2026}
    kpis = res.result.kpis.set_index("year")
    # spend never exceeds the year's budget; staff costs recur
    assert (kpis["spend"] <= kpis["budget"] + 1e-6).all()
    n25 = int((sched["year"] == 2025).sum())
    n26 = int((sched["year"] == 2026).sum())
    assert 100_000 * n25 + 20_000 * n25 <= 250_000
    assert 100_000 * n26 + 20_000 * (n25 + n26) <= 150_000
    # brute force over which candidates open when: the covered weight summed over years
    demand = demand_points(dongcheng.units)
    cands = build_candidates(dongcheng, spacing_m=3000)
    from planning.access import travel_times

    times = np.asarray(travel_times(demand, cands).values, dtype=float)
    w = demand["weight"].to_numpy(dtype=float)
    locked = cands["locked"].to_numpy(dtype=bool)
    free = np.flatnonzero(~locked)

    def covered(mask: np.ndarray) -> float:
        return float(w[(times[:, mask] <= 6).any(axis=1)].sum()) if mask.any() else 0.0

    best = -1.0
    for k1 in range(0, 3):
        for first in itertools.combinations(free, k1):
            if 120_000 * k1 > 250_000:
                continue
            m1 = locked.copy()
            m1[list(first)] = True
            rest = [j for j in free if j not in first]
            for k2 in range(0, 2):
                if 100_000 * k2 + 20_000 * (k1 + k2) > 150_000:
                    continue
                for second in itertools.combinations(rest, k2):
                    m2 = m1.copy()
                    m2[list(second)] = True
                    best = max(best, covered(m1) + covered(m2))
    assert res.result.objective == pytest.approx(best, rel=1e-6)


def test_unreachable_target_is_refused(dongcheng):
    years = YearPlan((2025,), (0.0,), (1.0,))  # no money, full coverage: impossible
    from planning.errors import InfeasibleError

    with pytest.raises(InfeasibleError):
        plan_by_year(dongcheng, SitingOptions(threshold_min=3), years, site_cost=100_000)


def test_cli_plan_years_writes_the_schedule(tmp_path):
    out = tmp_path / "schedule.csv"
    res = CliRunner().invoke(app, ["plan-years", "--district", "东城区", "--years", "2025,2026",
                                   "--budget", "300000,300000", "--threshold", "10",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "status=optimal" in res.output
    table = pd.read_csv(out)
    assert set(table["year"]) <= {2025, 2026} and len(table) >= 1
    bad = CliRunner().invoke(app, ["plan-years", "--years", "2025,x", "--budget", "1"])
    assert bad.exit_code == 2 and "separated by commas" in bad.output


def test_siting_page_capacity_in_clients_and_years_plan_in_chinese():
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app_pages" / "4_选址_Siting.py"), default_timeout=240).run()
    at.sidebar.selectbox(key="district").set_value("东城区").run()
    size = next(c.value for c in at.caption if c.value.startswith("模型规模"))
    assert "17 个需求点" in size and "精确求解" in size  # shown before anything is solved
    at.selectbox(key="siting_model").set_value("cap_pmedian")  # inside the form: set, then
    at.number_input(key="siting_thr").set_value(5)  # submit in the same run
    next(b for b in at.button if b.label == "运行").click()
    at.run()
    assert at.session_state["siting_options"].model == "cap_pmedian"
    assert not at.exception and not at.error, [e.value for e in at.error]
    status = next(m for m in at.metric if m.label == "状态")
    assert status.value == "已证明最优"  # clients (eligible × 0.5) fit the staffed capacity
    at.text_input(key="budget_list").set_value("120000,120000,120000")
    next(b for b in at.button if b.label == "生成分年计划").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    per_year = at.dataframe[-2].value
    assert list(per_year["年份"]) == ["2025", "2026", "2027"]
    spend = per_year["支出（元）"].str.replace(",", "").astype(float)
    assert (spend <= 120_000).all() and spend.sum() > 0  # something opens, within budget


def test_siting_page_fair_covering_shows_the_price_of_fairness():
    from streamlit.testing.v1 import AppTest

    from planning.publish import tables

    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app_pages" / "4_选址_Siting.py"), default_timeout=240).run()
    at.sidebar.selectbox(key="district").set_value("东城区").run()
    at.selectbox(key="siting_model").set_value("fair_mclp")
    at.number_input(key="siting_p").set_value(5)
    at.number_input(key="siting_thr").set_value(10)
    next(b for b in at.button if b.label == "运行").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = {m.label: m.value for m in at.metric}
    from planning.demo import beijing_demo
    from planning.siting.plan import suggest_sites

    plan = suggest_sites(beijing_demo().subset(["东城区"]), at.session_state["siting_options"],
                         profile="beijing-2018")
    for metric in tables.fairness_metrics(plan.fairness, "zh"):
        assert shown[metric.label] == metric.value
