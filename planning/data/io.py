"""Readers and writers: GeoJSON, GeoPackage, Shapefile (plain or zipped), CSV with lon/lat, Excel.

Every reader returns a validated table (see :mod:`planning.data.model`) in EPSG:4326, converting
GCJ-02 / BD-09 coordinates when told the data comes from Amap/Tencent/Baidu (``datum=``).
Every failure is one :class:`~planning.errors.InputError` naming file, row/feature and field.
Readers never modify anything already loaded: they return new objects or raise.
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from openpyxl.utils import get_column_letter

from planning.data import crs as crs_mod
from planning.data.model import (
    SCHEMAS,
    Dataset,
    Schema,
    describe_columns,
    make_dataset,
    validate,
)
from planning.errors import InputError

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
MAX_ZIP_RATIO = 200  # uncompressed/compressed ratio above which a zip is refused
MAX_ZIP_BYTES = 2_000_000_000


MAX_JSON_DEPTH = 64  # nesting deeper than any GeoJSON (MultiPolygon coordinates are 4 levels)
MAX_NUMBER_DIGITS = 40  # longer integer literals are refused (a float has 17 significant digits)
MAX_LISTED = 10  # names listed in a message before it is summarised

def _name(path: str | Path | None, fallback: str = "upload") -> str:
    return Path(path).name if path else fallback


def _listing(names: list[str], limit: int = MAX_LISTED) -> str:
    """At most ``limit`` names, then how many more: messages stay short for huge archives."""
    shown = ", ".join(names[:limit])
    return shown + (f" … and {len(names) - limit} more" if len(names) > limit else "")


def _check_zip(zf: zipfile.ZipFile, source: str) -> None:
    total = sum(i.file_size for i in zf.infolist())
    packed = sum(max(i.compress_size, 1) for i in zf.infolist())
    if total > MAX_ZIP_BYTES or total / packed > MAX_ZIP_RATIO:
        msg = (f"the archive would expand to {total:,} bytes from {packed:,} "
               "(possible zip bomb); refusing to open it")
        raise InputError(msg, source=source)


def _open_zip(data: bytes, source: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        msg = ("not a readable zip archive (truncated or not a zip file); zip the shapefile "
               "parts (.shp, .shx, .dbf, .prj) again")
        raise InputError(msg, source=source) from exc
    except zlib.error as exc:
        msg = "the zip archive is damaged (truncated?); zip the shapefile parts again"
        raise InputError(msg, source=source) from exc
    if bad is not None:
        msg = "the zip archive is damaged (a member fails its checksum); zip it again"
        raise InputError(msg, source=source, field=bad)
    return zf


def _read_zip_shapefile(data: bytes, source: str) -> gpd.GeoDataFrame:
    with _open_zip(data, source) as zf:
        _check_zip(zf, source)
        names = zf.namelist()
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) != 1:
            listed = _listing(shps if shps else names)
            msg = (f"expected exactly one .shp in the zip, found {len(shps)} among "
                   f"{len(names)} entries: {listed}")
            raise InputError(msg, source=source)
        stem = shps[0][:-4]
        have = {n[len(stem):].lower() for n in names if n.startswith(stem)}
        for needed in (".dbf", ".shx", ".prj"):
            if needed not in have:
                what = {".prj": "coordinate system", ".dbf": "attribute table",
                        ".shx": "shape index"}[needed]
                msg = (f"the shapefile {shps[0]} has no {needed} ({what}); zip all of "
                       ".shp, .shx, .dbf and .prj together")
                raise InputError(msg, source=source, field=needed)
        has_cpg = ".cpg" in have
    try:
        return _read_vsi(data, shps[0], source, has_cpg=has_cpg)
    except InputError:
        raise
    except Exception as exc:  # GDAL errors come in many types
        msg = f"could not read the shapefile: {_short(exc)}"
        raise InputError(msg, source=source) from exc


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + " …"


def _mojibake(gdf: pd.DataFrame) -> bool:
    """Text decoded as Latin-1 that was really GBK shows runs of accented Latin characters."""
    for col in gdf.columns:
        if not (gdf[col].dtype == object or isinstance(gdf[col].dtype, pd.StringDtype)):
            continue
        for v in gdf[col].dropna().head(200):
            if isinstance(v, str) and re.search("[\u0080-\u00ff]{2,}", v):
                try:
                    v.encode("latin-1").decode("gb18030")
                except (UnicodeEncodeError, UnicodeDecodeError):
                    continue
                return True
    return False


def _read_shapefile(target: str | Path, source: str, *, has_cpg: bool) -> gpd.GeoDataFrame:
    """Read a shapefile; without a .cpg, text garbled as Latin-1 is re-read as GBK."""
    gdf = gpd.read_file(target)
    if not has_cpg and _mojibake(gdf):
        gdf = gpd.read_file(target, encoding="gb18030")
        log.warning("%s: no .cpg; text read as GBK (GB18030)", source)
    return gdf


def _read_vsi(data: bytes, inner: str, source: str = "upload", *,
              has_cpg: bool = True) -> gpd.GeoDataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / "upload.zip"
        zpath.write_bytes(data)
        return _read_shapefile(f"zip://{zpath}!{inner}", source, has_cpg=has_cpg)


def _parse_int(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        msg = f"a number with {len(text)} digits"
        raise _JsonLimitError(msg)
    return int(text)


class _JsonLimitError(ValueError):
    """A JSON document past a size limit (digits of a number, nesting depth)."""


def _json_depth_ok(raw: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting depth of ``[``/``{`` outside strings is at most ``limit`` (linear scan)."""
    depth = 0
    in_str = esc = False
    for ch in raw:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _decode_json(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:
            msg = ("the file ends in the middle of a character: it is truncated (incomplete "
                   "upload or copy?); export it again")
            raise InputError(msg, source=source) from exc
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            line = raw[: exc.start].count(b"\n") + 1
            msg = (f"byte {exc.start} (line {line}) is neither UTF-8 nor GBK text; "
                   "save the GeoJSON as UTF-8")
            raise InputError(msg, source=source) from exc


def _declared_crs(doc: dict, source: str) -> str | None:
    member = doc.get("crs")
    if member is None:
        return None
    name = None
    if isinstance(member, dict):
        props = member.get("properties")
        name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str) or not name.strip():
        msg = ('the "crs" member is not of the form {"type": "name", "properties": {"name": '
               '"EPSG:…"}}; remove it (GeoJSON is lon/lat WGS84) or correct it')
        raise InputError(msg, source=source, field="crs")
    return name.strip()


