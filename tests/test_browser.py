"""Real browser: the app in headless Debian chromium, offline, with the map drawn."""

from __future__ import annotations

import re

import pytest

from planning.rules import indicators

pytestmark = pytest.mark.browser


def _map_frame(page):
    page.wait_for_selector("iframe[title*='streamlit_folium']", timeout=60_000)
    frame = page.frame_locator("iframe[title*='streamlit_folium']")
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
    return frame


def test_home_page_renders_map_offline(page, app_url, artifacts, demo):
    remote = []
    page.on("request", lambda r: remote.append(r.url)
            if not re.match(r"(https?://127\.0\.0\.1|data:|blob:|about:)", r.url) else None)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url)
    frame = _map_frame(page)
    kpi = indicators.headline(demo)
    for label, value in (("街道/乡镇数", kpi.townships), ("康复驿站数", kpi.stations),
                         ("无驿站街乡", kpi.townships_without_station)):
        metric = page.locator("[data-testid='stMetric']", has_text=label)
        assert metric.locator("[data-testid='stMetricValue']").inner_text() == str(value)
    polygons = frame.locator("path.leaflet-interactive").count()
    assert polygons >= len(demo.districts) + len(demo.units)
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert frame.locator(".jk-legend").inner_text().startswith("图例")
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)
    assert remote == [], f"requests left the machine: {remote[:5]}"
