"""The metric library: small registered functions that measure one value per entity.

A profile rule names a metric (``metric: floor_area_m2``); :mod:`planning.rules` looks it up in
:data:`METRICS`, builds the entities in the rule's scope (facilities of some kinds, townships,
districts or the whole city) and calls it. A metric returns, per entity, the ``measured`` value
(NaN when unknown), a ``reason`` (why it is unknown, or what is missing) and ``lower_bound``
(a sum or maximum over partly missing data). The comparison against thresholds is not done here.

Add a metric with the module-private ``_metric`` decorator; declare the scopes it supports and
its parameters so that profiles using it are checked when they load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from planning.data.model import SERVICES, Dataset, services_list
from planning.rules.profile import Rule

__all__ = ["EXTRA_FIGURES", "METRICS", "SERVICE_KINDS", "Context", "Metric"]

#: City-wide figures that ``evaluate(..., extra=...)`` accepts (city-scope rules only).
EXTRA_FIGURES: Mapping[str, str] = MappingProxyType({
    "population": "resident population (常住人口)",
    "psychiatric_beds": "open psychiatric beds (精神科开放床位)",
    "psychiatrists": "licensed psychiatrists (精神科执业医师)",
    "patients": "registered home patients (居家患者)",
    "patients_served": "home patients receiving community rehab (接受社区康复)",
    "districts_active_share": "share of districts carrying out services, 0–1",
    "home_visits_per_year": "home visits in the year (入户服务次数)",
    "activities_per_year": "group activities in the year (服务活动次数)",
    "social_investment_share": "share of stations built by social investment, 0–1",
    "staff_training_pass_rate": "share of station staff passing pre-service training, 0–1",
    "star_rated_share": "share of stations passing star rating, 0–1",
})

#: Facility kinds that count as "carrying out community rehab services".
SERVICE_KINDS: tuple[str, ...] = ("rehab_station", "rehab_centre", "halfway_house")


@dataclass(frozen=True)
class Metric:
    """A registered measurement.

    ``fn(ctx, rule, ents)`` returns a frame indexed like ``ents`` with ``measured`` (float, NaN when
    unknown), ``reason`` (text or None) and ``lower_bound`` (the value is a sum/max over partly
    missing data), or — if ``threshold_from_params`` — its own entity rows with a ``threshold``.
    ``params`` maps parameter names to kinds checked at load time (``kinds``, ``services``,
    ``number``, ``bool``, ``text``, ``named_targets``).
    """

    name: str
    fn: Callable[..., pd.DataFrame]
    levels: tuple[str, ...]
    params: Mapping[str, str]
    unit: str = ""
    threshold_from_params: bool = False


_REGISTRY: dict[str, Metric] = {}
#: Every metric a profile may name: a read-only view, filled once as this module is imported.
METRICS: Mapping[str, Metric] = MappingProxyType(_REGISTRY)
_AREAS = ("township", "district", "city")


def _metric(name: str, *, levels: tuple[str, ...], params: Mapping[str, str] | None = None,
            unit: str = "", threshold_from_params: bool = False) -> Callable:
    """Decorator adding a metric function to the registry (used only in this module)."""
    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = Metric(name, fn, levels, MappingProxyType(dict(params or {})), unit,
                                 threshold_from_params)
        return fn
    return deco


# --------------------------------------------------------------------------- helpers

@dataclass(frozen=True)
class Context:
    """What a metric sees: the dataset, validated city figures and the rule's scope level."""

    ds: Dataset
    extra: Mapping[str, float]
    level: str


def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").astype(float)


def _area_key(frame: pd.DataFrame, level: str) -> pd.Series:
    if level == "township":
        return frame["unit_id"].astype(object)
    if level == "district":
        return frame["district"].astype(object)
    return pd.Series("city", index=frame.index, dtype=object)


def _of_kinds(ds: Dataset, kinds: tuple[str, ...]) -> pd.DataFrame:
    return ds.facilities[ds.facilities["kind"].isin(kinds)]


def _result(ents: pd.DataFrame, measured: Any, reason: Any = None,
            lower: Any = False) -> pd.DataFrame:
    out = pd.DataFrame(index=ents.index)
    out["measured"] = pd.to_numeric(pd.Series(measured, index=ents.index), errors="coerce")
    out["reason"] = pd.Series(reason, index=ents.index, dtype=object)
    out["lower_bound"] = pd.Series(lower, index=ents.index).fillna(False).astype(bool)
    return out


def _missing_reason(values: pd.Series, col: str, what: str) -> pd.Series:
    if values.isna().all():
        why = f"no '{col}' values in the data (column missing or empty)"
    else:
        why = f"'{col}' is empty for this {what}"
    return pd.Series(np.where(values.isna(), why, None), index=values.index, dtype=object)


