"""From a Dataset to suggested station sites: demand, candidates, costs, model, before/after.

This is the glue the app, the CLI and notebooks share: it builds the cost matrix with
:mod:`planning.access` (street network when one is given, the labelled straight-line fallback
otherwise), solves one of the exact models of :mod:`planning.siting`, and reports the result with
before/after indicators. Existing stations are candidates locked open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from planning import access
from planning.data.crs import WGS84, metric_crs
from planning.data.model import Dataset, make_dataset
from planning.errors import InputError
from planning.settings import DEFAULT, Settings
from planning.siting import candidates as cand
from planning.siting.capacitated import CapacitatedPMedian
from planning.siting.models import LSCP, MCLP, PMedian
from planning.siting.result import SitingResult
from planning.siting.township import TownshipCover

#: Beijing 2018 §二(三)12: station floor area by functional zone (m²).
ZONE_MIN_AREA: tuple[tuple[str, float], ...] = (
    ("core", 50.0), ("expansion", 70.0), ("new_development", 100.0), ("ecological", 100.0),
)

ModelName = Literal["township_cover", "mclp", "pmedian", "lscp", "cap_pmedian"]
MODELS: tuple[str, ...] = ("township_cover", "mclp", "pmedian", "lscp", "cap_pmedian")


@dataclass(frozen=True, eq=False)
class SitingPlan:
    """A solved siting scenario.

    Attributes
    ----------
    result
        The model's :class:`~planning.siting.result.SitingResult` (status, objective, bound, gap).
    sites
        New sites to build (EPSG:4326): ``site_id``, ``unit_id``, ``district``, ``source``,
        ``demand_served`` (weight assigned), ``mean_minutes`` of the demand assigned.
    candidates
        Every candidate considered, with ``locked`` (existing station) and ``selected`` flags.
    assignment
        One row per demand point: ``unit_id``, ``weight``, ``site_id`` serving it, ``minutes``.
    kpis
        Before/after indicators (rows) with columns ``before``, ``after``.
    method
        Cost source: ``"network"`` or ``"straight_line_fallback"``.
    params
        The parameters of the run, for scenario comparison.
    """

    result: SitingResult
    sites: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    assignment: pd.DataFrame
    kpis: pd.DataFrame
    method: str
    params: dict = field(default_factory=dict)


def demand_points(units: gpd.GeoDataFrame, *, weight: str = "population") -> gpd.GeoDataFrame:
    """One demand point per township (a point guaranteed inside it), weighted by ``weight``."""
    if weight not in units.columns:
        msg = f"townships have no '{weight}' column to weight demand by"
        raise InputError(msg, source="units", field=weight)
    metric = metric_crs(units)
    pts = units.to_crs(metric).representative_point().to_crs(WGS84)
    w = pd.to_numeric(units[weight], errors="coerce").fillna(0).to_numpy(dtype=float)
    return gpd.GeoDataFrame(
        {"unit_id": units["unit_id"].to_numpy(), "district": units["district"].to_numpy(),
         "weight": w},
        geometry=pts.to_numpy(), crs=WGS84,
    )


def build_candidates(
    dataset: Dataset,
    *,
    spacing_m: float = 2000.0,
    only_uncovered: bool = False,
    extra: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Existing stations (locked) + a grid inside townships (+ user/OSM candidates).

    Columns: ``site_id``, ``unit_id``, ``source`` (``existing``/``grid``/…), ``locked``,
    ``capacity`` (5 × staff for existing stations, the 1:5 rule; NaN for new sites),
    ``floor_area_m2``.
    """
    st = dataset.stations()
    existing = gpd.GeoDataFrame({
        "site_id": st["facility_id"].astype(str).to_numpy(),
        "unit_id": st["unit_id"].astype(object).to_numpy(),
        "source": "existing",
        "locked": True,
        "capacity": (st["staff"].astype("Float64") * 5).to_numpy(dtype=float, na_value=np.nan),
        "floor_area_m2": st["floor_area_m2"].to_numpy(dtype=float, na_value=np.nan),
    }, geometry=st.geometry.to_numpy(), crs=WGS84)
    units = dataset.units
    if only_uncovered:
        units = units[~units["unit_id"].isin(set(st["unit_id"].dropna()))]
    parts = [existing]
    if len(units):
        grid = cand.grid_in_units(units[["unit_id", "geometry"]], spacing_m=spacing_m)
        grid = grid.to_crs(WGS84)
        parts.append(gpd.GeoDataFrame({
            "site_id": [f"G{i:05d}" for i in range(len(grid))],
            "unit_id": grid["unit_id"].astype(object).to_numpy(),
            "source": grid["source"].to_numpy(), "locked": False, "capacity": np.nan,
            "floor_area_m2": np.nan,
        }, geometry=grid.geometry.to_numpy(), crs=WGS84))
    if extra is not None and len(extra):
        ex = extra.to_crs(WGS84)
        parts.append(gpd.GeoDataFrame({
            "site_id": [f"U{i:05d}" for i in range(len(ex))],
            "unit_id": ex.get("unit_id", pd.Series(pd.NA, index=ex.index)).astype(object)
            .to_numpy(),
            "source": ex.get("source", pd.Series("user", index=ex.index)).to_numpy(),
            "locked": False, "capacity": np.nan,
            "floor_area_m2": ex.get("floor_area_m2", pd.Series(np.nan, index=ex.index))
            .to_numpy(dtype=float),
        }, geometry=ex.geometry.to_numpy(), crs=WGS84))
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)


