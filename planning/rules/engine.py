"""The policy rule engine: load a profile, measure, compare, and return a tidy findings table.

The engine is data-driven. A profile (:mod:`planning.rules.profile`) lists rules; each rule names a
*metric* registered in :mod:`planning.rules.metrics`: a small function that measures
one value per entity (facility, township, district or the whole city) from a
:class:`~planning.data.model.Dataset`, optionally with city figures from ``extra``. One generic
comparator then applies the rule's ``op`` and threshold (a number, a number per functional zone or
a number per milestone year). A value that cannot be measured gives ``not_assessable`` with a
reason; nothing ever passes silently.

``extra`` holds city-wide figures the layers do not carry (see :data:`EXTRA_FIGURES`), e.g.
``{"population": 4_630_300, "psychiatric_beds": 1828, "psychiatrists": 158}`` for Jiangmen's
2020 figures. They are used by city-scope rules only and take precedence over values summed from
the layers there.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planning.data.ledger import count_eligible
from planning.data.model import Dataset
from planning.errors import InputError
from planning.rules.metrics import (
    EXTRA_FIGURES,
    METRICS,
    Context,
    Metric,
    where_mask,
)
from planning.rules.profile import (
    Profile,
    Rule,
    list_profiles,
    profile_text,
    read_profile,
)

__all__ = [
    "EXTRA_FIGURES", "FINDING_COLUMNS", "METRICS", "Metric", "Summary", "eligible_counts",
    "evaluate", "evaluate_scope", "filter_findings",
    "list_profiles", "load_profile", "milestone_view", "profile_text",
    "summarise", "township_drilldown", "worst_status",
]

#: Columns of the findings table, in order.
FINDING_COLUMNS: tuple[str, ...] = (
    "entity_id", "entity_type", "entity_name", "district", "rule_id", "title_zh", "title_en",
    "measured", "threshold", "op", "status", "reason", "document", "clause", "milestone",
)
STATUSES: tuple[str, ...] = ("pass", "fail", "not_assessable")

_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ">=": lambda m, t: m >= t - 1e-9 * np.maximum(1, np.abs(t)),
    ">": operator.gt,
    "<=": lambda m, t: m <= t + 1e-9 * np.maximum(1, np.abs(t)),
    "<": operator.lt,
    "==": lambda m, t: np.isclose(m, t),
    "!=": lambda m, t: ~np.isclose(m, t),
}


def load_profile(name_or_path: str | Path | Profile) -> Profile:
    """Load a packaged profile by name (see :func:`list_profiles`) or a YAML file by path.

    Raises
    ------
    ProfileError
        Naming the file, the rule id and the field (unknown metric, bad op, missing threshold…).
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    return read_profile(name_or_path, METRICS)


# --------------------------------------------------------------------------- engine

def _entities(ds: Dataset, rule: Rule) -> pd.DataFrame:
    """One row per entity in scope: entity_id/type/name, district, zone and the area ``key``."""
    if rule.level == "facility":
        f = ds.facilities[ds.facilities["kind"].isin(rule.kinds)]
        unit_zone = dict(zip(ds.units["unit_id"], ds.units["zone"], strict=True))
        dist_zone = dict(zip(ds.districts["name"], ds.districts["zone"], strict=True))
        zone = f["unit_id"].map(unit_zone).astype(object)
        zone = zone.where(zone.notna(), f["district"].map(dist_zone).astype(object))
        return pd.DataFrame({"entity_id": f["facility_id"], "entity_type": f["kind"],
                             "entity_name": f["name"], "district": f["district"], "zone": zone,
                             "key": f["facility_id"]})
    if rule.level == "township":
        u = ds.units
        return pd.DataFrame({"entity_id": u["unit_id"], "entity_type": "township",
                             "entity_name": u["name"], "district": u["district"],
                             "zone": u["zone"], "key": u["unit_id"]})
    if rule.level == "district":
        d = ds.districts
        return pd.DataFrame({"entity_id": d["district_id"], "entity_type": "district",
                             "entity_name": d["name"], "district": d["name"], "zone": d["zone"],
                             "key": d["name"]})
    return pd.DataFrame({"entity_id": ["city"], "entity_type": ["city"],
                         "entity_name": [ds.name], "district": [pd.NA], "zone": [pd.NA],
                         "key": ["city"]})