def _check_feature(feat: object, i: int, source: str) -> dict:
    if not isinstance(feat, dict):
        msg = "each feature must be a JSON object"
        raise InputError(msg, source=source, row=i)
    geom = feat.get("geometry")
    if geom is None:
        msg = "feature has no geometry"
        raise InputError(msg, source=source, row=i, field="geometry")
    if not isinstance(geom, dict) or not isinstance(geom.get("type"), str):
        msg = "the geometry must be an object with a \"type\""
        raise InputError(msg, source=source, row=i, field="geometry")
    props = feat.get("properties")
    if props is None:
        return {**feat, "properties": {}}
    if not isinstance(props, dict):
        msg = "\"properties\" must be an object (or null)"
        raise InputError(msg, source=source, row=i, field="properties")
    for key, value in props.items():
        if isinstance(value, dict | list):
            msg = "nested values are not supported in properties; flatten them"
            raise InputError(msg, source=source, row=i, field=str(key))
    return feat


def _read_geojson(raw: bytes, source: str) -> gpd.GeoDataFrame:
    text = _decode_json(raw, source)
    if not _json_depth_ok(text):
        msg = (f"arrays or objects nested deeper than {MAX_JSON_DEPTH} levels; this is not "
               "GeoJSON")
        raise InputError(msg, source=source)
    try:
        doc = json.loads(text, parse_int=_parse_int)
    except _JsonLimitError as exc:
        msg = f"{exc} (more than {MAX_NUMBER_DIGITS}); numbers this long cannot be data"
        raise InputError(msg, source=source) from exc
    except json.JSONDecodeError as exc:
        end = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        msg = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{end}"
        raise InputError(msg, source=source) from exc
    except (RecursionError, ValueError) as exc:
        msg = f"not valid JSON: {_short(exc)}"
        raise InputError(msg, source=source) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        msg = "expected a GeoJSON FeatureCollection"
        raise InputError(msg, source=source, field="type")
    feats = doc.get("features") or []
    if not isinstance(feats, list):
        msg = "\"features\" must be a list"
        raise InputError(msg, source=source, field="features")
    declared = _declared_crs(doc, source)
    feats = [_check_feature(feat, i, source) for i, feat in enumerate(feats)]
    try:
        gdf = gpd.GeoDataFrame.from_features(feats, crs=crs_mod.WGS84)
    except Exception as exc:
        pos = _first_bad_geometry(feats)
        msg = f"could not parse the geometry: {_short(exc)}"
        raise InputError(msg, source=source, row=pos, field="geometry") from exc
    if declared and "CRS84" not in declared and "4326" not in declared:
        try:
            gdf = gdf.set_crs(declared, allow_override=True)
        except Exception as exc:
            msg = f"unknown coordinate system {declared[:80]!r}"
            raise InputError(msg, source=source, field="crs") from exc
    return gdf