def _nearest(times: np.ndarray, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not open_mask.any():
        n = times.shape[0]
        return np.full(n, -1), np.full(n, np.inf)
    sub = times[:, open_mask]
    j = sub.argmin(axis=1)
    cols = np.flatnonzero(open_mask)[j]
    best = sub[np.arange(sub.shape[0]), j]
    return np.where(np.isfinite(best), cols, -1), best


def _kpis(dataset: Dataset, demand: gpd.GeoDataFrame, cands: gpd.GeoDataFrame,
          times: np.ndarray, before: np.ndarray, after: np.ndarray, threshold: float,
          profile: str | None, new_sites: gpd.GeoDataFrame) -> pd.DataFrame:
    w = demand["weight"].to_numpy(dtype=float)
    rows = {}
    covered_before = set(cands.loc[before, "unit_id"].dropna())
    covered_after = set(cands.loc[after, "unit_id"].dropna())
    units = set(dataset.units["unit_id"])
    rows["townships_with_station"] = (len(covered_before & units), len(covered_after & units))
    for label, mask in (("before", before), ("after", after)):
        _, t = _nearest(times, mask)
        within = float(w[t <= threshold].sum())
        finite = np.isfinite(t)
        mean = float((w[finite] * t[finite]).sum() / max(w[finite].sum(), 1e-12))
        rows.setdefault("weight_within_threshold", [None, None])
        rows.setdefault("mean_minutes", [None, None])
        i = 0 if label == "before" else 1
        rows["weight_within_threshold"][i] = within
        rows["mean_minutes"][i] = mean
    rows["weight_within_threshold"] = tuple(rows["weight_within_threshold"])
    rows["mean_minutes"] = tuple(rows["mean_minutes"])
    rows["stations"] = (int(before.sum()), int(after.sum()))
    if profile is not None:
        from planning import rules

        prof = rules.load_profile(profile)
        f0 = rules.evaluate(dataset, prof)
        with_new = add_sites(dataset, new_sites)
        f1 = rules.evaluate(with_new, prof)
        rows["failing_findings"] = (int((f0["status"] == "fail").sum()),
                                    int((f1["status"] == "fail").sum()))
    return pd.DataFrame(rows, index=["before", "after"]).T


def add_sites(dataset: Dataset, sites: gpd.GeoDataFrame) -> Dataset:
    """The dataset with suggested sites added as planned rehab stations (attributes unknown)."""
    if not len(sites):
        return dataset
    new = gpd.GeoDataFrame({
        "facility_id": sites["site_id"].to_numpy(),
        "name": [f"建议新址 suggested {s}" for s in sites["site_id"]],
        "kind": "rehab_station",
        "unit_id": sites["unit_id"].to_numpy(),
    }, geometry=sites.geometry.to_numpy(), crs=WGS84)
    fac = pd.concat([dataset.facilities, new], ignore_index=True)
    return make_dataset(dataset.name, dataset.districts, dataset.units,
                        gpd.GeoDataFrame(fac, geometry="geometry", crs=WGS84),
                        synthetic=dataset.synthetic, sources=dataset.sources,
                        data_date=dataset.data_date)


def suggest_sites(
    dataset: Dataset,
    *,
    model: ModelName = "township_cover",
    p: int = 5,
    threshold_min: float = 15.0,
    mode: str = "walk",
    weight: str = "population",
    spacing_m: float = 2000.0,
    network=None,
    extra_candidates: gpd.GeoDataFrame | None = None,
    time_limit: float | None = None,
    mip_gap: float | None = None,
    profile: str | None = "beijing-2018",
    min_floor_area: dict[str, float] | tuple | None = None,
    max_per_township: int | None = None,
    site_cost: float | None = None,
    budget: float | None = None,
    settings: Settings = DEFAULT,
) -> SitingPlan:
    """Suggest new station sites for ``dataset`` (usually one district) with an exact model.

    Parameters
    ----------
    model
        ``township_cover`` (every township without a station gets one, nearest to its
        residents), ``mclp`` (``p`` new sites maximising demand within ``threshold_min``),
        ``pmedian`` (``p`` new sites minimising weighted minutes), ``lscp`` (fewest new sites so
        all demand is within ``threshold_min``), ``cap_pmedian`` (p-median where each site serves
        at most its capacity: 5 × staff for existing stations; new sites get the median
        existing capacity).
    threshold_min
        Service radius in minutes for coverage models and the "within" indicator.
    mode
        ``walk`` or ``drive`` (speeds from ``settings`` for the fallback).
    weight
        Township column weighting demand: ``population``, ``patients`` or ``eligible``.
    network
        A :class:`planning.access.network.RoutingNetwork`; ``None`` uses the straight-line fallback.
    profile
        Policy profile used to count failing findings before/after (``None`` to skip).
    min_floor_area
        Minimum floor area (m²) of a new site by the functional zone of its township, e.g.
        ``{"core": 50, "expansion": 70, "new_development": 100, "ecological": 100}`` (Beijing
        2018 §二(三)12); candidates known to be smaller are excluded, unknown areas are kept.
    max_per_township
        At most this many open sites (existing included) per township.
    site_cost, budget
        Cost of each new site (e.g. yuan per year) and a budget on the new sites.
    """
    if model not in MODELS:
        msg = f"unknown model {model!r}; expected one of {', '.join(MODELS)}"
        raise InputError(msg, field="model")
    demand = demand_points(dataset.units, weight=weight)
    cands = build_candidates(dataset, spacing_m=spacing_m,
                             only_uncovered=model == "township_cover",
                             extra=extra_candidates)
    ttm = access.travel_times(demand, cands, network=network, mode=mode, settings=settings)
    times = np.asarray(ttm.values, dtype=float)
    locked = np.flatnonzero(cands["locked"].to_numpy(dtype=bool))
    w = demand["weight"].to_numpy(dtype=float)
    finite_cost = np.where(np.isfinite(times), times, 1e6)
    rules_opts: dict = {"locked": locked}
    if min_floor_area:
        min_floor_area = dict(min_floor_area)
        zone_of = dict(zip(dataset.units["unit_id"], dataset.units["zone"], strict=True))
        need = cands["unit_id"].map(zone_of).map(min_floor_area)
        rules_opts["floor_area"] = cands["floor_area_m2"].to_numpy(dtype=float)
        rules_opts["min_floor_area"] = need.astype(float).fillna(0.0).to_numpy()
    if max_per_township is not None:
        rules_opts["groups"] = cands["unit_id"].astype(str).to_numpy()
        rules_opts["max_per_group"] = int(max_per_township)
    if budget is not None:
        rules_opts["site_cost"] = np.full(len(cands), float(site_cost or 1.0))
        rules_opts["budget"] = float(budget)
    if model == "township_cover":
        solver = TownshipCover.from_cost_matrix(
            finite_cost, w, candidate_units=cands["unit_id"].astype(str).to_numpy(),
            unit_ids=demand["unit_id"].astype(str).to_numpy(), travel_weight=1.0,
            **rules_opts,
        )
    elif model == "mclp":
        solver = MCLP.from_cost_matrix(finite_cost, w, service_radius=threshold_min,
                                       p=None if budget is not None else p, **rules_opts)
    elif model == "pmedian":
        solver = PMedian.from_cost_matrix(finite_cost, w, p=p, **rules_opts)
    elif model == "lscp":
        solver = LSCP.from_cost_matrix(finite_cost, w, service_radius=threshold_min,
                                       **rules_opts)
    else:
        caps = cands["capacity"].to_numpy(dtype=float)
        fill = float(np.nanmedian(caps)) if np.isfinite(caps).any() else float(w.sum())
        caps = np.where(np.isfinite(caps), caps, fill)
        solver = CapacitatedPMedian.from_cost_matrix(finite_cost, w, p=p, capacities=caps,
                                                     demand=w, **rules_opts)
    result = solver.solve(time_limit=time_limit or settings.solver_time_limit_s,
                          mip_gap=settings.solver_mip_gap if mip_gap is None else mip_gap)
    before = cands["locked"].to_numpy(dtype=bool)
    after = np.zeros(len(cands), dtype=bool)
    after[np.asarray(result.selected, dtype=int)] = True
    site_idx, minutes = _nearest(times, after)
    if model == "cap_pmedian":  # capacities bind: demand goes where the model sent it
        site_idx = np.asarray(result.assignment, dtype=int)
        minutes = np.where(site_idx >= 0, times[np.arange(len(site_idx)),
                                                np.maximum(site_idx, 0)], np.inf)
    ids = cands["site_id"].to_numpy()
    assignment = pd.DataFrame({
        "unit_id": demand["unit_id"].to_numpy(), "weight": w,
        "site_id": np.where(site_idx >= 0, ids[np.maximum(site_idx, 0)], None),
        "minutes": minutes,
    })
    new_idx = np.asarray(result.new_sites, dtype=int)
    sites = cands.iloc[new_idx].copy()
    served = assignment.groupby("site_id").agg(demand_served=("weight", "sum"),
                                               mean_minutes=("minutes", "mean"))
    sites = sites.join(served, on="site_id")
    sites["demand_served"] = sites["demand_served"].fillna(0.0)
    district_of = dict(zip(dataset.units["unit_id"], dataset.units["district"], strict=True))
    sites["district"] = sites["unit_id"].map(district_of)
    cands = cands.assign(selected=after)
    kpis = _kpis(dataset, demand, cands, times, before, after, threshold_min, profile, sites)
    params = {"model": model, "p": p, "threshold_min": threshold_min, "mode": mode,
              "weight": weight, "spacing_m": spacing_m, "method": ttm.method,
              "min_floor_area": bool(min_floor_area), "max_per_township": max_per_township,
              "budget": budget, "user_candidates": 0 if extra_candidates is None
              else len(extra_candidates)}
    return SitingPlan(result=result, sites=sites.reset_index(drop=True), candidates=cands,
                      assignment=assignment, kpis=kpis, method=ttm.method, params=params)


def compare(plans: dict[str, SitingPlan]) -> pd.DataFrame:
    """Scenarios side by side: parameters, result status/objective/bound/gap and KPIs after."""
    rows = {}
    for name, plan in plans.items():
        r = plan.result
        row = {**{f"param.{k}": v for k, v in plan.params.items()},
               "status": r.status, "objective": r.objective, "bound": r.bound, "gap": r.gap,
               "runtime_s": r.runtime_s, "new_sites": len(plan.sites)}
        for k, v in plan.kpis["after"].items():
            row[f"after.{k}"] = v
            row[f"change.{k}"] = v - plan.kpis.loc[k, "before"]
        rows[name] = row
    return pd.DataFrame(rows)
