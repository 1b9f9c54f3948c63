"""Scenarios page: the project's saved scenarios, managed and compared.

List, rename, duplicate, delete, adopt, export/import a file, and compare two side by side
(table and maps).
"""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from planning import workspace as wsp
from planning.app import workspace_ui as wui
from planning.app.ui import settings, sidebar
from planning.publish import maps, tables

st.set_page_config(page_title="情景 Scenarios", layout="wide")
lang, dataset, _district = sidebar()
project = wui.project_picker(lang)
st.title(wui.t("scenarios_title", lang))
st.caption(wui.t("scenarios_caption", lang))
if project is None:
    st.stop()
ws, who = wui.workspace(), wui.actor()
listed = wsp.list_scenarios(ws, project)

compare, manage, incoming = st.tabs([wui.t("compare_two", lang), wui.t("manage", lang),
                                     wui.t("import", lang)])
with incoming:
    upload = st.file_uploader(wui.t("scenario_file", lang), type=["json"], key="ws_import_file")
    new_name = st.text_input(wui.t("import_name", lang), key="ws_import_name")
    if upload is not None and st.button(wui.t("import_button", lang), key="ws_import"):
        ok, got = wui.attempt(lambda: wsp.import_scenario(
            ws, project, upload.getvalue(), actor=who, name=new_name.strip() or None), lang)
        if ok:
            st.success(f"{wui.t('done', lang)}: {got}")
            st.rerun()

if listed.empty:
    compare.info(wui.t("no_scenarios", lang))
    st.stop()

with manage:
    st.markdown(f"**{wui.t('saved_list', lang)}**")
    for adopted in listed.loc[listed["adopted"], "name"]:
        st.success(f"{wui.t('adopted', lang)}: {adopted}")
    st.dataframe(listed, hide_index=True, width="stretch", key="ws_scenario_table")
    name = st.selectbox(wui.t("pick_one", lang), list(listed["name"]), key="ws_pick")
    version = int(listed.set_index("name").loc[name, "version"])
    c1, c2, c3, c4 = st.columns(4)
    renamed = c1.text_input(wui.t("rename_to", lang), value=name, key=f"ws_rename_{name}")
    if c1.button(wui.t("rename", lang), key="ws_rename") and renamed != name:
        if wui.attempt(lambda: wsp.rename_scenario(ws, project, name, renamed, actor=who,
                                                   expected_version=version), lang)[0]:
            st.rerun()
    if c2.button(wui.t("duplicate", lang), key="ws_duplicate"):
        if wui.attempt(lambda: wsp.duplicate_scenario(ws, project, name, actor=who), lang)[0]:
            st.rerun()
    if c2.button(wui.t("adopt", lang), key="ws_adopt"):
        if wui.attempt(lambda: wsp.adopt_scenario(ws, project, name, actor=who,
                                                  expected_version=version), lang)[0]:
            st.rerun()
    sure = c3.checkbox(wui.t("delete_confirm", lang), key=f"ws_delete_sure_{name}")
    if c3.button(wui.t("delete", lang), key="ws_delete", disabled=not sure):
        if wui.attempt(lambda: wsp.delete_scenario(ws, project, name, actor=who,
                                                   expected_version=version), lang)[0]:
            st.rerun()
    if c4.button(wui.t("prepare_export", lang), key="ws_prepare_export"):
        ok, data = wui.attempt(lambda: wsp.export_scenario(ws, project, name, actor=who,
                                                           settings=settings()), lang)
        st.session_state["ws_export"] = (name, data) if ok else None
    ready = st.session_state.get("ws_export")
    if ready and ready[0] == name:
        c4.download_button(wui.t("download_scenario", lang), ready[1],
                           file_name=f"{name}.json", mime="application/json",
                           key="ws_download")

with compare:
    names = list(listed["name"])
    picked = st.multiselect(wui.t("pick_scenarios", lang), names, default=names[-2:],
                            max_selections=2, key="ws_cmp")
    if picked:
        st.dataframe(tables.scenario_compare_table(wsp.compare_scenarios(ws, project, picked),
                                                   lang), hide_index=True, width="stretch")
    for i, (col, pick) in enumerate(zip(st.columns(max(len(picked), 1)), picked, strict=False)):
        scen = wsp.get_scenario(ws, project, pick)
        col.markdown(f"**{pick}**" + (f" — {wui.t('adopted', lang)}" if scen.adopted else ""))
        if scen.dataset_token and scen.dataset_token != dataset.token:
            col.warning(wui.t("other_data", lang))
        with col:
            fmap = maps.siting_map(dataset, scen.plan, district=scen.district, lang=lang,
                                   settings=settings())
            st_folium(fmap, height=380, use_container_width=True, returned_objects=[],
                      key=f"ws_map_{i}_{pick}")