def _first_bad_geometry(feats: list[dict]) -> int | None:
    from shapely.geometry import shape

    for i, feat in enumerate(feats):
        try:
            shape(feat["geometry"])
        except Exception:
            return i
    return None


def _gpkg_layers(target: Path | io.BytesIO, source: str) -> list[tuple[str, str | None]]:
    try:
        layers = pyogrio.list_layers(target)
    except Exception as exc:
        msg = f"not a readable GeoPackage: {_short(exc)}"
        raise InputError(msg, source=source) from exc
    if isinstance(target, io.BytesIO):
        target.seek(0)
    return [(str(n), None if g is None else str(g)) for n, g in layers]


def _read_vector(data: bytes | None, path: Path | None, source: str, suffix: str,
                 layer: str | None) -> gpd.GeoDataFrame:
    if suffix == ".zip":
        raw = data if data is not None else Path(path).read_bytes()
        return _read_zip_shapefile(raw, source)
    if suffix in (".geojson", ".json"):
        raw = data if data is not None else Path(path).read_bytes()
        return _read_geojson(raw, source)
    target = path if data is None else io.BytesIO(data)
    if suffix == ".gpkg":
        layers = _gpkg_layers(target, source)
        spatial = [n for n, g in layers if g is not None]
        names = [n for n, _ in layers]
        if layer is not None and layer not in names:
            msg = f"no layer {layer!r}; the layers are: {_listing(names)}"
            raise InputError(msg, source=source, field="layer")
        if layer is None:
            if not spatial:
                msg = (f"no layer has geometry (tables: {_listing(names) or 'none'}); "
                       "export the layer with its geometry")
                raise InputError(msg, source=source, field="geometry")
            if len(spatial) > 1:
                msg = (f"{len(spatial)} layers with geometry ({_listing(spatial)}); choose "
                       "one with layer=")
                raise InputError(msg, source=source, field="layer")
            layer = spatial[0]
        elif dict(layers)[layer] is None:
            msg = f"layer {layer!r} has no geometry; choose one of {_listing(spatial)}"
            raise InputError(msg, source=source, field="geometry")
    try:
        if suffix == ".shp":
            has_cpg = path is not None and path.with_suffix(".cpg").exists()
            gdf = _read_shapefile(target, source, has_cpg=has_cpg)
        else:
            gdf = gpd.read_file(target, layer=layer) if layer else gpd.read_file(target)
    except InputError:
        raise
    except Exception as exc:
        msg = f"could not read the file: {_short(exc)}"
        raise InputError(msg, source=source) from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = "the table has no geometry column; export it with its geometry"
        raise InputError(msg, source=source, field="geometry")
    return gdf


