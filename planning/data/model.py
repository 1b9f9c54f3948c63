"""The validated data model: schemas of districts, townships and facilities, checked at the edge.

Every table that enters the engine passes :func:`validate` once. It coerces types, renames the
Chinese/English header aliases to canonical names, and refuses the whole table with one
:class:`~planning.errors.InputError` naming the file, the row/feature and the field when anything is
wrong. Code behind this edge trusts its inputs.

Canonical tables (all geometries in EPSG:4326):

``districts``
    ``district_id`` (str, admin code), ``name``, ``zone`` (functional zone, see :data:`ZONES`),
    ``population`` (residents), geometry (Polygon/MultiPolygon).
``units`` (streets/townships, 街道/乡镇)
    ``unit_id``, ``name``, ``district`` (district name), ``zone``, ``population``, optional
    ``patients`` (registered home patients, aggregated), ``patients_served`` (of whom receive
    community rehab), ``eligible`` (eligible for station services), geometry.
``facilities``
    ``facility_id``, ``name``, ``kind`` (see :data:`FACILITY_KINDS`), ``district``, ``unit_id``,
    ``floor_area_m2``, ``outdoor_area_m2``, ``beds``, ``staff``, ``social_workers``,
    ``psychiatrists``, ``mental_health_workers``, ``clients``, ``services`` (``;``-separated codes
    from :data:`SERVICES`), ``opening_year``, ``barrier_free``, geometry (Point).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.errors import InputError

#: Beijing's four functional zones (北京城市总体规划); other cities may leave ``zone`` empty.
ZONES: dict[str, str] = {
    "core": "首都功能核心区",
    "expansion": "城市功能拓展区",
    "new_development": "城市发展新区",
    "ecological": "生态涵养区",
}

#: Facility kinds and their Chinese names.
FACILITY_KINDS: dict[str, str] = {
    "rehab_station": "社区康复驿站",
    "halfway_house": "中途康复站",
    "welfare_institution": "精神卫生社会福利机构",
    "psychiatric_hospital": "精神专科医院",
    "general_hospital": "综合医院",
    "township_health_centre": "乡镇卫生院/社区卫生服务中心",
    "rehab_centre": "精神障碍社区康复服务中心",
    "guidance_centre": "精神障碍社区康复服务指导中心",
    "assessment_centre": "精神障碍综合服务评估中心",
    "training_base": "社区康复服务培训基地",
    "compulsory_treatment_zone": "强制医疗专区",
    "mental_health_room": "心理健康工作室",
    "chronic_disease_hospital": "慢性病医院",
}
#: Older or alternative Chinese names accepted for a facility kind.
KIND_ALIASES: dict[str, str] = {"县级精康中心": "rehab_centre", "精康中心": "rehab_centre",
                                "指导中心": "guidance_centre", "评估中心": "assessment_centre"}
#: Hospital ownership (公立/民营).
OWNERSHIP: dict[str, str] = {"public": "公立", "private": "民营"}

#: The six basic rehabilitation services of Beijing 2018 §二(三)13.
SERVICES: dict[str, str] = {
    "medication": "服药训练",
    "daily_living": "生活技能训练",
    "social_skills": "社交技能训练",
    "vocational": "职业能力训练",
    "safety": "安全防护技能训练",
    "family": "家庭康复指导",
}


@dataclass(frozen=True)
class Field:
    """One column of a schema.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``enum``, ``services``.
    """

    name: str
    kind: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    label_zh: str = ""
    unique: bool = False


@dataclass(frozen=True)
class Schema:
    """A table schema: fields plus the geometry types it accepts."""

    name: str
    fields: tuple[Field, ...]
    geometry_types: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Field names, in schema order."""
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        """Look up the field called ``name``.

        Raises
        ------
        KeyError
            If the schema has no such field.
        """
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


_POLY = ("Polygon", "MultiPolygon")

DISTRICT_SCHEMA = Schema(
    "districts",
    (
        Field("district_id", "str", required=True, unique=True, aliases=("code", "区划代码", "gb"),
              label_zh="区划代码"),
        Field("name", "str", required=True, unique=True, aliases=("区", "区名", "名称"),
              label_zh="区名"),
        Field("zone", "enum", choices=tuple(ZONES), aliases=("功能区",), label_zh="功能区"),
        Field("population", "int", minimum=0, maximum=5e7, aliases=("常住人口", "人口"),
              label_zh="常住人口"),
    ),
    _POLY,
)

