"""The issue-15 bad-input corpus: every class of the review, several cases each, built at run time.

Each :class:`Case` writes its file(s) into a folder and calls one entry point (``read_layer``,
``load_dataset``, ``read_ledger``, ``load_profile``, the CLI, the map or the workbook writer).
:func:`run_case` classifies what happened:

``error``     a clear :class:`~planning.errors.InputError` (message ≤ 2,000 characters, names the
              file; row/field when the case says so; no secret value echoed)
``warned``    accepted with a warning the user sees (``LedgerSummary.warnings``)
``ok``        accepted and the check of the result passed (e.g. a GBK shapefile reads right)
``vague``     an InputError that misses what the case requires (field, row, wording)
``crash``     any other exception (a traceback)
``hang``      longer than :data:`TIMEOUT_S`
``silent``    accepted although the case expects an error or warning
``leak``      a secret value appears in a message or published output

Run ``python tests/bad_inputs/corpus.py`` for the outcome table. All names and ids are invented.
"""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from openpyxl import Workbook

HERE = Path(__file__).parent
if str(HERE.parent) not in sys.path:  # pragma: no cover - direct script use
    sys.path.insert(0, str(HERE.parent))

from bad_inputs import make  # noqa: E402
from planning.errors import InputError  # noqa: E402

TIMEOUT_S = 30
MAX_MESSAGE = 2_000

#: Secrets planted in ledgers; none may appear in any message.
SECRETS = ("隐私张三", "110101199003077777", "13912345678", "秘密胡同9号院", "ZZSECRET")


@dataclass(frozen=True)
class Case:
    """One corpus entry: how to build and run it, and what a good outcome is."""

    id: str
    cls: str
    run: Callable[[Path], object]
    expect: str = "error"  # error | warn | ok
    match: str = ""  # regex the message (error/warn) must match
    field: str | None = None  # the InputError must name this field
    row: int | None = None  # … and this row
    check: Callable[[object], bool] | None = None  # for expect="ok"/"warn": result is right


# --- shared fixtures ----------------------------------------------------------------------
def units() -> gpd.GeoDataFrame:
    from planning.data.model import validate

    return validate(make.grid_units(), "units", source="units")


def districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"district_id": ["110101", "110102"], "name": ["东城区", "西城区"], "zone": ["core"] * 2},
        geometry=[shapely.box(116.30, 39.85, 116.40, 40.00),
                  shapely.box(116.40, 39.85, 116.50, 40.00)], crs="EPSG:4326")


STATION_HEAD = "编号,名称,类型,建筑面积,服务人员,经度,纬度\n"


def _write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding=encoding)
    return path


def _layer(name: str, text: str | bytes, schema: str = "facilities", encoding: str = "utf-8",
           **kw) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.io import read_layer

        return read_layer(_write(d / name, text, encoding), schema, **kw)
    return run


def _geojson(doc: object) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)


def _fc(features: list, **extra) -> dict:
    return {"type": "FeatureCollection", **extra, "features": features}


def _unit_feature(i: int = 0, **props) -> dict:
    x = 116.31 + 0.05 * i
    return {"type": "Feature", "properties": {"unit_id": f"U{i}", "name": f"街道{i}",
                                              "district": "东城区", **props},
            "geometry": {"type": "Polygon", "coordinates": [[[x, 39.86], [x + 0.04, 39.86],
                                                            [x + 0.04, 39.89], [x, 39.89],
                                                            [x, 39.86]]]}}


def _ledger(name: str, text: str | bytes, encoding: str = "utf-8", **kw
            ) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.ledger import read_ledger

        return read_ledger(_write(d / name, text, encoding), units(), **kw)
    return run


def _apply(text: str) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.ledger import apply_to_units, read_ledger

        u = units()
        return apply_to_units(u, read_ledger(_write(d / "l.csv", text), u))
    return run


LEDGER_HEAD = "患者编号,姓名,住址,经度,纬度,年龄,危险性评估等级,在家状态\n"


def _ledger_rows(n: int, *, lon: float = 116.33, lat: float = 39.87, extra: str = "") -> str:
    return "".join(f"P{i:03d},测试{i},北京市东城区某处,{lon},{lat},40,0,在家{extra}\n"
                   for i in range(n))