def _decode_csv(raw: bytes, source: str) -> str:
    """UTF-8, else GBK/GB18030; refuses Big5 and files mixing encodings, naming the line."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            msg = "the UTF-16 file is damaged or truncated; save it again as CSV UTF-8"
            raise InputError(msg, source=source) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = exc
    lines = raw.split(b"\n")
    non_ascii = [i for i, ln in enumerate(lines) if any(b > 127 for b in ln)]
    bad = []
    for i in non_ascii:
        try:
            lines[i].decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    if bad and len(bad) < len(non_ascii):
        msg = (f"line {bad[0] + 1} is not UTF-8 while the rest of the file is "
               f"({len(bad)} such line(s)): the file mixes encodings; save it again as UTF-8")
        raise InputError(msg, source=source, row=bad[0] + 1) from first_bad
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        msg = "could not decode the CSV (tried UTF-8 and GBK/GB18030); save it as UTF-8"
        raise InputError(msg, source=source) from exc
    if _looks_big5(raw, text):
        msg = ("the file looks like Big5 (traditional Chinese), not UTF-8 or GBK; save it as "
               "UTF-8 (Excel: Save As → CSV UTF-8)")
        raise InputError(msg, source=source) from first_bad
    return text


def _looks_big5(raw: bytes, gbk_text: str) -> bool:
    """Big5 read as GBK gives many characters outside GB2312; real GBK text hardly any."""
    try:
        raw.decode("big5")
    except UnicodeDecodeError:
        return False
    cjk = [c for c in gbk_text if ord(c) > 0x2E80]
    if len(cjk) < 4:
        return False
    rare = 0
    for c in cjk:
        try:
            c.encode("gb2312")
        except UnicodeEncodeError:
            rare += 1
    return rare / len(cjk) > 0.2


def _sniff_sep(text: str) -> str:
    head = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {sep: head.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def _read_csv(raw: bytes, source: str) -> pd.DataFrame:
    text = _decode_csv(raw, source)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        msg = "the file contains NUL bytes (a binary or damaged file?); save it again as CSV"
        raise InputError(msg, source=source, row=line)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            na_values=[""], skip_blank_lines=False, sep=_sniff_sep(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"malformed CSV: {_short(exc)}"
        raise InputError(msg, source=source) from exc
    # Blank lines are dropped but the index keeps each record's position, so errors name the
    # row a spreadsheet shows (see planning.data.model.validate).
    return frame[frame.notna().any(axis=1)]


def _pick_sheet(wb: object, sheet: str | int | None, source: str) -> object:
    names = wb.sheetnames
    if isinstance(sheet, str):
        if sheet not in names:
            msg = f"no sheet {sheet!r}; the sheets are: {_listing(names)}"
            raise InputError(msg, source=source, field="sheet")
        return wb[sheet]
    if sheet is not None:
        if not 0 <= int(sheet) < len(names):
            msg = (f"no sheet number {sheet} (counting from 0); the workbook has {len(names)}: "
                   f"{_listing(names)}")
            raise InputError(msg, source=source, field="sheet")
        return wb.worksheets[int(sheet)]
    visible = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
    if not visible:
        msg = "every sheet is hidden; unhide the one to read or give sheet="
        raise InputError(msg, source=source, field="sheet")
    if len(visible) > 1 and visible[0] is not wb.worksheets[0]:
        log.info("%s: first sheet hidden; reading %s", source, visible[0].title)
    return visible[0]


def _uncached_formula(raw: bytes, title: str, values_ws: object) -> str | None:
    """Cell reference of the first formula whose result was never saved (value ``None``)."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    try:
        for row in wb[title].iter_rows():
            for cell in row:
                v = cell.value
                if isinstance(v, str) and v.startswith("=") and getattr(cell, "row", None):
                    if values_ws.cell(row=cell.row, column=cell.column).value is None:
                        return f"{get_column_letter(cell.column)}{cell.row}"
    finally:
        wb.close()
    return None


