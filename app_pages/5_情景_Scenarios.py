"""Scenarios page: saved siting scenarios side by side (table and maps)."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from planning.app.ui import settings, sidebar
from planning.i18n import t
from planning.publish import maps
from planning.siting.plan import compare

st.set_page_config(page_title="情景 Scenarios", layout="wide")
lang, dataset, _district = sidebar()
st.title(t("scenarios_title", lang))
st.caption(t("scenarios_caption", lang))

saved = st.session_state.get("scenarios") or {}
if not saved:
    st.info(t("no_scenarios", lang))
    st.stop()
names = st.multiselect(t("pick_scenarios", lang), list(saved), default=list(saved)[-3:],
                       key="scenario_pick")
if not names:
    st.stop()
st.dataframe(compare({n: saved[n]["plan"] for n in names}), width="stretch")
cols = st.columns(min(len(names), 3))
for col, name in zip(cols, names[:3], strict=False):
    entry = saved[name]
    col.markdown(f"**{name}**")
    with col:
        fmap = maps.siting_map(dataset, entry["plan"], district=entry["district"], lang=lang,
                               settings=settings())
        st_folium(fmap, height=380, use_container_width=True, returned_objects=[],
                  key=f"scenario_map_{name}")
