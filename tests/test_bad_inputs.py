"""The bad-input corpus: every broken file gives one InputError naming file, row and field, and
data loaded before the failure stays exactly as it was."""

from __future__ import annotations

import copy
import io
import string
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from bad_inputs import make
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning.data import crs
from planning.data.checks import detect_gcj02_offset
from planning.data.io import read_layer
from planning.data.ledger import LedgerSummary, read_ledger, summarise_ledger
from planning.data.model import Dataset, make_dataset, validate
from planning.errors import InputError

CORPUS = Path(__file__).parent / "bad_inputs"


@pytest.fixture(scope="module")
def units() -> gpd.GeoDataFrame:
    return validate(make.grid_units(), "units", source="units")


@pytest.fixture(scope="module")
def loaded(units) -> tuple[Dataset, LedgerSummary]:
    """A dataset and a ledger summary loaded before the bad files are tried."""
    districts = gpd.GeoDataFrame(
        {"district_id": ["110101", "110102"], "name": ["东城区", "西城区"], "zone": ["core"] * 2},
        geometry=[shapely.box(116.30, 39.85, 116.40, 40.00),
                  shapely.box(116.40, 39.85, 116.50, 40.00)], crs="EPSG:4326")
    stations = read_layer(CORPUS / "stations_gbk.csv", "facilities")
    ds = make_dataset("before", districts, units, stations)
    summary = read_ledger(CORPUS / "ledger_gbk.csv", units)
    return ds, summary


@pytest.fixture
def intact(loaded):
    """Yield, then check the previously loaded dataset and summary did not change."""
    ds, summary = loaded
    before = (copy.deepcopy(ds.units), copy.deepcopy(ds.facilities),
              copy.deepcopy(summary.aggregates), summary.unmatched, dict(summary.coverage))
    yield
    pd.testing.assert_frame_equal(ds.units, before[0])
    pd.testing.assert_frame_equal(ds.facilities, before[1])
    pd.testing.assert_frame_equal(summary.aggregates, before[2])
    assert summary.unmatched == before[3] and summary.coverage == before[4]


def test_loaded_fixtures_read_correctly(loaded):
    ds, summary = loaded
    # GBK CSV decoded: Chinese names intact, coordinates parsed.
    assert list(ds.facilities["name"]) == ["和平里温馨家园", "安定门阳光驿站"]
    assert ds.facilities.geometry.iloc[0].x == pytest.approx(116.41)
    assert summary.n_rows == 2 and summary.n_matched == 2
    assert summary.aggregates.loc["U00", "patients"] == 1  # 安定门, at home
    assert summary.aggregates.loc["U01", "hospital"] == 1  # 和平里, in hospital


# --- vector and table files: (file, schema, expected row, expected field, text) ---------------
CASES = [
    ("broken.geojson", "units", None, None, "not valid JSON"),
    ("projected_no_crs.geojson", "units", 1, "geometry", "outside lon/lat range"),
    ("swapped_units.geojson", "units", 0, "geometry", "swapped"),
    ("bowtie_units.geojson", "units", 1, "geometry", "Self-intersection"),
    ("empty_geometry_units.geojson", "units", 1, "geometry", "missing or empty"),
    ("mixed_geometry_units.geojson", "units", 2, "geometry", "got a Point"),
    ("stations_absurd_area.csv", "facilities", 3, "floor_area_m2", "is the unit right"),
    ("stations_negative_staff.csv", "facilities", 4, "staff", "expected ≥ 0"),
    ("stations_blank_and_negative.csv", "facilities", 3, "floor_area_m2", "expected ≥ 0"),
    ("stations_duplicate_ids.csv", "facilities", 4, "facility_id", "first seen at row 2"),
    ("stations_swapped.csv", "facilities", 2, "经度", "not a longitude/latitude pair"),
    ("stations_blank_line.csv", "facilities", 4, "floor_area_m2", "expected a number"),
    ("empty.csv", "facilities", None, None, "malformed CSV"),
]


@pytest.mark.parametrize(("fname", "schema", "row", "field", "text"), CASES,
                         ids=[c[0] for c in CASES])