def _read_table(data: bytes | None, path: Path | None, source: str, suffix: str,
                sheet: str | int | None) -> pd.DataFrame:
    raw = data if data is not None else Path(path).read_bytes()
    if suffix in (".csv", ".txt"):
        return _read_csv(raw, source)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:  # an .xlsx is a zip: refuse bombs first
            _check_zip(zf, source)
    except zipfile.BadZipFile as exc:
        msg = ("not a readable .xlsx workbook (not a zip container, or truncated); save it "
               "as .xlsx")
        raise InputError(msg, source=source) from exc
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(raw), read_only=False, data_only=True)
    except Exception as exc:
        msg = f"not a readable .xlsx workbook: {_short(exc)}"
        raise InputError(msg, source=source) from exc
    ws = _pick_sheet(wb, sheet, source)
    if ws.merged_cells.ranges:
        rng = next(iter(ws.merged_cells.ranges))
        msg = (f"merged cells at {rng.coord}; unmerge them and put one value per cell "
               "(one header row, one record per row)")
        raise InputError(msg, source=source, row=rng.min_row)
    rows = list(ws.iter_rows(values_only=True))
    if not rows:
        msg = "the sheet is empty"
        raise InputError(msg, source=source)
    if any(v is None for r in rows for v in r):
        ref = _uncached_formula(raw, ws.title, ws)
        if ref is not None:
            msg = (f"cell {ref} holds a formula whose result was never saved (the file was "
                   "not written by Excel); open and save it in Excel, or paste values")
            raise InputError(msg, source=source, row=int(re.sub(r"\D", "", ref)),
                             field=re.sub(r"\d", "", ref))
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    filled = frame.map(lambda v: v is not None and bool(str(v).strip()))
    # Unnamed columns with nothing in them are formatting leftovers; blank rows are dropped but
    # the index keeps each row's position so errors still name the spreadsheet row.
    keep = [i for i, h in enumerate(header) if h or filled.iloc[:, i].any()]
    frame = frame.iloc[filled.any(axis=1).to_numpy(), keep]
    if "" in frame.columns:
        letter = get_column_letter(keep[list(frame.columns).index("")] + 1)
        msg = f"column {letter} has values but no header; give it a name in row 1"
        raise InputError(msg, source=source, row=1, field=letter)
    return frame


