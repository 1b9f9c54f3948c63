"""Compliance page: findings by rule and clause, map by worst finding, drill-down, workbook."""

from __future__ import annotations

import streamlit as st

from planning import rules
from planning.app.ui import (
    COMPLIANCE_DEFAULT_STATUSES,
    COMPLIANCE_STATUSES,
    compliance_map_spec,
    compliance_tables,
    findings_for,
    milestones_for,
    profile_picker,
    show_map,
    sidebar,
    workbook_for,
)
from planning.i18n import t, value_label
from planning.publish import tables

st.set_page_config(page_title="合规 Compliance", layout="wide")
lang, dataset, district = sidebar()
name, profile, year = profile_picker(lang)
st.title(t("compliance_title", lang))
st.caption(t("compliance_caption", lang))

view = findings_for(dataset, profile, district=district, year=year)
counts = view["status"].value_counts()
c1, c2, c3 = st.columns(3)
c1.metric(t("fails", lang), int(counts.get("fail", 0)))
c2.metric(t("passes", lang), int(counts.get("pass", 0)))
c3.metric(t("not_assessable", lang), int(counts.get("not_assessable", 0)))

show_map(compliance_map_spec(dataset, view, profile, district=district, year=year, lang=lang),
         height=520)

title = "title_zh" if lang == "zh" else "title_en"
rule_titles = dict(zip(view["rule_id"], view[title], strict=False))
st.subheader(t("findings", lang))
f1, f2 = st.columns(2)
statuses = f1.multiselect(t("status_filter", lang), list(COMPLIANCE_STATUSES),
                          default=list(COMPLIANCE_DEFAULT_STATUSES), key="status_filter",
                          format_func=lambda s: value_label(s, lang),
                          placeholder=t("choose", lang))
rule_ids = f2.multiselect(t("rule_filter", lang), list(rule_titles), key="rule_filter",
                          format_func=lambda r: rule_titles.get(r, r),
                          placeholder=t("choose", lang))
laid_out = compliance_tables(dataset, profile, district=district, year=year, lang=lang,
                             statuses=tuple(statuses), rule_ids=tuple(rule_ids))
st.dataframe(laid_out.findings, hide_index=True, width="stretch", key="findings_table")

s1, s2 = st.columns(2)
s1.markdown(f"**{t('by_rule', lang)}**")
s1.dataframe(laid_out.by_rule, hide_index=True, width="stretch")
s2.markdown(f"**{t('by_district', lang)}**")
s2.dataframe(laid_out.by_district, hide_index=True, width="stretch")

if profile.milestones:
    with st.expander(t("milestones", lang)):
        st.dataframe(tables.milestone_table(milestones_for(dataset, profile, district=district),
                                            lang), hide_index=True, width="stretch")

st.subheader(t("drilldown", lang))
units = dataset.units if not district else dataset.units[dataset.units["district"] == district]
uid = st.selectbox(t("pick_township", lang), list(units["unit_id"]), key="drill_unit",
                   format_func=dict(zip(units["unit_id"], units["name"], strict=True)).get)
drill = rules.township_drilldown(view, dataset, uid)
st.dataframe(tables.findings_table(drill, lang), hide_index=True, width="stretch")

st.download_button(t("download_workbook", lang),  # built on click, not on every render
                   lambda: workbook_for(dataset, profile, district=district, year=year),
                   file_name=f"compliance_{profile.name}.xlsx", key="dl_workbook",
                   on_click="ignore",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
