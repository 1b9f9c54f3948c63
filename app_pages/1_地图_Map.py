"""Map page: boundaries, patient density, heat layer, facilities; click to plan a station.

Small counts are suppressed. Clicking the map adds a planned station to the current scenario
and shows its effect on compliance and access.
"""

from __future__ import annotations

import streamlit as st

from planning.app.ui import (
    access_summary,
    findings_for,
    map_extras,
    planner_map_spec,
    profile_picker,
    settings,
    show_map,
    sidebar,
)
from planning.app.whatif import (
    PlannedStation,
    Snapshot,
    add_planned_station,
    gcj02_to_wgs84,
    township_at,
    township_change,
)
from planning.errors import InputError
from planning.i18n import render_error, t, tf
from planning.publish import maps

st.set_page_config(page_title="地图 Map", layout="wide")
lang, dataset, district = sidebar()
_name, profile, year = profile_picker(lang)
st.title(t("map_title", lang))
st.caption(t("map_page_caption", lang) + " " + t("plan_station_hint", lang))
event = show_map(planner_map_spec(dataset, district=district, lang=lang, extras=map_extras()),
                 height=640, returned=("last_clicked",))

change = st.session_state.get("_plan_change")
if change is not None:
    st.success(change["message"], icon=":material/check_circle:")
    st.markdown(f"**{change['title']}**")
    st.table(change["table"].set_index(change["table"].columns[0]))

click = (event or {}).get("last_clicked")
if click:
    lon, lat = float(click["lng"]), float(click["lat"])
    if maps.display_for(None, settings=settings()).gcj02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    unit = township_at(dataset, lon, lat)
    with st.form("plan_station"):
        st.markdown(f"**{t('plan_station_title', lang)}**")
        st.caption(tf("plan_station_at", lang, township=unit["name"] if unit is not None
                      else "—", lon=f"{lon:.5f}", lat=f"{lat:.5f}"))
        a1, a2, a3 = st.columns(3)
        area = a1.number_input(t("floor_area", lang), 0, 5000, 120, step=10, key="plan_area")
        staff = a2.number_input(t("staff_count", lang), 0, 100, 6, key="plan_staff")
        workers = a3.number_input(t("social_workers", lang), 0, 50, 1, key="plan_workers")
        add = st.form_submit_button(t("plan_add", lang), type="primary")
    if add:
        try:
            after = add_planned_station(dataset, PlannedStation(
                lon, lat, float(area), int(staff), int(workers)))
        except InputError as exc:
            st.error(render_error(exc, lang), icon=":material/error:")
            st.stop()
        new_id = after.facilities["facility_id"].iloc[-1]
        where = unit["district"]

        def snap(ds: object) -> Snapshot:
            """Take the compliance and access numbers of ``ds`` for the chosen district."""
            access = access_summary(ds, profile, district=where, threshold=15, mode="walk")
            return Snapshot(ds, findings_for(ds, profile, district=where, year=year),
                            access.townships)

        table = township_change(unit["unit_id"], snap(dataset), snap(after), lang=lang)
        st.session_state["dataset"] = after
        st.session_state["_plan_change"] = {
            "message": tf("plan_added", lang, name=after.facilities["name"].iloc[-1]),
            "title": tf("plan_effect", lang, township=unit["name"]), "table": table,
            "facility_id": new_id}
        st.rerun()