def _xlsx(path: Path, sheets: list[tuple[str, list[list[object]], str]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows, state in sheets:
        ws = wb.create_sheet(title)
        ws.sheet_state = state
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


STATION_ROWS = [["编号", "名称", "类型", "建筑面积", "经度", "纬度"],
                ["S1", "和平里驿站", "社区康复驿站", 80, 116.41, 39.95],
                ["S2", "安定门驿站", "社区康复驿站", 120, 116.40, 39.94]]


def _xlsx_layer(sheets, **where) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.io import ReadOptions, read_layer

        return read_layer(_xlsx(d / "stations.xlsx", sheets), "facilities",
                          options=ReadOptions(**where))
    return run


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _shapefile_parts(gdf: gpd.GeoDataFrame, d: Path, stem: str = "units", *,
                     encoding: str = "UTF-8", prj: str | None = None) -> dict[str, bytes]:
    sub = d / f"_{stem}_parts"
    sub.mkdir(exist_ok=True)
    gdf.to_file(sub / f"{stem}.shp", encoding=encoding)
    parts = {p.name: p.read_bytes() for p in sub.iterdir()}
    if prj is not None:
        parts[f"{stem}.prj"] = prj.encode()
    return parts


def _shp_zip(d: Path, *, drop: tuple[str, ...] = (), encoding: str = "UTF-8",
             prj: str | None = None) -> Path:
    parts = _shapefile_parts(make.grid_units(), d, encoding=encoding, prj=prj)
    parts = {k: v for k, v in parts.items() if not k.endswith(drop)}
    return _write(d / "units.zip", _zip(parts))


def _read_path(schema: str, path_fn: Callable[[Path], Path],
               **where) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.io import ReadOptions, read_layer

        return read_layer(path_fn(d), schema, options=ReadOptions(**where))
    return run


def _gpkg(d: Path, layers: dict[str, object]) -> Path:
    import pyogrio

    path = d / "units.gpkg"
    for name, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            frame.to_file(path, layer=name, driver="GPKG")
        else:
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
    return path


def _dataset(facilities_csv: str, *, units_crs: str | None = None,
             units_gdf: gpd.GeoDataFrame | None = None) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.data.io import load_dataset

        districts().to_file(d / "districts.geojson")
        u = units_gdf if units_gdf is not None else make.grid_units()
        if u.crs is not None and u.crs.to_epsg() != 4326:
            u.to_file(d / "units.gpkg")
            upath = d / "units.gpkg"
        elif units_crs:
            u.to_crs(units_crs).to_file(d / "units.gpkg")
            upath = d / "units.gpkg"
        else:
            u.to_file(d / "units.geojson")
            upath = d / "units.geojson"
        _write(d / "facilities.csv", facilities_csv)
        return load_dataset(d / "districts.geojson", upath, d / "facilities.csv")
    return run


def _profile(text: str | bytes, name: str = "p.yaml") -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from planning.rules import load_profile

        return load_profile(_write(d / name, text))
    return run


def _edited_profile(old: str, new: str) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from importlib import resources

        from planning.rules import load_profile

        text = (resources.files("planning.rules") / "profiles" / "beijing-2018.yaml").read_text(
            encoding="utf-8")
        assert old in text, old
        return load_profile(_write(d / "edited.yaml", text.replace(old, new, 1)))
    return run


def _cli(*args: str, data: Callable[[Path], None] | None = None) -> Callable[[Path], object]:
    def run(d: Path) -> object:
        from typer.testing import CliRunner

        from planning.cli import app

        if data is not None:
            data(d)
        argv = [a.replace("{tmp}", str(d)) for a in args]
        res = CliRunner().invoke(app, argv)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        if res.exit_code == 2:
            raise InputError(res.output.strip().splitlines()[-1] if res.output else "exit 2",
                             source="cli")
        return res
    return run


def _laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for i in range(1, 10):
        n = chr(ord("a") + i)
        text += f"{n}: &{n} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = n
    return text


# --- the cases ----------------------------------------------------------------------------
def _headerless_ledger() -> str:
    return ("ZZSECRET01,隐私张三,110101199003077777,13912345678,北京市东城区秘密胡同9号院\n"
            "ZZSECRET02,隐私李四,110101199003078888,13912345679,北京市东城区秘密胡同9号院\n")


def cases() -> list[Case]:
    """Every corpus case (built lazily when run)."""
    c: list[Case] = []
    add = c.append
    # 1. privacy: error messages never echo values ------------------------------------------
    add(Case("ledger-no-header", "privacy-message", _ledger("l.csv", _headerless_ledger()),
             match=r"header row"))
    add(Case("ledger-no-header-gbk", "privacy-message",
             _ledger("l.csv", _headerless_ledger(), encoding="gbk"), match=r"header row"))
    add(Case("ledger-no-header-xlsx", "privacy-message",
             lambda d: __import__("planning.data.ledger", fromlist=["x"]).read_ledger(
                 _xlsx(d / "l.xlsx", [("s", [r.split(",") for r in
                                             _headerless_ledger().splitlines()], "visible")]),
                 units()), match=r"header row"))
    add(Case("ledger-age-is-a-name", "privacy-message",
             _ledger("l.csv", LEDGER_HEAD
                     + "P1,隐私张三,北京市东城区,116.33,39.87,隐私张三,0,在家\n"),
             field="age", row=2, match="withheld"))
    add(Case("ledger-bad-date-withheld", "privacy-message",
             _ledger("l.csv", "患者编号,住址,随访日期\n"
                     "ZZSECRET9,北京市东城区安定门街道,2024-13-45\n"),
             field="visit_dates", row=2))
    add(Case("layer-no-header", "privacy-message",
             _layer("s.csv", "S1,隐私张三驿站,社区康复驿站,80,116.41,39.95\n"
                    "S2,ZZSECRET,社区康复驿站,80,116.41,39.95\n"), match=r"header row|longitude"))
    # 2. GeoJSON that crashed ------------------------------------------------------------------
    for i, crs in enumerate(("EPSG:4326", 4326, ["EPSG", 4326], {"type": "name"},
                             {"type": "name", "properties": None})):
        add(Case(f"geojson-crs-{i}", "geojson-crash",
                 _layer("u.geojson", _geojson(_fc([_unit_feature()], crs=crs)), "units"),
                 field="crs"))
    add(Case("geojson-crs-unknown-name", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([_unit_feature()], crs={
                 "type": "name", "properties": {"name": "EPSG:999999"}})), "units"),
             field="crs"))
    nullprops = _unit_feature()
    nullprops["properties"] = None
    add(Case("geojson-properties-null", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([nullprops])), "units"), field="unit_id"))
    add(Case("geojson-properties-list", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([{**_unit_feature(), "properties": [1, 2]}])),
                    "units"), field="properties", row=0))
    add(Case("geojson-deep-coordinates", "geojson-crash",
             _layer("u.geojson", '{"type":"FeatureCollection","features":[{"type":"Feature",'
                    '"properties":{},"geometry":{"type":"Polygon","coordinates":'
                    + "[" * 100_000 + "]" * 100_000 + "}}]}", "units"), match="nested"))
    add(Case("geojson-deep-properties", "geojson-crash",
             _layer("u.geojson", '{"type":"FeatureCollection","features":[{"type":"Feature",'
                    '"properties":{"a":' + "[" * 5_000 + "]" * 5_000 + '},"geometry":null}]}',
                    "units"), match="nested"))
    add(Case("geojson-huge-int-property", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([_unit_feature()])).replace(
                 '"unit_id": "U0"', '"unit_id": "U0", "population": ' + "9" * 5_000), "units"),
             match="digits"))
    add(Case("geojson-huge-int-coordinate", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([_unit_feature()])).replace(
                 "39.86]", "3" + "9" * 3_000 + "]", 1), "units"), match="digits"))
    add(Case("geojson-geometry-string", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([{**_unit_feature(), "geometry": "POINT(1 2)"}])),
                    "units"), field="geometry", row=0))
    add(Case("geojson-bad-ring", "geojson-crash",
             _layer("u.geojson", _geojson(_fc([_unit_feature(), {
                 **_unit_feature(1), "geometry": {"type": "Polygon",
                                                  "coordinates": [[[1, 2]]]}}])), "units"),
             field="geometry"))
    # 3. containers: GeoPackage, Shapefile, zip, Excel -----------------------------------------
    add(Case("gpkg-table-without-geometry", "container-crash", _read_path(
        "units", lambda d: _gpkg(d, {"t": pd.DataFrame(make.grid_units().drop(
            columns="geometry"))})), field="geometry"))
    add(Case("gpkg-named-layer-without-geometry", "container-crash", _read_path(
        "units", lambda d: _gpkg(d, {"u": make.grid_units(), "t": pd.DataFrame({"a": [1]})}),
        layer="t"), field="geometry"))
    add(Case("shp-prj-local-cs", "container-crash", _read_path(
        "units", lambda d: _shp_zip(d, prj='LOCAL_CS["site grid",LOCAL_DATUM["x",0],'
                                       'UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]')),
        field="crs"))
    add(Case("shp-prj-garbage", "container-crash", _read_path(
        "units", lambda d: _shp_zip(d, prj="this is not a CRS")), field="crs"))
    add(Case("zip-truncated", "container-crash", _read_path(
        "units", lambda d: _write(d / "t.zip", _shp_zip(d).read_bytes()[:-300])),
        match="zip"))
    add(Case("zip-not-a-zip", "container-crash",
             _layer("units.zip", b"PK\x03\x04 this is not really a zip", "units"),
             match="zip"))
    add(Case("zip-html-named-zip", "container-crash",
             _layer("units.zip", b"<html>404 not found</html>", "units"), match="zip"))
    add(Case("xlsx-sheet-name-missing", "container-crash",
             _xlsx_layer([("站点", STATION_ROWS, "visible")], sheet="Sheet9"),
             field="sheet", match="站点"))
    add(Case("xlsx-sheet-index-missing", "container-crash",
             _xlsx_layer([("站点", STATION_ROWS, "visible")], sheet=4), field="sheet"))
    add(Case("xlsx-truncated", "container-crash", lambda d: _read_path(
        "facilities", lambda d2: _write(d2 / "t.xlsx", _xlsx(d2 / "s.xlsx", [
            ("s", STATION_ROWS, "visible")]).read_bytes()[:400]))(d), match="xlsx"))
    # 4. YAML profiles (hardening by the issue-16 engineer; tested here) ---------------------
    add(Case("profile-billion-laughs", "profile", _profile(_laughs()), match="alias"))
    add(Case("profile-50mb", "profile", _profile("profile: x\nnote: '" + "x" * 50_000_000
                                                 + "'\n"), match="MB"))
    add(Case("profile-deep", "profile", _profile("a: " + "[" * 5_000 + "]" * 5_000 + "\n"),
             match="nested|deep"))
    add(Case("profile-unhashable-key", "profile", _profile("? [1, 2]\n: x\n"),
             match="key"))
    add(Case("profile-gbk", "profile", lambda d: _profile(
        _edited_profile_text().encode("gbk"))(d), expect="ok",
        check=lambda p: p.name == "beijing-2018"))
    add(Case("profile-duplicate-key", "profile", _edited_profile(
        "    op: \">=\"\n    threshold: 0.2\n", "    op: \">=\"\n    threshold: 0.2\n"
        "    threshold: 0.3\n"), match="duplicate"))
    add(Case("profile-staff-ratio-5", "profile", _edited_profile(
        "    metric: staff_client_ratio\n    op: \">=\"\n    threshold: 0.2",
        "    metric: staff_client_ratio\n    op: \">=\"\n    threshold: 5"),
        match="1:5|ratio|share|0.2|range|≤|<="))
    add(Case("profile-nan-threshold", "profile", _edited_profile(
        "    op: \">=\"\n    threshold: 0.2", "    op: \">=\"\n    threshold: .nan"),
        match="nan|NaN|number"))
    add(Case("profile-age-600", "profile", _edited_profile(
        "  any_of:\n", "  age: [18, 600]\n  any_of:\n"),
        match="age|600"))
    # 5. CLI ----------------------------------------------------------------------------------
    add(Case("cli-partial-district", "cli", _cli("suggest", "--district", "东城"),
             match="东城区"))
    add(Case("cli-unknown-district", "cli", _cli("check", "--district", "Atlantis"),
             match="expected one of"))
    add(Case("cli-out-missing-folder", "cli", _cli(
        "check", "--district", "东城区", "--out", "{tmp}/a/b/f.csv"), expect="ok",
        check=lambda r: r.exit_code == 0))
    add(Case("cli-export-xlsx-format", "cli", _cli("export", "{tmp}/o", "--formats",
                                                   "html,png,pdf,gpkg,brief,xlsx"),
             match="xlsx"))
    add(Case("cli-year-1999", "cli", _cli("check", "--year", "1999"), match="1999"))
    add(Case("cli-data-missing", "cli", _cli("check", "--data", "{tmp}/nope"),
             match="folder|no districts"))
    add(Case("cli-two-districts-files", "cli", _cli("check", "--data", "{tmp}", data=lambda d: [
        _write(d / n, "{}") for n in ("districts.gpkg", "districts.geojson")]),
        match="districts.gpkg"))
    # 6. coordinates that cannot be right -----------------------------------------------------
    add(Case("units-latlon-swapped", "coordinates", _layer("u.geojson", _geojson(_fc([{
        **_unit_feature(), "geometry": {"type": "Polygon", "coordinates": [[[39.86, 116.31], [
            39.86, 116.35], [39.89, 116.35], [39.89, 116.31], [39.86, 116.31]]]}}])), "units"),
        field="geometry"))
    add(Case("stations-latlon-swapped", "coordinates", _layer(
        "s.csv", STATION_HEAD + "S1,驿站,社区康复驿站,80,3,39.95,116.41\n"), field="经度"))
    add(Case("facility-in-paris", "coordinates", _dataset(
        STATION_HEAD + "S1,驿站,社区康复驿站,80,3,116.41,39.95\n"
        "S2,巴黎,社区康复驿站,80,3,2.35,48.85\n"),
        field="geometry", row=1, match="far outside"))
    add(Case("facility-in-shanghai", "coordinates", _dataset(
        STATION_HEAD + "S1,驿站,社区康复驿站,80,3,121.47,31.23\n"), field="geometry",
        match="far outside"))
    add(Case("degrees-labelled-3857", "coordinates", _layer("u.geojson", _geojson(_fc(
        [_unit_feature()], crs={"type": "name", "properties": {"name": "EPSG:3857"}})), "units"),
        field="crs", match="degrees"))
    add(Case("utm50-labelled-51", "coordinates", lambda d: _dataset(
        STATION_HEAD + "S1,驿站,社区康复驿站,80,3,116.41,39.95\n",
        units_gdf=make.grid_units().to_crs(32650).set_crs(32651, allow_override=True)
        .to_crs(4326))(d), match="far outside"))
    add(Case("utm50-labelled-49", "coordinates", lambda d: _dataset(
        STATION_HEAD + "S1,驿站,社区康复驿站,80,3,116.41,39.95\n",
        units_gdf=make.grid_units().to_crs(32650).set_crs(32649, allow_override=True))(d),
        field="geometry", match="far outside"))
    add(Case("mercator-metres-labelled-utm", "coordinates", _read_path("units", lambda d: _gpkg(
        d, {"u": make.grid_units().to_crs(3857).set_crs(32650, allow_override=True)})),
        field="crs", match="outside the area"))
    # 7. encodings ----------------------------------------------------------------------------
    big5 = "編號,名稱,類型,建築面積,服務人員,經度,緯度\n"
    add(Case("stations-big5", "encoding", _layer(
        "s.csv", big5 + "S1,和平里溫馨家園驛站,社區康復驛站,80,3,116.41,39.95\n",
        encoding="big5"), match="Big5"))
    add(Case("ledger-big5", "encoding", _ledger(
        "l.csv", "患者編號,姓名,住址\nP1,測試甲,北京市東城區安定門街道某衚衕1號\n"
        "P2,測試乙,北京市東城區和平裡街道某號\n", encoding="big5"), match="Big5"))
    add(Case("csv-one-gbk-line", "encoding", _layer(
        "s.csv", (STATION_HEAD + "S1,和平里驿站,社区康复驿站,80,3,116.41,39.95\n").encode()
        + "S2,安定门驿站,社区康复驿站,80,3,116.40,39.94\n".encode("gbk")
        + "S3,东四驿站,社区康复驿站,80,3,116.40,39.93\n".encode()), row=3, match="UTF-8"))
    add(Case("shp-gbk-no-cpg", "encoding", _read_path(
        "units", lambda d: _shp_zip(d, drop=(".cpg",), encoding="GBK")), expect="ok",
        check=lambda g: set(g["name"]) == set(make.grid_units()["name"])))
    add(Case("geojson-truncated-mid-char", "encoding", _layer(
        "u.geojson", _geojson(_fc([_unit_feature()])).encode()[:-3] + "街".encode()[:2],
        "units"), match="truncated"))
    add(Case("geojson-truncated", "encoding", _layer(
        "u.geojson", _geojson(_fc([_unit_feature()]))[:-40], "units"), match="truncated|JSON"))
    add(Case("csv-utf16", "encoding", _layer(
        "s.csv", STATION_HEAD + "S1,和平里驿站,社区康复驿站,80,3,116.41,39.95\n",
        encoding="utf-16"), expect="ok", check=lambda g: g["name"].tolist() == ["和平里驿站"]))
    # 8. spreadsheet traps ----------------------------------------------------------------------
    add(Case("xlsx-hidden-first-sheet", "spreadsheet", _xlsx_layer(
        [("old", [["编号", "名称"], ["X", "旧"]], "hidden"), ("站点", STATION_ROWS, "visible")]),
        expect="ok", check=lambda g: g["facility_id"].tolist() == ["S1", "S2"]))

    def formula(d: Path) -> object:
        from planning.data.io import read_layer

        rows = [r[:] for r in STATION_ROWS]
        rows[1][3] = "=40*2"
        return read_layer(_xlsx(d / "f.xlsx", [("s", rows, "visible")]), "facilities")
    add(Case("xlsx-formula-no-cache", "spreadsheet", formula, row=2, field="D",
             match="formula"))
    add(Case("decimal-comma", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + 'S1,驿站,社区康复驿站,"80,5",3,116.41,39.95\n'),
        field="floor_area_m2", match="comma"))
    add(Case("thousands-separator", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + 'S1,驿站,社区康复驿站,"1,200",3,116.41,39.95\n'), expect="ok",
        check=lambda g: float(g["floor_area_m2"].iloc[0]) == 1200.0))
    add(Case("fullwidth-digits", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + "S1,驿站,社区康复驿站,８０,３,１１６.４１,３９.９５\n"),
        expect="ok",
        check=lambda g: float(g["floor_area_m2"].iloc[0]) == 80.0))
    add(Case("fullwidth-id-duplicate", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + "F001,甲,社区康复驿站,80,3,116.41,39.95\n"
        "Ｆ００１,乙,社区康复驿站,80,3,116.41,39.95\n"), field="facility_id", row=3,
        match="duplicate"))
    add(Case("zero-width-id-duplicate", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + "S1,甲,社区康复驿站,80,3,116.41,39.95\n"
        "S\u200b1,乙,社区康复驿站,80,3,116.41,39.95\n"), field="facility_id", row=3,
        match="duplicate"))
    add(Case("nul-in-name-geojson", "spreadsheet", _layer("u.geojson", _geojson(_fc([
        _unit_feature(0, name="安定门\u0000街道"), _unit_feature(1, name="东四\u200b街道\x07")])),
        "units"), expect="ok", check=lambda g: g["name"].tolist() == ["安定门街道", "东四街道"]))
    add(Case("nul-in-id-duplicate", "spreadsheet", _layer("u.geojson", _geojson(_fc([
        _unit_feature(0), {**_unit_feature(1), "properties": {
            **_unit_feature(1)["properties"], "unit_id": "U0\u0000"}}])), "units"),
        field="unit_id", row=1, match="duplicate"))
    add(Case("nul-in-csv", "spreadsheet", _layer(
        "s.csv", STATION_HEAD + "S1,和平里\x00驿站,社区康复驿站,80,3,116.41,39.95\n"),
        row=2, match="NUL"))
    # 9. ambiguous containers ------------------------------------------------------------------
    add(Case("gpkg-two-layers", "ambiguous", _read_path("units", lambda d: _gpkg(
        d, {"a": make.grid_units(), "b": make.grid_units()})), field="layer", match="a, b"))
    add(Case("gpkg-wrong-layer-name", "ambiguous", _read_path("units", lambda d: _gpkg(
        d, {"townships": make.grid_units()}), layer="units"), field="layer",
        match="townships"))
    add(Case("zip-two-shapefiles", "ambiguous", _read_path("units", lambda d: _write(
        d / "u.zip", _zip({**_shapefile_parts(make.grid_units(), d, "a"),
                           **_shapefile_parts(make.grid_units(), d, "b")}))),
        match="exactly one"))
    # 10. ledgers -------------------------------------------------------------------------------
    add(Case("ledger-id-checksum", "ledger", _ledger(
        "l.csv", "患者编号,住址\n110101199003077777,北京市东城区安定门街道\n"
        f"{_valid_id('11010119900307001')},北京市东城区安定门街道\n"
        f"{_valid_id('11010219851212002')},北京市东城区和平里街道\n"), expect="warn",
        match=r"^1 id number.*rows 2\)"))
    add(Case("ledger-future-visit", "ledger", _ledger(
        "l.csv", "患者编号,住址,随访日期\nA1,北京市东城区安定门街道,2024-03-01\n"
        "A2,北京市东城区安定门街道,2999-01-01\n"), row=3, field="visit_dates", match="future"))
    add(Case("ledger-impossible-date", "ledger", _ledger(
        "l.csv", "患者编号,住址,随访日期\nA1,北京市东城区安定门街道,2024-02-30\n"),
        row=2, field="visit_dates", match="real date"))
    add(Case("ledger-other-city-coords-warns", "ledger", _ledger(
        "l.csv", LEDGER_HEAD + _ledger_rows(5, lon=121.47, lat=31.23)), expect="warn",
        match="another city"))
    add(Case("ledger-other-city-coords-apply", "ledger", _apply(
        LEDGER_HEAD + _ledger_rows(5, lon=121.47, lat=31.23)), match="another city",
        field="township"))
    add(Case("ledger-other-city-address-apply", "ledger", _apply(
        "患者编号,住址\nA1,上海市黄浦区南京东路街道\nA2,上海市静安区\n"), match="another city"))
    # 11. messages that misled ------------------------------------------------------------------
    add(Case("csv-semicolon", "message", _layer(
        "s.csv", STATION_HEAD.replace(",", ";") + "S1;驿站;社区康复驿站;80;3;116.41;39.95\n"),
        expect="ok", check=lambda g: g["facility_id"].tolist() == ["S1"]))
    add(Case("csv-tab", "message", _layer(
        "s.txt", STATION_HEAD.replace(",", "\t")
        + "S1\t驿站\t社区康复驿站\t80\t3\t116.41\t39.95\n"),
        expect="ok", check=lambda g: g["facility_id"].tolist() == ["S1"]))
    add(Case("zip-20000-entries", "message", _read_path("units", lambda d: _write(
        d / "many.zip", _zip({f"dir/file_{i:05d}.txt": b"" for i in range(20_000)}))),
        match="20000 entries|20,000|more"))
    add(Case("csv-no-lonlat", "message", _layer(
        "s.csv", "编号,名称,类型\nS1,驿站,社区康复驿站\n"), field="lon", match="编号"))
    # 12. HTML / formulas in names ----------------------------------------------------------------
    add(Case("html-name-map", "html", _map_with_name("<img src=x onerror=alert(1)>"),
             expect="ok", check=lambda html: "<img src=x onerror" not in html))
    add(Case("script-name-map", "html", _map_with_name("<script>alert(1)</script>"),
             expect="ok", check=lambda html: "<script>alert(1)</script>" not in html))
    add(Case("formula-name-workbook", "html", _workbook_with_name("=HYPERLINK(\"http://x\")"),
             expect="ok", check=_no_formula))
    add(Case("control-char-name-workbook", "html", _workbook_with_name("坏\x01名\x1f字"),
             expect="ok", check=lambda cells: any(v == "坏名字" for v, _t in cells)))
    return c


