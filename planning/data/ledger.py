"""Patient ledgers (台账) → township counts. Nothing row-level leaves this module.

A ledger of people with severe mental disorders is sensitive personal information under PIPL.
:func:`read_ledger` reads one (CSV in UTF-8 or GBK, or .xlsx), validates it against
:data:`LEDGER_SCHEMA` with :func:`planning.data.model.validate`, places every patient in a
township —
by coordinates (point in polygon), else by a township column, else by finding a township name
in the address — and returns a frozen :class:`LedgerSummary` of **township counts only**. The
raw rows live in local variables of one call and nowhere else: not on the result, not in a
module-level cache, not in a log or an error message (cell values are withheld from messages).

Rows that cannot be placed are reported by spreadsheet row number and reason, never by content.
A patient listed twice is recognised by a keyed hash of the id (BLAKE2b keyed with the
``JINGKANG_LEDGER_SALT`` environment variable, or a random per-call key) and counted once.

Eligibility for station services (:class:`Eligibility`) comes from the chosen policy profile
(``profile.eligibility``); without one, ``eligible`` is left unknown (``<NA>``) rather than guessed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data import crs as crs_mod
from planning.data.checks import detect_gcj02_offset
from planning.data.io import TABLE_SUFFIXES, _read_table
from planning.data.model import (
    Dataset,
    Field,
    Schema,
    describe_columns,
    replace_layers,
    validate,
)
from planning.data.places import Gazetteer, locate_points
from planning.errors import InputError

log = logging.getLogger(__name__)

#: Where a patient lives now. Only ``home`` patients count towards ``patients``.
STATUSES: dict[str, str] = {
    "home": "在家",
    "hospital": "住院",
    "away": "外出",
    "lost": "失访",
    "deceased": "死亡",
    "detained": "在押",
}

_STATUS_WORDS: dict[str, str] = {
    **{v: k for k, v in STATUSES.items()},
    "居家": "home", "在家居住": "home", "at home": "home", "在册": "home",
    "在院": "hospital", "住院治疗": "hospital", "hospitalised": "hospital",
    "hospitalized": "hospital", "外出务工": "away", "离家": "away", "失联": "lost",
    "lost to follow-up": "lost", "已故": "deceased", "dead": "deceased", "羁押": "detained",
}
_SERVED_WORDS = {"已接受": "是", "接受": "是", "参加": "是", "已参加": "是",
                 "未接受": "否", "不接受": "否", "未参加": "否"}
_CN_DIGITS = str.maketrans("零〇一二三四五六", "00123456")

LEDGER_SCHEMA = Schema(
    "ledger",
    (
        Field("patient_id", "str", required=True,
              aliases=("id", "患者编号", "患者ID", "编号", "档案号", "档案编号", "登记号"),
              label_zh="患者编号"),
        Field("name", "str", aliases=("姓名", "患者姓名"), label_zh="姓名"),
        Field("address", "str", aliases=("住址", "现住址", "居住地址", "家庭住址", "地址"),
              label_zh="住址"),
        Field("lon", "float", aliases=("经度", "lng", "longitude", "x"), label_zh="经度"),
        Field("lat", "float", aliases=("纬度", "latitude", "y"), label_zh="纬度"),
        Field("district", "str", aliases=("区", "所属区", "区县", "所属区县"), label_zh="所属区"),
        Field("township", "str",
              aliases=("街道", "乡镇", "街乡", "所属街道", "所属街乡", "街道/乡镇", "所属乡镇"),
              label_zh="街道/乡镇"),
        Field("age", "int", minimum=0, maximum=120, aliases=("年龄",), label_zh="年龄"),
        Field("risk_level", "int", minimum=0, maximum=5,
              aliases=("危险性评估等级", "危险性评估", "危险性等级", "危险等级", "风险等级",
                       "risk"),
              label_zh="危险性评估等级"),
        Field("disability_grade", "int", minimum=1, maximum=4,
              aliases=("残疾等级", "精神残疾等级", "disability"), label_zh="残疾等级"),
        Field("diagnosis", "str", aliases=("诊断", "诊断分类", "疾病诊断", "diagnosis_group"),
              label_zh="诊断"),
        Field("status", "enum", choices=tuple(STATUSES),
              aliases=("在家状态", "居住状态", "目前状态", "当前状态", "home_status"),
              label_zh="在家状态"),
        Field("served", "bool",
              aliases=("是否接受社区康复", "接受社区康复", "是否参加社区康复", "services_received"),
              label_zh="是否接受社区康复"),
        Field("visits", "int", minimum=0, maximum=1000,
              aliases=("随访次数", "年随访次数", "visits_count"), label_zh="随访次数"),
        Field("visit_dates", "str", aliases=("随访日期", "visit_date"), label_zh="随访日期"),
    ),
)

RISK_LEVELS = tuple(range(6))
_DATUM_SAMPLE = 20_000  # points tested for a GCJ-02/BD-09 shift
DISABILITY_GRADES = (1, 2, 3, 4)

#: Columns of :attr:`LedgerSummary.aggregates`, one row per township.
AGGREGATE_COLUMNS: tuple[str, ...] = (
    "records", "patients", "patients_served", "eligible", "hospital",
    *(f"risk_{k}" for k in RISK_LEVELS), "risk_unknown",
    *(f"disability_{g}" for g in DISABILITY_GRADES), "disability_none",
    "visits", "visit_patients", "visits_per_patient_year",
)

#: Reasons a row could not be placed in a township (shown with the row number only).
REASONS: dict[str, str] = {
    "outside": "coordinates fall outside every township of the boundary layer",
    "no_township": "no township of the boundary layer has this township name",
    "no_address_match": "the address names no township of the boundary layer",
    "ambiguous": "the township name occurs in several districts; add the district",
    "nothing": "no coordinates, township or address",
}


def _in_range(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values >= bounds[0]) & (values <= bounds[1])


@dataclass(frozen=True)
class Criteria:
    """One set of client criteria, all of which must hold (ranges inclusive, ``None`` unused).

    Attributes
    ----------
    age, risk_level, disability_grade : tuple of float, optional
        Inclusive ranges of age in years, risk assessment level (危险性评估, highest in the
        last 6 months) and psychiatric disability grade (1–4).
    require_certificate : bool
        Whether a disability certificate (a grade) is required; otherwise an ungraded patient
        passes the grade criterion.
    diagnosis : tuple of str
        The ledger's ``diagnosis`` must contain one of these words (e.g. the six severe
        disorders); empty: not used.
    flags : tuple of str
        Yes/no ledger columns that must be yes (e.g. ``assessed_suitable``).
    label : str
        What the criteria describe, for messages (e.g. ``持证三、四级精神残疾人``).
    """

    age: tuple[float, float] | None = None
    risk_level: tuple[float, float] | None = None
    disability_grade: tuple[float, float] | None = None
    require_certificate: bool = False
    diagnosis: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    label: str = ""

    def needs(self) -> tuple[str, ...]:
        """Ledger columns these criteria read."""
        crit = {"age": self.age, "risk_level": self.risk_level,
                "disability_grade": (self.disability_grade if self.disability_grade is not None
                                     or not self.require_certificate else True),
                "diagnosis": self.diagnosis or None}
        return (*(c for c, r in crit.items() if r is not None), *self.flags)

    def masks(self, cols: Mapping[str, np.ndarray], n: int, *,
              unknown: bool = False) -> dict[str, np.ndarray]:
        """Pass mask per criterion; a missing value passes only if ``unknown`` is true.

        ``cols`` maps ledger columns to arrays: numbers as floats (NaN when empty),
        ``diagnosis`` as objects (None when empty), flags as floats 1/0/NaN.
        """
        def num(name: str) -> np.ndarray:
            v = cols.get(name)
            return np.full(n, np.nan) if v is None else np.asarray(v, dtype=float)

        out: dict[str, np.ndarray] = {}
        for name, bounds in (("age", self.age), ("risk_level", self.risk_level)):
            if bounds is not None:
                v = num(name)
                out[name] = _in_range(v, bounds) | (np.isnan(v) & unknown)
        grade = num("disability_grade")
        if self.disability_grade is not None:
            graded = _in_range(grade, self.disability_grade)
            out["disability_grade"] = graded if self.require_certificate else (
                graded | np.isnan(grade))
        elif self.require_certificate:
            out["disability_grade"] = ~np.isnan(grade)
        if self.diagnosis:
            raw = cols.get("diagnosis")
            text = [None] * n if raw is None else list(raw)
            out["diagnosis"] = np.array(
                [unknown if not isinstance(t, str) or not t.strip()
                 else any(w in t for w in self.diagnosis) for t in text], dtype=bool)
        for flag in self.flags:
            v = num(flag)
            out[flag] = (v == 1) | (np.isnan(v) & unknown)
        return out

    def passes_columns(self, cols: Mapping[str, np.ndarray], n: int, *,
                       unknown: bool = False) -> np.ndarray:
        """Rows meeting every criterion (see :meth:`masks`)."""
        ok = np.ones(n, dtype=bool)
        for mask in self.masks(cols, n, unknown=unknown).values():
            ok &= mask
        return ok


@dataclass(frozen=True)
class Eligibility(Criteria):
    """Who counts as a client of community rehab (服务对象), as a policy profile states it.

    The criteria come from the chosen profile's ``eligibility`` block (see
    :mod:`planning.rules.profile`); this module holds no policy numbers. The fields of
    :class:`Criteria` apply to everyone; a row missing a value that a used criterion needs is
    not counted as eligible.

    Attributes
    ----------
    require_home : bool
        Count only patients living at home (居家).
    any_of : tuple of Criteria
        Alternatives: at least one must hold (e.g. a certificate *or* one of six disorders).
    conditions : tuple of (Criteria, Criteria)
        ``(applies_to, require)``: rows meeting ``applies_to`` must also meet ``require``
        (e.g. risk 0–2 for 严重精神障碍患者 only). A row whose group is unknown must meet it.
    recorded : tuple of (key, zh, en)
        Criteria of the document that a ledger cannot show (household registration, no serious
        physical disease, a signed agreement …): listed, never checked.
    citation, quote : str
        Document and clause, and the words of the document.
    """

    require_home: bool = True
    any_of: tuple[Criteria, ...] = ()
    conditions: tuple[tuple[Criteria, Criteria], ...] = ()
    recorded: tuple[tuple[str, str, str], ...] = ()
    citation: str = ""
    quote: str = ""

    def informed_by(self, present: set[str]) -> bool:
        """Whether a ledger with columns ``present`` can inform the count.

        Every column of the general criteria, and of at least one alternative, is needed.
        """
        if not set(Criteria.needs(self)) <= present:
            return False
        return not self.any_of or any(set(a.needs()) <= present for a in self.any_of)

    def needs(self) -> tuple[str, ...]:
        """Ledger columns this rule reads (general criteria and condition requirements)."""
        cols = list(Criteria.needs(self))
        for _when, req in self.conditions:
            cols += [c for c in req.needs() if c not in cols]
        return tuple(cols)

    def exclusions(self, cols: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Pass mask per part: each general criterion, ``any_of`` and each condition."""
        out = Criteria.masks(self, cols, n)
        if self.any_of:
            alt = np.zeros(n, dtype=bool)
            for a in self.any_of:
                alt |= a.passes_columns(cols, n)
            out["any_of"] = alt
        for i, (when, req) in enumerate(self.conditions):
            applies = when.passes_columns(cols, n, unknown=True)
            out[f"condition_{i + 1}"] = ~applies | req.passes_columns(cols, n)
        return out

    def passes_columns(self, cols: Mapping[str, np.ndarray], n: int, *,
                       unknown: bool = False) -> np.ndarray:
        """Rows meeting the whole rule."""
        ok = np.ones(n, dtype=bool)
        for mask in self.exclusions(cols, n).values():
            ok &= mask
        return ok

    def passes(self, age: np.ndarray, risk: np.ndarray, grade: np.ndarray,
               diagnosis: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of rows meeting the rule (NaN fails a used criterion)."""
        cols = {"age": age, "risk_level": risk, "disability_grade": grade,
                "diagnosis": diagnosis}
        return self.passes_columns({k: v for k, v in cols.items() if v is not None}, len(age))


@dataclass(frozen=True)
class LedgerSummary:
    """Township counts from one ledger; no row-level data.

    Attributes
    ----------
    source
        File name.
    aggregates
        One row per township of the boundary layer (index ``unit_id``), columns
        :data:`AGGREGATE_COLUMNS`: ``records`` (placed, de-duplicated rows), ``patients`` (home
        patients), ``patients_served`` (home patients receiving community rehab), ``eligible``,
        ``hospital``, ``risk_0`` … ``risk_5``/``risk_unknown`` and ``disability_1`` …
        ``disability_4``/``disability_none`` (home patients), ``visits``, ``visit_patients``
        and ``visits_per_patient_year``. A column the ledger cannot inform is ``<NA>``.
    n_rows
        Data rows read (blank rows excluded).
    n_matched, n_unmatched
        Rows placed in a township / not placed (duplicates are neither).
    unmatched
        ``(spreadsheet row, reason)`` for every row not placed.
    duplicates
        ``(spreadsheet row, row of the first listing)`` for every repeated patient id.
    coverage
        Share of rows with a value, per ledger column (0.0 for a missing column).
    located_by
        How many rows were placed by ``coordinates``, ``township`` and ``address``.
    eligibility, period_years
        The rule and the follow-up period used.
    warnings
        Plausibility warnings (e.g. coordinates that look like GCJ-02).
    """

    source: str
    aggregates: pd.DataFrame
    n_rows: int
    n_matched: int
    n_unmatched: int
    unmatched: tuple[tuple[int, str], ...]
    duplicates: tuple[tuple[int, int], ...]
    coverage: dict[str, float]
    located_by: dict[str, int]
    eligibility: Eligibility | None = None
    period_years: float = 1.0
    warnings: tuple[str, ...] = ()

    def totals(self) -> pd.Series:
        """Column totals of :attr:`aggregates` (counts only)."""
        counts = [c for c in AGGREGATE_COLUMNS if c != "visits_per_patient_year"]
        return self.aggregates[counts].sum(min_count=1)


# --- headers and values ------------------------------------------------------------------
_PAREN = re.compile(r"[（(][^）)]*[）)]")


def _header_key(text: object) -> list[str]:
    raw = str(text).strip()
    squeezed = re.sub(r"\s+", "", raw)
    return [k.lower() for k in (raw, squeezed, _PAREN.sub("", squeezed))]


def _canonical_headers(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rename headers to canonical ledger names, forgiving spaces, case and '(单位)' suffixes."""
    lookup: dict[str, str] = {}
    for f in LEDGER_SCHEMA.fields:
        for key in (f.name, *f.aliases):
            lookup.setdefault(key.lower(), f.name)
    mapping: dict[object, str] = {}
    for col in frame.columns:
        hit = next((lookup[k] for k in _header_key(col) if k in lookup), None)
        if hit is None:
            continue
        if hit in mapping.values():
            msg = f"two columns both mean '{hit}'; keep only one of them"
            raise InputError(msg, source=source, field=hit)
        mapping[col] = hit
    return frame.rename(columns=mapping)


def _map_unique(s: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """Apply ``func`` once per distinct non-missing value (ledger columns repeat few values)."""
    uniq = s.dropna().unique()
    return s.map(dict(zip(uniq, map(func, uniq), strict=True)), na_action="ignore")


def _grade(text: str, unit: str) -> str | None:
    v = text.strip().translate(_CN_DIGITS).removesuffix(unit).strip()
    return None if v.lower() in ("无", "none", "-", "") else v


def _normalise_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Map the usual ways ledgers write grades, ages and states onto the schema's values."""
    out = frame.copy()
    if "status" in out:
        out["status"] = _map_unique(out["status"].astype("string"),
                                    lambda v: _STATUS_WORDS.get(v.strip().lower(), v))
    if "served" in out:
        out["served"] = _map_unique(out["served"].astype("string"),
                                    lambda v: _SERVED_WORDS.get(v.strip(), v))
    for col, unit in (("risk_level", "级"), ("disability_grade", "级"), ("age", "岁")):
        if col in out:
            out[col] = _map_unique(out[col].astype("string"), lambda v, u=unit: _grade(v, u))
    return out


def _validate(frame: pd.DataFrame, source: str, rows: np.ndarray) -> pd.DataFrame:
    """:func:`planning.data.model.validate` with cell values withheld from the message."""
    try:
        return validate(frame.reset_index(drop=True), LEDGER_SCHEMA, source=source)
    except InputError as exc:
        head, sep, why = exc.detail.rpartition(" but ")
        detail = f"invalid cell: {why} (value withheld: patient data)" if sep and head.startswith(
            "got ") else exc.detail
        row = int(rows[exc.row]) if exc.row is not None else None
        raise InputError(detail, source=source, row=row, field=exc.field) from None


# --- pseudonymous ids --------------------------------------------------------------------
def _salt(salt: bytes | str | None) -> bytes:
    if salt is None:
        env = os.environ.get("JINGKANG_LEDGER_SALT")
        return env.encode() if env else secrets.token_bytes(16)
    return salt.encode() if isinstance(salt, str) else bytes(salt)


def pseudonymise(ids: pd.Series, salt: bytes | str | None = None) -> np.ndarray:
    """Keyed BLAKE2b-128 hashes of normalised ids (strip, upper-case), as hex strings.

    Parameters
    ----------
    ids
        Patient ids.
    salt
        Key; defaults to ``$JINGKANG_LEDGER_SALT``, else a random per-call key (hashes are then
        comparable only within one call).
    """
    key = _salt(salt)[:64]
    norm = ids.astype("string").str.strip().str.upper().fillna("")
    return np.array([hashlib.blake2b(v.encode(), key=key, digest_size=16).hexdigest()
                     for v in norm.to_numpy(dtype=object)], dtype=object)


# --- plausibility -----------------------------------------------------------------------
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")
_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_checksum_ok(text: str) -> bool:
    """Tell whether an 18-character resident id number (身份证号) has a valid check digit.

    Parameters
    ----------
    text : str
        17 digits and a check character (digit or ``X``), GB 11643-1999.

    Returns
    -------
    bool
    """
    t = text.strip().upper()
    if not _ID18.match(t):
        return False
    total = sum(int(d) * w for d, w in zip(t[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == t[17]


def _row_list(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" … (+{len(rows) - limit})" if len(rows) > limit else "")


def _id_warnings(frame: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """Warn (rows only, never values) about resident id numbers with a wrong check digit."""
    out = []
    cols = [c for c in frame.columns if c == "patient_id" or "身份证" in str(c)]
    for col in cols:
        text = frame[col].astype("string").str.strip().str.upper()
        shaped = text.str.fullmatch(_ID18.pattern).fillna(False).to_numpy(dtype=bool)
        if shaped.sum() < max(1, 0.5 * text.notna().sum()):
            continue  # not a column of resident id numbers
        bad = shaped & ~text.map(id_checksum_ok, na_action="ignore").fillna(
            False).to_numpy(dtype=bool)
        if bad.any():
            out.append(f"{int(bad.sum())} id number(s) in column '{col}' fail the 身份证号 check "
                       f"digit (rows {_row_list(rows[bad])}); check them for typing errors")
    return out


def _check_visit_dates(clean: pd.DataFrame, rows: np.ndarray, source: str,
                       today: pd.Timestamp) -> None:
    """Refuse impossible (2024-13-45) and future visit dates, naming the row (not the value)."""
    dates = clean["visit_dates"]
    for pos in np.flatnonzero(dates.notna().to_numpy()):
        for y, mo, d in _DATE.findall(str(dates.iloc[pos])):
            try:
                when = pd.Timestamp(int(y), int(mo), int(d))
            except ValueError:
                msg = ("a visit date is not a real date (value withheld: patient data); "
                       "write dates as YYYY-MM-DD")
                raise InputError(msg, source=source, row=int(rows[pos]),
                                 field="visit_dates") from None
            if when > today:
                msg = (f"a visit date lies in the future (after {today.date()}; value "
                       "withheld: patient data); only visits that took place count")
                raise InputError(msg, source=source, row=int(rows[pos]), field="visit_dates")


# --- aggregation -------------------------------------------------------------------------
def _visit_counts(clean: pd.DataFrame) -> pd.Series:
    visits = clean["visits"].astype("Float64")
    dates = clean["visit_dates"]
    if dates.notna().any():
        n_dates = dates.str.count(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}").astype("Float64")
        visits = visits.fillna(n_dates.where(dates.notna()))
    return visits


def _aggregate(clean: pd.DataFrame, unit: np.ndarray, units: gpd.GeoDataFrame,
               present: set[str], eligibility: Eligibility | None,
               period_years: float) -> pd.DataFrame:
    placed = unit >= 0
    c = clean[placed]
    status = c["status"]
    home = (status == "home").fillna(True).to_numpy(dtype=bool)  # no status: listed at home
    cols: dict[str, np.ndarray] = {
        "records": np.ones(len(c), dtype=np.int64),
        "patients": home,
        "hospital": (status == "hospital").fillna(False).to_numpy(dtype=bool),
    }
    cols["patients_served"] = home & c["served"].fillna(False).to_numpy(dtype=bool)
    age = c["age"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    risk = c["risk_level"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    grade = c["disability_grade"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if eligibility is not None:
        diag = c["diagnosis"].astype(object).where(c["diagnosis"].notna(), None).to_numpy()
        ok = eligibility.passes(age, risk, grade, diag)
        cols["eligible"] = ok & home if eligibility.require_home else ok
    else:
        cols["eligible"] = np.zeros(len(c), dtype=bool)  # reported as unknown below
    for k in RISK_LEVELS:
        cols[f"risk_{k}"] = home & (risk == k)
    cols["risk_unknown"] = home & np.isnan(risk)
    for g in DISABILITY_GRADES:
        cols[f"disability_{g}"] = home & (grade == g)
    cols["disability_none"] = home & np.isnan(grade)
    visits = _visit_counts(c).to_numpy(dtype=float, na_value=np.nan)
    cols["visits"] = np.nan_to_num(visits)
    cols["visit_patients"] = ~np.isnan(visits)
    frame = pd.DataFrame({k: np.asarray(v, dtype=np.int64) if k != "visits" else v
                          for k, v in cols.items()})
    frame["unit_id"] = units["unit_id"].astype("string").to_numpy(dtype=object)[unit[placed]]
    ids = pd.Index(units["unit_id"].astype("string"), name="unit_id")
    agg = frame.groupby("unit_id").sum().reindex(ids, fill_value=0)
    agg["visits"] = agg["visits"].round().astype(np.int64)
    rate = (agg["visits"] / (agg["visit_patients"] * period_years)).where(
        agg["visit_patients"] > 0)
    out = agg.astype("Int64").assign(visits_per_patient_year=rate.astype("Float64"))
    unknown: list[str] = []
    if "served" not in present:
        unknown.append("patients_served")
    if eligibility is None or not eligibility.informed_by(present):
        unknown.append("eligible")
    if "status" not in present:
        unknown.append("hospital")
    if "risk_level" not in present:
        unknown += [f"risk_{k}" for k in RISK_LEVELS] + ["risk_unknown"]
    if "disability_grade" not in present:
        unknown += [f"disability_{g}" for g in DISABILITY_GRADES] + ["disability_none"]
    if not {"visits", "visit_dates"} & present:
        unknown += ["visits", "visit_patients", "visits_per_patient_year"]
    for col in unknown:
        out[col] = pd.NA
    return out[list(AGGREGATE_COLUMNS)]


# --- public API --------------------------------------------------------------------------
def summarise_ledger(
    table: pd.DataFrame,
    units: gpd.GeoDataFrame,
    *,
    source: str = "ledger",
    datum: str = "wgs84",
    rename: dict[str, str] | None = None,
    eligibility: Eligibility | None = None,
    period_years: float = 1.0,
    on_duplicate: Literal["report", "error"] = "report",
) -> LedgerSummary:
    """Validate a ledger table, place each patient in a township and count per township.

    Parameters
    ----------
    table
        The ledger as read (one row per patient; any of the headers in :data:`LEDGER_SCHEMA`).
        An integer index is taken as the row's position below the header (blank rows
        skipped), as :mod:`planning.data.io` readers produce; it is not modified. Rows are
        reported as a spreadsheet numbers them (header = row 1).
    units
        Validated township polygons (``unit_id``, ``name``, ``district``, geometry, EPSG:4326).
    source
        File name for messages.
    datum
        What ``lon``/``lat`` really are: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.
    rename
        Map the file's headers to canonical ones, e.g. ``{"编号2": "patient_id"}``.
    eligibility
        Station intake rule from the chosen profile (``profile.eligibility``); ``None`` leaves
        ``eligible`` unknown.
    period_years
        Length of the follow-up period the visit counts cover.
    on_duplicate
        ``"report"`` counts a repeated id once and lists the rows; ``"error"`` refuses the file.
        Repeats are found by keyed hashes of the ids (:func:`pseudonymise`, keyed with
        ``$JINGKANG_LEDGER_SALT`` or a random per-call key); the hashes never leave the call.

    Returns
    -------
    LedgerSummary

    Raises
    ------
    InputError
        On the first invalid cell (file, row, field; the value is withheld), a missing id column,
        no way to locate patients, swapped coordinates or (with ``on_duplicate="error"``) a
        repeated id.
    """
    if period_years <= 0:
        msg = f"period_years must be positive, got {period_years}"
        raise InputError(msg, source=source, field="period_years")
    n = len(table)
    index = table.index
    base = (np.asarray(index, dtype=np.int64) if pd.api.types.is_integer_dtype(index.dtype)
            and index.is_unique else np.arange(n))
    rows = base + 2
    frame = table.rename(columns=rename) if rename else table
    frame = _canonical_headers(frame, source)
    present = {f.name for f in LEDGER_SCHEMA.fields if f.name in frame.columns}
    if not ({"lon", "lat"} <= present or {"township", "address"} & present):
        msg = ("no way to place patients in townships: expected 经度/纬度 (lon/lat), a "
               f"街道/乡镇 (township) column or 住址 (address); {describe_columns(frame.columns)}")
        raise InputError(msg, source=source, field="address")
    clean = _validate(_normalise_values(frame), source, rows)
    if "visit_dates" in present:
        _check_visit_dates(clean, rows, source, pd.Timestamp.today().normalize())
    coverage = {f.name: float(clean[f.name].notna().mean()) if f.name in present else 0.0
                for f in LEDGER_SCHEMA.fields}

    lon = clean["lon"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    lat = clean["lat"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    has_xy = ~(np.isnan(lon) | np.isnan(lat))
    swapped = has_xy & (lon < lat) & (lat > 60)
    if swapped.any():
        msg = ("longitude smaller than latitude (value withheld: patient data): are the "
               "longitude and latitude columns swapped?")
        raise InputError(msg, source=source, row=int(rows[np.argmax(swapped)]), field="lon")
    for name, vals, limit in (("lon", lon, 180), ("lat", lat, 90)):
        bad = np.abs(np.nan_to_num(vals)) > limit
        if bad.any():
            msg = (f"not a {'longitude' if name == 'lon' else 'latitude'} in degrees (value "
                   "withheld: patient data); are the coordinates projected?")
            raise InputError(msg, source=source, row=int(rows[np.argmax(bad)]), field=name)

    hashed = pseudonymise(clean["patient_id"])
    codes, _ = pd.factorize(hashed)
    _, first = np.unique(codes, return_index=True)
    dup = first[codes] != np.arange(n)
    duplicates = tuple(zip(rows[dup].tolist(), rows[first[codes[dup]]].tolist(), strict=True))
    del hashed, codes
    if duplicates and on_duplicate == "error":
        row, first_row = duplicates[0]
        msg = f"the patient id repeats the one in row {first_row}; ids must be unique"
        raise InputError(msg, source=source, row=row, field="patient_id")

    gaz = Gazetteer(units)
    unit = np.full(n, -1, dtype=np.int64)
    reason = np.full(n, "nothing", dtype=object)
    located_by = {"coordinates": 0, "township": 0, "address": 0}
    warnings: list[str] = []
    todo = ~dup
    if (has_xy & todo).any():
        sel = has_xy & todo
        unit[sel] = locate_points(lon[sel], lat[sel], units, datum)
        reason[sel & (unit < 0)] = "outside"
        located_by["coordinates"] = int((unit[sel] >= 0).sum())
        if datum.lower().replace("-", "") == "wgs84":
            idx = np.flatnonzero(sel)
            if len(idx) > _DATUM_SAMPLE:
                idx = np.random.default_rng(0).choice(idx, _DATUM_SAMPLE, replace=False)
            pts = gpd.GeoSeries(shapely.points(lon[idx], lat[idx]), crs=crs_mod.WGS84)
            warn = detect_gcj02_offset(pts, units, sample=_DATUM_SAMPLE)
            if warn is not None:
                warnings.append(str(warn))
    district = (clean["district"].astype("string") if "district" in present
                else pd.Series(pd.NA, index=clean.index, dtype="string"))
    if "district" in present:
        district = district.map(gaz.district_of.get, na_action="ignore").astype("string")
    for col in ("township", "address"):
        sel = todo & (unit < 0) & clean[col].notna().to_numpy()
        if col not in present or not sel.any():
            continue
        found, ambiguous = gaz.match(clean.loc[sel, col], district[sel],
                                     exact=col == "township")
        idx = np.flatnonzero(sel)
        unit[idx] = found
        miss = "no_township" if col == "township" else "no_address_match"
        reason[idx[found < 0]] = np.where(ambiguous[found < 0], "ambiguous", miss)
        located_by[col] = int((found >= 0).sum())

    not_placed = todo & (unit < 0)
    if todo.any() and not_placed.all():
        why = pd.Series(reason[todo]).value_counts().index[0]
        warnings.append(f"{NOTHING_PLACED}: none of the {int(todo.sum())} patients lies in a "
                        f"township of this boundary layer (most: {REASONS[why]}); is the "
                        "ledger from another city, or its coordinates in another datum? "
                        "Applying it would set every count to 0")
    warnings.extend(_id_warnings(clean, rows))
    unmatched = tuple(zip(rows[not_placed].tolist(),
                          [REASONS[r] for r in reason[not_placed]], strict=True))
    aggregates = _aggregate(clean, np.where(todo, unit, -1), units, present, eligibility,
                            period_years)
    log.info("ledger %s: %d rows, %d placed, %d not placed, %d duplicates", source, n,
             int((unit >= 0).sum()), len(unmatched), len(duplicates))
    return LedgerSummary(
        source=source, aggregates=aggregates, n_rows=n, n_matched=int((todo & (unit >= 0)).sum()),
        n_unmatched=len(unmatched), unmatched=unmatched, duplicates=duplicates,
        coverage=coverage, located_by=located_by, eligibility=eligibility,
        period_years=period_years, warnings=tuple(warnings),
    )


def read_ledger(
    file: str | Path | IO[bytes],
    units: gpd.GeoDataFrame,
    *,
    name: str | None = None,
    sheet: str | int | None = None,
    **options: Any,
) -> LedgerSummary:
    """Read a ledger file (.csv UTF-8/GBK, .xlsx) and summarise it per township.

    Parameters
    ----------
    file
        Path or binary file object (e.g. a Streamlit upload, with ``name``).
    units
        Validated township polygons.
    name
        File name for messages and format detection when ``file`` is a stream.
    sheet
        Excel sheet (name or 0-based position).
    **options
        Passed to :func:`summarise_ledger` (``datum``, ``rename``, ``eligibility``,
        ``period_years``, ``on_duplicate``).

    Returns
    -------
    LedgerSummary
        Township counts only; the rows read are discarded when this function returns.
    """
    if isinstance(file, str | Path):
        path = Path(file)
        if not path.exists():
            msg = "file not found"
            raise InputError(msg, source=str(path))
        source, data = name or path.name, path.read_bytes()
    else:
        data = file.read()
        source = name or Path(getattr(file, "name", "") or "upload").name
    suffix = Path(source).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        msg = f"unsupported ledger type {suffix or '(none)'}; expected one of " + ", ".join(
            TABLE_SUFFIXES)
        raise InputError(msg, source=source)
    table = _read_table(data, None, source, suffix, sheet)
    return summarise_ledger(table, units, source=source, **options)


#: Start of the warning of a ledger that placed nobody (see :func:`apply_to_units`).
NOTHING_PLACED = "nothing placed"


def apply_to_units(units: gpd.GeoDataFrame, summary: LedgerSummary, *,
                   allow_empty: bool = False) -> gpd.GeoDataFrame:
    """Return a new townships table with ``patients``, ``patients_served``, ``eligible`` set.

    Townships the summary does not know get ``<NA>``; counts the ledger cannot inform (e.g. no
    ``是否接受社区康复`` column) are ``<NA>``. The result passes
    :func:`planning.data.model.make_dataset`.

    With ``allow_empty=False`` (the default) a ledger that placed nobody is refused: applying
    it would set every township's count to 0 (a ledger of another city, or another datum);
    the user must choose ``allow_empty=True`` explicitly.

    Raises
    ------
    InputError
        If the summary placed patients in townships that ``units`` lacks (it was built on
        another boundary layer), or placed nobody at all (unless ``allow_empty``).
    """
    if summary.n_rows and not summary.n_matched and not allow_empty:
        msg = (f"none of the {summary.n_unmatched} patients of this ledger lies in a township "
               "of the boundary layer; applying it would set every count to 0. Is the ledger "
               "from another city or in another datum? Check it, or apply it explicitly")
        raise InputError(msg, source=summary.source, field="township")
    agg = summary.aggregates
    ids = units["unit_id"].astype("string")
    foreign = agg.index[~agg.index.isin(ids) & (agg["records"] > 0).to_numpy()]
    if len(foreign):
        msg = (f"the ledger summary has patients in township {foreign[0]!r}, which this "
               "boundary layer lacks; summarise the ledger against these townships")
        raise InputError(msg, source=summary.source, field="unit_id")
    out = units.copy()
    for col in ("patients", "patients_served", "eligible"):
        out[col] = pd.array(ids.map(agg[col]).to_numpy(dtype=object, na_value=pd.NA),
                            dtype="Int64")
    return out


def with_ledger(dataset: Dataset, summary: LedgerSummary, *,
                allow_empty: bool = False) -> Dataset:
    """Return the dataset with its township patient counts taken from a ledger summary.

    Only the count columns change: the township polygons keep their provenance, so a
    synthetic boundary layer stays labelled synthetic while ``units.patients`` no longer is.

    Parameters
    ----------
    dataset : Dataset
        The loaded dataset (not modified).
    summary : LedgerSummary
        From :func:`read_ledger` / :func:`summarise_ledger` on ``dataset.units``.
    allow_empty : bool
        Apply a ledger that placed nobody (see :func:`apply_to_units`).

    Returns
    -------
    Dataset
    """
    units = apply_to_units(dataset.units, summary, allow_empty=allow_empty)
    merged = replace_layers(dataset, units=units, source=f"ledger {summary.source} (aggregated)")
    kept = tuple(s for s in dataset.synthetic if s != "units.patients")
    return dataclasses.replace(merged, synthetic=kept)


def count_eligible(ledger_df: pd.DataFrame, criteria: Eligibility,
                   by: str | None = "unit_id") -> pd.DataFrame:
    """Count ledger rows meeting a profile's client eligibility, per ``by`` — counts only.

    Row-level ledgers stay in this ingestion module: callers elsewhere get counts.

    Parameters
    ----------
    ledger_df : pandas.DataFrame
        Row-level ledger with ``age``, ``risk_level`` (highest level assessed in the last
        6 months), ``disability_grade`` (psychiatric disability grade 1–4, empty without a
        certificate) and the ``by`` column. Columns a criterion does not use may be absent.
    criteria : Eligibility
        The profile's criteria (``profile.eligibility``).
    by : str, optional
        Grouping column, or ``None`` for one total row (index ``"all"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``: ``total``, ``eligible`` and ``excluded_age`` / ``excluded_risk`` /
        ``excluded_grade`` (rows failing each criterion; a row may fail several; a missing value
        fails). Never row-level data.

    Raises
    ------
    InputError
        A needed column is missing or holds non-numbers (the message never echoes values).
    """
    needed = [c for c in Criteria.needs(criteria) if c != "diagnosis"] + ([by] if by else [])
    for col in needed:
        if col not in ledger_df.columns:
            msg = f"the ledger has no '{col}' column, needed by {criteria.citation}"
            raise InputError(msg, source="ledger", field=col)
    keys = ledger_df[by] if by else pd.Series("all", index=ledger_df.index)
    cols: dict[str, np.ndarray] = {}
    numeric = {"age", "risk_level", "disability_grade"} | {
        f for c in (criteria, *criteria.any_of, *(x for pair in criteria.conditions
                                                   for x in pair)) for f in c.flags}
    for col in numeric & set(ledger_df.columns):
        raw = ledger_df[col]
        if col not in ("age", "risk_level", "disability_grade"):
            raw = raw.map(lambda v: {"是": 1, "否": 0, True: 1, False: 0}.get(v, v))
        vals = pd.to_numeric(raw, errors="coerce")
        bad = vals.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            msg = (f"'{col}' is not a number in {int(bad.sum())} row(s), first at row "
                   f"{int(np.flatnonzero(bad.to_numpy())[0]) + 2}")
            raise InputError(msg, source="ledger", field=col)
        cols[col] = vals.to_numpy(dtype=float, na_value=np.nan)
    if "diagnosis" in ledger_df.columns:
        diag = ledger_df["diagnosis"]
        cols["diagnosis"] = diag.astype(object).where(diag.notna(), None).to_numpy()
    n = len(ledger_df)
    out = pd.DataFrame({"total": 1}, index=ledger_df.index)
    names = {"age": "excluded_age", "risk_level": "excluded_risk",
             "disability_grade": "excluded_grade"}
    ok = np.ones(n, dtype=bool)
    for part, mask in criteria.exclusions(cols, n).items():
        out[names.get(part, f"excluded_{part}")] = (~mask).astype(int)
        ok &= mask
    out["eligible"] = ok.astype(int)
    counts = out.groupby(keys.rename(by or "group"), dropna=False).sum()
    return counts[["total", "eligible", *[c for c in counts if c.startswith("excluded_")]]]