def _points_from_table(df: pd.DataFrame, source: str, lon: str | None,
                       lat: str | None) -> gpd.GeoDataFrame:
    cols = {str(c).strip().lower(): c for c in df.columns}
    lon_col = lon or next((cols[n] for n in LON_NAMES if n in cols), None)
    lat_col = lat or next((cols[n] for n in LAT_NAMES if n in cols), None)
    if lon_col is None or lat_col is None:
        found = describe_columns(df.columns)
        msg = (f"no longitude/latitude columns; expected one of {', '.join(LON_NAMES)} and "
               f"{', '.join(LAT_NAMES)}; {found}")
        raise InputError(msg, source=source, field="lon" if lon_col is None else "lat")
    index = df.index
    rows = (np.asarray(index, dtype=np.int64) if pd.api.types.is_integer_dtype(index.dtype)
            else np.arange(len(df))) + 2
    xy = {}
    for col in (lon_col, lat_col):
        text = df[col].astype("string").str.strip().map(
            lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v,
            na_action="ignore").astype("string")
        num = pd.to_numeric(text, errors="coerce")
        bad = num.isna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            msg = f"got {df[col].iloc[pos]!r} but expected decimal degrees"
            raise InputError(msg, source=source, row=int(rows[pos]), field=str(col))
        xy[col] = num.to_numpy(dtype=float)
    x, y = xy[lon_col], xy[lat_col]
    bad = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        msg = f"({x[pos]}, {y[pos]}) is not a longitude/latitude pair"
        raise InputError(msg, source=source, row=int(rows[pos]), field=str(lon_col))
    # Within China longitude (73–135) always exceeds latitude (18–54): a swap is detectable.
    swapped = (x < y) & (y > 60)
    if swapped.any():
        pos = int(np.flatnonzero(swapped)[0])
        msg = (f"longitude {x[pos]} < latitude {y[pos]}: are the '{lon_col}' and '{lat_col}' "
               "columns swapped?")
        raise InputError(msg, source=source, row=int(rows[pos]), field=str(lon_col))
    rest = df.drop(columns=[lon_col, lat_col])
    return gpd.GeoDataFrame(rest, geometry=shapely.points(x, y), crs=crs_mod.WGS84)


@dataclass(frozen=True)
class ReadOptions:
    """Where a layer sits inside its file (for :func:`read_layer`); the defaults detect it.

    Attributes
    ----------
    layer : str, optional
        GeoPackage layer to read (required only when the file holds several).
    sheet : str or int, optional
        Excel sheet to read (name or 0-based position; default: the first visible sheet).
    lon, lat : str, optional
        Coordinate column names of a CSV/Excel point table (detected when omitted, e.g.
        ``lon``/``lng``/``经度`` and ``lat``/``纬度``).
    """

    layer: str | None = None
    sheet: str | int | None = None
    lon: str | None = None
    lat: str | None = None


def _open_source(file: str | Path | IO[bytes],
                 name: str | None) -> tuple[Path | None, bytes | None, str, str]:
    """Return ``(path, bytes, source label, suffix)`` of a path or an open file (upload)."""
    if isinstance(file, str | Path):
        path = Path(file)
        if not path.exists():
            msg = "file not found"
            raise InputError(msg, source=str(path))
        return path, None, name or path.name, path.suffix.lower()
    source = name or _name(getattr(file, "name", None))
    return None, file.read(), source, Path(source).suffix.lower()


