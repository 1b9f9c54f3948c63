"""Tables and figures as a planner reads them: one language, titles not ids, units, help.

The engine's tables use identifiers (``rule_id``, ``status == "fail"``, ``measured``); the app
shows them through these functions, which rename headers, translate enumerated values, put the
clause next to the rule, write a reason for every failure and format numbers with units. Each
returns a new :class:`pandas.DataFrame` with one dtype per column (strings for display), so
Streamlit's Arrow conversion never meets mixed columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planning.i18n import TEXT, column_label, fmt_number, localize_table, t, tf, value_label

_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}


def _num(v: object) -> str:
    """Format a measured value or threshold with sensible decimals."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—" if v is None or v is pd.NA else str(v)
    if not np.isfinite(x):
        return "—"
    if x.is_integer():
        return f"{int(x):,}"
    return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 10 else f"{x:,.1f}"


def _field_label(name: str) -> str:
    from planning.data.model import SCHEMAS

    for schema in SCHEMAS.values():
        for f in schema.fields:
            if f.name == name and getattr(f, "label_zh", None):
                return f.label_zh
    key = f"col_{name}"
    return t(key, "zh") if key in TEXT else "所需字段"


def _kind_label(kind: str) -> str:
    from planning.data.model import FACILITY_KINDS

    return {"townships": "街乡", "facility": "机构", "township": "街乡",
            "district": "区"}.get(kind, FACILITY_KINDS.get(kind, kind))


#: The engine's English reasons → Chinese (applied to each "; "-separated part).
_REASONS_ZH: tuple[tuple[str, object], ...] = (
    (r"^'(\w+)' is empty for this (\w+)$",
     lambda m: f"该{_kind_label(m[2])}缺少“{_field_label(m[1])}”"),
    (r"^no '(\w+)' values in the data \(column missing or empty\)$",
     lambda m: f"数据中没有“{_field_label(m[1])}”（列缺失或为空）"),
    (r"^missing: (.*)$", lambda m: "缺少服务：" + "、".join(
        part.strip().split(" ")[0] for part in m[1].split(","))),
    (r"^no ([\w/]+) in this area$",
     lambda m: "本区域内没有" + "/".join(_kind_label(k) for k in m[1].split("/"))),
    (r"^'patients' or '(\w+)' missing for some townships$",
     lambda m: f"部分街乡缺少“居家患者”或“{_field_label(m[1])}”"),
    (r"^city figure '(\w+)' is not in the data$", lambda _m: "数据中没有该项全市数据"),
    (r"^pass it as extra=.*$", lambda _m: "请在数据中补充"),
    (r"^district (.+) is not in the dataset$", lambda m: f"数据中没有{m[1]}"),
    (r"^no (\w+) in the dataset$", lambda m: f"数据中没有{_kind_label(m[1])}"),
    (r"^and not met otherwise: (.*)$", lambda _m: "其他方式也未满足"),
    (r"^(.*) \(the district is not in the dataset\)$",
     lambda m: f"{m[1]}（数据中没有该区）"),
)


def reason_text(reason: str, lang: str = "zh") -> str:
    """Translate an engine reason to ``lang`` (English reasons pass through for ``"en"``)."""
    import re

    if lang != "zh":
        return reason
    parts = []
    for part in reason.split("; "):
        for pattern, render in _REASONS_ZH:
            m = re.match(pattern, part)
            if m:
                part = render(m)
                break
        parts.append(part)
    return "；".join(parts)


def failure_reason(row: pd.Series, lang: str = "zh") -> str:
    """Say why a finding failed or could not be assessed, in ``lang``.

    The engine's own ``reason`` wins when present; a failure without one gets
    "实测 0.95，标准 ≥ 1".
    """
    reason = row.get("reason")
    if isinstance(reason, str) and reason.strip():
        return reason_text(reason, lang)
    if row.get("status") == "fail":
        op = _OPS.get(str(row.get("op")), str(row.get("op")))
        if lang == "zh":
            return f"实测 {_num(row.get('measured'))}，标准 {op} {_num(row.get('threshold'))}"
        return f"measured {_num(row.get('measured'))}, standard {op} {_num(row.get('threshold'))}"
    if row.get("status") == "not_assessable":
        return "缺少所需数据" if lang == "zh" else "required data missing"
    return ""