def test_corpus_file_refused_with_location(intact, fname, schema, row, field, text):
    with pytest.raises(InputError) as err:
        read_layer(CORPUS / fname, schema)
    e = err.value
    assert (e.source, e.row, e.field) == (fname, row, field)
    assert text in str(e)


LEDGER_CASES = [
    ("ledger_age_300.csv", 4, "age", "expected ≤ 120", "300"),
    ("ledger_risk_9.csv", 2, "risk_level", "expected ≤ 5", "9"),
    ("ledger_name_in_number_column.csv", 2, "age", "expected a number", "测试甲"),
    ("ledger_bad_status.csv", 3, "status", "expected one of home", "度假"),
    ("ledger_no_location.csv", None, "address", "no way to place patients", None),
    ("ledger_no_id.csv", None, "patient_id", "missing required column", None),
]


@pytest.mark.parametrize(("fname", "row", "field", "text", "secret"), LEDGER_CASES,
                         ids=[c[0] for c in LEDGER_CASES])
def test_bad_ledger_refused_without_revealing_the_cell(intact, units, fname, row, field, text,
                                                       secret):
    with pytest.raises(InputError) as err:
        read_ledger(CORPUS / fname, units)
    e = err.value
    assert (e.source, e.row, e.field) == (fname, row, field)
    assert text in str(e)
    if secret is not None:
        assert secret not in e.detail.replace("120", "").replace(" 5", "")
        assert e.__cause__ is None and e.__suppress_context__  # no chained message with it


def test_gbk_and_mixed_headers_ledgers_read(units):
    s = read_ledger(CORPUS / "ledger_mixed_headers.csv", units)
    assert s.n_matched == 2 and s.n_unmatched == 0
    assert s.coverage["age"] == 1.0 and s.coverage["lon"] == 0.0
    a = s.aggregates
    assert a.loc["U00", "risk_1"] == 1 and a.loc["U00", "disability_2"] == 1  # "1级", "二级"
    assert a.loc["U01", "disability_none"] == 1  # "无"
    assert a["patients_served"].sum() == 1


def test_duplicate_ids_in_ledger_reported_by_row(units):
    s = read_ledger(CORPUS / "ledger_duplicates.csv", units)
    assert s.duplicates == ((4, 2),)  # "a001 " repeats "A001" (case and spaces ignored)
    assert s.aggregates["records"].sum() == 2
    with pytest.raises(InputError) as err:
        read_ledger(CORPUS / "ledger_duplicates.csv", units, on_duplicate="error")
    assert (err.value.row, err.value.field) == (4, "patient_id")
    assert "A001" not in str(err.value)


# --- Excel -------------------------------------------------------------------------------
HEAD = ["编号", "名称", "类型", "建筑面积", "经度", "纬度"]
ROW = ["S1", "甲驿站", "社区康复驿站", 80, 116.41, 39.95]


def test_excel_merged_title_row_refused(intact, tmp_path):
    path = make.xlsx(tmp_path / "台账.xlsx", [["东城区驿站台账", None, None, None, None, None],
                                              HEAD, ROW], merge="A1:F1")
    with pytest.raises(InputError, match="merged cells at A1:F1") as err:
        read_layer(path, "facilities")
    assert (err.value.source, err.value.row) == ("台账.xlsx", 1)


def test_excel_missing_and_renamed_headers(intact, tmp_path):
    path = make.xlsx(tmp_path / "s.xlsx", [["编号", "名称", "经度", "纬度"], ROW[:2] + ROW[4:]])
    with pytest.raises(InputError, match=r"missing required column.*'kind'") as err:
        read_layer(path, "facilities")
    assert err.value.field == "kind"
    renamed = make.xlsx(tmp_path / "r.xlsx", [["站点代码", "站名", "类别", "lng", "lat"],
                                               ["S1", "甲", "社区康复驿站", 116.41, 39.95]])
    gdf = read_layer(renamed, "facilities",
                     rename={"站点代码": "facility_id", "站名": "name", "类别": "kind"})
    assert list(gdf["facility_id"]) == ["S1"]


