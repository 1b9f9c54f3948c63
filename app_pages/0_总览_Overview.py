"""Home page: overview KPIs, progress toward targets, map.

Run with ``make app`` (or ``streamlit run app.py``). Pages stay thin: they call the engine.
"""

from __future__ import annotations

import streamlit as st

from planning.app import workspace_ui as wui
from planning.app.ui import (
    findings_for,
    milestones_for,
    overview_map_spec,
    profile_picker,
    show_map,
    sidebar,
)
from planning.i18n import fmt_number, t
from planning.publish import tables
from planning.rules import indicators

lang, dataset, district = sidebar()
name, profile, year = profile_picker(lang)
st.title(t("app_title", lang))
st.caption(t("app_caption", lang))

kpi = indicators.headline(dataset, district=district)
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("townships", lang), fmt_number(kpi.townships))
c2.metric(t("stations", lang), fmt_number(kpi.stations))
c3.metric(t("without_station", lang), fmt_number(kpi.townships_without_station))
c4.metric(t("coverage", lang), fmt_number(kpi.coverage, decimals=1, percent=True),
          help=t("help_coverage", lang))
ov = indicators.overview(dataset, district=district)
d1, d2, d3 = st.columns(3)
d1.metric(t("beds_per_100k", lang), fmt_number(ov.beds_per_100k, decimals=1),
          help=t("help_beds", lang))
d2.metric(t("staff_per_client", lang), f"1 : {ov.clients_per_staff:.1f}"
          if ov.clients_per_staff == ov.clients_per_staff else "—",
          help=t("help_staff_ratio", lang))
d3.metric(t("home_service_rate", lang), fmt_number(ov.home_service_rate, percent=True),
          help=t("help_home_rate", lang))

st.caption(t("map_caption", lang))
show_map(overview_map_spec(dataset, district=district, lang=lang), height=560)

findings = findings_for(dataset, profile, district=district, year=year)
left, right = st.columns(2)
if profile.milestones:
    left.markdown(f"**{t('progress', lang)}** ({profile.name})")
    milestones = milestones_for(dataset, profile, district=district)
    titles = dict(zip(milestones["rule_id"], milestones["title_zh" if lang == "zh"
                                                         else "title_en"], strict=False))
    # a table with progress bars, not a chart: no chart library on the landing page
    view = tables.progress_view(indicators.progress_table(milestones), titles, lang)
    bar = (st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.1f%%",
                                           width="small")
           if view.attrs["percent"] else st.column_config.NumberColumn(format="%.1f"))
    left.dataframe(view, hide_index=True, width="stretch", column_config={
        view.columns[0]: st.column_config.TextColumn(width="medium"), view.columns[1]: bar,
        **{c: st.column_config.TextColumn(width="small") for c in view.columns[2:]}})
right.markdown(f"**{t('worst_districts', lang)}**")
right.dataframe(tables.district_table(indicators.worst_districts(findings), lang),
                hide_index=True, width="stretch")

project = wui.project_picker(lang)
if project is not None:
    wui.progress_section(profile, project=project, district=district, lang=lang)

with st.expander(t("sources", lang)):
    for line in dataset.sources:
        st.markdown(f"- {line}")
