"""Patient ledgers → township counts: placing, counting, eligibility, and nothing row-level kept."""

from __future__ import annotations

import gc
import logging
import pickle

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from bad_inputs import make

from planning.data import crs, ledger
from planning.data.ledger import (
    Eligibility,
    LedgerSummary,
    apply_to_units,
    pseudonymise,
    read_ledger,
    summarise_ledger,
)
from planning.data.model import make_dataset, validate
from planning.errors import InputError


@pytest.fixture(scope="module")
def units() -> gpd.GeoDataFrame:
    # 4 x 3 squares of 0.05°; U00 安定门街道 (东城区) at 116.30–116.35 / 39.85–39.90.
    return validate(make.grid_units(), "units", source="units")


def centre(units, uid):
    c = units.loc[units["unit_id"] == uid].geometry.iloc[0].centroid
    return c.x, c.y


def small_ledger(units) -> pd.DataFrame:
    """Five patients placed by hand: three in U00, two in U05."""
    (x0, y0), (x5, y5) = centre(units, "U00"), centre(units, "U05")
    return pd.DataFrame({
        "患者编号": ["A1", "A2", "A3", "B1", "B2"],
        "姓名": ["赵一", "钱二", "孙三", "李四", "周五"],
        "经度": [x0, x0 + 0.01, x0 - 0.01, x5, x5],
        "纬度": [y0, y0, y0, y5, y5 + 0.01],
        "年龄": [30, 65, 45, 50, 20],
        "危险性评估等级": ["1级", "0", "3", "2", "二级"],
        "残疾等级": ["二级", "", "1", "4", "无"],
        "在家状态": ["在家", "在家", "住院", "居家", "在家"],
        "是否接受社区康复": ["是", "否", "是", "是", "否"],
        "随访日期": ["2024-01-03;2024-04-02", "", "2024-02-01", "", "2024年3月1日"],
        "随访次数": ["", "", "", "6", ""],
    })


#: Intake criteria for these tests (a profile's eligibility block gives them in the app).
INTAKE = Eligibility(age=(18, 60), risk_level=(0, 2))


def test_counts_per_township_by_hand(units):
    s = summarise_ledger(small_ledger(units), units, source="t.xlsx", eligibility=INTAKE)
    a = s.aggregates
    assert list(a.index) == list(units["unit_id"])  # every township, zero where none
    u0, u5 = a.loc["U00"], a.loc["U05"]
    assert (u0["records"], u0["patients"], u0["hospital"]) == (3, 2, 1)
    assert (u5["records"], u5["patients"], u5["hospital"]) == (2, 2, 0)
    assert (u0["patients_served"], u5["patients_served"]) == (1, 1)  # A3 served but in hospital
    # Eligible: home, 18–60, risk ≤ 2 → A1 (30, 1) yes; A2 (65) no; B1 (50, 2) yes; B2 (20, 2) yes.
    assert (u0["eligible"], u5["eligible"]) == (1, 2)
    assert (u0["risk_1"], u0["risk_0"], u0["risk_3"]) == (1, 1, 0)  # A3 is not at home
    assert (u0["disability_2"], u0["disability_none"], u5["disability_4"]) == (1, 1, 1)
    # Visits: A1 2 dates, A3 1 date, B1 6, B2 1 date; A2 has none.
    assert (u0["visits"], u0["visit_patients"]) == (3, 2)
    assert u5["visits_per_patient_year"] == pytest.approx(3.5)
    assert a["records"].sum() == 5 and a.loc["U01"].fillna(0).sum() == 0
    assert s.located_by == {"coordinates": 5, "township": 0, "address": 0}
    assert s.coverage["name"] == 1.0 and s.coverage["address"] == 0.0
    assert s.totals()["patients"] == 4


def test_eligibility_is_a_parameter(units):
    strict = Eligibility(age=(25, 55), risk_level=(0, 1), disability_grade=(1, 2),
                         require_certificate=True)
    a = summarise_ledger(small_ledger(units), units, eligibility=strict).aggregates
    assert a["eligible"].sum() == 1  # only A1 (30, risk 1, grade 2)
    loose = Eligibility(age=(0, 120), risk_level=(0, 5), require_home=False)
    assert summarise_ledger(small_ledger(units), units,
                            eligibility=loose).aggregates["eligible"].sum() == 5