UNIT_SCHEMA = Schema(
    "units",
    (
        Field("unit_id", "str", required=True, unique=True, aliases=("code", "街乡代码", "代码"),
              label_zh="街乡代码"),
        Field("name", "str", required=True, aliases=("街道", "街乡", "名称", "街道名称"),
              label_zh="街道/乡镇"),
        Field("district", "str", required=True, aliases=("区", "所属区"), label_zh="所属区"),
        Field("zone", "enum", choices=tuple(ZONES), aliases=("功能区",), label_zh="功能区"),
        Field("population", "int", minimum=0, maximum=5e6, aliases=("常住人口", "人口"),
              label_zh="常住人口"),
        Field("patients", "int", minimum=0, maximum=1e6, aliases=("居家患者数", "在册患者数"),
              label_zh="居家患者数"),
        Field("patients_served", "int", minimum=0, maximum=1e6,
              aliases=("接受社区康复人数",), label_zh="接受社区康复人数"),
        Field("eligible", "int", minimum=0, maximum=1e6, aliases=("符合条件人数",),
              label_zh="符合驿站服务条件人数"),
        Field("purchased_service", "bool", aliases=("购买服务", "委托社会组织开展康复"),
              label_zh="通过购买服务委托社会组织开展康复"),
    ),
    _POLY,
)

FACILITY_SCHEMA = Schema(
    "facilities",
    (
        Field("facility_id", "str", required=True, unique=True, aliases=("id", "编号", "机构编号"),
              label_zh="机构编号"),
        Field("name", "str", required=True, aliases=("名称", "机构名称"), label_zh="机构名称"),
        Field("kind", "enum", required=True, choices=tuple(FACILITY_KINDS),
              aliases=("type", "类型", "机构类型"), label_zh="机构类型"),
        Field("district", "str", aliases=("区", "所属区"), label_zh="所属区"),
        Field("unit_id", "str", aliases=("街乡代码",), label_zh="所在街乡代码"),
        Field("floor_area_m2", "float", minimum=0, maximum=1e5,
              aliases=("建筑面积", "面积", "建筑面积(m2)", "建筑面积（平方米）"),
              label_zh="建筑面积(m²)"),
        Field("outdoor_area_m2", "float", minimum=0, maximum=1e6,
              aliases=("户外面积", "户外活动场地面积"), label_zh="户外活动场地(m²)"),
        Field("beds", "int", minimum=0, maximum=20000, aliases=("床位", "床位数"),
              label_zh="床位数"),
        Field("staff", "int", minimum=0, maximum=10000, aliases=("服务人员", "工作人员数"),
              label_zh="服务人员数"),
        Field("social_workers", "int", minimum=0, maximum=1000,
              aliases=("社工", "专业社工数", "社会工作者"), label_zh="专业社工数"),
        Field("psychiatrists", "int", minimum=0, maximum=5000, aliases=("精神科医师数",),
              label_zh="精神科医师数"),
        Field("mental_health_workers", "int", minimum=0, maximum=1000,
              aliases=("专职精防人员数",), label_zh="专职精防人员数"),
        Field("clients", "int", minimum=0, maximum=10000, aliases=("服务对象数", "在站人数"),
              label_zh="服务对象数"),
        Field("services", "services", aliases=("服务项目",), label_zh="服务项目"),
        Field("opening_year", "int", minimum=1900, maximum=2100, aliases=("开办年份", "建成年份"),
              label_zh="开办年份"),
        Field("barrier_free", "bool", aliases=("无障碍设施",), label_zh="无障碍设施"),
        Field("ownership", "enum", choices=tuple(OWNERSHIP), aliases=("所有制", "公立/民营"),
              label_zh="公立/民营"),
        Field("grade", "int", minimum=1, maximum=3, aliases=("医院等级", "等级"),
              label_zh="医院等级(1–3级)"),
        Field("psychiatric_ward", "bool", aliases=("精神科住院病区",), label_zh="精神科住院病区"),
        Field("psychiatric_clinic", "bool", aliases=("精神(心理)科门诊", "精神科门诊"),
              label_zh="精神(心理)科门诊"),
        Field("staff_qualified", "int", minimum=0, maximum=10000,
              aliases=("持证或岗前培训人数",), label_zh="持证或经岗前培训的服务人员数"),
        Field("max_risk_level", "int", minimum=0, maximum=5, aliases=("接收最高危险性等级",),
              label_zh="接收对象最高危险性等级"),
        Field("max_stay_days", "int", minimum=0, maximum=3650, aliases=("最长托养天数",),
              label_zh="最长托养天数"),
    ),
    ("Point",),
)

