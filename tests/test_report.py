"""Exports: static maps (PNG/PDF) with their furniture, offline HTML, GeoPackage, district brief."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pyogrio
import pytest
from PIL import Image

from planning.publish import privacy, report


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_coverage_figure_has_title_legend_scale_north_and_sources(demo):
    fig = report.coverage_figure(demo, district="东城区")
    texts = _texts(fig)
    assert any("东城区" in t and "覆盖" in t for t in texts)
    assert "N" in texts  # north arrow
    assert any(t.endswith(" km") or t.endswith(" m") for t in texts)  # scale bar label
    assert any("合成" in t for t in texts)  # synthetic note in the footer
    assert any("2020" in t for t in texts)  # data date
    legend = next(a.get_legend() for a in fig.axes if a.get_legend() is not None)
    labels = [t.get_text() for t in legend.get_texts()]
    n_st = len(demo.subset(["东城区"]).stations())
    assert f"社区康复驿站 ({n_st})" in labels


def test_png_and_pdf_bytes(demo):
    png = report.figure_bytes(report.coverage_figure(demo, lang="en"), "png")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size[0] > 1000
    pdf = report.figure_bytes(report.coverage_figure(demo, lang="en"), "pdf")
    assert pdf.startswith(b"%PDF")


def test_scale_bar_length_is_round():
    assert report._nice_length(23_456) == 20_000
    assert report._nice_length(7_000) == 5_000
    assert report._nice_length(1_500) == 1_000


@pytest.mark.skipif(report.cjk_font() is None, reason="no CJK font installed (make test adds one)")
def test_cjk_font_is_used_for_chinese_labels():
    assert report.cjk_font() in report.CJK_FONTS


def test_html_export_is_standalone(demo):
    html = report.map_html_bytes(demo, district="西城区").decode()
    assert html.startswith("<!DOCTYPE html>")
    assert "https://cdn" not in html


def test_gpkg_has_all_layers_and_metadata(demo, tmp_path):
    path = report.export_gpkg(demo, tmp_path / "out.gpkg")
    names = set(pyogrio.list_layers(path)[:, 0])
    assert {"districts", "units", "facilities", "metadata"} <= names
    meta = gpd.read_file(path, layer="metadata")
    assert "units,facilities" in set(meta["value"])
    units = gpd.read_file(path, layer="units")
    assert len(units) == len(demo.units)
    assert units.crs.to_epsg() == 4326


def test_small_patient_counts_are_suppressed_in_published_units(demo):
    units = demo.units.copy()
    units.loc[units.index[0], "patients"] = 3
    pub = privacy.public_units(units, threshold=5)
    assert pub["patients"].iloc[0] == "<5"
    assert not any(v in (1, 2, 3, 4) for v in pub["patients"])


def test_district_brief_is_one_pdf_page(demo, tmp_path):
    path = tmp_path / "brief.pdf"
    report.district_brief(demo, "朝阳区", path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1