def findings_table(findings: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Lay out findings for display: entity, rule title, result, clause first; reasons filled.

    Parameters
    ----------
    findings
        From :func:`planning.rules.evaluate_scope` (or a filtered part of it).
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    pandas.DataFrame
        Columns (in ``lang``): entity, district, rule, result, clause, measured, standard,
        reason, milestone — every value a string.
    """
    title = "title_zh" if lang == "zh" else "title_en"
    out = pd.DataFrame({
        "entity_name": findings["entity_name"].astype(str),
        "district": findings["district"].fillna("").astype(str),
        "rule": findings[title].astype(str),
        "status": findings["status"].astype(str),
        "clause": findings["clause"].fillna("").astype(str),
        "measured": findings["measured"].map(_num),
        "threshold": [f"{_OPS.get(str(o), o)} {_num(v)}" for o, v in
                      zip(findings["op"], findings["threshold"], strict=True)],
        "reason": [failure_reason(r, lang) for _, r in findings.iterrows()],
        "milestone": findings["milestone"].map(
            lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
            else str(int(float(v)))),
    })
    return localize_table(out, lang)


def rule_summary_table(by_rule: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Count findings per rule (rule title and clause, not the id), headers in ``lang``."""
    title = "title_zh" if lang == "zh" else "title_en"
    out = pd.DataFrame({
        "rule": by_rule[title].astype(str),
        "clause": by_rule["clause"].fillna("").astype(str),
        **{k: by_rule[k].fillna(0).astype(int) for k in ("fail", "pass", "not_assessable")},
    })
    return localize_table(out, lang)


def district_table(frame: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Lay out a per-district count table (index = district) with headers in ``lang``."""
    out = frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
    if "share_fail" in out.columns:
        out["share_fail"] = out["share_fail"].map(lambda v: fmt_number(v, decimals=1,
                                                                       percent=True))
    return localize_table(out, lang)


def _is_share(frame: pd.DataFrame) -> bool:
    """Whether every value present is a fraction (shown as a percentage); gaps don't count."""
    values = frame.to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    return bool(values.size) and bool((np.abs(values) <= 1.5).all())


def progress_view(progress: pd.DataFrame, titles: dict[str, str],
                  lang: str = "zh") -> pd.DataFrame:
    """Milestone progress as a table: indicator, measured value, then each year's target.

    The measured value stays numeric (a progress bar in the app: in percent when every value is
    a fraction, which ``attrs["percent"]`` says); targets are formatted text, ``—`` where a
    year sets none. Rows with neither a measured value nor a target are dropped.

    Parameters
    ----------
    progress
        From :func:`planning.rules.indicators.progress_table` (index ``rule_id``).
    titles
        Rule id → title in ``lang``.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    pandas.DataFrame
        Columns: indicator, measured, one per target year (headers in ``lang``).
    """
    share = _is_share(progress)
    scale = 100.0 if share else 1.0
    progress = progress.dropna(how="all")
    out = pd.DataFrame({t("indicator", lang): [titles.get(i, i) for i in progress.index]})
    measured = t("measured_label", lang) + (" (%)" if share else "")
    out[measured] = (progress["measured"].to_numpy(dtype=float) * scale
                     if "measured" in progress else np.nan)
    for col in progress.columns:
        if col.startswith("target_"):
            out[tf("target_label", lang, year=col.removeprefix("target_"))] = [
                fmt_number(v, decimals=0, percent=True, lang="") if share
                else fmt_number(v, decimals=1, lang="")
                for v in progress[col]]
    out.attrs["percent"] = share
    return out


def milestone_table(milestones: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Milestone view for display: rule title, entity, measured, then target/result per year."""
    title = "title_zh" if lang == "zh" else "title_en"
    out = pd.DataFrame({
        "rule": milestones[title].astype(str),
        "clause": milestones["clause"].fillna("").astype(str),
        "entity_name": milestones["entity_name"].astype(str),
        "measured": milestones["measured"].map(_num),
    })
    for col in milestones.columns:
        if col.startswith("target_"):
            year = col.removeprefix("target_")
            out[tf("target_label", lang, year=year)] = [
                f"{_OPS.get(str(o), o)} {_num(v)}" if pd.notna(v) else "—"
                for o, v in zip(milestones["op"], milestones[col], strict=True)]
            out[f"{t('col_status', lang)} {year}"] = milestones[f"status_{year}"].map(
                lambda v: value_label(v, lang) if isinstance(v, str) else "—")
    return localize_table(out, lang)


def access_table(worst: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Worst-served townships with units: %, minutes, places per 10k; no "inf"."""
    out = pd.DataFrame({"name": worst["name"].astype(str),
                        "district": worst["district"].astype(str)})
    if "population" in worst:
        out["population"] = worst["population"].map(lambda v: fmt_number(v, lang=lang))
    out["share_within"] = worst["share_within"].map(lambda v: fmt_number(v, percent=True,
                                                                         lang=lang))
    out["mean_minutes"] = worst["mean_minutes"].map(lambda v: fmt_number(v, decimals=1,
                                                                         lang=lang))
    for col in ("access_2sfca", "access_e2sfca"):
        if col in worst:
            out[col] = worst[col].map(lambda v: fmt_number(v, decimals=2, lang=lang))
    return localize_table(out, lang)


@dataclass(frozen=True)
class Metric:
    """One headline number: label, formatted value and a one-line help."""

    label: str
    value: str
    help: str = ""


#: Objective unit per siting model.
_OBJECTIVE_UNIT = {"pmedian": "unit_person_minutes", "cap_pmedian": "unit_person_minutes",
                   "mclp": "unit_people", "lscp": "unit_yuan_year",
                   "township_cover": "unit_score", "fair_mclp": "unit_people"}


def solver_metrics(result: object, *, model: str, lang: str = "zh") -> list[Metric]:
    """Status, objective (with unit), lower bound, gap and runtime of a siting result.

    A result is called optimal only when its status says the gap was proven
    (:class:`planning.siting.result.SitingResult`).
    """
    unit = t(_OBJECTIVE_UNIT.get(model, "unit_score"), lang)
    gap = getattr(result, "gap", float("nan"))
    return [
        Metric(t("status", lang), t(f"status_{result.status}", lang)),
        Metric(t("objective_label", lang), fmt_number(result.objective, unit=unit),
               t(f"help_objective_{model}", lang) if f"help_objective_{model}" in TEXT
               else t("help_objective", lang)),
        Metric(t("bound_label", lang), fmt_number(result.bound, unit=unit),
               t("help_bound", lang)),
        Metric(t("gap_label", lang), fmt_number(gap, decimals=2, percent=True)
               if gap == gap else "—", t("help_gap", lang)),
        Metric(t("runtime", lang), fmt_number(result.runtime_s, decimals=1,
                                              unit=t("unit_seconds", lang))),
    ]


def fairness_metrics(fairness: object, lang: str = "zh") -> list[Metric]:
    """Worst-served township's share (fair plan and plain MCLP) and the price of fairness.

    ``fairness`` is a :class:`planning.siting.fairness.FairnessResult`; shares are ratios of
    whole townships, never counts.
    """
    unit = t("unit_people", lang)
    return [
        Metric(t("worst_share", lang),
               fmt_number(fairness.worst_share, decimals=1, percent=True, lang=lang),
               tf("help_worst_share", lang,
                  plain=fmt_number(fairness.baseline_worst_share, decimals=1, percent=True,
                                   lang=lang),
                  unreachable=fairness.unreachable)),
        Metric(t("price_of_fairness", lang),
               fmt_number(fairness.price_of_fairness, decimals=2, percent=True, lang=lang),
               t("help_price_of_fairness", lang)),
        Metric(t("plain_objective", lang),
               fmt_number(fairness.baseline.objective, unit=unit, lang=lang),
               tf("help_plain_objective", lang,
                  status=t(f"status_{fairness.baseline.status}", lang))),
    ]


def kpi_table(kpis: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Before/after KPIs of a plan: labels in ``lang``, numbers formatted (one dtype: str)."""
    decimals = {"mean_minutes": 1}
    rows = []
    for key, row in kpis.iterrows():
        d = decimals.get(str(key), 0)
        before, after = row.get("before"), row.get("after")
        change = (float(after) - float(before)) if pd.notna(before) and pd.notna(after) else None
        rows.append({
            t("indicator", lang): t(f"kpi_{key}", lang),
            t("before", lang): fmt_number(before, decimals=d),
            t("after", lang): fmt_number(after, decimals=d),
            t("change", lang): "—" if change is None else f"{change:+,.{d}f}",
        })
    return pd.DataFrame(rows)


def sites_table(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Suggested sites (already privacy-checked) with translated headers and values."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: value_label(v, lang) if isinstance(v, str)
                                    else ("" if v is None else str(v)))
    return localize_table(out, lang)


_SCENARIO_ROWS = {"param.model": "model", "param.p": "p_new", "param.threshold_min": "threshold",
                  "param.mode": "mode", "param.weight": "weight", "param.spacing_m": "spacing",
                  "status": "status", "objective": "objective", "bound": "bound", "gap": "gap",
                  "runtime_s": "runtime", "new_sites": "suggested_sites"}


def scenario_compare_table(frame: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Scenarios side by side (one column each) with labels and values in ``lang``.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`planning.siting.plan.compare` output: rows ``param.*``, solver terms,
        ``after.*`` and ``change.*``; one column per scenario.
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    pandas.DataFrame
        One text column per scenario (one dtype), an indicator column first; rows without a
        label in the UI language are left out rather than shown as identifiers.
    """
    rows = []
    for key, row in frame.iterrows():
        key = str(key)
        if key in _SCENARIO_ROWS:
            label = t(_SCENARIO_ROWS[key], lang)
        elif key.startswith(("after.", "change.")):
            head, kpi = key.split(".", 1)
            if f"kpi_{kpi}" not in TEXT:
                continue
            label = f"{t(f'kpi_{kpi}', lang)}（{t(head, lang)}）" if lang == "zh" else \
                f"{t(f'kpi_{kpi}', lang)} ({t(head, lang)})"
        else:
            continue
        values = {}
        for name, v in row.items():
            if key == "gap":
                values[str(name)] = fmt_number(v, decimals=2, percent=True)
            elif key == "param.model":
                values[str(name)] = t(f"model_{v}", lang)
            elif key == "status":
                values[str(name)] = t(f"status_{v}", lang)
            elif isinstance(v, str):
                values[str(name)] = value_label(v, lang)
            else:
                values[str(name)] = _num(v)
        rows.append({t("indicator", lang): label, **values})
    return pd.DataFrame(rows)


def year_plan_tables(kpis: pd.DataFrame, schedule: pd.DataFrame,
                     lang: str = "zh") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-year indicators and the opening schedule of a multi-period plan, in ``lang``.

    Parameters
    ----------
    kpis : pandas.DataFrame
        ``MultiPeriodResult.kpis`` (one row per year).
    schedule : pandas.DataFrame
        ``YearlyPlan.schedule`` (one row per new station).
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    tuple of pandas.DataFrame
        (indicators per year, schedule), text columns with labels in ``lang``.
    """
    yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
    per_year = pd.DataFrame({
        t("year", lang): kpis["year"].astype(int).astype(str),
        t("new_sites", lang): kpis["new_sites"].map(_num),
        t("open_sites", lang): kpis["open_sites"].map(_num),
        t("spend", lang): kpis["spend"].map(_num),
        t("budget", lang): kpis["budget"].map(_num),
        t("covered_share", lang): kpis["covered_share"].map(
            lambda v: fmt_number(v, decimals=1, percent=True)),
        t("target_met", lang): kpis["target_met"].map(lambda v: yes if bool(v) else no),
    })
    sched = pd.DataFrame({
        t("year", lang): schedule["year"].astype(int).astype(str),
        column_label("district", lang): schedule["district"].astype(str),
        column_label("unit_id", lang): schedule["unit_id"].astype(str),
        t("lon_label", lang): schedule.geometry.x.map(lambda v: f"{v:.5f}"),
        t("lat_label", lang): schedule.geometry.y.map(lambda v: f"{v:.5f}"),
    })
    return per_year, sched


__all__ = [
    "Metric",
    "access_table",
    "column_label",
    "district_table",
    "failure_reason",
    "findings_table",
    "kpi_table",
    "milestone_table",
    "progress_view",
    "reason_text",
    "rule_summary_table",
    "scenario_compare_table",
    "sites_table",
    "solver_metrics",
    "year_plan_tables",
]