def test_excel_mixed_chinese_english_headers_and_blank_rows(intact, tmp_path):
    rows = [["facility_id", "名称", "kind", "floor_area_m2", "经度", "lat"], ROW, [None] * 6,
            ["S2", "乙", "rehab_station", "约80", 116.42, 39.93]]
    path = make.xlsx(tmp_path / "mixed.xlsx", rows)
    with pytest.raises(InputError) as err:
        read_layer(path, "facilities")
    # The blank row 3 is skipped but the error still names spreadsheet row 4.
    assert (err.value.row, err.value.field) == (4, "floor_area_m2")


def test_excel_values_without_header_and_duplicate_headers(intact, tmp_path):
    path = make.xlsx(tmp_path / "nohead.xlsx", [[*HEAD, None], [*ROW, "备注"]])
    with pytest.raises(InputError, match="column G has values but no header") as err:
        read_layer(path, "facilities")
    assert (err.value.row, err.value.field) == (1, "G")
    dup = make.xlsx(tmp_path / "dup.xlsx", [[*HEAD, "建筑面积"], [*ROW, 90]])
    with pytest.raises(InputError, match="both") as err:
        read_layer(dup, "facilities")
    assert err.value.field == "floor_area_m2"


def test_excel_ledger_blank_rows_keep_row_numbers(intact, units, tmp_path):
    head = ["患者编号", "住址", "年龄"]
    path = make.xlsx(tmp_path / "ledger.xlsx", [
        head, ["A1", "东城区安定门街道1号", 40], [None] * 3, ["A2", "火星", 30],
        ["A3", "东城区景山街道", "三十"]])
    with pytest.raises(InputError) as err:
        read_ledger(path, units)
    assert (err.value.row, err.value.field) == (5, "age")
    ok = make.xlsx(tmp_path / "ok.xlsx", [head, ["A1", "东城区安定门街道1号", 40], [None] * 3,
                                          ["A2", "火星", 30]])
    assert read_ledger(ok, units).unmatched == (
        (4, "the address names no township of the boundary layer"),)


# --- archives ------------------------------------------------------------------------------
@pytest.mark.parametrize(("drop", "field"), [(".prj", ".prj"), (".dbf", ".dbf")])
def test_zipped_shapefile_missing_part(intact, tmp_path, drop, field):
    data = make.zipped_shapefile(tmp_path, drop=drop)
    with pytest.raises(InputError) as err:
        read_layer(io.BytesIO(data), "units", name="units.zip")
    assert (err.value.source, err.value.field) == ("units.zip", field)


def test_zip_bombs_refused(intact, units):
    with pytest.raises(InputError, match="zip bomb") as err:
        read_layer(io.BytesIO(make.zip_bomb()), "units", name="bomb.zip")
    assert err.value.source == "bomb.zip"
    for reader in (lambda f: read_layer(f, "facilities", name="bomb.xlsx"),
                   lambda f: read_ledger(f, units, name="bomb.xlsx")):
        with pytest.raises(InputError, match="zip bomb"):
            reader(io.BytesIO(make.xlsx_bomb()))


def test_not_a_workbook(intact, units):
    with pytest.raises(InputError, match="not a zip container") as err:
        read_ledger(io.BytesIO(b"PK\x03\x04 garbage"), units, name="x.xlsx")
    assert err.value.source == "x.xlsx"


# --- datum ---------------------------------------------------------------------------------
def _edge_points(units: gpd.GeoDataFrame, n: int = 400) -> gpd.GeoSeries:
    """WGS84 points spread over the whole layer, many close to its outer edge."""
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = units.total_bounds
    x = rng.uniform(x0 + 1e-4, x1 - 1e-4, n)
    y = rng.uniform(y0 + 1e-4, y1 - 1e-4, n)
    edge = rng.random(n) < 0.5
    y[edge] = np.where(rng.random(edge.sum()) < 0.5, y0 + 0.003, y1 - 0.003)
    return gpd.GeoSeries(shapely.points(x, y), crs="EPSG:4326")