SCHEMAS: dict[str, Schema] = {s.name: s for s in (DISTRICT_SCHEMA, UNIT_SCHEMA, FACILITY_SCHEMA)}

_TRUE = {"true", "1", "yes", "y", "是", "有", "t"}
_FALSE = {"false", "0", "no", "n", "否", "无", "f"}


_DIGIT_RUN = re.compile(r"\d{4,}")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.年]\d{1,2}([-/.月]\d{1,2})?")


def header_like(name: object) -> bool:
    """Tell whether ``name`` looks like a column header rather than a cell value.

    Values that became column names (a file saved without its header row) are long, hold runs of
    digits (ids, phone numbers, house numbers), dates or numbers; headers do not.

    Parameters
    ----------
    name : object
        A column name as read.

    Returns
    -------
    bool
    """
    text = unicodedata.normalize("NFKC", str(name)).strip()
    if not text or len(text) > 24 or "@" in text:
        return False
    if _DIGIT_RUN.search(text) or _DATE_LIKE.match(text):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def describe_columns(columns: Iterable[object], *, limit: int = 30) -> str:
    """Describe the columns found for an error message without echoing cell values.

    If any name looks like a value (see :func:`header_like`), the header row is probably
    missing and no name is shown at all: the first data row must never reach a message.

    Parameters
    ----------
    columns : iterable
        Column names as read (``geometry`` is skipped).
    limit : int
        At most this many names are listed.

    Returns
    -------
    str
        A clause such as ``"found: 名称, 类型"``.
    """
    names = [str(c) for c in columns if str(c) != "geometry"]
    if not names:
        return "found no columns"
    if not all(header_like(n) for n in names):
        return (f"found {len(names)} column(s) whose names look like data values (not shown): "
                "is the header row missing? Put one header row above the records")
    shown = ", ".join(names[:limit])
    more = f" … (+{len(names) - limit} more)" if len(names) > limit else ""
    return f"found: {shown}{more}"


def _row_numbers(data: pd.DataFrame, *, spreadsheet: bool) -> np.ndarray:
    """Row number a user can find for each position of ``data``.

    Features are numbered 0, 1, 2 … For spreadsheets the header is row 1; a reader that skipped
    blank rows keeps the body position (0-based, blanks included) in an integer index, so the
    numbers still match what the spreadsheet shows.
    """
    n = len(data)
    if not spreadsheet:
        return np.arange(n)
    index = data.index
    if pd.api.types.is_integer_dtype(index.dtype) and index.is_unique:
        return np.asarray(index, dtype=np.int64) + 2
    return np.arange(n) + 2


def _row_label(rows: np.ndarray, pos: int) -> int:
    return int(rows[pos])


def _rename_aliases(df: pd.DataFrame, schema: Schema, source: str) -> pd.DataFrame:
    mapping: dict[str, str] = {}
    present = {str(c).strip(): c for c in df.columns}
    for f in schema.fields:
        if f.name in present:
            mapping[present[f.name]] = f.name
            continue
        for alias in (*f.aliases, f.label_zh):
            if alias and alias in present and present[alias] not in mapping:
                mapping[present[alias]] = f.name
                break
    dupes = pd.Series(list(mapping.values())).duplicated()
    if dupes.any():
        name = pd.Series(list(mapping.values()))[dupes].iloc[0]
        msg = f"two columns both map to '{name}'; keep only one of them"
        raise InputError(msg, source=source, field=name)
    return df.rename(columns=mapping)


