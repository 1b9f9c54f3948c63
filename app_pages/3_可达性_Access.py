"""Accessibility page: share of residents within T minutes, access index, catchments."""

from __future__ import annotations

import hashlib

import streamlit as st

from planning.app import actions, auth
from planning.app.ui import (
    ACCESS_COLUMNS,
    ACCESS_DEFAULT_THRESHOLD,
    ACCESS_MODES,
    ACCESS_THRESHOLDS,
    access_map_spec,
    access_summary,
    isochrones_for,
    profile_picker,
    routing_network_from_upload,
    show_map,
    sidebar,
)
from planning.errors import InputError, NetworkUnavailableError
from planning.i18n import render_error, t
from planning.publish import tables

st.set_page_config(page_title="可达性 Access", layout="wide")
lang, dataset, district = sidebar()
_name, profile, _year = profile_picker(lang)
st.title(t("access_title", lang))
st.caption(t("access_caption", lang))

c1, c2, c3 = st.columns(3)
mode = c1.selectbox(t("mode", lang), ACCESS_MODES, key="access_mode",
                    format_func=lambda m: t(m, lang))
threshold = c2.select_slider(t("threshold", lang), ACCESS_THRESHOLDS,
                             value=ACCESS_DEFAULT_THRESHOLD, key="access_threshold")
column = c3.selectbox(t("colour_by", lang), ACCESS_COLUMNS, key="access_column",
                      format_func=lambda c: t(f"measure_{c}", lang),
                      help=t("help_2sfca", lang))
upload = st.file_uploader(t("network_file", lang), type=["osm", "xml", "graphml"],
                          key="network_upload")

# one container for every note, so the map below keeps its place (and is not redrawn)
notes = st.container()
net = None
if upload is not None:
    data = upload.getvalue()
    net_key = hashlib.sha1(data).hexdigest()[:16] + mode
    progress = notes.progress(0, text=t("computing", lang))
    try:
        net = (net_key, actions.read_upload(  # role and size checked before parsing
            auth.current_actor(), upload,
            lambda _f: routing_network_from_upload(net_key, upload.name, data, mode),
            name=upload.name, lang=lang))
    except (InputError, NetworkUnavailableError) as exc:
        notes.error(render_error(exc, lang), icon=":material/error:")
    progress.empty()

with st.spinner(t("computing", lang)):
    try:
        summary = access_summary(dataset, profile, district=district, threshold=threshold,
                                 mode=mode, network=net)
    except InputError as exc:  # e.g. the network does not cover this area: said, not used
        notes.error(render_error(exc, lang), icon=":material/error:")
        net = None
        summary = access_summary(dataset, profile, district=district, threshold=threshold,
                                 mode=mode)
if summary.method == "network":
    notes.success(t("network_built", lang), icon=":material/check_circle:")
else:
    notes.warning(t("fallback_note", lang))

show_map(access_map_spec(dataset, summary, profile, district=district, net_key=net and net[0],
                         column=column, lang=lang), height=560)
st.session_state["isochrones_geojson"] = isochrones_for(dataset, profile, summary,
                                                       district=district,
                                                       net_key=net and net[0])
st.subheader(t("worst_served", lang))
st.dataframe(tables.access_table(summary.worst(15), lang), hide_index=True, width="stretch")
