"""One scope everywhere: Overview, Compliance, Siting and the CLI count the same failures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from planning import rules
from planning.cli import app
from planning.i18n import t
from planning.siting.plan import SitingOptions, suggest_sites

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "beijing-2018"


def _cli_failures(*args: str) -> int:
    out = CliRunner().invoke(app, ["check", *args])
    assert out.exit_code == 0, out.output
    return int(re.search(r"(\d+) failing findings in", out.output).group(1))


def _years():
    prof = rules.load_profile(PROFILE)
    return [*list(prof.milestones)[-1:], None]


@pytest.mark.parametrize("year", _years())
def test_district_counts_agree_across_engine_siting_and_cli(demo, year):
    prof = rules.load_profile(PROFILE)
    scope = rules.evaluate_scope(demo, prof, district="东城区", year=year)
    n = int((scope["status"] == "fail").sum())
    assert n > 0  # the demo plants failures in every district
    assert scope["district"].eq("东城区").all()
    plan = suggest_sites(demo.subset(["东城区"]), SitingOptions(year=year, time_limit=30),
                         profile=prof)
    assert int(plan.kpis.loc["failing_findings", "before"]) == n
    args = ["--district", "东城区"] + (["--year", str(year)] if year else [])
    assert _cli_failures(*args) == n


def test_city_scope_and_district_scope_differ_and_sum_without_city_rows(demo):
    prof = rules.load_profile(PROFILE)
    city = rules.evaluate_scope(demo, prof)
    per = sum(int((rules.evaluate_scope(demo, prof, district=d)["status"] == "fail").sum())
              for d in demo.district_names())
    district_rows = city[city["district"].notna()]
    assert per == int((district_rows["status"] == "fail").sum())
    assert _cli_failures() == int((city["status"] == "fail").sum())


def test_cli_unknown_district_is_an_input_error():
    out = CliRunner().invoke(app, ["check", "--district", "不存在区"])
    assert out.exit_code == 2
    assert "unknown district '不存在区'" in out.output


def _page(page: str, district: str | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app_pages" / page), default_timeout=120).run()
    if district:
        at.sidebar.selectbox(key="district").set_value(district).run()
    assert not at.exception, at.exception
    return at


def test_compliance_page_counts_the_scope(demo):
    prof = rules.load_profile(PROFILE)
    at = _page("2_合规_Compliance.py", "东城区")
    year = at.sidebar.selectbox(key="milestone_year").value
    n = int((rules.evaluate_scope(demo, prof, district="东城区", year=year)["status"]
             == "fail").sum())
    fails = next(m for m in at.metric if m.label == t("fails", "zh"))
    assert int(str(fails.value).replace(",", "")) == n
    assert _cli_failures("--district", "东城区", "--year", str(year)) == n