#: Characters never meant to be in a name or an id: C0/C1 controls (NUL included), zero-width
#: spaces and joiners, word joiner, BOM, soft hyphen.
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f"
                       "\u2060-\u2064\ufeff]")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def normalise_text(value: object) -> object:
    """Return text in NFKC form (full-width ``Ｆ００１`` → ``F001``) without invisible characters.

    Parameters
    ----------
    value : object
        A cell; anything but a string is returned unchanged.

    Returns
    -------
    object
    """
    if not isinstance(value, str):
        return value
    return strip_invisible(unicodedata.normalize("NFKC", value))


def strip_invisible(value: object) -> object:
    """Return text without invisible characters (zero-width, NUL) and outer spaces.

    Parameters
    ----------
    value : object
        A cell; anything but a string is returned unchanged.

    Returns
    -------
    object
    """
    if not isinstance(value, str):
        return value
    return INVISIBLE.sub("", value).strip()


def _coerce(
    df: pd.DataFrame, f: Field, source: str, *, rows: np.ndarray
) -> pd.Series:
    s = df[f.name]
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        # ids, codes and numbers: NFKC (Ｆ００１ → F001); names keep their own (full-width)
        # punctuation and only lose invisible characters and NULs
        folds = f.kind != "str" or f.name.endswith("_id") or f.name in ("kind", "zone")
        s = s.map(normalise_text if folds else strip_invisible, na_action="ignore")
    missing = s.isna() | (s.astype("string").str.strip() == "")

    def fail(pos: int, why: str) -> InputError:
        raw = df[f.name].iloc[pos]
        label = f"{f.label_zh} / {f.name}" if f.label_zh else f.name
        msg = f"got {raw!r} but {why} (column '{label}')"
        return InputError(msg, source=source, row=_row_label(rows, pos), field=f.name)

    if f.required and missing.any():
        pos = int(np.flatnonzero(missing.to_numpy())[0])
        raise fail(pos, "a value is required")

    if f.kind == "str":
        out = s.astype("string").str.strip()
        out[missing.to_numpy()] = pd.NA
    elif f.kind in ("int", "float"):
        text = s.astype("string").str.strip()
        thousands = text.str.fullmatch(_THOUSANDS.pattern).fillna(False).astype(bool)
        comma = text.str.fullmatch(_DECIMAL_COMMA.pattern).fillna(False).astype(bool) & ~thousands
        if comma.any():
            raise fail(int(np.flatnonzero(comma.to_numpy())[0]),
                       "a comma inside a number is ambiguous (decimal comma or thousands?); "
                       "write 80.5 or 805")
        text = text.where(~thousands, text.str.replace(",", "", regex=False))
        num = pd.to_numeric(text, errors="coerce").astype("Float64")
        # Plain floats with NaN for the checks: comparisons on nullable NA would give NA.
        vals = num.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(vals) & ~missing.to_numpy(dtype=bool)
        if bad.any():
            unit = " of m²" if f.name.endswith("_m2") else ""
            raise fail(int(np.flatnonzero(bad)[0]), f"expected a number{unit}")
        if f.kind == "int":
            with np.errstate(invalid="ignore"):
                frac = np.abs(vals - np.round(vals)) > 1e-9
            if frac.any():
                raise fail(int(np.flatnonzero(frac)[0]), "expected a whole number")
        if f.minimum is not None:
            low = vals < f.minimum
            if low.any():
                raise fail(int(np.flatnonzero(low)[0]), f"expected ≥ {f.minimum:g}")
        if f.maximum is not None:
            high = vals > f.maximum
            if high.any():
                raise fail(int(np.flatnonzero(high)[0]),
                           f"expected ≤ {f.maximum:g}; is the unit right?")
        out = num.astype("Int64") if f.kind == "int" else num.astype("Float64")
    elif f.kind == "bool":
        text = s.astype("string").str.strip().str.lower()
        true = text.isin(_TRUE).fillna(False).astype(bool)
        false = text.isin(_FALSE).fillna(False).astype(bool)
        if s.dtype == bool:
            out = s.astype("boolean")
        else:
            bad = ~(true | false) & ~missing
            if bad.any():
                raise fail(int(np.flatnonzero(bad.to_numpy())[0]),
                           "expected yes/no (是/否, true/false, 1/0)")
            out = pd.Series(pd.NA, index=s.index, dtype="boolean")
            out[true.to_numpy()] = True
            out[false.to_numpy()] = False
    elif f.kind == "enum":
        zh_to_code = {}
        if f.name == "kind":
            zh_to_code = {**KIND_ALIASES, **{v: k for k, v in FACILITY_KINDS.items()}}
        elif f.name == "ownership":
            zh_to_code = {"公立": "public", "公办": "public", "民营": "private",
                          "私立": "private", "民办": "private"}
        elif f.name == "zone":
            zh_to_code = {v: k for k, v in ZONES.items()}
        text = s.astype("string").str.strip()
        text = text.map(lambda v: zh_to_code.get(v, v) if isinstance(v, str) else v).astype(
            "string")  # an all-empty column maps to a null-typed array; keep it text
        bad = ~text.isin(f.choices).fillna(False).astype(bool) & ~missing
        if bad.any():
            raise fail(int(np.flatnonzero(bad.to_numpy())[0]),
                       f"expected one of {', '.join(f.choices)}")
        out = text.astype("string")
        out[missing.to_numpy()] = pd.NA
    elif f.kind == "services":
        zh_to_code = {v: k for k, v in SERVICES.items()}
        parts = s.astype("string").fillna("").str.replace("；", ";").str.replace("、", ";")
        parts = parts.str.replace(",", ";").str.replace("，", ";")

        def norm(v: str) -> str:
            items = [i.strip() for i in v.split(";") if i.strip()]
            return ";".join(sorted({zh_to_code.get(i, i) for i in items}))

        out = parts.map(norm).astype("string")
        unknown = out.map(lambda v: any(i not in SERVICES for i in v.split(";") if i))
        if unknown.any():
            raise fail(int(np.flatnonzero(unknown.to_numpy())[0]),
                       f"expected services from {', '.join(SERVICES)} separated by ';'")
        out[missing.to_numpy()] = pd.NA
    else:  # pragma: no cover - schema typo
        msg = f"unknown field kind {f.kind}"
        raise AssertionError(msg)

    if f.unique:
        dup = out.duplicated(keep="first") & out.notna()
        if dup.any():
            pos = int(np.flatnonzero(dup.to_numpy())[0])
            first = int(np.flatnonzero((out == out.iloc[pos]).fillna(False).to_numpy())[0])
            msg = (f"duplicate id {out.iloc[pos]!r} (first seen at row "
                   f"{_row_label(rows, first)}); ids must be unique")
            raise InputError(msg, source=source, row=_row_label(rows, pos), field=f.name)
    return out


