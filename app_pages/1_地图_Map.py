"""Map page: boundaries, patient density (small counts suppressed), heat layer, facilities."""

from __future__ import annotations

import streamlit as st

from planning.app.ui import extra_map_layers, settings, show_map, sidebar
from planning.i18n import t
from planning.publish import maps

st.set_page_config(page_title="地图 Map", layout="wide")
lang, dataset, district = sidebar()
st.title(t("map_title", lang))
st.caption(t("map_page_caption", lang))
extra = (st.session_state.get("isochrones_geojson"), st.session_state.get("suggested_geojson"))
show_map(lambda: maps.planner_map(dataset, district=district, lang=lang, settings=settings(),
                                  extra_layers=extra_map_layers(lang)),
         content=("planner", dataset.token, district, lang, settings(), hash(extra)),
         key="planner_map", height=680)