def _valid_id(first17: str) -> str:
    from planning.data.ledger import _ID_CHECK, _ID_WEIGHTS

    return first17 + _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS,
                                                                  strict=True)) % 11]


def _edited_profile_text() -> str:
    from importlib import resources

    return (resources.files("planning.rules") / "profiles" / "beijing-2018.yaml").read_text(
        encoding="utf-8")


def _map_with_name(name: str) -> Callable[[Path], object]:
    def run(d: Path) -> str:
        from planning.data.model import make_dataset
        from planning.publish import maps

        fac = gpd.GeoDataFrame({"facility_id": ["F1"], "name": [name],
                                "kind": ["rehab_station"]},
                               geometry=[shapely.Point(116.33, 39.87)], crs="EPSG:4326")
        u = make.grid_units()
        u["name"] = [name + str(i) for i in range(len(u))]
        ds = make_dataset("x", districts(), u, fac)
        return maps.planner_map(ds).get_root().render()
    return run


def _workbook_with_name(name: str) -> Callable[[Path], object]:
    def run(d: Path) -> list:
        from openpyxl import load_workbook

        from planning.publish.workbook import compliance_workbook

        findings = pd.DataFrame({
            "rule_id": ["bj.township_station"], "entity_id": ["U1"], "entity_type": ["unit"],
            "entity_name": [name], "district": ["东城区"], "milestone": [2025],
            "measured": [0.0], "op": [">="], "threshold": [1.0], "status": ["fail"],
            "reason": [""], "clause": ["§"], "title_zh": ["t"], "title_en": ["t"]})
        path = d / "w.xlsx"
        compliance_workbook(findings, "beijing-2018", path, dataset_name=name)
        wb = load_workbook(path)
        return [(c.value, c.data_type) for ws in wb.worksheets for r in ws.iter_rows()
                for c in r if c.value is not None]
    return run


