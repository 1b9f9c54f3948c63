"""Data page: upload layers, see validation results before anything replaces the current data."""

from __future__ import annotations

import dataclasses
import functools

import streamlit as st
from streamlit.components.v1 import html as st_html

from planning.app import actions, auth
from planning.app import workspace_ui as wui
from planning.app.ui import profile_picker, sidebar
from planning.data import consistency, ledger, mapping, population
from planning.data import io as pio
from planning.data.model import FACILITY_KINDS, SCHEMAS
from planning.errors import InputError
from planning.i18n import render_error, t

lang, dataset, _district = sidebar()
_name, profile, _year = profile_picker(lang)
auth.require_login("editor")
st.title(t("data_title", lang))
if flash := st.session_state.pop("_data_flash", None):  # set just before st.rerun()
    st.success(flash)
st.caption(t("data_caption", lang))
st.caption(actions.upload_limits_text(lang))

def _tr(zh: str, en: str) -> str:
    return zh if lang == "zh" else en


DATUM_LABELS = {"wgs84": "WGS84 (GPS/OSM)", "gcj02": "GCJ-02 (高德/腾讯)", "bd09": "BD-09 (百度)"}
NONE = "—"
REFUSE, IGNORE = "__refuse__", "__ignore__"
datum = st.session_state.get("datum", "wgs84")  # the ledger below uses the last datum chosen

c1, c2 = st.columns(2)
ds_name = c1.text_input(_tr("数据集名称", "Dataset name"), key="upload_name")
ds_date = c2.text_input(_tr("数据日期（年份或日期）", "Data date (year or date)"),
                        key="upload_date")
repair = st.checkbox(_tr("修复无效多边形（使其有效，保留面部分），并报告修改",
                         "Repair invalid polygons (make valid, keep polygonal parts) and report"),
                     key="repair")

types = [s.lstrip(".") for s in pio.VECTOR_SUFFIXES + pio.TABLE_SUFFIXES]
uploads = {
    layer: st.file_uploader(t(f"upload_{layer}", lang), type=types, key=f"up_{layer}")
    for layer in ("districts", "units", "facilities")
}
pop_up = st.file_uploader(_tr("人口图层（点格网或 GeoTIFF，可选）",
                              "Population layer (point grid or GeoTIFF, optional)"),
                          type=[*types, "tif", "tiff"], key="up_population")

mapped, errors, specs = {}, {}, {}
for layer, up in uploads.items():
    if up is None:
        continue
    st.markdown(f"**{t(f'upload_{layer}', lang)}** — `{up.name}`")
    try:
        raw, spreadsheet = actions.read_upload(auth.current_actor(), up, functools.partial(
            pio.read_raw, name=up.name, polygons=layer != "facilities"), name=up.name, lang=lang)
    except InputError as exc:
        errors[layer] = exc
        st.error(f"[错误 error] {exc}")
        continue
    suggested, why = mapping.suggest_mapping(raw, layer, file=up.name)
    cols = [NONE, *[str(c) for c in raw.columns if c != raw.geometry.name]]
    with st.expander(_tr("列映射（可修改）", "Column mapping (editable)"), expanded=True):
        ldatum = st.radio(_tr("本文件坐标系", "This file's datum"), list(DATUM_LABELS),
                          horizontal=True, key=f"datum_{layer}", format_func=DATUM_LABELS.get)
        st.session_state["datum"] = ldatum
        reasons = {s.field: s.reason for s in why}
        columns, fixed = {}, {}
        schema = SCHEMAS[layer]
        grid = st.columns(3)
        for i, f in enumerate(schema.fields):
            cell = grid[i % 3]
            default = suggested.columns.get(f.name, NONE)
            label = f"{f.label_zh or f.name} ({f.name}){' *' if f.required else ''}"
            pick = cell.selectbox(label, cols, index=cols.index(default),
                                  key=f"map_{layer}_{f.name}",
                                  help=reasons.get(f.name))
            if pick != NONE:
                columns[f.name] = pick
            elif f.required or f.name in ("district", "zone"):
                value = cell.text_input(_tr(f"固定值：{f.label_zh or f.name}",
                                            f"Fixed value: {f.name}"),
                                        key=f"fix_{layer}_{f.name}")
                if value.strip():
                    fixed[f.name] = value.strip()
        values, ignore = {}, {}
        if layer == "facilities" and "kind" in columns:
            sugg = mapping.suggest_values(raw[columns["kind"]])
            counts = raw[columns["kind"]].astype(str).str.strip().value_counts()
            options = [REFUSE, IGNORE, *FACILITY_KINDS]
            names = {REFUSE: _tr("未映射（拒绝）", "unmapped (refuse)"),
                     IGNORE: _tr("忽略这些行", "ignore these rows"),
                     **{k: f"{v} ({k})" for k, v in FACILITY_KINDS.items()}}
            st.markdown(_tr("**类别 → 机构类型**", "**Category → facility kind**"))
            kmap = {}
            for val, n in counts.items():
                choice = st.selectbox(f"{val} ({n})", options,
                                      index=options.index(sugg.get(val) or REFUSE),
                                      format_func=names.get, key=f"kind_{val}")
                if choice == IGNORE:
                    ignore.setdefault("kind", []).append(val)
                elif choice != REFUSE:
                    kmap[val] = choice
            values = {"kind": kmap} if kmap else {}
            ignore = {k: tuple(v) for k, v in ignore.items()}
        spec = mapping.LayerMapping(layer, columns=columns, fixed=fixed, values=values,
                                    ignore=ignore, datum=ldatum, file=up.name,
                                    source=st.text_input(_tr("来源（出版者、许可、年份）",
                                                             "Source (publisher, licence, year)"),
                                                         key=f"src_{layer}"))
        specs[layer] = spec
        left = mapping.unmapped_values(raw, spec) if layer == "facilities" else None
        if left is not None and len(left):
            st.warning(_tr("未映射的类别：", "Unmapped categories: ")
                       + ", ".join(f"{k} ({v})" for k, v in left.items()))
    try:
        result = mapping.apply_mapping(raw, spec, source=up.name, spreadsheet=spreadsheet,
                                       repair=repair)
    except InputError as exc:
        errors[layer] = exc
        st.error(f"[错误 error] {exc}")
        continue
    mapped[layer] = result
    st.success(f"[OK] {up.name} — {len(result.frame)} {t('rows_ok', lang)}")
    for line in result.describe(lang):
        st.info(line)
    st.dataframe(result.frame.drop(columns="geometry").head(50), width="stretch")

