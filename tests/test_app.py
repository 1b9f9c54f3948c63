"""Streamlit AppTest: the home page runs headlessly on the default data, in both languages."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from planning.rules import indicators

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_home_page_shows_kpis_from_the_engine(demo):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    kpi = indicators.headline(demo)
    assert metrics["街道/乡镇数"] == str(kpi.townships)
    assert metrics["康复驿站数"] == str(kpi.stations)
    assert metrics["无驿站街乡"] == str(kpi.townships_without_station)
    assert kpi.townships_without_station > 0
    assert any("合成" in w.value for w in at.sidebar.warning)


def test_english_toggle_and_district_filter(demo):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.sidebar.radio(key="lang").set_value("en").run()
    at.sidebar.selectbox(key="district").set_value("东城区").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    kpi = indicators.headline(demo, district="东城区")
    assert metrics["Streets/townships"] == str(kpi.townships) == "17"
    assert metrics["Townships without a station"] == str(kpi.townships_without_station)
    assert any("SYNTHETIC" in w.value for w in at.sidebar.warning)


def test_district_kept_for_the_next_page_even_without_its_change_callback(demo):
    """A run that takes the district from the widget keeps it, callback or not.

    In a browser a page switch can overtake the widget's own rerun, so ``on_change`` never
    fires; the next page must still open on the district the sidebar showed.
    """
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["district"] = "东城区"  # the widget's value, no callback
    at.run()
    assert not at.exception
    assert at.session_state["_keep_district"] == "东城区"
    at.switch_page("app_pages/3_可达性_Access.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="district").value == "东城区"


def test_compliance_filters_and_language_reach_the_cached_tables(demo):
    """The laid-out tables are cached: every filter, the district and the language key them."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("app_pages/2_合规_Compliance.py")
    at.run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["结果"]) == {"未达标", "无法评估"}  # the default filter
    at.multiselect(key="status_filter").set_value(["pass"]).run()
    assert set(at.dataframe[0].value["结果"]) == {"达标"}
    rule = at.multiselect(key="rule_filter").options[0]
    at.multiselect(key="rule_filter").select(rule).run()
    only = at.dataframe[0].value
    assert 0 < len(only) < len(shown) and only["规则"].nunique() == 1
    at.sidebar.selectbox(key="district").set_value("东城区").run()
    assert set(at.dataframe[0].value["区"]) == {"东城区"}
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    english = at.dataframe[0].value
    assert set(english["Result"]) == {"pass"} and set(english["District"]) == {"东城区"}
