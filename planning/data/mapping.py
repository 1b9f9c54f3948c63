"""Import mapping: a planner's own files, with their own column names, category values and datums.

Real files rarely use the schema's names (:mod:`planning.data.model`): a township layer may call its
code ``code`` or ``统计用区划代码``, a facility list may say ``category: 社区卫生服务站`` where the
schema wants a kind. The import is four steps, each inspectable:

1. :func:`suggest_mapping` proposes which column feeds which field (exact names, Chinese and
   English aliases, NBS code patterns, value shapes such as names ending in 街道/镇 or 区);
2. the user corrects it, adds fixed values (``district: 东城区`` for every row) and maps category
   values to kinds (:func:`suggest_values`; each value is mapped, ignored — its rows dropped —
   or, left unmapped, refused with the list of values);
3. :func:`apply_mapping` renames, maps, converts the file's datum (reporting the shift) and
   validates;
4. :func:`import_files` builds the :class:`~planning.data.model.Dataset` with its identity (name,
   data date, sources per layer, which layers are synthetic) and the cross-layer checks of
   :mod:`planning.data.consistency`.

A mapping is a small YAML file (:func:`save_mapping` / :func:`load_mapping`), accepted by the CLI
(``jingkang check --data DIR --mapping my-map.yaml``) so an analyst can rerun a planner's import.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

from planning.data.consistency import (
    Conversion,
    Issue,
    RepairReport,
    check_layers,
    convert_datum,
    invalid_geometries,
    repair_geometries,
)
from planning.data.model import (
    FACILITY_KINDS,
    SCHEMAS,
    ZONES,
    Dataset,
    make_dataset,
    validate,
)
from planning.errors import InputError

LAYERS: tuple[str, ...] = ("districts", "units", "facilities")
MAPPING_VERSION = 1

#: More names seen in real files, beyond each field's aliases in the schema.
EXTRA_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "districts": {
        "district_id": ("adcode", "district_code", "county_code", "区县代码", "行政区划代码",
                        "统计用区划代码"),
        "name": ("district", "district_name", "county", "区县", "区县名称", "区名称"),
        "population": ("pop", "resident_population", "常住人口数"),
    },
    "units": {
        "unit_id": ("unit_code", "street_code", "township_code", "town_code", "adcode",
                    "街道代码", "乡镇代码", "统计用区划代码", "区划代码"),
        "name": ("street", "township", "subdistrict", "town", "street_name", "街道乡镇",
                 "乡镇", "乡镇名称", "街乡名称"),
        "district": ("district_name", "county", "区县", "区县名称", "所属区县"),
        "population": ("pop", "resident_population", "常住人口数", "人口数"),
    },
    "facilities": {
        "facility_id": ("source_id", "fid", "poi_id", "objectid", "uid", "序号", "ID"),
        "name": ("facility_name", "poi_name", "title", "单位名称"),
        "kind": ("category", "class", "设施类型", "类别", "分类"),
        "district": ("district_name", "county", "区县"),
        "unit_id": ("street_code", "township_code"),
    },
}

#: Keywords in a category value → facility kind (first match wins); suggestions only.
KIND_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("驿站", "rehab_station"),
    ("中途", "halfway_house"),
    ("福利", "welfare_institution"),
    ("精神专科", "psychiatric_hospital"),
    ("精神病", "psychiatric_hospital"),
    ("精康中心", "rehab_centre"),
    ("康复中心", "rehab_centre"),
    ("综合医院", "general_hospital"),
    ("卫生服务", "township_health_centre"),
    ("卫生院", "township_health_centre"),
)

_NBS_TOWNSHIP = re.compile(r"^\d{9}(\d{3})?$")
_ADCODE = re.compile(r"^\d{6}$")
_UNIT_NAME = re.compile(r"(街道|镇|乡|地区|办事处)$")
_DISTRICT_NAME = re.compile(r"(区|县|市)$")


@dataclass(frozen=True)
class LayerMapping:
    """How one file becomes one layer.

    Attributes
    ----------
    layer
        ``"districts"``, ``"units"`` or ``"facilities"``.
    columns
        Schema field → the file's column.
    fixed
        Schema field → one value for every row (e.g. ``{"district": "东城区"}``).
    values
        Schema field → {value in the file → canonical value} (e.g. categories → kinds).
    ignore
        Schema field → values whose rows are dropped (counted in the import report).
    datum
        The file's coordinates: ``wgs84``, ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu).
    file
        File name, relative to the data folder (or the mapping file's folder).
    source
        Provenance line for outputs (who published the file, licence, year).
    synthetic
        The layer is synthetic (made up for testing); outputs label it so.
    """

    layer: str
    columns: Mapping[str, str] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    ignore: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    datum: str = "wgs84"
    file: str | None = None
    source: str = ""
    synthetic: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form (empty entries left out)."""
        out: dict[str, Any] = {}
        if self.file:
            out["file"] = self.file
        out["datum"] = self.datum
        for key in ("columns", "fixed", "values"):
            val = getattr(self, key)
            if val:
                out[key] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in val.items()}
        if self.ignore:
            out["ignore"] = {k: list(v) for k, v in self.ignore.items()}
        if self.source:
            out["source"] = self.source
        if self.synthetic:
            out["synthetic"] = True
        return out