def read_layer(
    file: str | Path | IO[bytes],
    schema: Schema | str,
    *,
    datum: str = "wgs84",
    name: str | None = None,
    rename: dict[str, str] | None = None,
    assign: dict[str, object] | None = None,
    options: ReadOptions | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate one layer from a file path or an uploaded file object.

    Parameters
    ----------
    file
        A path, or a binary file-like object (e.g. Streamlit's upload) with ``name``.
    schema
        ``"districts"``, ``"units"``, ``"facilities"`` or a :class:`~planning.data.model.Schema`.
    datum
        What the coordinates really are: ``"wgs84"`` (default), ``"gcj02"`` (Amap, Tencent)
        or ``"bd09"`` (Baidu). GeoJSON from Chinese web maps is GCJ-02 whatever its label says.
    name
        File name for messages and format detection when ``file`` is a stream.
    rename
        Map the file's column names to canonical ones, e.g. ``{"objectid": "unit_id"}``.
    assign
        Constant values for columns the file lacks, e.g. ``{"district": "东城区"}``.
    options
        GeoPackage layer, Excel sheet or coordinate columns to read, e.g.
        ``ReadOptions(sheet="站点", lon="东经", lat="北纬")`` (see :class:`ReadOptions`).

    Returns
    -------
    geopandas.GeoDataFrame
        Validated, in EPSG:4326.
    """
    where = options or ReadOptions()
    if isinstance(schema, str):
        schema = SCHEMAS[schema]
    path, data, source, suffix = _open_source(file, name)
    if suffix in VECTOR_SUFFIXES:
        gdf = _read_vector(data, path, source, suffix, where.layer)
        spreadsheet = False
    elif suffix in TABLE_SUFFIXES:
        if schema.geometry_types and "Point" not in schema.geometry_types:
            msg = (f"{schema.name} need polygons; a {suffix} table cannot carry them. "
                   "Use GeoJSON, GeoPackage or a zipped Shapefile")
            raise InputError(msg, source=source)
        table = _read_table(data, path, source, suffix, where.sheet)
        gdf = _points_from_table(table, source, where.lon, where.lat)
        spreadsheet = True
    else:
        allowed = ", ".join(VECTOR_SUFFIXES + TABLE_SUFFIXES)
        msg = f"unsupported file type {suffix or '(none)'}; expected one of {allowed}"
        raise InputError(msg, source=source)
    gdf = crs_mod.to_wgs84(gdf, datum=datum, source=source)
    if rename:
        gdf = gdf.rename(columns=rename)
    for col, value in (assign or {}).items():
        if col not in gdf.columns:
            gdf[col] = value
    return validate(gdf, schema, source=source, spreadsheet=spreadsheet)


def read_raw(
    file: str | Path | IO[bytes],
    *,
    name: str | None = None,
    layer: str | None = None,
    sheet: str | int | None = None,
    polygons: bool = False,
) -> tuple[gpd.GeoDataFrame, bool]:
    """Read a file as found: its own columns, its declared CRS, no datum shift, no validation.

    Used by the import mapping (:mod:`planning.data.mapping`), which renames columns, maps
    values and converts the datum before :func:`~planning.data.model.validate` runs.

    Parameters
    ----------
    file
        A path or a binary file-like object with ``name``.
    name
        File name for messages and format detection when ``file`` is a stream.
    layer, sheet
        GeoPackage layer / Excel sheet to read.
    polygons
        The layer needs polygons: refuse CSV/Excel tables, which cannot carry them.

    Returns
    -------
    tuple
        (GeoDataFrame, whether rows are numbered as in a spreadsheet).
    """
    path, data, source, suffix = _open_source(file, name)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(data, path, source, suffix, layer), False
    if suffix in TABLE_SUFFIXES:
        if polygons:
            msg = (f"this layer needs polygons; a {suffix} table cannot carry them. "
                   "Use GeoJSON, GeoPackage or a zipped Shapefile")
            raise InputError(msg, source=source)
        return _points_from_table(_read_table(data, path, source, suffix, sheet), source,
                                  None, None), True
    allowed = ", ".join(VECTOR_SUFFIXES + TABLE_SUFFIXES)
    msg = f"unsupported file type {suffix or '(none)'}; expected one of {allowed}"
    raise InputError(msg, source=source)


def load_dataset(
    districts: str | Path,
    units: str | Path,
    facilities: str | Path,
    *,
    name: str = "dataset",
    datum: str = "wgs84",
    mapping: str | Path | None = None,
    repair: bool = False,
) -> Dataset:
    """Read the three layers (each may be any supported format) into a validated Dataset.

    With ``mapping`` (a YAML file saved by the Data page, see :mod:`planning.data.mapping`) the
    files' own column names, category values and per-file datums are mapped first; ``repair``
    makes invalid polygons valid (reported) instead of refusing them.
    """
    if mapping is not None or repair:
        from planning.data import mapping as mapping_mod

        spec = mapping_mod.load_mapping(mapping) if mapping is not None else None
        files = {"districts": districts, "units": units, "facilities": facilities}
        return mapping_mod.import_files(files, spec, name=name, datum=datum,
                                        repair=repair).dataset
    d = read_layer(districts, "districts", datum=datum)
    u = read_layer(units, "units", datum=datum)
    f = read_layer(facilities, "facilities", datum=datum)
    return make_dataset(name, d, u, f, districts_source=_name(districts),
                        units_source=_name(units), facilities_source=_name(facilities))


def plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nullable pandas dtypes → plain numpy/object with ``None``, so GDAL writes real NULLs."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if isinstance(s.dtype, pd.StringDtype) or s.dtype == object:
            out[col] = s.astype(object).where(s.notna(), None)
        elif isinstance(s.dtype, pd.BooleanDtype):
            out[col] = s.astype(object).where(s.notna(), None)
        elif isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
            out[col] = s.astype("float64")
    return out


def write_gpkg(layers: dict[str, gpd.GeoDataFrame | pd.DataFrame], path: str | Path) -> Path:
    """Write several layers to one GeoPackage atomically (temp file, then rename).

    Non-spatial tables (e.g. findings) are written as attribute-only layers.
    """
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    for layer, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            plain_columns(frame).to_file(tmp, layer=layer, driver="GPKG")
        else:
            table = plain_columns(gpd.GeoDataFrame(frame, geometry=[None] * len(frame)))
            pyogrio.write_dataframe(pd.DataFrame(table.drop(columns="geometry")), tmp,
                                    layer=layer, driver="GPKG")
    tmp.replace(path)
    return path


def template_workbook(schema: Schema | str) -> bytes:
    """Build a blank Excel template with the expected columns (Chinese headers) and notes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from planning.data.model import FACILITY_KINDS, SERVICES, template_columns

    if isinstance(schema, str):
        schema = SCHEMAS[schema]
    wb = Workbook()
    ws = wb.active
    ws.title = schema.name
    ws.append(template_columns(schema))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    notes = wb.create_sheet("说明 notes")
    notes.append(["列 column", "字段 field", "必填 required", "说明 notes"])
    for f in schema.fields:
        hint = ""
        if f.name == "kind":
            hint = "; ".join(f"{v} ({k})" for k, v in FACILITY_KINDS.items())
        elif f.name == "services":
            hint = "、".join(SERVICES.values()) + " — separate with 、 or ;"
        elif f.minimum is not None:
            hint = f"{f.minimum:g} – {f.maximum:g}" if f.maximum is not None else ""
        notes.append([f.label_zh or f.name, f.name, "是 yes" if f.required else "", hint])
    if "Point" in schema.geometry_types:
        notes.append(["经度 / 纬度", "lon / lat", "是 yes",
                      "十进制度；高德/腾讯为GCJ-02，百度为BD-09，上传时选择坐标系"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read_points(file: str | Path | IO[bytes], *, datum: str = "wgs84",
                name: str | None = None) -> gpd.GeoDataFrame:
    """Read any point layer (e.g. candidate sites) without a schema.

    GeoJSON/GPKG/zipped SHP, or CSV/Excel with lon/lat columns. Returns EPSG:4326 points;
    polygons become inside points.
    """
    if isinstance(file, str | Path):
        path: Path | None = Path(file)
        data = None
        source = name or path.name
    else:
        path = None
        data = file.read()
        source = name or _name(getattr(file, "name", None))
    suffix = Path(source).suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        gdf = _read_vector(data, path, source, suffix, None)
    elif suffix in TABLE_SUFFIXES:
        gdf = _points_from_table(_read_table(data, path, source, suffix, None), source, None,
                                 None)
    else:
        allowed = ", ".join(VECTOR_SUFFIXES + TABLE_SUFFIXES)
        msg = f"unsupported file type {suffix or '(none)'}; expected one of {allowed}"
        raise InputError(msg, source=source)
    if len(gdf) == 0:
        msg = "the file has no features"
        raise InputError(msg, source=source)
    gdf = crs_mod.to_wgs84(gdf, datum=datum, source=source)
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if empty.any():
        msg = "the geometry is missing or empty"
        raise InputError(msg, source=source, row=int(np.flatnonzero(empty.to_numpy())[0]),
                         field="geometry")
    return gdf
