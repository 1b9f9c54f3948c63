"""Data page: upload layers, see validation results before anything replaces the current data."""

from __future__ import annotations

import streamlit as st

from planning.app import auth
from planning.app.ui import profile_picker, sidebar
from planning.data import io as pio
from planning.data import ledger
from planning.data.model import replace_layers
from planning.errors import InputError
from planning.i18n import t

lang, dataset, _district = sidebar()
_name, profile, _year = profile_picker(lang)
auth.require_login("editor")
st.title(t("data_title", lang))
st.caption(t("data_caption", lang))

datum = st.radio(t("datum", lang), ["wgs84", "gcj02", "bd09"], horizontal=True, key="datum",
                 format_func=lambda d: {"wgs84": "WGS84 (GPS/OSM)", "gcj02": "GCJ-02 (高德/腾讯)",
                                        "bd09": "BD-09 (百度)"}[d])
types = [s.lstrip(".") for s in pio.VECTOR_SUFFIXES + pio.TABLE_SUFFIXES]
uploads = {
    layer: st.file_uploader(t(f"upload_{layer}", lang), type=types, key=f"up_{layer}")
    for layer in ("districts", "units", "facilities")
}

results, errors = {}, {}
for layer, up in uploads.items():
    if up is None:
        continue
    try:
        results[layer] = pio.read_layer(up, layer, datum=datum, name=up.name)
    except InputError as exc:
        errors[layer] = exc

for layer, exc in errors.items():
    st.error(f"❌ {t(f'upload_{layer}', lang)} — {exc}")
for layer, gdf in results.items():
    st.success(f"✅ {t(f'upload_{layer}', lang)} — {len(gdf)} {t('rows_ok', lang)}")
    st.dataframe(gdf.drop(columns="geometry").head(50), width="stretch")

if results and not errors:
    try:
        candidate = replace_layers(dataset, name=st.session_state.get("upload_name") or None,
                                   source="upload", **results)
    except InputError as exc:
        st.error(f"❌ {exc}")
    else:
        if st.button(t("use_data", lang), type="primary"):
            st.session_state["dataset"] = candidate
            st.success(t("data_replaced", lang))
elif errors:
    st.info(t("nothing_changed", lang))

st.subheader(t("ledger_title", lang))
st.caption(t("ledger_caption", lang))
up = st.file_uploader(t("upload_ledger", lang), type=["csv", "xlsx"], key="up_ledger")
if up is not None:
    try:
        summary = ledger.read_ledger(up, dataset.units, name=up.name, datum=datum,
                                     eligibility=profile.eligibility)
    except InputError as exc:
        st.error(f"❌ {exc}")
        st.info(t("nothing_changed", lang))
    else:
        c1, c2, c3, c4 = st.columns(4)
        c1.metric(t("ledger_rows", lang), summary.n_rows)
        c2.metric(t("ledger_matched", lang), summary.n_matched)
        c3.metric(t("ledger_unmatched", lang), summary.n_unmatched)
        c4.metric(t("ledger_duplicates", lang), len(summary.duplicates))
        for w in summary.warnings:
            st.warning(w)
        if summary.unmatched:
            st.dataframe({"row": [r for r, _ in summary.unmatched],
                          "reason": [why for _, why in summary.unmatched]}, width="stretch")
        if st.button(t("use_ledger", lang), type="primary"):
            st.session_state["dataset"] = ledger.with_ledger(dataset, summary)
            auth.mark_sensitive()
            st.success(t("data_replaced", lang))

st.subheader(t("templates", lang))
cols = st.columns(3)
for col, layer in zip(cols, ("districts", "units", "facilities"), strict=True):
    col.download_button(
        t(f"template_{layer}", lang), pio.template_workbook(layer),
        file_name=f"template_{layer}.xlsx", key=f"tpl_{layer}",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
if st.session_state.get("dataset") is not None and st.button(t("reset_demo", lang)):
    st.session_state["dataset"] = None
    st.rerun()