@dataclass(frozen=True)
class ImportMapping:
    """A whole import: dataset identity and one :class:`LayerMapping` per layer.

    Attributes
    ----------
    name
        Dataset name shown on every page and output.
    data_date
        Date or year the data describe.
    layers
        Layer name → mapping; ``"population"`` may map a point grid or GeoTIFF (its
        ``columns`` give ``population`` → the value column).
    """

    name: str = ""
    data_date: str = ""
    layers: Mapping[str, LayerMapping] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form."""
        return {"version": MAPPING_VERSION, "name": self.name, "data_date": self.data_date,
                "layers": {k: v.to_dict() for k, v in self.layers.items()}}


@dataclass(frozen=True)
class Suggestion:
    """Why a column was proposed for a field."""

    field: str
    column: str
    confidence: float
    reason: str


def _norm(text: object) -> str:
    return re.sub(r"[\s_\-()（）]", "", str(text)).lower()


def _values(frame: pd.DataFrame, col: str, n: int = 200) -> pd.Series:
    s = frame[col].dropna()
    return s.head(n).astype(str).str.strip()


def _pattern_score(frame: pd.DataFrame, layer: str, fname: str, col: str) -> tuple[float, str]:
    vals = _values(frame, col)
    if vals.empty:
        return 0.0, ""
    share = lambda rx: float(vals.str.match(rx).mean())  # noqa: E731
    numeric = pd.to_numeric(frame[col], errors="coerce").notna().mean()
    if layer == "units" and fname == "unit_id" and share(_NBS_TOWNSHIP) > 0.95:
        return 0.75, "values look like NBS township codes (9/12 digits)"
    if layer == "districts" and fname == "district_id" and share(_ADCODE) > 0.95:
        return 0.75, "values look like 6-digit county codes"
    if layer == "units" and fname == "name" and share(_UNIT_NAME) > 0.8:
        return 0.6, "values end in 街道/镇/乡/地区"
    if fname in ("district", "name") and share(_DISTRICT_NAME) > 0.9 and (
            layer != "units" or fname == "district") and (
            layer != "facilities" or fname == "district"):
        return 0.55, "values end in 区/县/市"
    if fname == "population" and numeric > 0.9 and "pop" in _norm(col):
        return 0.5, "numeric column named like population"
    return 0.0, ""


def suggest_mapping(
    frame: pd.DataFrame,
    layer: str,
    *,
    datum: str = "wgs84",
    file: str | None = None,
) -> tuple[LayerMapping, list[Suggestion]]:
    """Propose which of ``frame``'s columns feeds which field of ``layer``'s schema.

    Parameters
    ----------
    frame
        The file as read (its own column names), e.g. from :func:`planning.data.io.read_raw`.
    layer
        ``"districts"``, ``"units"`` or ``"facilities"``.
    datum
        Datum to record in the mapping.
    file
        File name to record in the mapping.

    Returns
    -------
    tuple
        (the proposed :class:`LayerMapping`, the reason for each proposal). Each column feeds
        at most one field; the best-scoring pairs win.
    """
    schema = SCHEMAS[layer]
    extra = EXTRA_ALIASES.get(layer, {})
    cols = [c for c in frame.columns if c != getattr(frame, "_geometry_column_name", None)
            and c != "geometry"]
    scored: list[Suggestion] = []
    for f in schema.fields:
        names = {_norm(f.name): (1.0, "same name")}
        for alias in (*f.aliases, f.label_zh):
            if alias:
                names.setdefault(_norm(alias), (0.9, f"schema alias '{alias}'"))
        for alias in extra.get(f.name, ()):
            names.setdefault(_norm(alias), (0.8, f"common name '{alias}'"))
        for col in cols:
            hit = names.get(_norm(col))
            if hit is not None:
                scored.append(Suggestion(f.name, str(col), *hit))
                continue
            score, why = _pattern_score(frame, layer, f.name, col)
            if score:
                scored.append(Suggestion(f.name, str(col), score, why))
    scored.sort(key=lambda s: -s.confidence)
    chosen: dict[str, Suggestion] = {}
    used: set[str] = set()
    for s in scored:
        if s.field in chosen or s.column in used:
            continue
        chosen[s.field] = s
        used.add(s.column)
    order = [f.name for f in schema.fields]
    picks = [chosen[k] for k in order if k in chosen]
    mapping = LayerMapping(layer, columns={s.field: s.column for s in picks}, datum=datum,
                           file=file)
    return mapping, picks


def suggest_values(values: pd.Series | list, field_name: str = "kind") -> dict[str, str | None]:
    """Propose a canonical value for each distinct value (``None``: no idea, the user decides).

    Parameters
    ----------
    values
        The column's values (e.g. facility categories).
    field_name
        ``"kind"`` (facility kinds) or ``"zone"``.

    Returns
    -------
    dict
        Distinct value → canonical code or ``None``, most frequent first.
    """
    s = pd.Series(values).dropna().astype(str).str.strip()
    out: dict[str, str | None] = {}
    codes = FACILITY_KINDS if field_name == "kind" else ZONES
    by_zh = {v: k for k, v in codes.items()}
    for val in s.value_counts().index:
        if val in codes:
            out[val] = val
        elif val in by_zh:
            out[val] = by_zh[val]
        elif field_name == "kind":
            out[val] = next((k for word, k in KIND_KEYWORDS if word in val), None)
        else:
            out[val] = None
    return out


def unmapped_values(frame: pd.DataFrame, mapping: LayerMapping,
                    field_name: str = "kind") -> pd.Series:
    """Count the values of ``field_name``'s column that are neither mapped, valid nor ignored.

    Parameters
    ----------
    frame
        The file as read.
    mapping
        The layer's mapping.
    field_name
        The enum field, usually ``"kind"``.

    Returns
    -------
    pandas.Series
        Value → number of rows, most frequent first (empty when everything is accounted for).
    """
    col = mapping.columns.get(field_name, field_name)
    if field_name in mapping.fixed or col not in frame.columns:
        return pd.Series(dtype=int)
    s = frame[col].dropna().astype(str).str.strip()
    choices = SCHEMAS[mapping.layer].field(field_name).choices
    zh = set(FACILITY_KINDS.values()) if field_name == "kind" else set(ZONES.values())
    known = (set(mapping.values.get(field_name, {})) | set(mapping.ignore.get(field_name, ()))
             | set(choices) | zh)
    left = s[~s.isin(known)]
    return left.value_counts()


@dataclass(frozen=True)
class MappedLayer:
    """One file after the mapping: the validated layer and what was done to it.

    Attributes
    ----------
    layer
        Layer name.
    frame
        The validated layer (EPSG:4326, canonical columns).
    source
        The file name.
    mapping
        The mapping applied.
    conversion
        The datum conversion applied, measured.
    dropped
        Value → rows dropped because that value was marked ignored.
    repair
        Geometry repairs applied (empty unless repair was accepted).
    """

    layer: str
    frame: gpd.GeoDataFrame
    source: str
    mapping: LayerMapping
    conversion: Conversion
    dropped: Mapping[str, int] = field(default_factory=dict)
    repair: RepairReport | None = None

    def describe(self, lang: str = "en") -> list[str]:
        """Return plain statements of what the import did to this file.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        """
        zh = lang == "zh"
        lines = [f"{self.source}: {self.conversion.describe(lang)}"]
        if self.dropped:
            what = ", ".join(f"{k} ({v})" for k, v in self.dropped.items())
            lines.append(f"{self.source}: " + (f"按映射忽略的行：{what}" if zh
                                                else f"rows ignored by the mapping: {what}"))
        if self.repair:
            lines.extend(self.repair.describe(lang))
        return lines


def _collides(col: str, layer: str) -> bool:
    schema = SCHEMAS[layer]
    names = {_norm(f.name) for f in schema.fields}
    for f in schema.fields:
        names.update(_norm(a) for a in (*f.aliases, f.label_zh) if a)
    return _norm(col) in names


def apply_mapping(
    raw: gpd.GeoDataFrame,
    mapping: LayerMapping,
    *,
    source: str = "data",
    spreadsheet: bool = False,
    repair: bool = False,
) -> MappedLayer:
    """Rename, fix, map values, convert the datum and validate one layer.

    Parameters
    ----------
    raw
        The file as read (:func:`planning.data.io.read_raw`), its own columns and CRS.
    mapping
        What to do. With empty ``columns`` the schema's own aliases apply.
    source
        File name for messages and the report.
    spreadsheet
        Number rows as a spreadsheet does in messages.
    repair
        Make invalid polygons valid (keeping polygonal parts) instead of refusing them.

    Returns
    -------
    MappedLayer

    Raises
    ------
    InputError
        A mapped column is missing, category values are unmapped (listed with counts), a
        geometry is invalid and ``repair`` is off, or validation fails.
    """
    layer = mapping.layer
    if layer not in SCHEMAS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}"
        raise InputError(msg, source=source, field="layer")
    geom = raw.geometry.name
    missing = [c for c in mapping.columns.values() if c not in raw.columns]
    if missing:
        found = ", ".join(str(c) for c in raw.columns if c != geom)
        msg = (f"the mapping names column(s) {', '.join(map(repr, missing))} that the file does "
               f"not have; found: {found}")
        raise InputError(msg, source=source, field=missing[0])
    out = pd.DataFrame(index=raw.index)
    used = set(mapping.columns.values())
    for fname, col in mapping.columns.items():
        out[fname] = raw[col]
    for col in raw.columns:
        if col == geom or col in used or col in out.columns:
            continue
        if mapping.columns and _collides(str(col), layer):
            continue  # an unmapped column named like a field would shadow the mapped one
        out[col] = raw[col]
    for fname, value in mapping.fixed.items():
        out[fname] = value
    dropped: dict[str, int] = {}
    keep = np.ones(len(out), dtype=bool)
    for fname in sorted(set(mapping.values) | set(mapping.ignore)):
        if fname not in out.columns:
            continue
        text = out[fname].astype("string").str.strip()
        ignored = text.isin(list(mapping.ignore.get(fname, ()))).fillna(False).to_numpy(bool)
        for val, n in pd.Series(text[ignored]).value_counts().items():
            dropped[str(val)] = int(n)
        keep &= ~ignored
        vmap = {str(k): str(v) for k, v in mapping.values.get(fname, {}).items()}
        out[fname] = text.map(lambda v, m=vmap: m.get(v, v) if isinstance(v, str) else v)
    frame = gpd.GeoDataFrame(out, geometry=raw.geometry.values, crs=raw.crs)
    frame = frame[keep]
    if "kind" in SCHEMAS[layer].columns and "kind" not in mapping.fixed:
        left = unmapped_values(frame.rename(columns={}), LayerMapping(
            layer, values=mapping.values, ignore=mapping.ignore), "kind")
        if len(left):
            listed = ", ".join(f"{k} ({v})" for k, v in left.items())
            msg = (f"{int(left.sum())} row(s) have categories not mapped to a facility kind: "
                   f"{listed}; map each to a kind ({', '.join(FACILITY_KINDS)}) or mark it "
                   "ignored")
            raise InputError(msg, source=source, field="kind")
    frame, conversion = convert_datum(frame, mapping.datum, source=source)
    report = None
    if SCHEMAS[layer].geometry_types and "Point" not in SCHEMAS[layer].geometry_types:
        bad = invalid_geometries(frame)
        if len(bad) and not repair:
            row, why = int(bad["row"].iloc[0]), bad["reason"].iloc[0]
            msg = (f"{len(bad)} invalid polygon(s), first: {why}; accept the repair (make "
                   "valid, keep the polygonal parts: the Data page's repair option or CLI "
                   "--repair) or fix the file")
            raise InputError(msg, source=source, row=row, field="geometry")
        if len(bad):
            frame, report = repair_geometries(frame, source=source)
    valid = validate(frame, SCHEMAS[layer], source=source, spreadsheet=spreadsheet)
    return MappedLayer(layer, valid, source, mapping, conversion, dropped, report)


def save_mapping(mapping: ImportMapping, path: str | Path | None = None) -> str:
    """Write ``mapping`` as YAML (to ``path`` when given) and return the text."""
    text = yaml.safe_dump(mapping.to_dict(), allow_unicode=True, sort_keys=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _layer_from_dict(layer: str, doc: Mapping[str, Any], source: str) -> LayerMapping:
    allowed = {"file", "datum", "columns", "fixed", "values", "ignore", "source", "synthetic"}
    unknown = set(doc) - allowed
    if unknown:
        msg = (f"layer {layer!r}: unknown key(s) {', '.join(sorted(unknown))}; expected "
               f"{', '.join(sorted(allowed))}")
        raise InputError(msg, source=source, field=sorted(unknown)[0])
    datum = str(doc.get("datum", "wgs84")).lower().replace("-", "")
    if datum not in ("wgs84", "gcj02", "bd09"):
        msg = f"layer {layer!r}: datum {datum!r}; expected wgs84, gcj02 or bd09"
        raise InputError(msg, source=source, field="datum")
    for key in ("columns", "fixed", "values", "ignore"):
        if key in doc and not isinstance(doc[key], Mapping):
            msg = f"layer {layer!r}: '{key}' must be a mapping of field → value"
            raise InputError(msg, source=source, field=key)
    if layer in SCHEMAS:
        fields = set(SCHEMAS[layer].columns)
        for key in ("columns", "fixed", "values", "ignore"):
            bad = [k for k in doc.get(key, {}) if k not in fields]
            if bad:
                msg = (f"layer {layer!r}: {key} names unknown field(s) {', '.join(bad)}; "
                       f"fields are {', '.join(SCHEMAS[layer].columns)}")
                raise InputError(msg, source=source, field=bad[0])
    return LayerMapping(
        layer,
        columns={str(k): str(v) for k, v in (doc.get("columns") or {}).items()},
        fixed=dict(doc.get("fixed") or {}),
        values={str(k): {str(a): str(b) for a, b in v.items()}
                for k, v in (doc.get("values") or {}).items()},
        ignore={str(k): tuple(str(x) for x in v) for k, v in (doc.get("ignore") or {}).items()},
        datum=datum,
        file=doc.get("file"),
        source=str(doc.get("source") or ""),
        synthetic=bool(doc.get("synthetic", False)),
    )


def mapping_from_dict(doc: Mapping[str, Any], *, source: str = "mapping") -> ImportMapping:
    """Build an :class:`ImportMapping` from its YAML form, refusing unknown keys and fields."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("layers", {}), Mapping):
        msg = "expected a mapping with 'name', 'data_date' and 'layers'"
        raise InputError(msg, source=source)
    layers = {}
    for layer, body in (doc.get("layers") or {}).items():
        if layer not in (*LAYERS, "population"):
            msg = f"unknown layer {layer!r}; expected {', '.join((*LAYERS, 'population'))}"
            raise InputError(msg, source=source, field=str(layer))
        layers[layer] = _layer_from_dict(layer, body or {}, source)
    return ImportMapping(name=str(doc.get("name") or ""),
                         data_date=str(doc.get("data_date") or ""), layers=layers)