def _area_sum(ents: pd.DataFrame, frame: pd.DataFrame, col: str, level: str) -> pd.DataFrame:
    """Sum ``col`` of ``frame`` per area; missing values make the sum a lower bound."""
    vals = _num(frame, col)
    keys = _area_key(frame, level)
    n = ents["key"].map(keys.value_counts()).fillna(0)
    miss = ents["key"].map(vals.isna().groupby(keys).sum()).fillna(0)
    measured = ents["key"].map(vals.groupby(keys).sum(min_count=1)).where(n > 0, 0.0)
    reason = pd.Series(None, index=ents.index, dtype=object)
    partial = miss > 0
    reason[partial] = [f"'{col}' missing for {int(k)} of {int(m)} records"
                       for k, m in zip(miss[partial], n[partial], strict=True)]
    return _result(ents, measured, reason, lower=partial & measured.notna())


def _city_extra(ctx: Context, ents: pd.DataFrame, key: str, out: pd.DataFrame) -> pd.DataFrame:
    if ctx.level == "city" and key in ctx.extra:
        return _result(ents, ctx.extra[key])
    return out


# --------------------------------------------------------------------------- metrics

def _facility_column(col: str, unit: str) -> None:
    def fn(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
        vals = _num(ctx.ds.facilities.loc[ents.index], col)
        return _result(ents, vals, _missing_reason(vals, col, "facility"))
    fn.__doc__ = f"The facility's ``{col}`` value."
    _metric(col, levels=("facility",), unit=unit)(fn)


for _col, _unit in (("floor_area_m2", "m²"), ("outdoor_area_m2", "m²"), ("beds", "beds"),
                    ("staff", "persons"), ("social_workers", "persons"),
                    ("psychiatrists", "persons"), ("mental_health_workers", "persons"),
                    ("clients", "persons")):
    _facility_column(_col, _unit)


def _activity(col: str) -> None:
    def fn(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
        if ctx.level == "facility":
            vals = _num(ctx.ds.facilities.loc[ents.index], col)
            return _result(ents, vals, _missing_reason(vals, col, "facility"))
        src = ctx.ds.units if col in ctx.ds.units.columns else ctx.ds.facilities
        if col not in src.columns:
            why = f"no '{col}' column in units or facilities, and not given in extra"
            return _city_extra(ctx, ents, col, _result(ents, np.nan, why))
        return _city_extra(ctx, ents, col, _area_sum(ents, src, col, ctx.level))
    fn.__doc__ = f"``{col}`` of a facility, or summed over an area (units column preferred)."
    _metric(col, levels=("facility", *_AREAS), unit="per year")(fn)


_activity("home_visits_per_year")
_activity("activities_per_year")


@_metric("staff_client_ratio", levels=("facility",), unit="ratio")
def _staff_client_ratio(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Service staff per client (1:5 = 0.2)."""
    f = ctx.ds.facilities.loc[ents.index]
    staff, clients = _num(f, "staff"), _num(f, "clients")
    reason = _missing_reason(staff, "staff", "facility").fillna(
        _missing_reason(clients, "clients", "facility"))
    zero = clients == 0
    reason = reason.where(~zero | reason.notna(),
                          "no clients recorded (0): the staff : client ratio is undefined")
    return _result(ents, (staff / clients.where(~zero)), reason)


@_metric("services_offered", levels=("facility",), params={"services": "services"},
                 unit="services")
def _services_offered(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """How many of the required services (default: the six of :data:`SERVICES`) are offered."""
    need = list(rule.params.get("services", tuple(SERVICES)))
    cells = ctx.ds.facilities.loc[ents.index, "services"].astype(object)
    count, reason = [], []
    for cell in cells:
        if pd.isna(cell):
            count.append(np.nan)
            reason.append("'services' is empty for this facility")
            continue
        miss = [c for c in need if c not in services_list(cell)]
        count.append(len(need) - len(miss))
        reason.append("missing: " + ", ".join(f"{SERVICES[m]} {m}" for m in miss)
                      if miss else None)
    return _result(ents, count, reason)


@_metric("barrier_free", levels=("facility",), unit="1 = yes")
def _barrier_free(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """1 if the facility has barrier-free access, 0 if not."""
    vals = ctx.ds.facilities.loc[ents.index, "barrier_free"].astype("Float64").astype(float)
    return _result(ents, vals, _missing_reason(vals, "barrier_free", "facility"))


@_metric("facility_count", levels=_AREAS, params={"kinds": "kinds"}, unit="facilities")
def _facility_count(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Number of facilities of ``kinds`` (default rehab_station) in the area."""
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", ("rehab_station",)))
    counts = _area_key(fac, ctx.level).value_counts()
    return _result(ents, ents["key"].map(counts).fillna(0))


@_metric("coverage_share", levels=("district", "city"), params={"kinds": "kinds"},
                 unit="share")
def _coverage_share(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Share of townships in the area with ≥1 facility of ``kinds`` (default rehab_station)."""
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", ("rehab_station",)))
    units = ctx.ds.units
    covered = units["unit_id"].isin(fac["unit_id"].dropna()).astype(float)
    share = covered.groupby(_area_key(units, ctx.level)).mean()
    measured = ents["key"].map(share)
    return _result(ents, measured, np.where(measured.isna(), "no townships in this area", None))


@_metric("districts_active_share", levels=("city",), params={"kinds": "kinds"},
                 unit="share")
def _districts_active_share(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Share of districts with ≥1 facility of ``kinds`` (default station/centre/halfway house)."""
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", SERVICE_KINDS))
    share = ctx.ds.districts["name"].isin(fac["district"].dropna()).mean()
    return _city_extra(ctx, ents, "districts_active_share", _result(ents, share))


@_metric("served_rate", levels=_AREAS, params={"only_active": "bool", "kinds": "kinds"},
                 unit="share")
def _served_rate(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Home patients receiving community rehab / registered home patients.

    With ``only_active: true`` areas without any facility of ``kinds`` are left out (Liaoning:
    "在开展精神障碍社区康复的县(区)").
    """
    units = ctx.ds.units
    keys = _area_key(units, ctx.level)
    pat, srv = _num(units, "patients"), _num(units, "patients_served")
    incomplete = (pat.isna() | srv.isna()).groupby(keys).sum()
    rate = srv.groupby(keys).sum() / pat.groupby(keys).sum().replace(0, np.nan)
    measured = ents["key"].map(rate).where(ents["key"].map(incomplete).fillna(1) == 0)
    reason = np.where(measured.isna(), np.where(
        ents["key"].map(incomplete).fillna(0) > 0,
        "'patients' or 'patients_served' missing for some townships",
        "no registered home patients"), None)
    out = _result(ents, measured, reason)
    if ctx.level == "city" and {"patients", "patients_served"} <= set(ctx.extra):
        out = _result(ents, ctx.extra["patients_served"] / ctx.extra["patients"])
    if rule.params.get("only_active"):
        fac = _of_kinds(ctx.ds, rule.params.get("kinds", SERVICE_KINDS))
        active = set(_area_key(fac, ctx.level).dropna())
        out = out[ents["key"].isin(active).to_numpy()]
    return out


@_metric("max_beds", levels=_AREAS, params={"kinds": "kinds"}, unit="beds")
def _max_beds(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Beds of the largest facility of ``kinds`` (default welfare_institution); 0 if none."""
    kinds = rule.params.get("kinds", ("welfare_institution",))
    fac = _of_kinds(ctx.ds, kinds)
    keys = _area_key(fac, ctx.level)
    beds = _num(fac, "beds")
    best = ents["key"].map(beds.groupby(keys).max())
    miss = ents["key"].map(beds.isna().groupby(keys).sum()).fillna(0)
    n = ents["key"].map(keys.value_counts()).fillna(0)
    measured = best.where(n > 0, 0.0)
    reason = np.where(n == 0, f"no {'/'.join(kinds)} in this area", np.where(
        miss > 0, [f"'beds' missing for {int(k)} of {int(m)} facilities"
                   for k, m in zip(miss, n, strict=True)], None))
    return _result(ents, measured, reason, lower=(miss > 0) & measured.notna())


def _per_100k(ctx: Context, ents: pd.DataFrame, count: pd.DataFrame, key: str) -> pd.DataFrame:
    pops = _num(ctx.ds.districts, "population")
    if ctx.level == "city":
        if key in ctx.extra:
            count = _result(ents, ctx.extra[key])
        total = ctx.extra.get("population", pops.sum(min_count=len(pops)) if pops.notna().all()
                              else np.nan)
        pop = pd.Series(total, index=ents.index, dtype=float)
    else:
        pop = ents["key"].map(dict(zip(ctx.ds.districts["name"], pops, strict=True)))
    rate = count["measured"] / pop.where(pop > 0) * 1e5
    no_pop = "population unknown (districts 'population' or extra['population'])"
    reason = count["reason"].where(count["reason"].notna() | pop.notna(), no_pop)
    return _result(ents, rate, reason, count["lower_bound"] & rate.notna())


@_metric("beds_per_100k", levels=("district", "city"), params={"kinds": "kinds"},
                 unit="per 100k")
def _beds_per_100k(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Beds of ``kinds`` (default psychiatric_hospital) per 100,000 residents."""
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", ("psychiatric_hospital",)))
    return _per_100k(ctx, ents, _area_sum(ents, fac, "beds", ctx.level), "psychiatric_beds")


@_metric("psychiatrists_per_100k", levels=("district", "city"),
                 params={"kinds": "kinds"}, unit="per 100k")
def _psychiatrists_per_100k(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Psychiatrists in facilities of ``kinds`` (default all) per 100,000 residents."""
    fac = ctx.ds.facilities
    if "kinds" in rule.params:
        fac = _of_kinds(ctx.ds, rule.params["kinds"])
    fac = fac[fac["psychiatrists"].notna() | fac["kind"].isin(("psychiatric_hospital",))]
    return _per_100k(ctx, ents, _area_sum(ents, fac, "psychiatrists", ctx.level),
                     "psychiatrists")


@_metric("named_facility_beds", levels=("facility",),
                 params={"named_targets": "named_targets"}, unit="beds",
                 threshold_from_params=True)
def _named_facility_beds(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Beds of each named hospital (or all in-scope facilities of a district) vs its target."""
    rows = []
    names = ents["entity_name"].astype(str).str.strip()
    for label, spec in rule.params["named_targets"].items():
        if spec["district"]:
            hit = ents[ents["district"] == spec["district"]]
            where = f"no {'/'.join(rule.kinds)} in district {spec['district']!r}"
        else:
            hit = ents[names == label]
            where = f"no facility named {label!r} in the data; check the name"
        beds = _num(ctx.ds.facilities.loc[hit.index], "beds")
        n_miss = int(beds.isna().sum())
        reason = where if hit.empty else (
            f"'beds' missing for {n_miss} of {len(beds)} facilities" if n_miss else None)
        rows.append({
            "entity_id": hit["entity_id"].iloc[0] if len(hit) == 1 else label,
            "entity_type": hit["entity_type"].iloc[0] if len(hit) == 1 else "facility",
            "entity_name": label,
            "district": hit["district"].iloc[0] if len(hit) else spec["district"],
            "zone": None, "measured": beds.sum(min_count=1), "reason": reason,
            "lower_bound": n_miss > 0, "threshold": spec["beds"],
        })
    return pd.DataFrame(rows)


@_metric("centre_plus_stations", levels=("district", "city"),
                 params={"centre_kinds": "kinds", "station_kinds": "kinds",
                         "min_centres": "number"}, unit="stations")
def _centre_plus_stations(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Stations in the area when it also has ≥ ``min_centres`` centres, else 0 ("中心+站点")."""
    ds, level = ctx.ds, ctx.level
    centres = _area_key(_of_kinds(ds, rule.params.get("centre_kinds", ("rehab_centre",))),
                        level).value_counts()
    stations = _area_key(_of_kinds(ds, rule.params.get("station_kinds", ("rehab_station",))),
                         level).value_counts()
    n_c = ents["key"].map(centres).fillna(0)
    n_s = ents["key"].map(stations).fillna(0)
    ok = n_c >= rule.params.get("min_centres", 1)
    reason = np.where(ok, None, [f"{int(c)} centre(s) (need ≥{rule.params.get('min_centres', 1):g})"
                                 f", {int(s)} station(s)" for c, s in zip(n_c, n_s, strict=True)])
    return _result(ents, n_s.where(ok, 0.0), reason)


@_metric("home_visits_per_patient_month", levels=_AREAS, params={"months": "number"},
                 unit="visits")
def _visits_per_patient_month(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Home visits in the year / (registered home patients × service months, default 12)."""
    visits = METRICS["home_visits_per_year"].fn(ctx, rule, ents)
    pat = _area_sum(ents, ctx.ds.units, "patients", ctx.level)
    pat = _city_extra(ctx, ents, "patients", pat)
    months = rule.params.get("months", 12)
    rate = visits["measured"] / (pat["measured"].replace(0, np.nan) * months)
    reason = visits["reason"].where(visits["reason"].notna(), pat["reason"])
    reason = reason.where(rate.notna() | reason.notna(), "no registered home patients")
    return _result(ents, rate.where(~pat["lower_bound"]), reason, visits["lower_bound"])


@_metric("city_figure", levels=("city",), params={"key": "text"})
def _city_figure(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """A city-wide figure given in ``extra[params.key]`` (e.g. staff training pass rate)."""
    key = rule.params.get("key", rule.id)
    if key in ctx.extra:
        return _result(ents, ctx.extra[key])
    return _result(ents, np.nan, f"city figure '{key}' is not in the data; pass it as "
                                 f"extra={{'{key}': ...}}")
