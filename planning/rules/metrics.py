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
    "patients_served_station": "home patients receiving station (驿站) rehab services",
    "districts_active_share": "share of districts carrying out services, 0–1",
    "home_visits_per_year": "home visits in the year (入户服务次数)",
    "activities_per_year": "group activities in the year (服务活动次数)",
    "social_investment_share": "share of stations built by social investment, 0–1",
    "staff_training_pass_rate": "share of station staff passing pre-service training, 0–1",
    "star_rated_share": "share of stations passing star rating, 0–1",
    "pilot_clients": "clients of the pilot project (试点服务对象数)",
    "activities_in_project": "group activities during the project period (项目期间活动次数)",
    "funding_per_client_yuan": "funding per client per year, yuan (每名康复对象每年经费)",
    "contracted_institutions": "professional institutions contracted (确定的专业工作机构数)",
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
    ``number``, ``bool``, ``text``, ``texts``, ``where``, ``named_targets``,
    ``stated_figures``). ``bounds`` is the range a threshold may take (checked at load time).
    """

    name: str
    fn: Callable[..., pd.DataFrame]
    levels: tuple[str, ...]
    params: Mapping[str, str]
    unit: str = ""
    threshold_from_params: bool = False
    bounds: tuple[float, float] = (0.0, float("inf"))


_REGISTRY: dict[str, Metric] = {}
#: Every metric a profile may name: a read-only view, filled once as this module is imported.
METRICS: Mapping[str, Metric] = MappingProxyType(_REGISTRY)
_AREAS = ("township", "district", "city")


_UNIT_BOUNDS = {"share": (0.0, 1.0), "ratio": (1e-6, 1.0), "1 = yes": (0.0, 1.0)}


def _metric(name: str, *, levels: tuple[str, ...], params: Mapping[str, str] | None = None,
            unit: str = "", threshold_from_params: bool = False,
            bounds: tuple[float, float] | None = None) -> Callable:
    """Add a metric function to the registry (decorator used only in this module)."""
    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = Metric(name, fn, levels, MappingProxyType(dict(params or {})), unit,
                                 threshold_from_params,
                                 bounds or _UNIT_BOUNDS.get(unit, (0.0, float("inf"))))
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


def _extra_applies(ctx: Context) -> bool:
    """City figures describe the city, or the one district of a one-district dataset."""
    return ctx.level == "city" or (ctx.level == "district" and len(ctx.ds.districts) == 1)


def _city_extra(ctx: Context, ents: pd.DataFrame, key: str, out: pd.DataFrame) -> pd.DataFrame:
    if _extra_applies(ctx) and key in ctx.extra:
        return _result(ents, ctx.extra[key])
    return out


def _bool_col(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return frame[col].astype("boolean").astype("Float64").astype(float)


def where_mask(frame: pd.DataFrame, where: Mapping[str, Any]) -> tuple[pd.Series, pd.Series]:
    """(meets every condition, some condition unknown) per facility row of ``frame``."""
    meets = pd.Series(True, index=frame.index)
    unknown = pd.Series(False, index=frame.index)
    for col, want in where.items():
        if isinstance(want, tuple):
            v = _num(frame, col)
            ok = (v >= want[0]) & (v <= want[1])
        elif isinstance(want, bool):
            v = _bool_col(frame, col)
            ok = v == float(want)
        else:
            v = frame[col] if col in frame.columns else pd.Series(pd.NA, index=frame.index)
            ok = v.astype("string").eq(want).fillna(False).astype(bool)
        missing = pd.Series(pd.isna(v), index=frame.index).astype(bool)
        meets &= ok & ~missing
        unknown |= missing
    return meets, unknown


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
                    ("clients", "persons"), ("max_risk_level", "risk level"),
                    ("max_stay_days", "days")):
    _facility_column(_col, _unit)


def _facility_flag(col: str) -> None:
    def fn(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
        vals = _bool_col(ctx.ds.facilities.loc[ents.index], col)
        return _result(ents, vals, _missing_reason(vals, col, "facility"))
    fn.__doc__ = f"1 if the facility's ``{col}`` is yes, 0 if no."
    _metric(col, levels=("facility",), unit="1 = yes")(fn)


for _col in ("psychiatric_ward", "psychiatric_clinic"):
    _facility_flag(_col)


@_metric("purchased_service", levels=("township",), unit="1 = yes")
def _purchased_service(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """1 if the township buys rehab services from a social organisation (units column)."""
    units = ctx.ds.units.set_index("unit_id")
    vals = ents["key"].map(_bool_col(units, "purchased_service"))
    return _result(ents, vals, _missing_reason(vals, "purchased_service", "township"))


@_metric("qualified_staff_share", levels=("facility",), unit="share")
def _qualified_staff_share(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Share of a facility's service staff holding a certificate or pre-service training."""
    f = ctx.ds.facilities.loc[ents.index]
    staff, ok = _num(f, "staff"), _num(f, "staff_qualified")
    reason = _missing_reason(ok, "staff_qualified", "facility").fillna(
        _missing_reason(staff, "staff", "facility"))
    share = (ok / staff.where(staff > 0)).clip(upper=1.0)
    reason = reason.where(share.notna() | reason.notna(), "no service staff recorded (0)")
    return _result(ents, share, reason)