def _check_geometry(gdf: gpd.GeoDataFrame, schema: Schema, source: str) -> gpd.GeoSeries:
    geom = gdf.geometry
    arr = np.asarray(geom.values)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        msg = "the geometry is missing or empty"
        raise InputError(msg, source=source, row=pos, field="geometry")
    types = shapely.get_type_id(arr)
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                      "MultiLineString", "MultiPolygon", "GeometryCollection"])[types]
    bad = ~np.isin(names, schema.geometry_types)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        msg = f"got a {names[pos]} but expected {' or '.join(schema.geometry_types)}"
        raise InputError(msg, source=source, row=pos, field="geometry")
    invalid = ~shapely.is_valid(arr)
    if invalid.any():
        pos = int(np.flatnonzero(invalid)[0])
        why = shapely.is_valid_reason(arr[pos])
        msg = (f"invalid geometry ({why}); repair it (e.g. QGIS 'Fix geometries' or "
               "shapely.make_valid) and load again")
        raise InputError(msg, source=source, row=pos, field="geometry")
    if gdf.crs is None:
        msg = "no coordinate reference system; declare one (EPSG:4326 for lon/lat)"
        raise InputError(msg, source=source, field="crs")
    if not gdf.crs.is_geographic or gdf.crs.to_epsg() not in (4326, 4490):
        msg = f"expected lon/lat in EPSG:4326 after reading, got {gdf.crs.to_string()}"
        raise InputError(msg, source=source, field="crs")
    bounds = shapely.bounds(arr)
    outside = ((bounds[:, 0] < -180) | (bounds[:, 2] > 180)
               | (bounds[:, 1] < -90) | (bounds[:, 3] > 90))
    if outside.any():
        pos = int(np.flatnonzero(outside)[0])
        msg = ("coordinates outside lon/lat range; are longitude and latitude swapped, or is "
               "the data projected without a .prj?")
        raise InputError(msg, source=source, row=pos, field="geometry")
    return geom


