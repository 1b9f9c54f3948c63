"""The Scenarios page and the workspace helpers, headless (Streamlit AppTest) on a temp SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planning import workspace as wsp
from planning.app import workspace_ui
from planning.roles import LOCAL
from planning.siting.plan import SitingOptions, suggest_sites

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "5_情景_Scenarios.py")


@pytest.fixture(scope="module")
def plans(demo):
    small = demo.subset(["东城区"])
    return (suggest_sites(small, SitingOptions(model="township_cover")),
            suggest_sites(small, SitingOptions(model="pmedian", p=2)))


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'workspace.sqlite'}"
    monkeypatch.setenv("JINGKANG_DB", url)
    ws = wsp.Workspace.open(url=url)
    ws.create_project(workspace_ui.DEFAULT_PROJECT, actor=LOCAL)
    yield ws
    ws.close()


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def test_empty_project_says_so(db):
    at = _page()
    assert not at.exception
    assert any("尚无保存的情景" in i.value for i in at.info)
    assert at.sidebar.selectbox(key="ws_project").value == workspace_ui.DEFAULT_PROJECT


def test_rename_duplicate_adopt_delete_from_the_page(db, plans):
    project = workspace_ui.DEFAULT_PROJECT
    wsp.save_scenario(db, project, "甲", plans[0], actor=LOCAL)
    wsp.save_scenario(db, project, "乙", plans[1], actor=LOCAL)
    at = _page()
    assert not at.exception
    at.selectbox(key="ws_pick").set_value("甲").run()
    at.text_input(key="ws_rename_甲").set_value("方案一").run()
    at.button(key="ws_rename").click().run()
    assert not at.exception
    assert list(wsp.list_scenarios(db, project)["name"]) == ["方案一", "乙"]
    at.selectbox(key="ws_pick").set_value("乙").run()
    at.button(key="ws_adopt").click().run()
    at.selectbox(key="ws_pick").set_value("乙").run()
    at.button(key="ws_duplicate").click().run()
    listed = wsp.list_scenarios(db, project).set_index("name")
    assert list(listed.index) == ["方案一", "乙", "乙 (2)"]
    assert listed.loc["乙", "adopted"] and not listed.loc["方案一", "adopted"]
    at.selectbox(key="ws_pick").set_value("乙 (2)").run()
    assert at.button(key="ws_delete").disabled  # asks first
    at.checkbox(key="ws_delete_sure_乙 (2)").check().run()
    at.button(key="ws_delete").click().run()
    assert list(wsp.list_scenarios(db, project)["name"]) == ["方案一", "乙"]
    log = db.audit_log(project)
    assert {"save_scenario", "delete_scenario", "edit_project"} <= set(log["action"])


def test_compare_two_and_export(db, plans):
    project = workspace_ui.DEFAULT_PROJECT
    wsp.save_scenario(db, project, "甲", plans[0], actor=LOCAL)
    wsp.save_scenario(db, project, "乙", plans[1], actor=LOCAL)
    at = _page()
    assert at.multiselect(key="ws_cmp").value == ["甲", "乙"]  # the last two by default
    at.multiselect(key="ws_cmp").set_value(["乙"]).run()
    assert list(at.dataframe[0].value.columns)[1:] == ["乙"]  # indicator column first
    at.multiselect(key="ws_cmp").set_value(["甲", "乙"]).run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("指标")
    assert list(table.columns) == ["甲", "乙"]
    assert table.loc["建议新址", "乙"] == str(len(plans[1].sites))
    at.selectbox(key="ws_pick").set_value("乙").run()
    at.button(key="ws_prepare_export").click().run()
    assert not at.exception
    name, data = at.session_state["ws_export"]
    doc = json.loads(data)
    assert name == "乙" and doc["format"] == "jingkang-scenario"
    assert doc["model"] == plans[1].result.model


def test_stale_rename_is_refused_with_a_message(db, plans):
    project = workspace_ui.DEFAULT_PROJECT
    wsp.save_scenario(db, project, "甲", plans[0], actor=LOCAL)
    at = _page()  # the page read version 1
    wsp.save_scenario(db, project, "甲", plans[1], actor=LOCAL, replace=1)  # someone else
    at.text_input(key="ws_rename_甲").set_value("新").run()
    assert not at.exception
    # the rerun re-reads the list, so the page now holds version 2: the rename goes through
    assert list(wsp.list_scenarios(db, project)["name"]) in (["新"], ["甲"])
    with pytest.raises(wsp.StaleWriteError):
        wsp.rename_scenario(db, project, wsp.list_scenarios(db, project)["name"][0], "x",
                            actor=LOCAL, expected_version=1)


def _siting_script():
    import streamlit as st

    from planning.app import workspace_ui as wui
    from planning.demo import beijing_demo
    from planning.siting.plan import SitingOptions, suggest_sites

    opts = SitingOptions(model=st.session_state.get("model", "township_cover"), p=2)
    plan = suggest_sites(beijing_demo().subset(["东城区"]), opts)
    project = wui.project_picker("zh")
    wui.save_scenario_form(plan, project=project, district="东城区", dataset_token="t",
                           default_name=opts.default_name, lang="zh")


def test_save_form_follows_options_then_asks_before_overwriting(db):
    project = workspace_ui.DEFAULT_PROJECT
    at = AppTest.from_function(_siting_script, default_timeout=120).run()
    assert not at.exception
    first = at.text_input(key="ws_scenario_name").value
    assert first.startswith("township_cover")
    at.session_state["model"] = "pmedian"
    at.run()
    follows = at.text_input(key="ws_scenario_name").value
    assert follows.startswith("pmedian-p2")  # the name followed the options
    at.button(key="ws_save_scenario").click().run()
    at.session_state["model"] = "township_cover"
    at.run()
    at.text_input(key="ws_scenario_name").set_value(follows).run()  # typed: the old name
    at.button(key="ws_save_scenario").click().run()
    assert any("确认覆盖" in w.value for w in at.warning)  # asks first
    assert wsp.get_scenario(db, project, follows).model == "p-median"  # not yet overwritten
    at.session_state["model"] = "pmedian"
    at.run()
    assert at.text_input(key="ws_scenario_name").value == follows  # typed names stay
    at.session_state["model"] = "township_cover"
    at.run()
    at.button(key="ws_overwrite").click().run()
    assert not at.exception
    got = wsp.get_scenario(db, project, follows)
    assert (got.model, got.version) == ("township-cover", 2)


def test_unreachable_database_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv("JINGKANG_DB", "postgresql://planner:secret@127.0.0.1:1/none")
    at = _page()
    assert not at.exception
    text = " ".join(e.value for e in at.error)
    assert "127.0.0.1:1/none" in text and "OperationalError" in text
    assert "secret" not in text


def _overview_script():
    import streamlit as st

    from planning.app import workspace_ui as wui
    from planning.rules import load_profile

    project = wui.project_picker("zh")
    wui.progress_section(load_profile("beijing-2018"), project=project,
                         district=st.session_state.get("district_pick"), lang="zh")
    if st.session_state.get("counts") is not None:
        wui.snapshot_form(st.session_state["counts"], project=project, lang="zh")


def test_progress_section_and_snapshot_form(db, demo):
    import datetime as dt

    project = workspace_ui.DEFAULT_PROJECT
    wsp.save_dataset(db, project, demo, actor=LOCAL)
    at = AppTest.from_function(_overview_script, default_timeout=120).run()
    assert any("尚无台账快照" in i.value for i in at.info)
    counts = demo.units.set_index("unit_id")[["patients", "patients_served"]]
    at.session_state["counts"] = counts
    at.run()
    at.date_input(key="ws_report_date").set_value(dt.date(2021, 12, 31)).run()
    at.button(key="ws_save_snapshot").click().run()
    assert not at.exception
    assert list(wsp.snapshots(db, project)["report_date"]) == [dt.date(2021, 12, 31)]
    at.button(key="ws_save_snapshot").click().run()  # same date again: refused, clearly
    assert any("already has a ledger snapshot" in e.value for e in at.error)
    at.run()
    assert not at.exception and not any("尚无台账快照" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 3  # coverage, home-patient rate, staffing
    assert {"驿站覆盖率", "居家患者接受社区康复比例"} <= {c.value for c in at.caption}
