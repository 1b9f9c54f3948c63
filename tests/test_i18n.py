"""One language at a time: tables, values, numbers, legends and engine errors in the UI language."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from planning.errors import InfeasibleError, InputError
from planning.i18n import TEXT, fmt_number, localize_table, render_error, t
from planning.publish import maps, tables
from planning.rules import evaluate_scope, load_profile, summarise

SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
STATUS_WORDS = re.compile(r"\b(pass|fail|not_assessable|optimal|township|population)\b")


def _all_text(frame: pd.DataFrame) -> str:
    return " ".join(map(str, frame.columns)) + " " + " ".join(
        str(v) for v in frame.to_numpy().ravel())


def test_every_key_has_both_languages():
    for key, pair in TEXT.items():
        assert len(pair) == 2, key
        assert isinstance(pair[0], str) and isinstance(pair[1], str), key


def test_findings_tables_in_chinese_carry_no_identifiers(demo):
    profile = load_profile("beijing-2018")
    findings = evaluate_scope(demo, profile, district=None, year=2020)  # every rule and reason
    shown = [tables.findings_table(findings, "zh"),
             tables.rule_summary_table(summarise(findings).by_rule, "zh"),
             tables.district_table(summarise(findings).district_totals(), "zh")]
    for frame in shown:
        text = _all_text(frame)
        assert not SNAKE.search(text), SNAKE.search(text).group()
        assert not STATUS_WORDS.search(text), STATUS_WORDS.search(text).group()
    table = shown[0]
    assert list(table.columns[:5]) == ["对象", "区", "规则", "结果", "条款"]  # clause visible
    fails = table[table["结果"] == "未达标"]
    assert len(fails) and (fails["原因"].str.len() > 0).all()  # never an empty reason
    # one dtype per column: what Arrow needs
    assert all(table[c].map(type).nunique() == 1 for c in table.columns)


def test_localize_table_translates_headers_and_values():
    frame = pd.DataFrame({"rule_id": ["a"], "status": ["not_assessable"], "custom": [1]})
    out = localize_table(frame, "zh")
    assert list(out.columns) == ["规则编号", "结果", "custom"]
    assert out.iloc[0, 1] == "无法评估"
    assert localize_table(frame, "en").iloc[0, 1] == "not assessable"


def test_numbers_are_formatted_with_units():
    assert fmt_number(773787.3, unit="人·分钟") == "773,787 人·分钟"
    assert fmt_number(0.9504, decimals=1, percent=True) == "95.0%"
    assert fmt_number(float("inf")) == "无数据"
    assert fmt_number(None) == "—"


def test_engine_errors_render_in_chinese_with_their_numbers():
    exc = InfeasibleError("cap_pmedian: total capacity 580 < demand 3061: 3 locked sites plus")
    zh = render_error(exc, "zh")
    assert "580" in zh and "3061" in zh and "总容量" in zh and "capacity" not in zh
    assert render_error(exc, "en") == str(exc)
    keyed = InputError("outside", source="map click", key="err_click_outside",
                       params={"lon": "1.00000", "lat": "2.00000"})
    assert render_error(keyed, "zh") == "map click：所点位置（1.00000, 2.00000）不在任何街乡内。"
    located = InputError("bad", source="a.csv", row=3, field="staff")
    assert render_error(located, "zh").startswith("a.csv，第 3 行，字段“staff”")
    assert render_error(InfeasibleError("something new"), "zh") == "something new"  # fallback


def test_legend_classes_are_never_degenerate():
    values = np.array([0.001, 0.004, 0.011, 0.02, 0.05, np.nan])
    colours, legend = maps._ramp(values)
    labels = [lab for _, lab in legend]
    assert labels[-1] == "无数据" and colours[-1] == maps.NO_DATA  # no data: grey, in legend
    ranges = labels[:-1]
    assert len(set(ranges)) == len(ranges) >= 3
    assert not any(re.fullmatch(r"([\d.]+) – \1", r) for r in ranges)  # no "0.0 – 0.0"
    _, one = maps.class_breaks(np.array([2.0, 2.0, 2.0]))
    assert one == ["2"]
    _, pct = maps.class_breaks(np.array([0.1, 0.5, 0.9]), k=2, scale=100, unit="%")
    assert pct == ["10 – 50%", "50 – 90%"]


def test_solver_metrics_name_units_and_never_claim_unproven_optimum():
    class R:
        status, objective, bound, gap, runtime_s = "time_limit_feasible", 773787.3, 700000.0, \
            0.0954, 1.26

    metrics = {m.label: m for m in tables.solver_metrics(R(), model="pmedian", lang="zh")}
    assert metrics["目标值"].value == "773,787 人·分钟" and metrics["目标值"].help
    assert metrics["下界"].help and metrics["最优间隙"].value == "9.54%"
    assert metrics["状态"].value == t("status_time_limit_feasible", "zh") != "已证明最优"


def test_scenario_comparison_reads_in_one_language(demo):
    import re

    from planning.publish.tables import scenario_compare_table
    from planning.siting.plan import SitingOptions, compare, suggest_sites

    ds = demo.subset(["东城区"])
    a = suggest_sites(ds, SitingOptions(model="pmedian", p=2))
    b = suggest_sites(ds, SitingOptions(model="mclp", p=2, threshold_min=10))
    zh = scenario_compare_table(compare({"甲": a, "乙": b}), "zh")
    text = " ".join(zh.astype(str).to_numpy().ravel()) + " ".join(zh.columns)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|after\.|param\.", text), text
    assert "最优" in text and {"甲", "乙"} <= set(zh.columns)
    import pandas as pd

    assert all(pd.api.types.is_string_dtype(zh[c]) for c in zh)  # one dtype: no Arrow errors
    en = scenario_compare_table(compare({"A": a}), "en")
    assert "optimal" in " ".join(en["A"]).lower()


def test_fairness_metrics_state_worst_share_price_and_the_plain_plan():
    import itertools

    import numpy as np
    from siting_instances import instance

    from planning.siting.fairness import FairCover

    cost, w = instance(18, 8, 3)
    towns = np.arange(18) % 3
    cost[towns == 2] = np.inf  # one township nothing reaches: named in the help, left out
    fair = FairCover.from_cost_matrix(cost, w, service_radius=3.5, p=3, townships=towns,
                                      mode="maximin").solve_fair(mip_gap=0.0)
    plain_best = max(float(w[(cost[:, list(s)] <= 3.5).any(axis=1)].sum())
                     for s in itertools.combinations(range(8), 3))
    zh = tables.fairness_metrics(fair, "zh")
    en = tables.fairness_metrics(fair, "en")
    assert [m.label for m in zh] == ["最差街乡覆盖比例", "公平代价", "不考虑公平时的覆盖"]
    assert [m.label for m in en] == ["Worst-served township's share", "Price of fairness",
                                     "Coverage without fairness"]
    assert zh[0].value == f"{fair.worst_share * 100:.1f}%" and "（1 个）" in zh[0].help
    plain_worst = fair.shares.loc[fair.shares["reachable_share"] > 0, "baseline_share"].min()
    assert f"{plain_worst * 100:.1f}%" in en[0].help and "(1)" in en[0].help
    assert zh[1].value == f"{fair.price_of_fairness * 100:.2f}%"
    assert en[2].value == f"{plain_best:,.0f} people" and "proven optimal" in en[2].help


def test_progress_view_shows_fractions_as_percent_even_with_gaps():
    progress = pd.DataFrame(
        {"measured": [0.95, np.nan, 0.5], "target_2020": [1.0, 0.3, np.nan],
         "target_2025": [1.0, 0.5, 0.7]},
        index=pd.Index(["bj.cov", "bj.social", "bj.home"], name="rule_id"))
    titles = {"bj.cov": "驿站覆盖率", "bj.social": "社会投资比例", "bj.home": "居家康复比例"}
    view = tables.progress_view(progress, titles, "zh")
    assert view.attrs["percent"]  # a gap (NaN) does not turn fractions into raw numbers
    assert list(view.columns) == ["指标", "实测 (%)", "目标（2020年）", "目标（2025年）"]
    assert view["实测 (%)"].tolist()[0] == 95.0 and np.isnan(view["实测 (%)"].iloc[1])
    assert view["目标（2020年）"].tolist() == ["100%", "30%", "—"]  # no target that year: —
    assert not SNAKE.search(_all_text(view))
    counts = tables.progress_view(progress * 100, titles, "en")
    assert not counts.attrs["percent"] and counts.iloc[0, 1] == 95.0
    assert counts["target 2025"].tolist() == ["100.0", "50.0", "70.0"]
    empty = pd.DataFrame({"measured": [np.nan], "target_2020": [np.nan]},
                         index=pd.Index(["x"], name="rule_id"))
    assert tables.progress_view(empty, {}, "zh").empty