pop_result = None
if pop_up is not None:
    pdatum = st.radio(_tr("人口图层坐标系", "Population layer datum"), list(DATUM_LABELS),
                      horizontal=True, key="datum_population", format_func=DATUM_LABELS.get)
    try:
        grid_layer = actions.read_upload(auth.current_actor(), pop_up, functools.partial(
            population.read_population, datum=pdatum, name=pop_up.name), name=pop_up.name,
            lang=lang)
        units_now = mapped["units"].frame if "units" in mapped else dataset.units
        pop_result = population.aggregate_population(grid_layer, units_now)
    except InputError as exc:
        errors["population"] = exc
        st.error(f"[错误 error] {exc}")
    else:
        st.info(f"{pop_up.name}: {grid_layer.conversion.describe(lang)}")
        st.info(pop_result.describe(lang))
        specs["population"] = mapping.LayerMapping(
            "population", columns={"population": grid_layer.value}
            if grid_layer.kind == "points" else {}, datum=pdatum, file=pop_up.name)
        if "units" in mapped:
            mapped["units"] = dataclasses.replace(
                mapped["units"], frame=population.with_population(mapped["units"].frame,
                                                                   pop_result))

if mapped and not errors:
    try:
        extra = ((f"population: {pop_up.name} ({pop_result.outside_share:.1%} outside every "
                  "township)",) if pop_result is not None else ())
        candidate = mapping.build_dataset(mapped, base=dataset, name=ds_name.strip(),
                                          data_date=ds_date.strip(), extra_sources=extra)
    except InputError as exc:
        st.error(f"[错误 error] {exc}")
    else:
        issues = consistency.check_layers(
            candidate.districts, candidate.units, candidate.facilities,
            sources={k: m.source for k, m in mapped.items()})
        for issue in issues:
            (st.error if issue.level == "error" else st.warning)(
                f"[{'错误' if issue.level == 'error' else '注意'}] {issue}")
        st.markdown(_tr("**预览**：新图层（彩色）叠加在当前数据（灰色）上",
                        "**Preview**: new layers (colour) over what is loaded now (grey)"))
        preview = mapping.preview_map(dataset, {k: m.frame for k, m in mapped.items()},
                                      lang=lang)
        st_html(preview.get_root().render(), height=460)
        st.caption(f"{_tr('数据集', 'Dataset')}: {candidate.name}"
                   + (f" ({candidate.data_date})" if candidate.data_date else "")
                   + " — " + "; ".join(candidate.sources)
                   + (f" — SYNTHETIC: {', '.join(candidate.synthetic)}"
                      if candidate.synthetic else ""))
        spec_all = mapping.ImportMapping(name=candidate.name, data_date=candidate.data_date,
                                         layers=specs)
        st.download_button(_tr("下载映射文件（CLI: --mapping）",
                               "Download mapping (CLI: --mapping)"),
                           mapping.save_mapping(spec_all), file_name="mapping.yaml",
                           mime="application/x-yaml", key="dl_mapping")
        if not any(i.level == "error" for i in issues) and st.button(
                t("use_data", lang), type="primary"):
            st.session_state["dataset"] = actions.accept_dataset(auth.current_actor(), candidate)
            st.session_state["_data_flash"] = t("data_replaced", lang)
            st.rerun()  # the sidebar, drawn before this click, shows the new dataset
elif errors:
    st.info(t("nothing_changed", lang))

st.subheader(t("ledger_title", lang))
st.caption(t("ledger_caption", lang))
up = st.file_uploader(t("upload_ledger", lang), type=["csv", "xlsx"], key="up_ledger")
if up is not None:
    try:
        summary = actions.read_upload(auth.current_actor(), up, functools.partial(
            ledger.read_ledger, units=dataset.units, name=up.name, datum=datum,
            eligibility=profile.eligibility), name=up.name, ledger=True, lang=lang)
    except InputError as exc:
        st.error(f"[错误 error] {exc}")
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
        empty = bool(summary.n_rows) and not summary.n_matched
        allow_empty = empty and st.checkbox(
            "台账未定位到任何人：仍然使用（所有街乡人数记为 0）" if lang == "zh" else
            "The ledger placed nobody: use it anyway (every township count becomes 0)",
            key="ledger_allow_empty")
        if st.button(t("use_ledger", lang), type="primary", disabled=empty and not allow_empty):
            try:
                st.session_state["dataset"] = actions.accept_dataset(
                    auth.current_actor(), ledger.with_ledger(dataset, summary,
                                                             allow_empty=allow_empty),
                    target=f"ledger:{up.name}", ledger=True)
            except InputError as exc:
                st.error(render_error(exc, lang))
            else:
                auth.mark_sensitive()
                st.session_state["_data_flash"] = t("data_replaced", lang)
                st.rerun()
        project = wui.project_picker(lang)
        if project is not None:  # a dated snapshot of the township counts, kept for progress
            wui.snapshot_form(summary, project=project, lang=lang)

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