def load_mapping(path: str | Path | IO[bytes]) -> ImportMapping:
    """Read a mapping saved by :func:`save_mapping` (or the Data page)."""
    if isinstance(path, str | Path):
        source = Path(path).name
        if not Path(path).exists():
            msg = "mapping file not found"
            raise InputError(msg, source=str(path))
        text = Path(path).read_text(encoding="utf-8")
    else:
        source = getattr(path, "name", "mapping")
        text = path.read().decode("utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"not valid YAML: {exc}"
        raise InputError(msg, source=source) from exc
    return mapping_from_dict(doc or {}, source=source)


@dataclass(frozen=True)
class ImportResult:
    """A dataset built from files through a mapping, and everything the import did.

    Attributes
    ----------
    dataset
        The validated dataset with its identity.
    layers
        Layer → :class:`MappedLayer` for the files read.
    issues
        Cross-layer problems (:func:`planning.data.consistency.check_layers`).
    population
        The population layer's aggregation, when one was mapped.
    population_conversion
        The datum conversion applied to the population layer.
    """

    dataset: Dataset
    layers: Mapping[str, MappedLayer]
    issues: tuple[Issue, ...] = ()
    population: Any = None
    population_conversion: Conversion | None = None

    def describe(self, lang: str = "en") -> list[str]:
        """Return every statement about the import: conversions, ignored rows, repairs."""
        lines = [line for m in self.layers.values() for line in m.describe(lang)]
        if self.population_conversion is not None:
            lines.append(f"{self.population.source}: "
                         f"{self.population_conversion.describe(lang)}")
        if self.population is not None:
            lines.append(self.population.describe(lang))
        return lines


def _layer_sources(dataset: Dataset) -> dict[str, list[str]]:
    """Source lines of a dataset by layer (``"layer: …"`` lines; others are kept as general)."""
    out: dict[str, list[str]] = {k: [] for k in (*LAYERS, "")}
    for line in dataset.sources:
        head = line.split(":", 1)[0].strip()
        out[head if head in LAYERS else ""].append(line)
    return out


def dataset_identity(
    layers: Mapping[str, MappedLayer],
    *,
    base: Dataset | None = None,
    name: str = "",
    data_date: str = "",
) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
    """Name, sources, synthetic labels and data date of a dataset built from ``layers``.

    Parameters
    ----------
    layers
        The files read, by layer.
    base
        The dataset that supplies the layers not read (e.g. the demo), if any.
    name, data_date
        What the user typed; derived from the files when empty.

    Returns
    -------
    tuple
        (name, sources, synthetic, data_date): a source line per layer from the file actually
        loaded; the base's lines only for layers it still supplies; ``synthetic`` lists layers
        that are synthetic (empty for wholly real data).
    """
    sources: list[str] = []
    synthetic: list[str] = []
    kept = [k for k in LAYERS if k not in layers]
    if base is not None and kept:
        by_layer = _layer_sources(base)
        base_syn = {s.split(".")[0] for s in base.synthetic}
        for k in kept:
            sources.extend(by_layer[k])
            if k in base_syn:
                synthetic.extend(s for s in base.synthetic if s.split(".")[0] == k)
        if by_layer[""] and any(k in base_syn for k in kept):
            sources.extend(f"{', '.join(kept)} ({base.name}): {line}"
                           for line in by_layer[""])
        elif by_layer[""]:
            sources.append(f"{', '.join(kept)}: {base.name}")
    for k in LAYERS:
        m = layers.get(k)
        if m is None:
            continue
        extra = f" — {m.mapping.source}" if m.mapping.source else ""
        conv = f" ({m.conversion.describe('en')})" if m.conversion.converted else ""
        sources.append(f"{k}: {m.source}{extra}{conv}")
        if m.mapping.synthetic:
            synthetic.append(k)
    if not name:
        files = ", ".join(m.source for m in layers.values())
        name = f"导入 Import: {files}" if not kept or base is None else (
            f"{base.name} + {files}")
    if not data_date and base is not None and kept:
        data_date = base.data_date
    return name, tuple(sources), tuple(synthetic), data_date


def build_dataset(
    layers: Mapping[str, MappedLayer],
    *,
    base: Dataset | None = None,
    name: str = "",
    data_date: str = "",
    extra_sources: tuple[str, ...] = (),
) -> Dataset:
    """Build a validated dataset from mapped layers, the rest from ``base``; identity included.

    Parameters
    ----------
    layers
        Mapped layers by name.
    base
        Supplies the layers not in ``layers`` (required when one is missing).
    name, data_date
        Dataset identity typed by the user (derived when empty).
    extra_sources
        More provenance lines (e.g. the population layer).

    Returns
    -------
    Dataset
    """
    missing = [k for k in LAYERS if k not in layers]
    if missing and base is None:
        msg = f"missing layer(s) {', '.join(missing)}; give a file for each"
        raise InputError(msg, field=missing[0])
    frames = {k: (layers[k].frame if k in layers else getattr(base, k)) for k in LAYERS}
    if "units" in layers and "facilities" not in layers:
        frames["facilities"] = frames["facilities"].drop(columns=["unit_id"])
    nm, sources, synthetic, date = dataset_identity(layers, base=base, name=name,
                                                    data_date=data_date)
    srcs = {f"{k}_source": layers[k].source for k in layers}
    return make_dataset(nm, frames["districts"], frames["units"], frames["facilities"],
                        synthetic=synthetic, sources=(*sources, *extra_sources),
                        data_date=date, **srcs)


def import_files(
    files: Mapping[str, str | Path],
    spec: ImportMapping | None = None,
    *,
    name: str = "",
    datum: str = "wgs84",
    repair: bool = False,
    base: Dataset | None = None,
    folder: str | Path | None = None,
) -> ImportResult:
    """Read files through a mapping into a dataset; report conversions, repairs and issues.

    Parameters
    ----------
    files
        Layer → path. Layers the spec names with a ``file`` but missing here are read from
        ``folder``; a ``"population"`` entry (point grid or GeoTIFF) fills township populations.
    spec
        The mapping; ``None`` reads each file with the schema's own aliases.
    name
        Dataset name when the spec has none.
    datum
        Datum of files the spec says nothing about.
    repair
        Accept repairs of invalid polygons (reported in the result).
    base
        Supplies layers without a file.
    folder
        Where the spec's relative ``file`` entries live.

    Returns
    -------
    ImportResult

    Raises
    ------
    InputError
        Any file or mapping problem, or a cross-layer error (unknown district names).
    """
    from planning.data import population as pop_mod
    from planning.data.io import read_raw

    spec = spec or ImportMapping()
    paths = dict(files)
    for layer, lm in spec.layers.items():
        if layer not in paths and lm.file:
            p = Path(lm.file)
            paths[layer] = p if p.is_absolute() or folder is None else Path(folder) / p
    mapped: dict[str, MappedLayer] = {}
    for layer in LAYERS:
        if layer not in paths:
            continue
        path = Path(paths[layer])
        lm = spec.layers.get(layer) or LayerMapping(layer, datum=datum)
        lm = dataclasses.replace(lm, file=lm.file or path.name)
        polygons = "Point" not in SCHEMAS[layer].geometry_types
        raw, spreadsheet = read_raw(path, polygons=polygons)
        mapped[layer] = apply_mapping(raw, lm, source=path.name, spreadsheet=spreadsheet,
                                      repair=repair)
    pop_result = pop_conv = None
    extra_sources: tuple[str, ...] = ()
    if "population" in paths:
        lm = spec.layers.get("population") or LayerMapping("population", datum=datum)
        path = Path(paths["population"])
        grid = pop_mod.read_population(path, datum=lm.datum,
                                       value=lm.columns.get("population"))
        units = mapped["units"].frame if "units" in mapped else base.units
        pop_result = pop_mod.aggregate_population(grid, units)
        pop_conv = grid.conversion
        filled = pop_mod.with_population(units, pop_result)
        if "units" in mapped:
            mapped["units"] = dataclasses.replace(mapped["units"], frame=filled)
        extra = f" — {lm.source}" if lm.source else ""
        extra_sources = (f"population: {path.name}{extra} ({grid.conversion.describe('en')}; "
                         f"{pop_result.outside_share:.1%} outside every township)",)
    ds = build_dataset(mapped, base=base, name=spec.name or name, data_date=spec.data_date,
                       extra_sources=extra_sources)
    srcs = {k: m.source for k, m in mapped.items()}
    issues = check_layers(ds.districts, ds.units, ds.facilities, sources=srcs)
    return ImportResult(ds, mapped, tuple(issues), pop_result, pop_conv)


def preview_map(base: Dataset, layers: Mapping[str, gpd.GeoDataFrame], *,
                lang: str = "zh") -> Any:
    """Return a folium map of new layers (blue/red) drawn over what is loaded now (grey).

    Parameters
    ----------
    base
        The dataset loaded now (its districts are drawn as grey outlines).
    layers
        Layer name → validated new layer (EPSG:4326).
    lang
        ``"zh"`` or ``"en"`` for layer names.
    """
    import folium

    frames = [f for f in layers.values() if len(f)] or [base.districts]
    xmin = min(f.total_bounds[0] for f in frames)
    ymin = min(f.total_bounds[1] for f in frames)
    xmax = max(f.total_bounds[2] for f in frames)
    ymax = max(f.total_bounds[3] for f in frames)
    m = folium.Map(tiles="cartodbpositron", control_scale=True)
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])
    zh = lang == "zh"
    folium.GeoJson(base.districts[["name", "geometry"]].to_json(),
                   name="当前数据（区）" if zh else "Loaded now (districts)",
                   style_function=lambda _: {"color": "#777777", "weight": 1,
                                             "fillOpacity": 0.0}).add_to(m)
    colours = {"districts": "#d62728", "units": "#1f77b4", "facilities": "#2ca02c"}
    for name, frame in layers.items():
        cols = [c for c in ("name", "district", "kind") if c in frame.columns]
        gj = frame[[*cols, frame.geometry.name]].copy()
        for c in cols:
            gj[c] = gj[c].astype(str)
        colour = colours.get(name, "#9467bd")
        label = f"新{name}" if zh else f"New {name}"
        if (frame.geometry.geom_type == "Point").all():
            layer = folium.FeatureGroup(name=label)
            for geom, nm in zip(frame.geometry, gj[cols[0]] if cols else [""] * len(frame),
                                strict=True):
                folium.CircleMarker([geom.y, geom.x], radius=3, color=colour, fill=True,
                                    tooltip=str(nm)).add_to(layer)
            layer.add_to(m)
        else:
            folium.GeoJson(gj.to_json(), name=label,
                           style_function=lambda _, c=colour: {"color": c, "weight": 1.5,
                                                               "fillOpacity": 0.1},
                           tooltip=folium.GeoJsonTooltip(fields=cols) if cols else None,
                           ).add_to(m)
    folium.LayerControl().add_to(m)
    return m