def test_gcj02_data_declared_wgs84_is_detected(units):
    pts = _edge_points(units)
    assert detect_gcj02_offset(pts, units) is None  # true WGS84: no warning
    gx, gy = crs.wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    warn = detect_gcj02_offset(gpd.GeoSeries(shapely.points(gx, gy), crs="EPSG:4326"), units)
    assert warn is not None and warn.datum == "gcj02"
    assert warn.after < warn.before and "datum='gcj02'" in str(warn)
    polys = units.geometry.apply(lambda g: shapely.transform(
        g, lambda c: np.column_stack(crs.wgs84_to_gcj02(c[:, 0], c[:, 1]))))
    assert detect_gcj02_offset(polys, units).datum == "gcj02"
    assert detect_gcj02_offset(units.geometry, units) is None


def test_gcj02_ledger_declared_wgs84_warns_and_datum_fixes_it(units):
    pts = _edge_points(units)
    gx, gy = crs.wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    table = pd.DataFrame({"患者编号": [f"P{i}" for i in range(len(gx))], "经度": gx, "纬度": gy})
    wrong = summarise_ledger(table, units)
    assert wrong.warnings and "GCJ-02" in wrong.warnings[0]
    assert wrong.n_unmatched > 0
    right = summarise_ledger(table, units, datum="gcj02")
    assert right.warnings == () and right.n_unmatched == 0


# --- property-based: garbage never raises anything but InputError ----------------------------
_cells = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(["", " ", "是", "否", "二级", "3级", "45岁", "nan", "1e309", "-0", "0x1F",
                     "社区康复驿站", "medication;yoga", "在家", "住院"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_validate_garbage_cells_raise_only_input_error(data):
    cols = ["facility_id", "name", "kind", "floor_area_m2", "staff", "services", "barrier_free",
            "opening_year"]
    n = data.draw(st.integers(1, 4))
    frame = pd.DataFrame({c: data.draw(st.lists(_cells, min_size=n, max_size=n)) for c in cols})
    gdf = gpd.GeoDataFrame(frame, geometry=shapely.points(np.full(n, 116.4), np.full(n, 39.9)),
                           crs="EPSG:4326")
    try:
        out = validate(gdf, "facilities", source="f")
    except InputError as exc:
        assert exc.source == "f"
    else:
        assert len(out) == n and out["facility_id"].is_unique


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.data())
def test_ledger_garbage_csv_raises_only_input_error(units, data):
    headers = ["患者编号", "住址", "经度", "纬度", "年龄", "危险性评估等级", "残疾等级", "在家状态",
               "是否接受社区康复", "随访次数", "随访日期"]
    cols = data.draw(st.lists(st.sampled_from(headers), min_size=1, max_size=6, unique=True))
    n = data.draw(st.integers(0, 4))
    frame = pd.DataFrame({c: data.draw(st.lists(_cells, min_size=n, max_size=n)) for c in cols})
    text = frame.to_csv(index=False)
    if data.draw(st.booleans()):  # sometimes raw garbage bytes instead
        text = data.draw(st.text(alphabet=string.printable + "，。患者", max_size=80))
    encoding = data.draw(st.sampled_from(["utf-8", "gb18030"]))
    try:
        s = read_ledger(io.BytesIO(text.encode(encoding)), units, name="garbage.csv")
    except InputError as exc:
        assert exc.source == "garbage.csv"
    else:
        assert s.n_matched + s.n_unmatched + len(s.duplicates) == s.n_rows


@pytest.mark.shared
def test_real_dongcheng_gcj02_files_are_flagged(shared_data, demo):
    """The Dongcheng files are GCJ-02 labelled as lon/lat: flagged, and clean once converted."""
    ref = demo.districts[demo.districts["name"] == "东城区"]
    for name in ("streets.geojson", "facilities.geojson"):
        raw = gpd.read_file(shared_data / "beijing-dongcheng" / name)
        warn = detect_gcj02_offset(raw, ref)
        assert warn is not None and warn.datum == "gcj02" and warn.before > 2 * warn.after
        assert detect_gcj02_offset(crs.to_wgs84(raw, datum="gcj02"), ref) is None
