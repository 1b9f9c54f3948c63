"""Readers and writers: GeoJSON, GeoPackage, Shapefile (plain or zipped), CSV with lon/lat, Excel.

Every reader returns a validated table (see :mod:`planning.data.model`) in EPSG:4326, converting
GCJ-02 / BD-09 coordinates when told the data comes from Amap/Tencent/Baidu (``datum=``).
Every failure is one :class:`~planning.errors.InputError` naming file, row/feature and field.
Readers never modify anything already loaded: they return new objects or raise.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from openpyxl.utils import get_column_letter

from planning.data import crs as crs_mod
from planning.data.model import SCHEMAS, Dataset, Schema, make_dataset, validate
from planning.errors import InputError

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
MAX_ZIP_RATIO = 200  # uncompressed/compressed ratio above which a zip is refused
MAX_ZIP_BYTES = 2_000_000_000


def _name(path: str | Path | None, fallback: str = "upload") -> str:
    return Path(path).name if path else fallback


def _check_zip(zf: zipfile.ZipFile, source: str) -> None:
    total = sum(i.file_size for i in zf.infolist())
    packed = sum(max(i.compress_size, 1) for i in zf.infolist())
    if total > MAX_ZIP_BYTES or total / packed > MAX_ZIP_RATIO:
        msg = (f"the archive would expand to {total:,} bytes from {packed:,} "
               "(possible zip bomb); refusing to open it")
        raise InputError(msg, source=source)


def _read_zip_shapefile(data: bytes, source: str) -> gpd.GeoDataFrame:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _check_zip(zf, source)
        names = zf.namelist()
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) != 1:
            msg = f"expected exactly one .shp in the zip, found {len(shps)}: {', '.join(names)}"
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
    try:
        return _read_vsi(data, shps[0])
    except InputError:
        raise
    except Exception as exc:  # GDAL errors come in many types
        msg = f"could not read the shapefile: {exc}"
        raise InputError(msg, source=source) from exc


def _read_vsi(data: bytes, inner: str) -> gpd.GeoDataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / "upload.zip"
        zpath.write_bytes(data)
        return gpd.read_file(f"zip://{zpath}!{inner}")


def _read_vector(data: bytes | None, path: Path | None, source: str, suffix: str,
                 layer: str | None) -> gpd.GeoDataFrame:
    if suffix == ".zip":
        raw = data if data is not None else Path(path).read_bytes()
        return _read_zip_shapefile(raw, source)
    if suffix in (".geojson", ".json"):
        raw = data if data is not None else Path(path).read_bytes()
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            msg = "GeoJSON must be UTF-8 encoded"
            raise InputError(msg, source=source) from exc
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            raise InputError(msg, source=source) from exc
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            msg = "expected a GeoJSON FeatureCollection"
            raise InputError(msg, source=source, field="type")
        feats = doc.get("features") or []
        for i, feat in enumerate(feats):
            if not isinstance(feat, dict) or feat.get("geometry") is None:
                msg = "feature has no geometry"
                raise InputError(msg, source=source, row=i, field="geometry")
        try:
            gdf = gpd.GeoDataFrame.from_features(feats, crs=crs_mod.WGS84)
        except Exception as exc:
            msg = f"could not parse the features: {exc}"
            raise InputError(msg, source=source, field="geometry") from exc
        declared = (doc.get("crs") or {}).get("properties", {}).get("name")
        if declared and "CRS84" not in declared and "4326" not in declared:
            try:
                gdf = gdf.set_crs(declared, allow_override=True)
            except Exception as exc:
                msg = f"unknown coordinate system {declared!r}"
                raise InputError(msg, source=source, field="crs") from exc
        return gdf
    try:
        target = path if data is None else io.BytesIO(data)
        return gpd.read_file(target, layer=layer) if layer else gpd.read_file(target)
    except Exception as exc:
        msg = f"could not read the file: {exc}"
        raise InputError(msg, source=source) from exc


def _read_table(data: bytes | None, path: Path | None, source: str, suffix: str,
                sheet: str | int | None) -> pd.DataFrame:
    raw = data if data is not None else Path(path).read_bytes()
    if suffix in (".csv", ".txt"):
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes nearly anything
            msg = "could not decode the CSV (tried UTF-8 and GBK/GB18030)"
            raise InputError(msg, source=source)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                na_values=[""], skip_blank_lines=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            msg = f"malformed CSV: {exc}"
            raise InputError(msg, source=source) from exc
        # Blank lines are dropped but the index keeps each record's position, so errors name the
        # row a spreadsheet shows (see planning.data.model.validate).
        return frame[frame.notna().any(axis=1)]
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:  # an .xlsx is a zip: refuse bombs first
            _check_zip(zf, source)
    except zipfile.BadZipFile as exc:
        msg = "not a readable .xlsx workbook (not a zip container); save it as .xlsx"
        raise InputError(msg, source=source) from exc
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(raw), read_only=False, data_only=True)
    except Exception as exc:
        msg = f"not a readable .xlsx workbook: {exc}"
        raise InputError(msg, source=source) from exc
    ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
    if ws.merged_cells.ranges:
        rng = next(iter(ws.merged_cells.ranges))
        msg = (f"merged cells at {rng.coord}; unmerge them and put one value per cell "
               "(one header row, one record per row)")
        raise InputError(msg, source=source, row=rng.min_row)
    rows = list(ws.iter_rows(values_only=True))
    if not rows:
        msg = "the sheet is empty"
        raise InputError(msg, source=source)
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
        msg = (f"no longitude/latitude columns; expected one of {', '.join(LON_NAMES)} and "
               f"{', '.join(LAT_NAMES)}")
        raise InputError(msg, source=source, field="lon" if lon_col is None else "lat")
    index = df.index
    rows = (np.asarray(index, dtype=np.int64) if pd.api.types.is_integer_dtype(index.dtype)
            else np.arange(len(df))) + 2
    xy = {}
    for col in (lon_col, lat_col):
        text = df[col].astype("string").str.strip()
        num = pd.to_numeric(text, errors="coerce")
        bad = num.isna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            msg = f"got {df[col].iloc[pos]!r} but expected decimal degrees"
            raise InputError(msg, source=source, row=int(rows[pos]), field=str(col))
        xy[col] = num.to_numpy(dtype=float)
    x, y = xy[lon_col], xy[lat_col]
    bad = (np.abs(x) > 180) | (np.abs(y) > 90)
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


def read_layer(
    file: str | Path | IO[bytes],
    schema: Schema | str,
    *,
    datum: str = "wgs84",
    name: str | None = None,
    layer: str | None = None,
    sheet: str | int | None = None,
    lon: str | None = None,
    lat: str | None = None,
    rename: dict[str, str] | None = None,
    assign: dict[str, object] | None = None,
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
    layer, sheet
        GeoPackage layer / Excel sheet to read.
    lon, lat
        Coordinate column names for CSV/Excel point tables (detected when omitted).
    rename
        Map the file's column names to canonical ones, e.g. ``{"objectid": "unit_id"}``.
    assign
        Constant values for columns the file lacks, e.g. ``{"district": "东城区"}``.

    Returns
    -------
    geopandas.GeoDataFrame
        Validated, in EPSG:4326.
    """
    if isinstance(schema, str):
        schema = SCHEMAS[schema]
    if isinstance(file, str | Path):
        path: Path | None = Path(file)
        data = None
        source = name or path.name
        if not path.exists():
            msg = "file not found"
            raise InputError(msg, source=str(path))
    else:
        path = None
        data = file.read()
        source = name or _name(getattr(file, "name", None))
    suffix = Path(source).suffix.lower() if path is None else path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        gdf = _read_vector(data, path, source, suffix, layer)
        spreadsheet = False
    elif suffix in TABLE_SUFFIXES:
        if schema.geometry_types and "Point" not in schema.geometry_types:
            msg = (f"{schema.name} need polygons; a {suffix} table cannot carry them. "
                   "Use GeoJSON, GeoPackage or a zipped Shapefile")
            raise InputError(msg, source=source)
        table = _read_table(data, path, source, suffix, sheet)
        gdf = _points_from_table(table, source, lon, lat)
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
    if isinstance(file, str | Path):
        path: Path | None = Path(file)
        data = None
        source = name or path.name
        if not path.exists():
            msg = "file not found"
            raise InputError(msg, source=str(path))
    else:
        path = None
        data = file.read()
        source = name or _name(getattr(file, "name", None))
    suffix = Path(source).suffix.lower() if path is None else path.suffix.lower()
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
    """A blank Excel template with the expected columns (Chinese headers) and a notes sheet."""
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
    """Read any point layer (e.g. candidate sites) without a schema: GeoJSON/GPKG/zipped SHP,
    or CSV/Excel with lon/lat columns. Returns EPSG:4326 points; polygons become inside points."""
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