def _no_formula(cells: list) -> bool:
    return not any(t == "f" for _v, t in cells) and any(
        isinstance(v, str) and v.startswith("=HYPERLINK") for v, _t in cells)


# --- running ------------------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _alarm(_sig, _frame):  # pragma: no cover - only on a hang
    raise _Timeout


def _leaks(text: str) -> bool:
    return any(s in text for s in SECRETS)


def run_case(case: Case, folder: Path) -> tuple[str, str]:
    """Run one case; return (outcome, detail). See the module docstring for outcomes."""
    folder.mkdir(parents=True, exist_ok=True)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        result = case.run(folder)
    except _Timeout:
        return "hang", f"over {TIMEOUT_S} s"
    except InputError as exc:
        text = str(exc)
        if _leaks(text):
            return "leak", text[:300]
        if case.expect != "error":
            return "vague" if case.expect == "warn" else "error-unexpected", text[:300]
        problems = []
        if len(text) > MAX_MESSAGE:
            problems.append(f"message of {len(text)} characters")
        if not exc.source:
            problems.append("no file named")
        if case.field is not None and exc.field != case.field:
            problems.append(f"field {exc.field!r} instead of {case.field!r}")
        if case.row is not None and exc.row != case.row:
            problems.append(f"row {exc.row!r} instead of {case.row!r}")
        if case.match and not re.search(case.match, text):
            problems.append(f"message does not match {case.match!r}")
        return ("vague", "; ".join(problems) + f" — {text[:200]}") if problems else (
            "error", text[:200])
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return "crash", tb[:300]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if case.expect == "error":
        return "silent", "accepted"
    if case.expect == "warn":
        warnings = " | ".join(getattr(result, "warnings", ()) or ())
        if _leaks(warnings):
            return "leak", warnings[:300]
        ok = bool(warnings) and (not case.match or re.search(case.match, warnings))
        return ("warned", warnings[:200]) if ok else ("silent", "no warning")
    good = case.check(result) if case.check is not None else True
    return ("ok", "") if good else ("silent", "accepted with a wrong result")