def _targets(rule: Rule, year: int | None) -> list[tuple[int | None, float | None]]:
    """(milestone, threshold) pairs to evaluate: all milestones, or the one in force in ``year``."""
    if not rule.targets:
        return [(rule.milestone, rule.threshold)]
    years = sorted(rule.targets)
    if year is not None:
        due = [y for y in years if y <= year]
        years = [due[-1] if due else years[0]]
    return [(y, rule.targets[y]) for y in years]


def _check_extra(extra: Mapping[str, Any] | None, profile: Profile) -> dict[str, float]:
    allowed = set(EXTRA_FIGURES) | {r.params["key"] for r in profile.rules if "key" in r.params}
    out = {}
    for key, value in (extra or {}).items():
        if key not in allowed:
            msg = f"unknown city figure '{key}'; known: {', '.join(sorted(allowed))}"
            raise InputError(msg, source="extra", field=key)
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            msg = f"expected a number, got {value!r}"
            raise InputError(msg, source="extra", field=key)
        out[key] = float(value)
    return out


def _compare(measured: np.ndarray, threshold: np.ndarray, op: str,
             lower: np.ndarray) -> np.ndarray:
    """``pass`` / ``fail`` / ``not_assessable`` per row."""
    known = ~np.isnan(measured) & ~np.isnan(threshold)
    ok = np.zeros(len(measured), dtype=bool)
    ok[known] = _OPS[op](measured[known], threshold[known])
    status = np.where(known, np.where(ok, "pass", "fail"), "not_assessable")
    # A sum/max over partly missing values is a lower bound: it can prove ">=" but not refute it.
    lower = lower & known
    upward = op in (">=", ">")
    unsure = lower & ((~ok & upward) | (ok & (not upward)))
    return np.where(unsure, "not_assessable", status)


def _where_text(where: Mapping[str, Any]) -> str:
    parts = []
    for k, v in where.items():
        parts.append(f"{k} {v[0]:g}–{v[1]:g}" if isinstance(v, tuple) else f"{k}={v}")
    return ", ".join(parts)


def _measure(ds: Dataset, rule: Rule, extra: Mapping[str, float],
             ents: pd.DataFrame) -> pd.DataFrame:
    res = METRICS[rule.metric].fn(Context(ds, extra, rule.level), rule, ents)
    return res if "entity_id" in res.columns else ents.drop(columns="key").join(res, how="inner")


