"""jingkang-planner dashboard: home page with the map and headline KPIs.

Run with ``make app`` (or ``streamlit run app.py``). Pages stay thin: they call the engine.
"""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from planning import indicators, maps
from planning.i18n import t
from planning.ui import settings, sidebar

st.set_page_config(page_title="精康融合规划 Jingkang planner", page_icon="🗺️", layout="wide")

lang, dataset, district = sidebar()
st.title(t("app_title", lang))
st.caption(t("app_caption", lang))

kpi = indicators.headline(dataset, district=district)
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("townships", lang), kpi.townships)
c2.metric(t("stations", lang), kpi.stations)
c3.metric(t("without_station", lang), kpi.townships_without_station)
c4.metric(t("coverage", lang), f"{kpi.coverage:.1%}")

st.caption(t("map_caption", lang))
fmap = maps.overview_map(dataset, district=district, lang=lang, settings=settings())
st_folium(fmap, height=620, use_container_width=True, returned_objects=[], key="home_map")

with st.expander(t("sources", lang)):
    for line in dataset.sources:
        st.markdown(f"- {line}")
