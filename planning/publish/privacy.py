"""Disclosure control: small-cell suppression of published counts, and scrubbed logs.

Suppression rule (applied by :func:`suppress`)
----------------------------------------------
*Primary.* Every count from 1 to ``threshold - 1`` is shown as ``"<threshold"`` (``"<5"``).
Zeros are shown: a zero discloses no person.

*Complementary.* Published totals must not give a hidden cell back. The cells that add up to a
total form a *line*: the rows of one group in one column (their sum is the group total, or the
grand total without groups), the group totals of one column (their sum is the grand total), and,
with ``row_total=``, the other count columns of one row (their sum is that row's total). A line
is *exposed* when

1. exactly one of its cells (its total included) is hidden — total minus the visible cells gives
   it back; or
2. its total is shown and every hidden cell is a primary one whose values are forced: their sum
   equals their number (all are 1) or ``number × (threshold - 1)`` (all are the maximum).

While any line is exposed, the smallest visible non-zero cell of that line is hidden as well
(shown as ``"*"``); if none is left, the line's total is hidden. This repeats until no line is
exposed (it always ends: each step hides one more cell). Totals published with the table must
be the ones :func:`suppress` returns with ``totals=True`` — they carry the same protection.
The rule blocks recovery from any single published total; it is not a full linear-programming
audit across many lines at once.

Logs
----
:class:`ScrubFilter` (install with :func:`install_log_scrubber`) rewrites every log record so that
18-digit resident id numbers (身份证号), 15-digit old ones, mainland mobile and landline phone
numbers and any caller-given sensitive strings never reach a handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from planning.settings import DEFAULT, Settings

#: Marker of a cell hidden by the complementary rule (its value may be large).
SECONDARY = "*"
TOTAL_LABEL = "合计 Total"

#: Count columns :func:`suppress_frame_for_export` protects when present.
COUNT_COLUMNS: tuple[str, ...] = (
    "patients", "patients_served", "eligible", "records", "hospital",
    *(f"risk_{k}" for k in range(6)), "risk_unknown",
    *(f"disability_{g}" for g in range(1, 5)), "disability_none", "visit_patients",
)


def _threshold(threshold: int | None, settings: Settings | None) -> int:
    t = threshold if threshold is not None else (settings or DEFAULT).suppression_threshold
    if t < 2:
        msg = f"the suppression threshold must be at least 2, got {t}"
        raise ValueError(msg)
    return int(t)


def _lines(n_rows: int, n_cols: int, group_codes: np.ndarray, n_groups: int,
           row_total: int | None) -> list[tuple[np.ndarray, int]]:
    """(member cells, total cell) of every line, as flat indices into the extended grid.

    The extended grid has the data rows, then one total row per group, then the grand total.
    """
    def cell(r: int | np.ndarray, c: int | np.ndarray) -> np.ndarray:
        return np.asarray(r) * n_cols + np.asarray(c)

    grand = n_rows + n_groups
    lines: list[tuple[np.ndarray, int]] = []
    for c in range(n_cols):
        for g in range(n_groups):
            members = np.flatnonzero(group_codes == g)
            lines.append((cell(members, c), int(cell(n_rows + g, c))))
        if n_groups > 1:
            lines.append((cell(n_rows + np.arange(n_groups), c), int(cell(grand, c))))
    if row_total is not None:
        others = np.array([c for c in range(n_cols) if c != row_total])
        last = grand if n_groups > 1 else n_rows + n_groups - 1
        for r in range(last + 1):
            lines.append((cell(r, others), int(cell(r, row_total))))
    return lines


def suppression_mask(
    values: np.ndarray,
    *,
    threshold: int,
    group_codes: np.ndarray | None = None,
    row_total: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Primary and complementary suppression on a grid of counts.

    Parameters
    ----------
    values
        Non-negative integer counts, shape ``(rows, columns)``.
    threshold
        Counts 1 … ``threshold - 1`` are hidden.
    group_codes
        Group of each row (0 … g-1); rows of a group add up to a published group total.
    row_total
        Position of a column that is the sum of the others.

    Returns
    -------
    (grid, hidden)
        ``grid`` is ``values`` extended with one total row per group and a grand total row
        (only one total row when there is a single group); ``hidden`` is a same-shaped array of
        0 (shown), 1 (primary) or 2 (complementary).
    """
    values = np.asarray(values, dtype=np.int64)
    n_rows, n_cols = values.shape
    codes = (np.zeros(n_rows, dtype=np.int64) if group_codes is None
             else np.asarray(group_codes, dtype=np.int64))
    n_groups = int(codes.max()) + 1 if n_rows else 1
    totals = np.zeros((n_groups, n_cols), dtype=np.int64)
    np.add.at(totals, codes, values)
    parts = [values, totals]
    if n_groups > 1:
        parts.append(totals.sum(axis=0, keepdims=True))
    grid = np.vstack(parts)
    flat = grid.ravel()
    hidden = np.where((flat >= 1) & (flat < threshold), 1, 0).astype(np.int8)
    lines = _lines(n_rows, n_cols, codes, n_groups, row_total)
    changed = True
    while changed:
        changed = False
        for members, total in lines:
            cells = np.append(members, total)
            k = int(np.count_nonzero(hidden[cells]))
            if k == 0:
                continue
            exposed = k == 1
            if not exposed and not hidden[total]:
                h = members[hidden[members] > 0]
                if np.all(hidden[h] == 1):
                    s = int(flat[h].sum())
                    exposed = s in (len(h), len(h) * (threshold - 1))
            if not exposed:
                continue
            visible = members[(hidden[members] == 0) & (flat[members] > 0)]
            if len(visible):
                pick = visible[np.argmin(flat[visible])]
            elif not hidden[total]:
                pick = total
            else:
                continue  # nothing left to hide in this line; a neighbouring line protects it
            hidden[pick] = 2
            changed = True
    return grid, hidden.reshape(grid.shape)