def _alternatives(ds: Dataset, rule: Rule, extra: Mapping[str, float],
                  ents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (some alternative passes, all alternatives fail, their descriptions) per entity."""
    any_pass = np.zeros(len(ents), dtype=bool)
    all_fail = np.ones(len(ents), dtype=bool)
    texts = []
    for alt in rule.any_of[1:]:
        sub = replace(rule, metric=alt.metric, params=alt.params, any_of=())
        res = _measure(ds, sub, extra, ents)
        st = _compare(res["measured"].to_numpy(dtype=float),
                      np.full(len(res), alt.threshold), alt.op,
                      res["lower_bound"].to_numpy(dtype=bool))
        any_pass |= st == "pass"
        all_fail &= st == "fail"
        texts.append(alt.label or f"{alt.metric} {alt.op} {alt.threshold:g}")
    return any_pass, all_fail, texts


def _evaluate_rule(ds: Dataset, rule: Rule, extra: Mapping[str, float],
                   year: int | None) -> pd.DataFrame:
    ents = _entities(ds, rule)
    empty_why = None
    if rule.districts:
        ents = ents[ents["district"].isin(rule.districts)]
        empty_why = f"district {'/'.join(rule.districts)} is not in the dataset"
    unsure = pd.Series(False, index=ents.index)
    if rule.applies_to and len(ents):
        meets, unknown = where_mask(ds.facilities.loc[ents.index], rule.applies_to)
        keep = meets | unknown
        ents, unsure = ents[keep], (unknown & ~meets)[keep]
        empty_why = empty_why or (f"no {'/'.join(rule.kinds)} with "
                                  f"{_where_text(rule.applies_to)}")
    if ents.empty:
        what = "/".join(rule.kinds) if rule.kinds else rule.level
        out = pd.DataFrame({"entity_id": ["—"], "entity_type": [rule.scope], "entity_name": [""],
                            "district": [pd.NA], "zone": [pd.NA], "measured": [np.nan],
                            "reason": [empty_why or f"no {what} in the dataset"],
                            "lower_bound": [False]})
        alt = None
    else:
        out = _measure(ds, rule, extra, ents)
        alt = _alternatives(ds, rule, extra, ents) if len(rule.any_of) > 1 else None
        if unsure.any() and "threshold" not in out.columns:
            out.loc[unsure[unsure].index, "measured"] = np.nan
            out.loc[unsure[unsure].index, "reason"] = (
                f"unknown whether the rule applies: it covers {_where_text(rule.applies_to)}")
    out = out.reset_index(drop=True)
    if rule.zones:
        keep = (out["zone"].isna() | out["zone"].isin(rule.zones)).to_numpy()
        out = out[keep].reset_index(drop=True)
        if alt is not None:
            alt = (alt[0][keep], alt[1][keep], alt[2])
        out["reason"] = out["reason"].where(out["zone"].notna(), "functional zone unknown; the "
                                            f"rule applies in {', '.join(rule.zones)}")
    frames = []
    for milestone, threshold in _targets(rule, year):
        f = out.copy()
        if "threshold" not in f.columns:
            if rule.threshold_by_zone:
                tz = dict(rule.threshold_by_zone)
                thr = f["zone"].map(lambda z, tz=tz: tz.get(z, tz.get("default"))
                                    if isinstance(z, str) else None)
                f["threshold"] = pd.to_numeric(thr, errors="coerce")
                f["reason"] = f["reason"].where(f["threshold"].notna() | f["reason"].notna(),
                                                "no threshold for this functional zone (unknown "
                                                "zone)")
            else:
                f["threshold"] = threshold
        f["milestone"] = milestone
        frames.append(f)
    n_out = len(out)
    f = pd.concat(frames, ignore_index=True)
    lower = f["lower_bound"].to_numpy(dtype=bool)
    status = _compare(f["measured"].to_numpy(dtype=float),
                      pd.to_numeric(f["threshold"], errors="coerce").to_numpy(dtype=float),
                      rule.op, lower)
    if alt is not None:
        reps = len(f) // max(n_out, 1)
        any_pass, all_fail, texts = (np.tile(alt[0], reps), np.tile(alt[1], reps), alt[2])
        main_fail = status == "fail"
        status = np.where(any_pass, "pass", np.where(main_fail & all_fail, "fail",
                                                     np.where(status == "pass", "pass",
                                                              "not_assessable")))
        alt_words = " or ".join(texts)
        extra_reason = np.where(status == "fail", f"and not met otherwise: {alt_words}",
                                np.where(status == "not_assessable",
                                         f"alternative unknown or unmet: {alt_words}", None))
        base = f["reason"].astype(object)
        f["reason"] = [(f"{b}; {e}" if isinstance(b, str) else e) if isinstance(e, str) else b
                       for b, e in zip(base, extra_reason, strict=True)]
        lower = lower & (status != "pass")
    f["status"] = status
    f["reason"] = f["reason"].where((status != "pass") | lower, None)
    f["rule_id"], f["op"] = rule.id, rule.op
    f["title_zh"], f["title_en"] = rule.title_zh, rule.title_en
    f["document"] = (f"{rule.document.cite or rule.document.key} 《{rule.document.title}》")
    f["clause"] = rule.citation
    return f


def evaluate(dataset: Dataset, profile: Profile | str | Path, *, year: int | None = None,
             extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Check a dataset against every rule of a profile.

    Parameters
    ----------
    dataset
        A validated :class:`~planning.data.model.Dataset`.
    profile
        A :class:`~planning.rules.profile.Profile`, a packaged profile name or a YAML path.
    year
        Evaluate each milestone rule against the target in force in ``year`` (the latest milestone
        ≤ ``year``, or the first one if all are later). ``None`` evaluates every milestone, one
        row per milestone.
    extra
        City-wide figures the layers lack (keys in :data:`EXTRA_FIGURES`, or a ``city_figure``
        rule's ``key``); used by city-scope rules, taking precedence over layer sums.

    Returns
    -------
    pandas.DataFrame
        The tidy findings table, columns :data:`FINDING_COLUMNS`; ``status`` is ``pass``,
        ``fail`` or ``not_assessable`` (``reason`` says why, or what is missing for a fail).
    """
    prof = load_profile(profile)
    figures = _check_extra(extra, prof)
    frames = [_evaluate_rule(dataset, r, figures, year) for r in prof.rules]
    out = pd.concat(frames, ignore_index=True)[list(FINDING_COLUMNS)]
    out["measured"] = out["measured"].astype(float)
    out["threshold"] = pd.to_numeric(out["threshold"], errors="coerce").astype(float)
    out["milestone"] = out["milestone"].astype("Int64")
    for col in ("entity_id", "entity_type", "entity_name", "district", "reason"):
        out[col] = out[col].astype("string")
    return out


# --------------------------------------------------------------------------- summaries

@dataclass(frozen=True)
class Summary:
    """Counts of findings.

    Attributes
    ----------
    by_rule
        City level: one row per (rule_id, milestone) with pass / fail / not_assessable / total.
    by_district
        The same per (district, rule_id, milestone); city-scope findings have no district.
    by_entity
        One row per entity: worst status (fail > not_assessable > pass), n_fail, failed rules.
    """

    by_rule: pd.DataFrame
    by_district: pd.DataFrame
    by_entity: pd.DataFrame

    def district_totals(self) -> pd.DataFrame:
        """Pass / fail / not-assessable counts per district (all rules together)."""
        return self.by_district.groupby("district")[["fail", "pass", "not_assessable"]].sum()


def _counts(findings: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    table = pd.crosstab([findings[k].fillna(-1) if k == "milestone" else findings[k]
                         for k in keys], findings["status"])
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    out = table.reset_index()
    out.columns.name = None
    if "milestone" in keys:
        out["milestone"] = out["milestone"].astype("Int64").replace(-1, pd.NA)
    return out


def summarise(findings: pd.DataFrame) -> Summary:
    """Count pass / fail / not_assessable per rule city-wide and per district; worst per entity."""
    order = {r: i for i, r in enumerate(dict.fromkeys(findings["rule_id"]))}
    meta = findings.drop_duplicates("rule_id").set_index("rule_id")[["title_zh", "title_en",
                                                                     "clause"]]
    by_rule = _counts(findings, ["rule_id", "milestone"]).join(meta, on="rule_id")
    by_rule = by_rule.sort_values("rule_id", key=lambda s: s.map(order), kind="stable")
    in_district = findings[findings["district"].notna()]
    by_district = _counts(in_district, ["district", "rule_id", "milestone"]) if len(
        in_district) else pd.DataFrame(columns=["district", "rule_id", "milestone",
                                                *STATUSES, "total"])
    rank = findings["status"].map({"pass": 0, "not_assessable": 1, "fail": 2})
    f = findings.assign(_rank=rank, _fail=(rank == 2).astype(int))
    g = f.groupby(["entity_type", "entity_id"], sort=False, dropna=False)
    by_entity = g.agg(entity_name=("entity_name", "first"), district=("district", "first"),
                      worst=("_rank", "max"), n_fail=("_fail", "sum"))
    fails = f[f["status"] == "fail"].groupby(["entity_type", "entity_id"])["rule_id"].agg(
        lambda s: ", ".join(dict.fromkeys(s)))
    by_entity["failed_rules"] = fails.reindex(by_entity.index).fillna("")
    by_entity["worst"] = by_entity["worst"].map({0: "pass", 1: "not_assessable", 2: "fail"})
    return Summary(by_rule.reset_index(drop=True), by_district, by_entity.reset_index())


def evaluate_scope(dataset: Dataset, profile: Profile | str | Path, *,
                   district: str | None = None, year: int | None = None,
                   extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return the findings for one scope — the one function every page, export and the CLI use.

    With a district, rules run on that district's data alone and only its rows are kept
    (its stations, townships and the district itself): city-wide rows measure the city and
    are not part of a district's count. Without one, every row of the whole dataset.

    Parameters
    ----------
    dataset : Dataset
        The loaded dataset.
    profile : Profile or str or path
        Policy profile.
    district : str, optional
        District name; ``None`` for the whole dataset.
    year : int, optional
        Milestone year (as in :func:`evaluate`).
    extra : mapping, optional
        City figures (as in :func:`evaluate`).

    Returns
    -------
    pandas.DataFrame
        The findings table restricted to the scope.
    """
    if district is None:
        return evaluate(dataset, profile, year=year, extra=extra)
    if district not in set(dataset.districts["name"]):
        msg = (f"unknown district {district!r}; expected one of "
               f"{', '.join(dataset.districts['name'])}")
        raise InputError(msg, field="district")
    f = evaluate(dataset.subset([district]), profile, year=year, extra=extra)
    return f[f["district"].eq(district).fillna(False).to_numpy(dtype=bool)].reset_index(
        drop=True)


def filter_findings(findings: pd.DataFrame, *, statuses: tuple[str, ...] | None = None,
                    rule_ids: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Keep findings with the given statuses and rules (``None`` or empty keeps all)."""
    keep = pd.Series(True, index=findings.index)
    if statuses:
        keep &= findings["status"].isin(statuses)
    if rule_ids:
        keep &= findings["rule_id"].isin(rule_ids)
    return findings[keep]


def milestone_view(dataset: Dataset, profile: Profile | str | Path, *,
                   extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Milestone targets side by side (e.g. 2020 vs 2025).

    One row per (rule, entity) for rules with a milestone: ``measured`` once, then
    ``target_<year>`` and ``status_<year>`` for every milestone year of the profile (empty where
    the rule sets no target for that year).
    """
    prof = load_profile(profile)
    keep = [r.id for r in prof.rules if r.milestones]
    f = evaluate(dataset, prof, extra=extra)
    f = f[f["rule_id"].isin(keep) & f["milestone"].notna()]
    idx = ["rule_id", "entity_type", "entity_id"]
    cols = ["title_zh", "title_en", "clause", "entity_name", "district", "op", "measured"]
    out = f.drop_duplicates(idx).set_index(idx)[cols]
    for year in prof.milestones:
        sub = f[f["milestone"] == year].set_index(idx)
        out[f"target_{year}"] = sub["threshold"].reindex(out.index)
        out[f"status_{year}"] = sub["status"].reindex(out.index)
    return out.reset_index()


def eligible_counts(ledger_df: pd.DataFrame, profile: Profile | str | Path,
                    by: str | None = "unit_id") -> pd.DataFrame:
    """Apply a profile's client eligibility to a row-level ledger; return counts only.

    Thin wrapper of :func:`planning.data.ledger.count_eligible` (which documents the columns):
    ``age``, ``risk_level`` (highest in the last 6 months), ``disability_grade`` and ``by``.
    The result is indexed by ``by`` with ``total``, ``eligible`` and ``excluded_*`` counts.

    Raises
    ------
    InputError
        The profile has no eligibility criteria, or the ledger lacks a needed column.
    """
    prof = load_profile(profile)
    if prof.eligibility is None:
        msg = f"profile {prof.name!r} defines no eligibility criteria"
        raise InputError(msg, source=prof.source, field="eligibility")
    return count_eligible(ledger_df, prof.eligibility, by=by)


def township_drilldown(findings: pd.DataFrame, dataset: Dataset, unit_id: str) -> pd.DataFrame:
    """Return findings of one township and of every facility inside it (app drill-down)."""
    inside = dataset.facilities.loc[dataset.facilities["unit_id"] == unit_id, "facility_id"]
    keep = (findings["entity_id"] == unit_id) | findings["entity_id"].isin(set(inside))
    return findings[keep].sort_values(["entity_type", "entity_id", "rule_id"]).reset_index(
        drop=True)


def worst_status(findings: pd.DataFrame) -> pd.Series:
    """Worst status per entity id (fail > not_assessable > pass)."""
    rank = findings["status"].map({"pass": 0, "not_assessable": 1, "fail": 2})
    worst = rank.groupby(findings["entity_id"]).max()
    return worst.map({0: "pass", 1: "not_assessable", 2: "fail"})
