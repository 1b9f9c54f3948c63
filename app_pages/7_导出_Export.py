"""Export page: coverage map as offline HTML / PNG / PDF, GeoPackage, workbook, district brief."""

from __future__ import annotations

import streamlit as st

from planning.app import actions, auth
from planning.app.ui import findings_for, profile_picker, settings, sidebar, workbook_for
from planning.i18n import t
from planning.publish import report

st.set_page_config(page_title="导出 Export", layout="wide")
lang, dataset, district = sidebar()
name, profile, year = profile_picker(lang)
st.title(t("export_title", lang))
st.caption(t("export_caption", lang))

p1, p2 = st.columns(2)
paper = p1.radio(t("paper", lang), ["A4", "A3"], horizontal=True, key="export_paper")
orientation = p2.radio(t("orientation", lang), ["portrait", "landscape"], horizontal=True,
                       key="export_orientation", format_func=lambda o: t(o, lang))
page = report.PrintOptions(paper, orientation, lang, name, year)
stem = f"coverage_{district}" if district else "coverage"
if st.button(t("prepare", lang), type="primary", key="prepare_exports"):
    dataset = actions.exportable(auth.current_actor(), dataset)  # no patient columns for viewers
    findings = findings_for(dataset, profile, district=district, year=year)
    files: dict[str, tuple[str, bytes, str]] = {}
    files["html"] = (f"{stem}.html", report.map_html_bytes(dataset, district=district,
                                                           settings=settings(), page=page),
                     "text/html")
    for fmt, mime in (("png", "image/png"), ("pdf", "application/pdf")):
        fig = report.coverage_figure(dataset, district=district, page=page)
        files[fmt] = (f"{stem}.{fmt}", report.figure_bytes(fig, fmt), mime)
    scoped = dataset.subset([district]) if district else dataset  # the export holds the scope
    files["gpkg"] = (f"{stem}.gpkg", report.gpkg_bytes(scoped, findings=findings,
                                                       settings=settings()),
                     "application/geopackage+sqlite3")
    files["xlsx"] = (f"compliance_{profile.name}.xlsx",
                     workbook_for(dataset, profile, district=district, year=year),
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if district:
        files["brief"] = (f"brief_{district}.pdf",
                          report.brief_bytes(dataset, district, findings=findings, page=page),
                          "application/pdf")
    st.session_state["exports"] = files

files = st.session_state.get("exports") or {}
labels = {"html": "dl_html", "png": "dl_png", "pdf": "dl_pdf", "gpkg": "dl_gpkg",
          "xlsx": "download_workbook", "brief": "dl_brief"}
cols = st.columns(3)
for i, (key, (fname, data, mime)) in enumerate(files.items()):
    cols[i % 3].download_button(t(labels[key], lang), data, file_name=fname, mime=mime,
                                key=f"dl_{key}", on_click="ignore")
if files and not district:
    st.caption(t("pick_district_for_brief", lang))