def _activity(col: str, unit: str) -> None:
    def fn(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
        if ctx.level == "facility":
            vals = _num(ctx.ds.facilities.loc[ents.index], col)
            return _result(ents, vals, _missing_reason(vals, col, "facility"))
        src = ctx.ds.units if col in ctx.ds.units.columns else ctx.ds.facilities
        if col not in src.columns:
            why = f"no '{col}' column in units or facilities" + (
                ", and not given in extra" if _extra_applies(ctx) else
                " (extra figures describe the whole dataset and are used for city rules, or "
                "district rules of a one-district dataset)")
            return _city_extra(ctx, ents, col, _result(ents, np.nan, why))
        return _city_extra(ctx, ents, col, _area_sum(ents, src, col, ctx.level))
    fn.__doc__ = f"``{col}`` of a facility, or summed over an area (units column preferred)."
    _metric(col, levels=("facility", *_AREAS), unit=unit)(fn)


for _col, _unit in (("home_visits_per_year", "per year"), ("activities_per_year", "per year"),
                    ("activities_in_project", "in the project period")):
    _activity(_col, _unit)


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


@_metric("facility_count", levels=_AREAS, params={"kinds": "kinds", "where": "where"},
         unit="facilities")
def _facility_count(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Count facilities of ``kinds`` (default rehab_station) in the area.

    With ``where`` (e.g. ``{ownership: public, grade: [2, 3], psychiatric_ward: true}``) only
    facilities meeting it count; those with an unknown value make the count a lower bound.
    """
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", ("rehab_station",)))
    where = rule.params.get("where") or {}
    if not where:
        counts = _area_key(fac, ctx.level).value_counts()
        return _result(ents, ents["key"].map(counts).fillna(0))
    meets, unknown = where_mask(fac, where)
    keys = _area_key(fac, ctx.level)
    counts = ents["key"].map(meets.groupby(keys).sum()).fillna(0)
    n_unknown = ents["key"].map((unknown & ~meets).groupby(keys).sum()).fillna(0)
    reason = pd.Series(None, index=ents.index, dtype=object)
    partial = n_unknown > 0
    wanted = ", ".join(f"{k}={v}" for k, v in where.items())
    reason[partial] = [f"{int(k)} {'/'.join(rule.params.get('kinds', ('rehab_station',)))} "
                       f"with unknown {', '.join(where)} (counted: {wanted})"
                       for k in n_unknown[partial]]
    return _result(ents, counts, reason, lower=partial)


@_metric("stations_in_township", levels=("facility",), params={"kinds": "kinds"},
         unit="facilities")
def _stations_in_township(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Facilities of ``kinds`` (default rehab_station) in the same township as the facility."""
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", ("rehab_station",)))
    counts = fac["unit_id"].dropna().value_counts()
    units = ctx.ds.facilities.loc[ents.index, "unit_id"]
    measured = units.map(counts).fillna(0).where(units.notna())
    return _result(ents, measured, np.where(units.isna(), "township of the facility unknown",
                                            None))


@_metric("named_sites", levels=("city",),
         params={"names": "texts", "kinds": "kinds", "host_kinds": "kinds"}, unit="facilities")
def _named_sites(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Per place named in the document, facilities of ``kinds`` there (one row per name).

    A facility of ``kinds`` counts if its name contains the place name, or if it lies in the
    township of a ``host_kinds`` facility (e.g. the health centre) of that name. A place with no
    facility of either kind in the data is not assessable (the name cannot be checked).
    """
    kinds = rule.params.get("kinds", ("rehab_station",))
    hosts = _of_kinds(ctx.ds, rule.params.get("host_kinds", ()))
    sites = _of_kinds(ctx.ds, kinds)
    rows = []
    for place in rule.params["names"]:
        host = hosts[hosts["name"].astype(str).str.contains(place, regex=False)]
        named = sites["name"].astype(str).str.contains(place, regex=False)
        there = named | sites["unit_id"].isin(set(host["unit_id"].dropna()))
        known = len(host) > 0 or bool(named.any())
        first = host if len(host) else sites[named]
        rows.append({
            "entity_id": first["facility_id"].iloc[0] if len(first) else place,
            "entity_type": first["kind"].iloc[0] if len(first) else "facility",
            "entity_name": place,
            "district": first["district"].iloc[0] if len(first) else pd.NA,
            "zone": None, "measured": float(there.sum()) if known else np.nan,
            "reason": None if known else (
                f"no facility named {place!r} in the data ({'/'.join(kinds)} or "
                f"{'/'.join(rule.params.get('host_kinds', ())) or '—'}); check the name"),
            "lower_bound": False,
        })
    return pd.DataFrame(rows)


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


@_metric("served_rate", levels=_AREAS,
         params={"only_active": "bool", "kinds": "kinds", "served": "text"}, unit="share")
def _served_rate(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Home patients receiving community rehab / registered home patients.

    ``served`` names the units column (and extra figure) of patients served, default
    ``patients_served``; Beijing's 2025 target counts station (驿站) services only
    (``patients_served_station``). With ``only_active: true`` areas without any facility of
    ``kinds`` are left out (Liaoning: "在开展精神障碍社区康复的县(区)").
    """
    col = rule.params.get("served", "patients_served")
    units = ctx.ds.units
    keys = _area_key(units, ctx.level)
    pat, srv = _num(units, "patients"), _num(units, col)
    incomplete = (pat.isna() | srv.isna()).groupby(keys).sum()
    rate = srv.groupby(keys).sum() / pat.groupby(keys).sum().replace(0, np.nan)
    measured = ents["key"].map(rate).where(ents["key"].map(incomplete).fillna(1) == 0)
    reason = np.where(measured.isna(), np.where(
        ents["key"].map(incomplete).fillna(0) > 0,
        f"'patients' or '{col}' missing for some townships",
        "no registered home patients"), None)
    out = _result(ents, measured, reason)
    if _extra_applies(ctx) and {"patients", col} <= set(ctx.extra):
        out = _result(ents, ctx.extra[col] / ctx.extra["patients"])
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
    """Beds of each named hospital vs its target.

    A target given by ``district`` (a hospital the document does not name) is met by the largest
    facility there of the target's ``kinds`` meeting its ``where`` (e.g. a *public psychiatric*
    hospital): a 400-bed general hospital does not meet it.
    """
    rows = []
    fac = ctx.ds.facilities.loc[ents.index]
    names = ents["entity_name"].astype(str).str.strip()
    for label, spec in rule.params["named_targets"].items():
        lower, reason = False, None
        if spec["district"]:
            hit = ents[ents["district"] == spec["district"]]
            if spec.get("kinds"):
                hit = hit[hit["entity_type"].isin(spec["kinds"])]
            what = "/".join(spec.get("kinds") or rule.kinds)
            meets, unknown = where_mask(fac.loc[hit.index], spec.get("where") or {})
            beds = _num(fac.loc[hit.index], "beds")
            ok_beds = beds[meets]
            in_data = spec["district"] in set(ctx.ds.districts["name"])
            measured = ok_beds.max() if len(ok_beds.dropna()) else (
                0.0 if len(hit) or in_data else np.nan)
            n_unsure = int((unknown & ~meets).sum()) + int(beds[meets].isna().sum())
            lower = n_unsure > 0
            if hit.empty:
                reason = f"no {what} in district {spec['district']!r}" + (
                    "" if in_data else " (the district is not in the dataset)")
            elif lower:
                reason = (f"{n_unsure} {what} in {spec['district']} with unknown "
                          f"{', '.join(spec.get('where') or {}) or 'beds'}")
            elif not meets.any():
                reason = (f"no {what} in {spec['district']} meets "
                          + ", ".join(f"{k}={v}" for k, v in (spec.get("where") or {}).items()))
            chosen = ok_beds.idxmax() if len(ok_beds.dropna()) else None
            one = hit.loc[[chosen]] if chosen is not None else hit.iloc[0:0]
        else:
            hit = ents[names == label]
            beds = _num(fac.loc[hit.index], "beds")
            n_miss = int(beds.isna().sum())
            measured, lower = beds.sum(min_count=1), n_miss > 0
            reason = (f"no facility named {label!r} in the data; check the name" if hit.empty
                      else f"'beds' missing for {n_miss} of {len(beds)} facilities"
                      if n_miss else None)
            one = hit if len(hit) == 1 else hit.iloc[0:0]
        rows.append({
            "entity_id": one["entity_id"].iloc[0] if len(one) else label,
            "entity_type": one["entity_type"].iloc[0] if len(one) else "facility",
            "entity_name": label,
            "district": hit["district"].iloc[0] if len(hit) else spec["district"],
            "zone": None, "measured": measured, "reason": reason,
            "lower_bound": bool(lower), "threshold": spec["beds"],
        })
    return pd.DataFrame(rows)


@_metric("stated_rate", levels=("city",), params={"figures": "stated_figures"},
         unit="per 100k", threshold_from_params=True)
def _stated_rate(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Recompute a document's stated rates per 100,000 from one population (one row each).

    The population is ``extra['population']``, else the districts' total, else the population
    the *first* stated figure implies. Each stated rate is compared (op ``==``) with its count
    over that population, rounded as the document rounds; a mismatch means the document's
    figures cannot share one population.
    """
    figures = rule.params["figures"]
    pops = _num(ctx.ds.districts, "population")
    source = "extra['population']"
    pop = ctx.extra.get("population", np.nan)
    if not np.isfinite(pop) and len(pops) and pops.notna().all():
        pop, source = float(pops.sum()), "the districts' population"
    first_key, first = next(iter(figures.items()))
    if not np.isfinite(pop):
        pop = first["count"] / first["per_100k"] * 1e5
        source = f"the population {first_key} implies"
    rows = []
    for key, spec in figures.items():
        decimals = max(0, len(f"{spec['per_100k']:g}".partition(".")[2]))
        rate = round(spec["count"] / pop * 1e5, decimals)
        implied = spec["count"] / spec["per_100k"] * 1e5
        reason = None
        if not np.isclose(rate, spec["per_100k"]):
            reason = (f"the document states {spec['per_100k']:g} per 100k; {spec['count']:g} / "
                      f"{pop:,.0f} residents ({source}) gives {rate:g}. {spec['per_100k']:g} "
                      f"needs ≈{implied / 1e6:.3f} M residents")
        rows.append({"entity_id": "city", "entity_type": "city",
                     "entity_name": f"{key} {spec['count']:g}", "district": pd.NA,
                     "zone": None, "measured": rate, "reason": reason,
                     "lower_bound": False, "threshold": spec["per_100k"]})
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


@_metric("home_visits_per_client_month", levels=_AREAS,
         params={"months": "number", "kinds": "kinds"}, unit="visits")
def _visits_per_client_month(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Home visits / (clients of the project × service months, default 12).

    Clients are ``extra['pilot_clients']`` (city rules, or district rules of a one-district
    dataset), else the ``clients`` of facilities of ``kinds`` (default station/centre/halfway
    house) in the area — never every registered home patient.
    """
    visits = METRICS["home_visits_per_year"].fn(ctx, rule, ents)
    fac = _of_kinds(ctx.ds, rule.params.get("kinds", SERVICE_KINDS))
    clients = _area_sum(ents, fac, "clients", ctx.level)
    n_fac = ents["key"].map(_area_key(fac, ctx.level).value_counts()).fillna(0)
    clients["reason"] = clients["reason"].where(
        n_fac > 0, "number of project clients unknown: no station/centre with 'clients' here "
        "and extra['pilot_clients'] not given")
    clients["measured"] = clients["measured"].where(n_fac > 0)
    clients = _city_extra(ctx, ents, "pilot_clients", clients)
    months = rule.params.get("months", 12)
    rate = visits["measured"] / (clients["measured"].replace(0, np.nan) * months)
    reason = visits["reason"].where(visits["reason"].notna(), clients["reason"])
    reason = reason.where(rate.notna() | reason.notna(), "no project clients (0)")
    return _result(ents, rate.where(~clients["lower_bound"]), reason, visits["lower_bound"])


@_metric("city_figure", levels=("city",), params={"key": "text"})
def _city_figure(ctx: Context, rule: Rule, ents: pd.DataFrame) -> pd.DataFrame:
    """Read a city-wide figure given in ``extra[params.key]`` (e.g. training pass rate)."""
    key = rule.params.get("key", rule.id)
    if key in ctx.extra:
        return _result(ents, ctx.extra[key])
    return _result(ents, np.nan, f"city figure '{key}' is not in the data; pass it as "
                                 f"extra={{'{key}': ...}}")