def suppress(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    threshold: int | None = None,
    group: str | None = None,
    row_total: str | None = None,
    totals: bool = False,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Return a display copy of ``table`` with small counts and their complements hidden.

    Parameters
    ----------
    table
        Aggregated counts, one row per area (e.g. townships).
    columns
        Count columns to protect (missing values count as 0 for totals and are shown as-is).
    threshold
        Counts 1 … ``threshold - 1`` become ``"<threshold"``; default
        ``settings.suppression_threshold`` (5).
    group
        Column whose groups have published subtotals (e.g. ``"district"``).
    row_total
        One of ``columns`` that is the sum of the others in each row (e.g. ``"patients"`` over
        ``risk_0`` … ``risk_5``).
    totals
        Append protected total rows (per group and overall), labelled :data:`TOTAL_LABEL`.
    settings
        Source of the default threshold.

    Returns
    -------
    pandas.DataFrame
        Same index and columns (plus total rows if asked); protected columns hold Python ints
        and the strings ``"<5"`` and ``"*"``. See the module docstring for the rule.
    """
    t = _threshold(threshold, settings)
    cols = list(columns)
    raw = table[cols].apply(pd.to_numeric, errors="coerce")
    missing = raw.isna().to_numpy()
    values = raw.fillna(0).round().astype(np.int64).to_numpy()
    if (values < 0).any():
        msg = "counts to suppress must not be negative"
        raise ValueError(msg)
    if group is not None:
        codes, labels = pd.factorize(table[group], use_na_sentinel=False)
    else:
        codes, labels = np.zeros(len(table), dtype=np.int64), pd.Index([None])
    rt = cols.index(row_total) if row_total is not None else None
    grid, hidden = suppression_mask(values, threshold=t, group_codes=codes, row_total=rt)
    shown = grid.astype(object)
    shown[hidden == 1] = f"<{t}"
    shown[hidden == 2] = SECONDARY
    out = table.copy()
    n = len(table)
    body = shown[:n]
    body[missing] = pd.NA
    for j, c in enumerate(cols):
        out[c] = pd.Series(body[:, j], index=table.index, dtype=object)
    if not totals:
        return out
    extra = shown[n:]
    names = [f"{TOTAL_LABEL} {g}" if group is not None else TOTAL_LABEL for g in labels]
    if len(extra) > len(labels):
        names.append(TOTAL_LABEL)
    rows = pd.DataFrame(extra, columns=cols, index=pd.Index(names, name=table.index.name))
    if group is not None:
        rows[group] = [*labels, *([TOTAL_LABEL] if len(extra) > len(labels) else [])]
    return pd.concat([out, rows.astype(object)])


def suppress_frame_for_export(
    frame: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    derived: Iterable[str] | None = None,
    threshold: int | None = None,
    group: str | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Return the copy of an aggregated table (or GeoDataFrame) that may be published.

    Protected count columns (default: those of :data:`COUNT_COLUMNS` present) become text —
    numbers, ``"<5"`` or ``"*"`` — so every writer (Excel, GeoPackage, map tooltips) shows the
    same thing. Columns in ``derived`` (rates computed from counts, e.g. a coverage share) are
    blanked in rows where any protected count is hidden, since a rate can give a count back;
    by default (``derived=None``) every rate-, share- or density-like column is
    (:func:`derived_columns`).
    """
    cols = [c for c in (columns if columns is not None else COUNT_COLUMNS) if c in frame.columns]
    if not cols:
        return frame.copy()
    shown = suppress(frame, cols, threshold=threshold, group=group, settings=settings)
    out = frame.copy()
    hidden_row = np.zeros(len(frame), dtype=bool)
    for c in cols:
        text = shown[c].map(lambda v: v if isinstance(v, str) or v is pd.NA else str(v))
        hidden_row |= text.isin([SECONDARY]).to_numpy() | text.str.startswith("<").fillna(
            False).to_numpy(dtype=bool)
        out[c] = text.astype("string")
    for c in (derived_columns(frame, cols) if derived is None else derived):
        if c in out.columns:
            out[c] = out[c].astype(object).where(~hidden_row, SECONDARY)
    return out


def public_site_table(sites: pd.DataFrame, *, weight: str,
                      settings: Settings | None = None) -> pd.DataFrame:
    """Suggested sites as a table that may be shown or downloaded (lon/lat, no geometry).

    When demand was weighted by patients (``weight`` is ``patients`` or ``eligible``), the
    demand served per site is a patient count: it is small-cell suppressed and the mean
    minutes of a hidden cell blanked. Population-weighted demand is published as is.

    Parameters
    ----------
    sites : pandas.DataFrame
        ``SitingPlan.sites`` (a GeoDataFrame of points with ``demand_served``).
    weight : str
        The demand weight of the run.
    settings : Settings, optional
        Suppression threshold.

    Returns
    -------
    pandas.DataFrame
    """
    geom = sites.geometry
    table = pd.DataFrame(sites.drop(columns=geom.name)).assign(lon=geom.x, lat=geom.y)
    if weight == "population":
        return table
    return suppress_frame_for_export(table, columns=["demand_served"], derived=["mean_minutes"],
                                     settings=settings)


#: Metrics whose measured value is a rate over patient counts (a small denominator gives the
#: counts back): served share of home patients, home visits per patient-month.
PATIENT_METRICS = frozenset({"served_rate", "home_visits_per_patient_month"})


def public_findings(findings: pd.DataFrame, units: pd.DataFrame, metric_of: Mapping[str, str],
                    *, settings: Settings | None = None) -> pd.DataFrame:
    """Return findings as they may be shown or exported: patient rates of small areas blanked.

    A finding of a patient-derived metric (:data:`PATIENT_METRICS`) about a township, district
    or city with 1 to ``threshold - 1`` registered home patients keeps its status but loses its
    ``measured`` value (and the reason says why), since the rate and the count would give the
    patients back. Everything else is unchanged.

    Parameters
    ----------
    findings : pandas.DataFrame
        The findings table (:func:`planning.rules.evaluate`).
    units : pandas.DataFrame
        Townships with ``unit_id``, ``district`` and ``patients`` (exact counts).
    metric_of : mapping
        Rule id → metric name (``{r.id: r.metric for r in profile.rules}``).
    settings : Settings, optional
        Suppression threshold.

    Returns
    -------
    pandas.DataFrame
        A copy; the input is not changed.
    """
    out = findings.copy()
    rows = out["rule_id"].map(metric_of).isin(PATIENT_METRICS).to_numpy(dtype=bool)
    if not rows.any() or "patients" not in units.columns:
        return out
    thr = _threshold(None, settings)
    pats = pd.to_numeric(units["patients"], errors="coerce").astype(float)
    by_unit = dict(zip(units["unit_id"].astype(str), pats, strict=True))
    by_district = pats.groupby(units["district"].astype(str)).sum(min_count=1).to_dict()
    city = float(pats.sum(min_count=1)) if pats.notna().any() else np.nan
    kind = out["entity_type"].astype(str).to_numpy()
    n = np.where(kind == "township", out["entity_id"].astype(str).map(by_unit).to_numpy(float),
                 np.where(kind == "district",
                          out["district"].astype(str).map(by_district).to_numpy(float), city))
    small = rows & (n > 0) & (n < thr)
    if small.any():
        out["measured"] = out["measured"].astype(float).where(~small, np.nan)
        out["reason"] = out["reason"].astype(object).where(
            ~small, f"suppressed: fewer than {thr} patients")
    return out


# --- logs ------------------------------------------------------------------------------------
_ID_CARD = re.compile(r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                      r"(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])")
_ID_CARD_OLD = re.compile(r"(?<![0-9])[1-9]\d{14}(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])0\d{2,3}[- ]?\d{7,8}(?![0-9])")
_LONG_DIGITS = re.compile(r"(?<![0-9])\d{17}[0-9Xx](?![0-9A-Za-z])")


def scrub_text(text: str, tokens: Iterable[str] = ()) -> str:
    """``text`` with id numbers, phone numbers and the given sensitive strings redacted."""
    for tok in sorted({t for t in tokens if t}, key=len, reverse=True):
        text = text.replace(tok, "[redacted]")
    text = _ID_CARD.sub("[id]", text)
    text = _LONG_DIGITS.sub("[id]", text)
    text = _ID_CARD_OLD.sub("[id]", text)
    text = _MOBILE.sub("[phone]", text)
    return _LANDLINE.sub("[phone]", text)


def scrub_log_record(record: logging.LogRecord, tokens: Iterable[str] = ()) -> logging.LogRecord:
    """Rewrite ``record`` in place: message (with its arguments) and traceback text scrubbed."""
    record.msg = scrub_text(record.getMessage(), tokens)
    record.args = None
    if record.exc_info:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = scrub_text(text, tokens)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub_text(record.exc_text, tokens)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info, tokens)
    return record


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs every record (see :func:`scrub_log_record`); drops none.

    Parameters
    ----------
    tokens
        Extra strings to redact (e.g. a project's own place or person names). Held by this
        filter object only; give each session its own filter rather than a shared mutable set.
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        super().__init__()
        self.tokens = frozenset(tokens)

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place and keep it."""
        scrub_log_record(record, self.tokens)
        return True


def install_log_scrubber(logger: logging.Logger | None = None,
                         tokens: Iterable[str] = ()) -> ScrubFilter:
    """Attach a :class:`ScrubFilter` to ``logger`` (default: root) and all its handlers.

    Handler filters see records propagated from every child logger; the logger filter covers
    records logged on it directly. Calling it twice does not add a second filter.
    """
    logger = logger or logging.getLogger()
    filt = next((f for f in logger.filters if isinstance(f, ScrubFilter)), None)
    if filt is None:
        filt = ScrubFilter(tokens)
        logger.addFilter(filt)
    for handler in logger.handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(filt)
    return filt


#: Township columns that hold patient counts (aggregates), suppressed whenever published.
PATIENT_COLUMNS = ("patients", "patients_served", "eligible")

#: Column of :func:`public_units` with home patients per 10,000 residents (blank when hidden).
RATE_COLUMN = "rate_per_10k"

#: Name fragments of columns computed from counts (rates, shares, densities): blanked in every
#: row where a count is hidden, since with the population they give the count back.
_DERIVED_HINTS = ("rate", "share", "ratio", "pct", "percent", "density", "per_", "coverage",
                  "proportion", "prevalence", "_per", "served_share", "heat", "weight")


def _is_hidden(value: object) -> bool:
    return isinstance(value, str) and (value == SECONDARY or value.startswith("<"))


def derived_columns(frame: pd.DataFrame, counts: Iterable[str] = ()) -> list[str]:
    """Columns of ``frame`` whose names mark them as computed from counts (rates, shares).

    Parameters
    ----------
    frame : pandas.DataFrame
        A table about to be published.
    counts : iterable of str
        The count columns themselves (never listed).

    Returns
    -------
    list of str
    """
    skip = set(counts) | {"geometry"}
    return [c for c in frame.columns if c not in skip
            and any(h in str(c).lower() for h in _DERIVED_HINTS)]


def public_units(units: gpd.GeoDataFrame, *,
                 threshold: int = DEFAULT.suppression_threshold) -> gpd.GeoDataFrame:
    """Return the township layer as it may be published: counts small-cell suppressed.

    Counts ``1 .. threshold-1`` become ``"<5"``, complementary cells (per district) ``"*"``.
    Everything that could give a hidden count back is blanked (``None``) in the same row: the
    patients per 10,000 residents (:data:`RATE_COLUMN`, added here so that maps never compute a
    rate from raw counts) and every other rate-, share- or density-like column. Population stays:
    without a rate it says nothing about the count.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Township layer with optional ``patients``, ``patients_served``, ``eligible`` counts.
    threshold : int
        Counts ``1 .. threshold-1`` are hidden, with complementary suppression per district.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy whose count columns hold numbers, ``"<5"`` or ``"*"`` (object dtype), with
        :data:`RATE_COLUMN` when patients and population are known.
    """
    cols = [c for c in PATIENT_COLUMNS if c in units.columns]
    if not cols:
        return units.copy()
    table = suppress(units.drop(columns=units.geometry.name), cols,
                     threshold=threshold, group="district")
    out = units.copy()
    hidden = np.zeros(len(out), dtype=bool)
    for c in cols:
        out[c] = table[c].astype(object).where(table[c].notna(), None)
        hidden |= out[c].map(_is_hidden).to_numpy(dtype=bool)
    if "patients" in out.columns and "population" in out.columns:
        pats = pd.to_numeric(units["patients"], errors="coerce").astype(float)
        pop = pd.to_numeric(units["population"], errors="coerce").astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = (pats / pop.where(pop > 0) * 10_000).round(1)
        out[RATE_COLUMN] = rate.astype(object).where(rate.notna(), None)
    for c in derived_columns(out, cols):
        out[c] = out[c].astype(object).where(~hidden, None)
    return out


def heat_points(public: gpd.GeoDataFrame, *, column: str = "patients") -> list[list[float]]:
    """``[lat, lon, weight]`` of every township whose count is *shown* in ``public``.

    Takes the output of :func:`public_units` only: hidden cells (``"<5"``, ``"*"``) and
    missing counts never reach a heat layer, so the heat cannot give a hidden count back.

    Parameters
    ----------
    public : geopandas.GeoDataFrame
        From :func:`public_units`.
    column : str
        The count column to weight by.

    Returns
    -------
    list of [lat, lon, weight]
    """
    if column not in public.columns:
        return []
    # "<5", "*" and missing counts are not numbers: they never get a weight
    weight = pd.to_numeric(public[column].astype(object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan)
    keep = weight > 0
    if not keep.any():
        return []
    rows = public[keep]
    pts = rows.to_crs(rows.estimate_utm_crs()).representative_point().to_crs("EPSG:4326")
    return [[float(p.y), float(p.x), float(w)] for p, w in zip(pts, weight[keep], strict=True)]


def configure_logging() -> None:
    """Process-wide logging set-up, called once by each entry point (app, CLI), never at import.

    Installs the :class:`ScrubFilter` (identity-card and phone numbers redacted from every log
    line) and quiets matplotlib's font manager, which warns for every bold title in fonts
    without a bold face (WenQuanYi).
    """
    install_log_scrubber()
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