def outcome_table(results: dict[str, tuple[str, str]], all_cases: list[Case]) -> str:
    """Outcome counts per class, as a text table."""
    by_cls: dict[str, dict[str, int]] = {}
    for case in all_cases:
        outcome = results[case.id][0]
        by_cls.setdefault(case.cls, {}).setdefault(outcome, 0)
        by_cls[case.cls][outcome] += 1
    kinds = ["error", "warned", "ok", "vague", "crash", "hang", "silent", "leak",
             "error-unexpected"]
    lines = ["class".ljust(18) + "".join(k[:8].rjust(9) for k in kinds) + "    total"]
    for cls, counts in by_cls.items():
        lines.append(cls.ljust(18) + "".join(str(counts.get(k, 0)).rjust(9) for k in kinds)
                     + str(sum(counts.values())).rjust(9))
    total = {k: sum(c.get(k, 0) for c in by_cls.values()) for k in kinds}
    lines.append("all".ljust(18) + "".join(str(total[k]).rjust(9) for k in kinds)
                 + str(len(all_cases)).rjust(9))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    all_cases = cases()
    with tempfile.TemporaryDirectory() as tmp:
        res = {c.id: run_case(c, Path(tmp) / c.id) for c in all_cases}
    for c in all_cases:
        print(f"{res[c.id][0]:8} {c.cls:16} {c.id:32} {res[c.id][1][:110]}")
    print()
    print(outcome_table(res, all_cases))
