"""Map page: boundaries, patient density (small counts suppressed), heat layer, facilities."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from planning.app.ui import extra_map_layers, settings, sidebar
from planning.i18n import t
from planning.publish import maps

st.set_page_config(page_title="地图 Map", layout="wide")
lang, dataset, district = sidebar()
st.title(t("map_title", lang))
st.caption(t("map_page_caption", lang))
fmap = maps.planner_map(dataset, district=district, lang=lang, settings=settings(),
                        extra_layers=extra_map_layers(lang))
st_folium(fmap, height=680, use_container_width=True, returned_objects=[], key="planner_map")