def test_no_criteria_leaves_eligible_unknown_not_guessed(units):
    a = summarise_ledger(small_ledger(units), units).aggregates
    assert a["eligible"].isna().all() and a["patients"].sum() == 4


def test_missing_columns_give_na_not_zero(units):
    table = small_ledger(units).drop(columns=["是否接受社区康复", "年龄"])
    s = summarise_ledger(table, units, eligibility=INTAKE)
    assert s.aggregates["patients_served"].isna().all()
    assert s.aggregates["eligible"].isna().all()
    assert s.aggregates.loc["U00", "patients"] == 2
    out = apply_to_units(units, s)
    assert out["patients_served"].isna().all() and out["patients"].sum() == 4


def test_address_and_township_matching(units):
    table = pd.DataFrame({
        "患者编号": ["1", "2", "3", "4", "5", "6"],
        "住址": ["北京市东城区安定门街道花园胡同3号", "东城区和平里7区", "西城区东四十条",
               "火星基地", "", "北京市东城区景山街道"],
        "街道": ["", "", "", "", "东直门街道", ""],
    })
    s = summarise_ledger(table, units)
    a = s.aggregates
    assert a.loc["U00", "records"] == 1  # full name
    assert a.loc["U01", "records"] == 1  # short name 和平里
    assert a.loc["U02", "records"] == 1  # 东四 (short) in 西城区 grid
    assert a.loc["U06", "records"] == 1  # township column
    assert a.loc["U03", "records"] == 1  # 景山街道
    assert s.unmatched == ((5, "the address names no township of the boundary layer"),)
    assert s.located_by == {"coordinates": 0, "township": 1, "address": 4}


def test_same_township_name_in_two_districts_needs_the_district(units):
    twin = units.copy()
    twin.loc[twin["unit_id"] == "U03", "name"] = "安定门街道"  # U03 is in 西城区
    table = pd.DataFrame({"患者编号": ["1", "2", "3"],
                          "住址": ["安定门街道1号", "西城区安定门街道2号", "东城安定门街道3号"]})
    s = summarise_ledger(table, twin)
    assert s.unmatched == ((2, "the township name occurs in several districts; add the district"),)
    assert (s.aggregates.loc["U03", "records"], s.aggregates.loc["U00", "records"]) == (1, 1)


def test_coordinates_in_gcj02_and_bd09(units):
    x, y = centre(units, "U07")
    for datum, fn in (("gcj02", crs.wgs84_to_gcj02),
                      ("bd09", lambda a, b: crs.gcj02_to_bd09(*crs.wgs84_to_gcj02(a, b)))):
        gx, gy = fn(np.array([x]), np.array([y]))
        t = pd.DataFrame({"id": ["p"], "lon": gx, "lat": gy})
        assert summarise_ledger(t, units, datum=datum).aggregates.loc["U07", "records"] == 1


def test_outside_and_swapped_coordinates(units):
    x, y = centre(units, "U00")
    t = pd.DataFrame({"id": ["a", "b"], "lon": [x, 121.47], "lat": [y, 31.23]})
    s = summarise_ledger(t, units)
    assert s.unmatched == ((3, "coordinates fall outside every township of the boundary layer"),)
    swapped = pd.DataFrame({"id": ["a", "b"], "lon": [x, y], "lat": [y, x]})
    with pytest.raises(InputError, match="swapped") as err:
        summarise_ledger(swapped, units, source="s.csv")
    assert (err.value.source, err.value.row, err.value.field) == ("s.csv", 3, "lon")
    assert f"{x}" not in str(err.value)


def test_duplicates_found_by_keyed_hash(units):
    t = small_ledger(units)
    t.loc[4, "患者编号"] = " a1"
    s = summarise_ledger(t, units)
    assert s.duplicates == ((6, 2),) and s.aggregates["records"].sum() == 4
    ids = pd.Series(["A1", "a1 ", "B2"])
    h1, h2 = pseudonymise(ids, "k1"), pseudonymise(ids, "k2")
    assert h1[0] == h1[1] != h1[2]
    assert h1[0] != h2[0]  # keyed: another salt, other pseudonyms
    assert all("A1" not in h for h in h1) and len(h1[0]) == 32