def validate(
    data: pd.DataFrame | gpd.GeoDataFrame,
    schema: Schema | str,
    *,
    source: str = "data",
    spreadsheet: bool = False,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Validate ``data`` against ``schema`` and return a clean copy with canonical columns.

    Parameters
    ----------
    data
        The table as read. GeoDataFrames must already be in lon/lat (see :mod:`planning.data.crs`).
    schema
        A :class:`Schema` or one of ``"districts"``, ``"units"``, ``"facilities"``.
    source
        Name of the file, used in error messages.
    spreadsheet
        Number rows as a spreadsheet does (header = row 1) rather than as features (0-based).

    Returns
    -------
    A new (Geo)DataFrame: canonical columns in schema order, typed, extra columns kept after them.

    Raises
    ------
    InputError
        On the first problem, naming source, row/feature and field. Nothing is modified.
    """
    if isinstance(schema, str):
        schema = SCHEMAS[schema]
    rows = _row_numbers(data, spreadsheet=spreadsheet)
    df = _rename_aliases(data.copy(), schema, source)
    df = df.reset_index(drop=True)
    repeated = df.columns[df.columns.duplicated()]
    if len(repeated):
        msg = f"two columns are both called '{repeated[0]}'; keep only one of them"
        raise InputError(msg, source=source, field=str(repeated[0]))
    missing_cols = [f.name for f in schema.fields if f.required and f.name not in df.columns]
    if missing_cols:
        hint = ", ".join(
            f"'{n}'" + (f" ({schema.field(n).label_zh})" if schema.field(n).label_zh else "")
            for n in missing_cols
        )
        msg = f"missing required column(s) {hint}; {describe_columns(df.columns)}"
        raise InputError(msg, source=source, field=missing_cols[0])
    if len(df) == 0:
        msg = f"the file has no rows; expected {schema.name}"
        raise InputError(msg, source=source)
    out = {}
    for f in schema.fields:
        if f.name in df.columns:
            out[f.name] = _coerce(df, f, source, rows=rows)
        else:
            dtype = {"int": "Int64", "float": "Float64", "bool": "boolean"}.get(f.kind, "string")
            out[f.name] = pd.Series(pd.NA, index=df.index, dtype=dtype)
    known = set(schema.columns) | {"geometry"}
    extras = [c for c in df.columns if c not in known]
    result = pd.DataFrame(out, index=df.index)
    for c in extras:
        result[c] = df[c]
    if isinstance(data, gpd.GeoDataFrame) and schema.geometry_types:
        geom = _check_geometry(gpd.GeoDataFrame(df, geometry=data.geometry.name
                                                if data.geometry.name in df.columns
                                                else "geometry", crs=data.crs),
                               schema, source)
        return gpd.GeoDataFrame(result, geometry=geom.values, crs="EPSG:4326")
    return result


def template_columns(schema: Schema | str, *, points: bool = True) -> list[str]:
    """Header row for a blank template: Chinese labels (the readers accept them), then lon/lat."""
    if isinstance(schema, str):
        schema = SCHEMAS[schema]
    cols = [f.label_zh or f.name for f in schema.fields]
    return [*cols, "经度", "纬度"] if points and "Point" in schema.geometry_types else cols


def services_list(value: object) -> list[str]:
    """Split a canonical ``services`` cell into codes."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    return [s for s in str(value).split(";") if s]


@dataclass(frozen=True)
class Dataset:
    """A validated planning dataset: districts, townships and facilities.

    Attributes
    ----------
    name
        Human label, e.g. ``"Beijing demo"``.
    districts, units, facilities
        Validated GeoDataFrames (see module docstring).
    synthetic
        Which layers (or columns) are synthetic, e.g. ``("units", "facilities", "units.patients")``;
        empty for wholly real data. Shown in the UI and written to every export.
    sources
        Free-text provenance lines (one per layer or fact).
    data_date
        Date or year the data describes, for map footers.
    """

    name: str
    districts: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    synthetic: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    data_date: str = ""

    @property
    def is_synthetic(self) -> bool:
        """Whether any layer is synthetic (see :attr:`synthetic_note`)."""
        return bool(self.synthetic)

    @cached_property
    def token(self) -> str:
        """A content hash identifying this dataset (for caches keyed by data, not identity)."""
        h = hashlib.sha1(self.name.encode("utf-8"))
        for layer in (self.districts, self.units, self.facilities):
            attrs = layer.drop(columns=layer.geometry.name)
            h.update(pd.util.hash_pandas_object(attrs.astype(str), index=False).to_numpy())
            h.update(b"".join(shapely.to_wkb(np.asarray(layer.geometry.values))))
        return h.hexdigest()[:16]

    @property
    def synthetic_note(self) -> str | None:
        """Return the provenance of the synthetic layers, or ``None`` for wholly real data."""
        if not self.synthetic:
            return None
        lines = [s for s in self.sources if "synthetic" in s.lower()]
        return "；".join(lines) or f"synthetic: {', '.join(self.synthetic)}"

    def copy(self) -> Dataset:
        """Copy the dataset so its layers can be changed without touching this one (token kept).

        Cached datasets are shared by every browser session of the one Streamlit process;
        callers get a copy so no session can change what another sees.
        """
        out = Dataset(name=self.name, districts=self.districts.copy(), units=self.units.copy(),
                      facilities=self.facilities.copy(), synthetic=self.synthetic,
                      sources=self.sources, data_date=self.data_date)
        if "token" in self.__dict__:
            out.__dict__["token"] = self.__dict__["token"]
        return out

    def stations(self) -> gpd.GeoDataFrame:
        """Community rehab stations (康复驿站) only."""
        return self.facilities[self.facilities["kind"] == "rehab_station"]

    def district_names(self) -> list[str]:
        """List the district names, in layer order."""
        return list(self.districts["name"])

    def subset(self, districts: Iterable[str]) -> Dataset:
        """Restrict the dataset to some districts (by name)."""
        keep = set(districts)
        return Dataset(
            name=self.name,
            districts=self.districts[self.districts["name"].isin(keep)],
            units=self.units[self.units["district"].isin(keep)],
            facilities=self.facilities[self.facilities["district"].isin(keep)],
            synthetic=self.synthetic,
            sources=self.sources,
            data_date=self.data_date,
        )


def assign_units(facilities: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``unit_id`` and ``district`` of facilities from the township polygon containing them.

    Values already present are kept; facilities outside every township keep ``<NA>``.
    """
    found = units_of_points(facilities, units, columns=("unit_id", "district"))
    out = facilities.copy()
    for col in ("unit_id", "district"):
        out[col] = out[col].astype("string").fillna(found[col])
    return out


def units_of_points(
    points: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    columns: tuple[str, ...] = ("unit_id",),
) -> pd.DataFrame:
    """Attributes (``columns``) of the township polygon containing each point.

    Indexed like ``points``; ``<NA>`` outside every township; the first match on shared borders.
    """
    geom = units.geometry.name
    joined = gpd.sjoin(
        points[[points.geometry.name]],
        units[[*columns, geom]].to_crs(points.crs),
        how="left", predicate="within",
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return pd.DataFrame({c: joined[c].astype("string").reindex(points.index) for c in columns})


#: How far (degrees, ~50 km) a township or facility may lie outside the districts' extent.
EXTENT_MARGIN_DEG = 0.5


def check_extent(layer: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *,
                 source: str = "data") -> None:
    """Refuse features far outside the districts' extent: a wrong CRS, datum or city.

    Points in Paris or Shanghai in a Beijing dataset, UTM zone 50 data labelled zone 51
    (shifted ~600 km east) or swapped coordinates all land hundreds of kilometres from the
    district boundaries. The check is coarse (bounding box plus :data:`EXTENT_MARGIN_DEG`);
    finer cross-layer consistency is :mod:`planning.data.consistency`'s.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        Validated townships or facilities (EPSG:4326).
    districts : geopandas.GeoDataFrame
        Validated districts (EPSG:4326).
    source : str
        File name of ``layer`` for messages.

    Raises
    ------
    InputError
        Naming the first feature outside and the geometry field.
    """
    if len(layer) == 0 or len(districts) == 0:
        return
    minx, miny, maxx, maxy = districts.total_bounds
    m = EXTENT_MARGIN_DEG
    b = shapely.bounds(np.asarray(layer.geometry.values))
    far = (b[:, 2] < minx - m) | (b[:, 0] > maxx + m) | (b[:, 3] < miny - m) | (b[:, 1] > maxy + m)
    if far.any():
        pos = int(np.flatnonzero(far)[0])
        cx, cy = (b[pos, 0] + b[pos, 2]) / 2, (b[pos, 1] + b[pos, 3]) / 2
        dx = max(minx - cx, cx - maxx, 0.0) * 111 * np.cos(np.radians(cy))
        dy = max(miny - cy, cy - maxy, 0.0) * 111
        msg = (f"{int(far.sum())} of {len(layer)} features lie far outside the districts "
               f"(this one about {np.hypot(dx, dy):,.0f} km away, at {cx:.3f}, {cy:.3f}): "
               "wrong coordinate system (e.g. UTM zone), swapped coordinates, or data of "
               "another city?")
        raise InputError(msg, source=source, row=pos, field="geometry")


def make_dataset(
    name: str,
    districts: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    **meta: Any,
) -> Dataset:
    """Validate the three layers together and build a :class:`Dataset`.

    Cross-table checks: every township names a known district; facility townships are filled by
    a spatial join where missing.

    Parameters
    ----------
    name
        Dataset name.
    districts, units, facilities
        The three layers (validated here).
    **meta
        ``districts_source``, ``units_source``, ``facilities_source`` (file names for
        messages), and the :class:`Dataset` fields ``synthetic``, ``sources``, ``data_date``.

    Returns
    -------
    Dataset
    """
    names = {k: meta.pop(f"{k}_source", k) for k in ("districts", "units", "facilities")}
    districts = validate(districts, DISTRICT_SCHEMA, source=names["districts"])
    units = validate(units, UNIT_SCHEMA, source=names["units"])
    facilities = validate(facilities, FACILITY_SCHEMA, source=names["facilities"])
    unknown = ~units["district"].isin(districts["name"])
    if unknown.any():
        pos = int(np.flatnonzero(unknown.to_numpy())[0])
        msg = (f"district {units['district'].iloc[pos]!r} is not in the districts layer "
               f"({', '.join(districts['name'])})")
        raise InputError(msg, source="units", row=pos, field="district")
    for label, layer in (("units", units), ("facilities", facilities)):
        check_extent(layer, districts, source=names[label])
    zone_of = dict(zip(districts["name"], districts["zone"], strict=True))
    units = units.copy()
    units["zone"] = units["zone"].fillna(units["district"].map(zone_of).astype("string"))
    facilities = assign_units(facilities, units)
    return Dataset(name=name, districts=districts, units=units, facilities=facilities, **meta)


def replace_layers(
    dataset: Dataset,
    *,
    name: str | None = None,
    districts: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    source: str = "user upload",
) -> Dataset:
    """Build a new Dataset with some layers replaced by (already validated) user layers.

    The rest come from ``dataset``; cross-layer checks run again; replaced layers are no
    longer marked synthetic. ``dataset`` itself is never changed.
    """
    new = {"districts": districts, "units": units, "facilities": facilities}
    layers = {k: (v if v is not None else getattr(dataset, k)) for k, v in new.items()}
    replaced = {k for k, v in new.items() if v is not None}
    synthetic = tuple(s for s in dataset.synthetic if s.split(".")[0] not in replaced)
    if "facilities" not in replaced and units is not None:
        layers["facilities"] = layers["facilities"].drop(columns=["unit_id"])
    sources = (*dataset.sources, *(f"{k}: {source}" for k in sorted(replaced)))
    return make_dataset(name or dataset.name, layers["districts"], layers["units"],
                        layers["facilities"], synthetic=synthetic, sources=sources,
                        data_date=dataset.data_date)
