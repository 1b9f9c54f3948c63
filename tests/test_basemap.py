"""Basemaps, offline first: none by default, presets, GCJ-02 shift, local tiles on loopback."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from dataclasses import replace

import numpy as np
import pytest
import shapely
from PIL import Image

from planning.publish import maps
from planning.settings import DEFAULT


def _metres(dlon: float, dlat: float, lat: float) -> float:
    return float(np.hypot(dlon * 111_320 * np.cos(np.radians(lat)), dlat * 110_540))


def test_no_basemap_by_default(demo):
    assert maps.basemap_for(DEFAULT) is None
    html = maps.map_html(maps.overview_map(demo.subset(["东城区"])))
    assert "tileLayer" not in html.replace("L.tileLayer = ", "")


def test_gcj02_shift_is_hundreds_of_metres_in_china_and_zero_outside():
    lon, lat = maps.wgs84_to_gcj02(np.array([116.3912, -0.1276]), np.array([39.9066, 51.5072]))
    shift = _metres(lon[0] - 116.3912, lat[0] - 39.9066, 39.9066)
    assert 300 < shift < 700  # Beijing: the well-known ~500 m offset
    assert lon[1] == -0.1276 and lat[1] == 51.5072  # London: unchanged


def test_gcj02_presets_shift_the_vector_layers(demo):
    ds = demo.subset(["东城区"])
    plain = maps.map_html(maps.overview_map(ds))
    amap = replace(DEFAULT, basemap="amap")
    shifted = maps.map_html(maps.overview_map(ds, settings=amap))
    assert "autonavi.com" in shifted
    station = ds.stations().iloc[0].geometry
    glon, glat = maps.wgs84_to_gcj02(np.array([station.x]), np.array([station.y]))
    gcj = f"[{round(float(glon[0]), 5)}, {round(float(glat[0]), 5)}]"
    assert gcj in shifted and gcj not in plain
    assert f"[{round(station.x, 5)}, {round(station.y, 5)}]" in plain
    osm = replace(DEFAULT, basemap="osm")
    assert "tile.openstreetmap.org" in maps.map_html(maps.overview_map(ds, settings=osm))


def test_tianditu_needs_a_key_and_uses_it():
    with pytest.raises(ValueError, match="key"):
        maps.basemap_for(replace(DEFAULT, basemap="tianditu"))
    bm = maps.basemap_for(replace(DEFAULT, basemap="tianditu", tianditu_key="abc123"))
    assert "tk=abc123" in bm.url and bm.datum == "wgs84" and "tk=abc123" in bm.overlay
    with pytest.raises(ValueError, match="unknown basemap"):
        maps.basemap_for(replace(DEFAULT, basemap="bing"))


def test_display_geometry_is_light_rounded_and_keeps_shared_edges(demo):
    # real boundaries carry far more vertices than a screen needs: densify the demo's cells
    units = demo.units.set_geometry(shapely.segmentize(demo.units.geometry.to_numpy(), 0.0005))
    disp = maps.display_for(tuple(units.total_bounds))
    light = maps.display_frame(units, disp)
    before = shapely.get_num_coordinates(units.geometry.to_numpy()).sum()
    after = shapely.get_num_coordinates(light.geometry.to_numpy()).sum()
    assert after < before / 3
    coords = shapely.get_coordinates(light.geometry.to_numpy())
    assert np.allclose(coords, np.round(coords, 5))
    # coverage simplification: no gaps open between neighbours
    gap = units.union_all().area - light.union_all().area
    assert abs(gap) / units.union_all().area < 1e-3
    assert light.geometry.is_valid.all()


@pytest.mark.browser
def test_local_tiles_on_loopback_draw_under_the_map(page, demo, tmp_path):
    for z in range(8, 14):
        (tmp_path / str(z)).mkdir()
    Image.new("RGB", (256, 256), (10, 200, 30)).save(tmp_path / "tile.png")
    seen: list[str] = []

    class Tiles(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path):
            seen.append(path)
            return str(tmp_path / "tile.png")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Tiles, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"
        s = replace(DEFAULT, tiles_url=url, tiles_attribution="local tiles")
        html = maps.map_html(maps.overview_map(demo.subset(["东城区"]), settings=s))
        remote = []
        page.on("request", lambda r: remote.append(r.url)
                if not re.match(r"(https?://127\.0\.0\.1|data:|about:|file:)", r.url) else None)
        path = tmp_path / "map.html"
        path.write_text(html, encoding="utf-8")
        page.goto(path.as_uri())
        page.locator("img.leaflet-tile-loaded").first.wait_for(timeout=30_000)
        assert page.locator("img.leaflet-tile-loaded").count() >= 4
        assert any(re.match(r"/1[0-4]/\d+/\d+\.png", p) for p in seen)
        assert page.locator("path.leaflet-interactive").count() > 10  # vectors on top
        assert remote == []
    finally:
        server.shutdown()
