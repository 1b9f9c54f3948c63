"""Maps render offline: no CDN link, no tile layer by default, the layers we expect."""

from __future__ import annotations

import re
from dataclasses import replace

import folium

from planning.publish import maps
from planning.settings import DEFAULT


def test_overview_map_has_no_remote_assets(demo):
    html = maps.map_html(maps.overview_map(demo))
    assert not re.findall(r"""(?:src|href)=["']https?://""", html)
    assert "data:text/javascript;base64," in html and "data:text/css;base64," in html
    assert "tileLayer" not in html.replace("L.tileLayer = ", "")
    assert "L.geoJson" in html or "L.geoJSON" in html
    # facilities are one GeoJSON layer per kind, not one marker object per facility
    assert html.count("new L.CircleMarker(latlng") == demo.facilities["kind"].nunique()
    assert html.count('"type": "Point"') == len(demo.facilities)


def test_tile_url_is_an_option(demo):
    s = replace(DEFAULT, tiles_url="http://127.0.0.1:9/{z}/{x}/{y}.png", tiles_attribution="x")
    html = maps.map_html(maps.overview_map(demo.subset(["东城区"]), settings=s))
    assert "127.0.0.1:9/{z}/{x}/{y}.png" in html


def test_make_offline_does_not_touch_other_maps():
    a = maps.make_offline(folium.Map(tiles=None))
    b = folium.Map(tiles=None)
    assert a.default_js[0][1].startswith("data:")
    assert b.default_js[0][1].startswith("https://")


def test_district_map_is_fitted_and_labelled_in_english(demo):
    m = maps.overview_map(demo, district="东城区", lang="en")
    html = maps.map_html(m)
    assert "Township without a station" in html and "东城区" in html
    assert m.options["zoom"] >= 11


def test_search_zooms_to_the_township_found(demo):
    html = maps.map_html(maps.planner_map(demo.subset(["东城区"])))
    assert "L.Control.Search" in html
    assert "getBoundsZoom(latlng.layer.getBounds())" in html  # polygons: fit the township


def test_document_is_light_and_names_are_readable(demo):
    html = maps.map_html(maps.overview_map(demo))
    assert len(html.encode()) < 1_000_000  # was 1.7 MB: 343 full-precision polygons, 700 markers
    assert '"name": "东城区"' in html  # GeoJSON in UTF-8, not \\uXXXX (half the bytes)