def test_nothing_row_level_is_kept_or_logged(units, caplog):
    table = small_ledger(units)
    secrets = ["赵一", "钱二", "A1", "B2", f"{table['经度'].iloc[1]:.6f}"]
    with caplog.at_level(logging.DEBUG):
        s = summarise_ledger(table, units, source="t.csv")
    blob = pickle.dumps(s) + repr(s).encode()
    for secret in secrets:
        assert secret.encode() not in blob
        assert all(secret not in r.getMessage() for r in caplog.records)
    assert {f.name for f in ledger.LedgerSummary.__dataclass_fields__.values()} >= {
        "aggregates", "unmatched", "coverage"}
    assert not any(isinstance(v, pd.DataFrame) for v in vars(ledger).values())
    # No frame holding the names survives the call (nothing cached anywhere).
    del table
    gc.collect()
    leftover = [o for o in gc.get_objects() if isinstance(o, pd.DataFrame)
                and ("姓名" in o.columns or {"name", "patient_id"} <= set(o.columns))]
    assert leftover == []


def test_summary_is_frozen(units):
    s = summarise_ledger(small_ledger(units), units)
    with pytest.raises(AttributeError):
        s.n_rows = 0  # type: ignore[misc]
    assert isinstance(s, LedgerSummary)


def test_apply_to_units_feeds_make_dataset(units):
    s = summarise_ledger(small_ledger(units), units, eligibility=INTAKE)
    filled = apply_to_units(units, s)
    assert "patients" not in units or units["patients"].isna().all()  # input untouched
    assert filled.set_index("unit_id").loc["U05", "eligible"] == 2
    districts = gpd.GeoDataFrame({"district_id": ["1", "2"], "name": ["东城区", "西城区"]},
                                 geometry=[shapely.box(116.30, 39.85, 116.40, 40.0),
                                           shapely.box(116.40, 39.85, 116.50, 40.0)],
                                 crs="EPSG:4326")
    fac = gpd.GeoDataFrame({"facility_id": ["F"], "name": ["站"], "kind": ["rehab_station"]},
                           geometry=[shapely.Point(116.31, 39.86)], crs="EPSG:4326")
    ds = make_dataset("x", districts, filled, fac)
    assert int(ds.units["patients"].sum()) == 4
    other = units[units["unit_id"] != "U00"]
    with pytest.raises(InputError, match="'U00'") as err:
        apply_to_units(other, s)
    assert err.value.field == "unit_id"


def test_read_ledger_excel_stream_with_messy_values(units, tmp_path):
    x, y = centre(units, "U02")
    path = make.xlsx(tmp_path / "台账.xlsx", [
        ["患者编号", "经度", "纬度", "年龄", "危险性评估等级", "残疾等级", "在家状态"],
        ["X1", x, y, "45岁", "0级", "三级", "在家"],
        [12345, x, y, 33, 1, None, "住院"],
    ])
    with open(path, "rb") as fh:
        s = read_ledger(fh, units, name="台账.xlsx")
    a = s.aggregates.loc["U02"]
    assert (a["records"], a["patients"], a["risk_0"], a["disability_3"]) == (2, 1, 1, 1)


def test_unsupported_and_missing_files(units, tmp_path):
    p = tmp_path / "a.docx"
    p.write_bytes(b"x")
    with pytest.raises(InputError, match=r"unsupported ledger type \.docx"):
        read_ledger(p, units)
    with pytest.raises(InputError, match="file not found"):
        read_ledger(tmp_path / "none.csv", units)


def test_large_generated_ledger(units, tmp_path):
    """2×10^5 rows (1 % by address) against counts computed straight from the generator."""
    n = 200_000
    frame = make.ledger_frame(units, n, seed=5, address_share=0.01)
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    s = read_ledger(path, units, eligibility=INTAKE)
    assert (s.n_rows, s.n_matched, s.n_unmatched) == (n, n, 0)
    assert s.located_by["address"] == int((frame["住址"] != "").sum())
    home = frame["在家状态"] == "在家"
    assert s.totals()["patients"] == int(home.sum())
    assert s.totals()["patients_served"] == int((home & (frame["是否接受社区康复"] == "是")).sum())
    eligible = home & frame["年龄"].between(18, 60) & (frame["危险性评估等级"] <= 2)
    assert s.totals()["eligible"] == int(eligible.sum())
    assert s.totals()["risk_5"] == int((home & (frame["危险性评估等级"] == 5)).sum())
