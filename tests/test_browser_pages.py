"""Real browser walk through every page on the default data: language switch, uploads,
a siting scenario, and every export downloaded and opened."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

PAGES = {
    "": "精康融合规划平台",
    "地图_Map": "地图",
    "合规_Compliance": "合规检查",
    "可达性_Access": "可达性",
    "选址_Siting": "选址建议",
    "情景_Scenarios": "情景对比",
    "数据_Data": "数据",
    "导出_Export": "导出",
}


def _ready(page, timeout=90_000):
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def _goto_nav(page, label: str):
    page.locator("[data-testid='stSidebarNav'] a", has_text=label).first.click()
    _ready(page)


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_every_page_renders_without_error(page, app_url, artifacts, path, title):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{app_url}/{path}")
    _ready(page)
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    nav = [a.inner_text() for a in page.locator("[data-testid='stSidebarNav'] a").all()]
    assert nav[0] == "总览 Overview" and len(nav) == len(PAGES)  # st.navigation, not a folder
    if path in ("", "地图_Map", "合规_Compliance", "可达性_Access"):
        frame = page.frame_locator("iframe[title*='streamlit_folium']").first
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / f"page_{path or 'home'}.png"), full_page=True)


def test_language_switch_to_english(page, app_url):
    page.goto(app_url)
    _ready(page)
    page.get_by_text("English", exact=True).click()
    _ready(page)
    page.get_by_role("heading", name="Jingkang community-rehab planner").wait_for()
    metric = page.locator("[data-testid='stMetric']", has_text="Streets/townships")
    metric.wait_for(timeout=60_000)  # the rerun replaces the metrics after the heading
    assert metric.count() == 1


def test_upload_invalid_then_valid_file(page, app_url, artifacts, tmp_path, demo):
    page.goto(f"{app_url}/数据_Data")
    _ready(page)
    bad = tmp_path / "stations.csv"
    bad.write_text("编号,名称,类型,建筑面积,经度,纬度\nS1,甲,社区康复驿站,约80,116.4,39.9\n",
                   encoding="utf-8")
    facilities = page.locator("[data-testid='stFileUploader']").filter(
        has=page.get_by_text("设施", exact=True)).locator(
        "[data-testid='stFileUploaderDropzoneInput']")
    facilities.set_input_files(str(bad))
    _ready(page)
    err = page.locator("[data-testid='stAlertContentError']").first
    err.wait_for(timeout=60_000)
    text = err.inner_text()
    assert "stations.csv" in text and "row 2" in text and "floor_area_m2" in text
    assert page.get_by_text("当前数据未改变").count() == 1
    page.screenshot(path=str(artifacts / "upload_invalid.png"), full_page=True)
    # a valid facilities file: the demo's own stations in Dongcheng, as CSV with lon/lat
    st = demo.subset(["东城区"]).stations()
    good = tmp_path / "good.csv"
    st.drop(columns="geometry").assign(lon=st.geometry.x, lat=st.geometry.y).to_csv(
        good, index=False)
    facilities.set_input_files(str(good))  # replaces the rejected file
    _ready(page)
    page.locator("[data-testid='stAlertContentSuccess']").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="使用这些数据").click()
    _ready(page)
    page.get_by_text("已替换当前数据").wait_for(timeout=60_000)
    _goto_nav(page, "总览")
    metric = page.locator("[data-testid='stMetric']", has_text="康复驿站数")
    metric.wait_for()
    assert metric.locator("[data-testid='stMetricValue']").inner_text() == str(len(st))


def test_siting_scenario_and_exports(page, app_url, artifacts, tmp_path):
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(app_url)
    _ready(page)
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="东城区").click()
    _ready(page)
    _goto_nav(page, "选址")
    district_input = page.locator("[data-testid='stSidebar'] input[aria-label='区']")
    assert district_input.input_value() == "东城区"  # the choice survives page changes
    page.get_by_role("button", name="运行").click()
    _ready(page)
    status = page.locator("[data-testid='stMetric']", has_text="状态")
    status.wait_for(timeout=90_000)
    assert status.locator("[data-testid='stMetricValue']").inner_text() == "已证明最优"
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.suggested-site").first.wait_for(timeout=60_000)
    with page.expect_download() as dl:
        page.get_by_role("button", name="下载新址 (GeoPackage)").click()
    path = tmp_path / "sites.gpkg"
    dl.value.save_as(path)
    assert len(gpd.read_file(path)) >= 1
    page.screenshot(path=str(artifacts / "siting.png"), full_page=True)
    # saving and comparing scenarios lives in the workspace (tests/test_browser_workspace*)

    _goto_nav(page, "导出")
    page.get_by_role("button", name="生成导出文件").click()
    _ready(page)
    page.get_by_role("button", name="覆盖图 (HTML)").wait_for(timeout=120_000)  # all built
    _ready(page)
    got = {}
    for label in ("覆盖图 (HTML)", "覆盖图 (PNG)", "覆盖图 (PDF)", "全部图层 (GeoPackage)",
                  "下载合规检查工作簿 (Excel)", "区简报 (PDF)"):
        button = page.get_by_role("button", name=label)
        button.wait_for(timeout=90_000)
        with page.expect_download() as dl:
            button.click()
        target = tmp_path / dl.value.suggested_filename
        dl.value.save_as(target)
        got[label] = target
    html = got["覆盖图 (HTML)"].read_text(encoding="utf-8")
    assert "东城区" in html and not re.search(r"""src=["']https?://""", html)
    assert Image.open(io.BytesIO(got["覆盖图 (PNG)"].read_bytes())).format == "PNG"
    assert got["覆盖图 (PDF)"].read_bytes().startswith(b"%PDF")
    assert got["区简报 (PDF)"].read_bytes().startswith(b"%PDF")
    layers = set(pyogrio.list_layers(got["全部图层 (GeoPackage)"])[:, 0])
    assert {"units", "facilities", "findings", "metadata"} <= layers
    wb = openpyxl.load_workbook(got["下载合规检查工作簿 (Excel)"])
    assert len(wb.sheetnames) >= 5
    page.screenshot(path=str(artifacts / "exports.png"), full_page=True)


def test_access_page_with_an_uploaded_street_network(page, app_url, artifacts, shared_data):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{app_url}/可达性_Access")
    _ready(page)
    page.get_by_text("未加载路网").wait_for(timeout=60_000)  # fallback labelled first
    osm = shared_data / "osm" / "beijing-wudaokou.osm"
    page.locator("[data-testid='stMain'] [data-testid='stFileUploaderDropzoneInput']").first \
        .set_input_files(str(osm))
    # a neighbourhood network for the whole city: used, or refused with the reason — never
    # a traceback, and the page still draws its map on the labelled fallback
    page.locator("[data-testid='stAlertContentSuccess'], [data-testid='stAlertContentError']") \
        .first.wait_for(timeout=120_000)
    _ready(page)
    assert page.locator("[data-testid='stException']").count() == 0
    used = page.get_by_text("已使用路网").count() == 1
    assert used or page.get_by_text("未加载路网").count() == 1
    if not used:
        error = page.locator("[data-testid='stAlertContentError']").first.inner_text()
        assert "network" in error or "路网" in error
    page.screenshot(path=str(artifacts / "access_network.png"), full_page=True)
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=60_000)
