"""From a Dataset to suggested station sites: demand, candidates, costs, model, before/after.

This is the glue the app, the CLI and notebooks share: it builds the cost matrix with
:mod:`planning.access` (street network when one is given, the labelled straight-line fallback
otherwise), solves one of the exact models of :mod:`planning.siting`, and reports the result with
before/after indicators. Existing stations are candidates locked open.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from planning import access
from planning.data.crs import WGS84, metric_crs
from planning.data.model import FACILITY_SCHEMA, Dataset, validate
from planning.errors import InfeasibleError, InputError
from planning.rules import evaluate, load_profile
from planning.rules.profile import Profile
from planning.settings import DEFAULT, Settings
from planning.siting import candidates as cand
from planning.siting.capacitated import CapacitatedPMedian
from planning.siting.fairness import FairCover, FairnessResult
from planning.siting.models import LSCP, MCLP, PMedian
from planning.siting.multiperiod import MultiPeriodCover, MultiPeriodResult, YearPlan
from planning.siting.result import SitingResult
from planning.siting.township import TownshipCover

ModelName = Literal["township_cover", "mclp", "pmedian", "lscp", "cap_pmedian", "fair_mclp"]
MODELS: tuple[str, ...] = (
    "township_cover", "mclp", "pmedian", "lscp", "cap_pmedian", "fair_mclp",
)
WEIGHTS: tuple[str, ...] = ("population", "eligible", "patients")


@dataclass(frozen=True)
class SitingOptions:
    """What to solve: the model and its options, as one frozen value (hashable, cacheable).

    Policy numbers are not here: the floor-area minimum by zone and the station capacity per
    worker come from the profile handed to :func:`suggest_sites`.

    Attributes
    ----------
    model : str
        ``township_cover`` (every township without a station gets one, nearest to its
        residents), ``mclp`` (``p`` new sites maximising demand within ``threshold_min``),
        ``pmedian`` (``p`` new sites minimising weighted minutes), ``lscp`` (fewest new sites
        so all demand is within ``threshold_min``), ``cap_pmedian`` (p-median where each site
        serves at most its capacity: staff × the profile's clients per worker).
    p : int
        New sites for ``mclp``, ``pmedian`` and ``cap_pmedian``.
    threshold_min : float
        Service radius in minutes for coverage models and the "within" indicator.
    mode : str
        ``walk`` or ``drive``.
    weight : str
        Township column weighting demand: ``population``, ``patients`` or ``eligible``.
    spacing_m : float
        Spacing of the grid of new candidate sites inside townships.
    time_limit, mip_gap : float, optional
        Solver limits (``None``: from settings).
    zone_floor_area : bool
        Exclude candidates known to be smaller than the profile's floor-area minimum for the
        functional zone of their township (unknown areas are kept).
    max_per_township : int, optional
        At most this many open sites (existing included) per township.
    site_cost, budget : float, optional
        Cost of each new site and a budget on the new sites; the cost is used only with a
        budget.
    year : int, optional
        Milestone year for the failing-findings count before/after (as on the Compliance page).
    min_share : float, optional
        ``fair_mclp``: share of each township's demand that must be within ``threshold_min``
        (``None``: maximise the worst-served township's share, then total coverage).
    participation : float
        ``cap_pmedian``: share of the eligible patients (registered home patients where a
        township has no eligible count) expected to attend a station. Clients per township =
        eligible × participation, in the same unit as station capacity (staff × clients per
        worker); ``weight`` (e.g. population) only weights the travel time. The default 0.5 is
        a planning assumption, not a policy figure: set it from local experience.
    """

    model: ModelName = "township_cover"
    p: int = 5
    threshold_min: float = 15.0
    mode: str = "walk"
    weight: str = "population"
    spacing_m: float = 2000.0
    time_limit: float | None = None
    mip_gap: float | None = None
    zone_floor_area: bool = False
    max_per_township: int | None = None
    site_cost: float | None = None
    budget: float | None = None
    year: int | None = None
    min_share: float | None = None
    participation: float = 0.5

    def __post_init__(self) -> None:
        """Refuse impossible options with the value received and what is expected."""
        if self.model not in MODELS:
            msg = f"unknown model {self.model!r}; expected one of {', '.join(MODELS)}"
            raise InputError(msg, field="model")
        if self.weight not in WEIGHTS:
            msg = f"unknown weight {self.weight!r}; expected one of {', '.join(WEIGHTS)}"
            raise InputError(msg, field="weight")
        for name in ("threshold_min", "spacing_m"):
            if not getattr(self, name) > 0:
                msg = f"{name} must be > 0; got {getattr(self, name)!r}"
                raise InputError(msg, field=name)
        if not 0 < self.participation <= 1:
            msg = f"participation must be a share in (0, 1]; got {self.participation!r}"
            raise InputError(msg, field="participation")
        if self.p < 1:
            msg = f"p must be at least 1; got {self.p!r}"
            raise InputError(msg, field="p")
        if self.budget is None and self.site_cost is not None:
            object.__setattr__(self, "site_cost", None)  # a cost without a budget binds nothing

    @property
    def default_name(self) -> str:
        """A scenario name that follows the model and options, e.g. ``"mclp-p3-30min-walk"``."""
        parts = [self.model]
        if self.model in ("mclp", "pmedian", "cap_pmedian") and self.budget is None:
            parts.append(f"p{self.p}")
        parts += [f"{self.threshold_min:g}min", self.mode]
        if self.weight != "population":
            parts.append(self.weight)
        if self.budget is not None:
            parts.append(f"budget{self.budget:g}")
        if self.year is not None:
            parts.append(str(self.year))
        return "-".join(parts)


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
    fairness
        ``fair_mclp`` only: the fair plan next to the plain MCLP on the same data (worst
        township share, price of fairness; see :class:`~planning.siting.fairness.FairnessResult`).
    """

    result: SitingResult
    sites: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    assignment: pd.DataFrame
    kpis: pd.DataFrame
    method: str
    params: dict = field(default_factory=dict)
    fairness: FairnessResult | None = None


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
    clients_per_staff: float | None = None,
) -> gpd.GeoDataFrame:
    """Existing stations (locked) + a grid inside townships (+ user/OSM candidates).

    Parameters
    ----------
    dataset : Dataset
        Townships and stations.
    spacing_m : float
        Grid spacing of new candidates.
    only_uncovered : bool
        Grid only in townships without a station.
    extra : geopandas.GeoDataFrame, optional
        User or OSM candidate points.
    clients_per_staff : float, optional
        From the profile (``profile.clients_per_staff``); capacity of an existing station is
        ``staff ×`` this, NaN when the profile sets no ratio.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id``, ``unit_id``, ``source`` (``existing``/``grid``/…), ``locked``,
        ``capacity`` (NaN for new sites), ``floor_area_m2``.
    """
    st = dataset.stations()
    existing = gpd.GeoDataFrame({
        "site_id": st["facility_id"].astype(str).to_numpy(),
        "unit_id": st["unit_id"].astype(object).to_numpy(),
        "source": "existing",
        "locked": True,
        "capacity": (st["staff"].astype("Float64") * (clients_per_staff or np.nan))
        .to_numpy(dtype=float, na_value=np.nan),
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


def _failing(dataset: Dataset, profile: Profile, year: int | None) -> int:
    # The scope definition of planning.rules.evaluate_scope: a one-district dataset counts only
    # that district's rows (city-wide rows measure the city), so every page agrees.
    f = evaluate(dataset, profile, year=year)
    fail = f["status"] == "fail"
    names = dataset.district_names()
    if len(names) == 1:
        fail &= f["district"].eq(names[0]).fillna(False).to_numpy(dtype=bool)
    return int(fail.sum())


def _kpis(ctx: _Run, before: np.ndarray, after: np.ndarray,
          new_sites: gpd.GeoDataFrame) -> pd.DataFrame:
    w = ctx.demand["weight"].to_numpy(dtype=float)
    rows: dict[str, tuple] = {}
    units = set(ctx.dataset.units["unit_id"])
    covered = [set(ctx.cands.loc[m, "unit_id"].dropna()) & units for m in (before, after)]
    rows["townships_with_station"] = (len(covered[0]), len(covered[1]))
    within, mean = [], []
    for mask in (before, after):
        _, t = _nearest(ctx.times, mask)
        finite = np.isfinite(t)
        within.append(float(w[t <= ctx.options.threshold_min].sum()))
        mean.append(float((w[finite] * t[finite]).sum() / w[finite].sum())
                    if w[finite].sum() > 0 else np.nan)
    rows["weight_within_threshold"] = tuple(within)
    rows["mean_minutes"] = tuple(mean)
    rows["stations"] = (int(before.sum()), int(after.sum()))
    if ctx.profile is not None:
        year = ctx.options.year
        rows["failing_findings"] = (_failing(ctx.dataset, ctx.profile, year),
                                    _failing(add_sites(ctx.dataset, new_sites), ctx.profile,
                                             year))
    return pd.DataFrame(rows, index=["before", "after"]).T


def add_sites(dataset: Dataset, sites: gpd.GeoDataFrame) -> Dataset:
    """Return the dataset with suggested sites added as planned rehab stations (attributes unknown).

    Only the new rows are validated; the rest of the dataset was validated when it was made.
    """
    if not len(sites):
        return dataset
    new = gpd.GeoDataFrame({
        "facility_id": sites["site_id"].astype(str).to_numpy(),
        "name": [f"建议新址 suggested {s}" for s in sites["site_id"]],
        "kind": "rehab_station",
        "unit_id": sites["unit_id"].to_numpy(),
        "district": sites["district"].to_numpy() if "district" in sites
        else pd.Series(pd.NA, index=sites.index).to_numpy(),
    }, geometry=sites.geometry.to_numpy(), crs=WGS84)
    new = validate(new, FACILITY_SCHEMA, source="suggested sites")
    fac = pd.concat([dataset.facilities, new], ignore_index=True)
    return dataclasses.replace(dataset, facilities=gpd.GeoDataFrame(fac, geometry="geometry",
                                                                     crs=WGS84))


@dataclass(frozen=True)
class _Run:
    dataset: Dataset
    options: SitingOptions
    profile: Profile | None
    demand: gpd.GeoDataFrame
    cands: gpd.GeoDataFrame
    times: np.ndarray


def _side_rules(ctx: _Run) -> dict:
    opts, cands = ctx.options, ctx.cands
    side: dict = {"locked": np.flatnonzero(cands["locked"].to_numpy(dtype=bool))}
    if opts.zone_floor_area:
        need_by_zone = ctx.profile.min_floor_area_by_zone if ctx.profile is not None else None
        if not need_by_zone:
            msg = "the profile sets no floor-area minimum to apply to candidate sites"
            raise InputError(msg, field="zone_floor_area")
        zone_of = dict(zip(ctx.dataset.units["unit_id"], ctx.dataset.units["zone"], strict=True))
        zones = cands["unit_id"].map(zone_of)
        need = zones.map(dict(need_by_zone)).fillna(need_by_zone.get("*", 0.0))
        side["floor_area"] = cands["floor_area_m2"].to_numpy(dtype=float)
        side["min_floor_area"] = need.astype(float).to_numpy()
    if opts.max_per_township is not None:
        side["groups"] = cands["unit_id"].astype(str).to_numpy()
        side["max_per_group"] = int(opts.max_per_township)
    if opts.budget is not None:
        side["site_cost"] = np.full(len(cands), float(opts.site_cost or 1.0))
        side["budget"] = float(opts.budget)
    return side


def clients_per_township(units: pd.DataFrame, participation: float) -> np.ndarray:
    """Compute the expected station clients per township: eligible patients × participation.

    Parameters
    ----------
    units : pandas.DataFrame
        Townships with ``eligible`` (and/or ``patients``) counts.
    participation : float
        Share of them expected to attend.

    Returns
    -------
    numpy.ndarray
        Clients per township (the eligible count where known, else registered home patients;
        0 where neither is known).

    Raises
    ------
    InputError
        The townships carry neither count: capacity in clients cannot be planned.
    """
    cols = [c for c in ("eligible", "patients") if c in units.columns]
    if not cols or all(units[c].isna().all() for c in cols):
        msg = ("the capacitated model counts clients (eligible patients × participation); the "
               "townships have no 'eligible' or 'patients' counts — load a ledger first")
        raise InputError(msg, source="units", field="eligible")
    best = pd.Series(np.nan, index=units.index, dtype=float)
    for c in cols:  # eligible first, patients where eligible is unknown
        best = best.fillna(pd.to_numeric(units[c], errors="coerce").astype(float))
    return best.fillna(0.0).to_numpy(dtype=float) * float(participation)


def _capacities(ctx: _Run, w: np.ndarray) -> np.ndarray:
    per_staff = ctx.profile.clients_per_staff if ctx.profile is not None else None
    if per_staff is None:
        msg = ("the capacitated model needs the profile's staff : client ratio to know what a "
               "station can serve; the chosen profile sets none")
        raise InputError(msg, field="model")
    caps = ctx.cands["capacity"].to_numpy(dtype=float)
    fill = float(np.nanmedian(caps)) if np.isfinite(caps).any() else float(w.sum())
    return np.where(np.isfinite(caps), caps, fill)


def _solver(ctx: _Run):
    opts, w = ctx.options, ctx.demand["weight"].to_numpy(dtype=float)
    side = _side_rules(ctx)
    if opts.model == "township_cover":
        return TownshipCover.from_cost_matrix(
            ctx.times, w, candidate_units=ctx.cands["unit_id"].astype(str).to_numpy(),
            unit_ids=ctx.demand["unit_id"].astype(str).to_numpy(), travel_weight=1.0, **side)
    if opts.model == "fair_mclp":
        return FairCover.from_cost_matrix(
            ctx.times, w, service_radius=opts.threshold_min, p=opts.p,
            townships=ctx.demand["unit_id"].astype(str).to_numpy(),
            min_share=opts.min_share or 0.0,
            mode="min_share" if opts.min_share else "maximin", **side)
    if opts.model == "mclp":
        return MCLP.from_cost_matrix(ctx.times, w, service_radius=opts.threshold_min,
                                     p=None if opts.budget is not None else opts.p, **side)
    if opts.model == "pmedian":
        return PMedian.from_cost_matrix(ctx.times, w, p=opts.p, **side)
    if opts.model == "lscp":
        return LSCP.from_cost_matrix(ctx.times, w, service_radius=opts.threshold_min, **side)
    clients = clients_per_township(
        ctx.dataset.units.set_index("unit_id").loc[ctx.demand["unit_id"]].reset_index(),
        opts.participation)
    try:
        return CapacitatedPMedian.from_cost_matrix(ctx.times, w, p=opts.p,
                                                   capacities=_capacities(ctx, clients),
                                                   demand=clients, **side)
    except InfeasibleError as exc:
        raise _with_staff(exc, ctx) from exc


def _with_staff(exc: InfeasibleError, ctx: _Run) -> InfeasibleError:
    """Add "or M more staff" (shortfall / the profile's clients per worker) to a shortfall."""
    per_staff = ctx.profile.clients_per_staff if ctx.profile is not None else None
    if exc.key != "err_capacity_shortfall" or not per_staff:
        return exc
    staff = int(np.ceil(float(exc.params["shortfall"]) / float(per_staff)))
    msg = f"{exc}; or {staff} more staff at {per_staff:g} clients each"
    params = {**exc.params, "extra_staff": staff}
    return InfeasibleError(msg, key="err_capacity_more", params=params)


def _check_reachable(demand: gpd.GeoDataFrame, times: np.ndarray) -> None:
    """Refuse a run whose demand mostly cannot reach any candidate (a network that doesn't fit)."""
    w = demand["weight"].to_numpy(dtype=float)
    reach = np.isfinite(times).any(axis=1) if times.shape[1] else np.zeros(len(w), bool)
    total = w.sum()
    if total > 0 and w[~reach].sum() / total > 0.5:
        lost = demand.loc[~reach, "unit_id"].astype(str).tolist()
        msg = (f"{(~reach).sum()} of {len(w)} demand points ({w[~reach].sum() / total:.0%} of "
               f"the demand) reach no candidate site on this network, e.g. township "
               f"{', '.join(lost[:3])}; the network does not cover the area")
        raise InfeasibleError(msg)


@dataclass(frozen=True)
class _Inputs:
    profile: Profile | str | Path | None
    network: object | None
    candidates: gpd.GeoDataFrame | None
    settings: Settings


def _prepare(dataset: Dataset, opts: SitingOptions,
             inputs: _Inputs) -> tuple[_Run, access.TravelTimeMatrix]:
    prof = load_profile(inputs.profile) if inputs.profile is not None else None
    demand = demand_points(dataset.units, weight=opts.weight)
    cands = build_candidates(dataset, spacing_m=opts.spacing_m,
                             only_uncovered=opts.model == "township_cover",
                             extra=inputs.candidates,
                             clients_per_staff=prof.clients_per_staff if prof else None)
    ttm = access.travel_times(demand, cands, network=inputs.network, mode=opts.mode,
                              settings=inputs.settings)
    times = np.asarray(ttm.values, dtype=float)
    _check_reachable(demand, times)
    return _Run(dataset, opts, prof, demand, cands, times), ttm


def describe_run(
    dataset: Dataset,
    options: SitingOptions,
    *,
    profile: Profile | str | Path | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULT,
) -> dict:
    """Tell the model size and the method that :func:`suggest_sites` will use, before solving.

    Parameters
    ----------
    dataset, options, profile, candidates, settings
        As for :func:`suggest_sites` (straight-line costs: the size does not depend on them).

    Returns
    -------
    dict
        ``demand_points``, ``candidates``, ``free_candidates``, ``nonzeros`` and ``method``
        (``"exact"`` or ``"heuristic"``, with ``reason``) from the model's ``describe()``.
    """
    ctx, _ = _prepare(dataset, options, _Inputs(profile, None, candidates, settings))
    return _solver(ctx).describe()


def suggest_sites(
    dataset: Dataset,
    options: SitingOptions | None = None,
    *,
    profile: Profile | str | Path | None = None,
    network: object | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULT,
) -> SitingPlan:
    """Suggest new station sites for ``dataset`` (usually one district) with an exact model.

    Parameters
    ----------
    dataset : Dataset
        The area to plan (``dataset.subset([district])`` for one district).
    options : SitingOptions, optional
        Model and options (default: township cover).
    profile : Profile or str or path, optional
        The policy profile: station capacity per worker (capacitated model), the floor-area
        minimum by zone (``options.zone_floor_area``) and the failing-findings count
        before/after. ``None`` skips all three (the capacitated model then refuses).
    network : RoutingNetwork, optional
        A :class:`planning.access.network.RoutingNetwork`; ``None`` uses the labelled
        straight-line fallback. Unreachable pairs stay unreachable (``inf``).
    candidates : geopandas.GeoDataFrame, optional
        User or OSM candidate points, added to the existing stations and the grid.
    settings : Settings
        Solver limits and fallback speeds.

    Returns
    -------
    SitingPlan

    Raises
    ------
    InfeasibleError
        No feasible plan, or most of the demand reaches no candidate on ``network``.
    InputError
        Options the data or profile cannot support.
    """
    opts = options or SitingOptions()
    ctx, ttm = _prepare(dataset, opts, _Inputs(profile, network, candidates, settings))
    demand, cands, times = ctx.demand, ctx.cands, ctx.times
    solver = _solver(ctx)
    limit = opts.time_limit or settings.solver_time_limit_s
    gap = settings.solver_mip_gap if opts.mip_gap is None else opts.mip_gap
    fairness = None
    if isinstance(solver, FairCover):  # the fair plan and what fairness costs against the MCLP
        fairness = solver.solve_fair(limit, gap, settings=settings)
        result = fairness.result
    else:
        result = solver.solve(time_limit=limit, mip_gap=gap)
    w = demand["weight"].to_numpy(dtype=float)
    before = cands["locked"].to_numpy(dtype=bool)
    after = np.zeros(len(cands), dtype=bool)
    after[np.asarray(result.selected, dtype=int)] = True
    site_idx, minutes = _nearest(times, after)
    if opts.model == "cap_pmedian":  # capacities bind: demand goes where the model sent it
        site_idx = np.asarray(result.assignment, dtype=int)
        minutes = np.where(site_idx >= 0, times[np.arange(len(site_idx)),
                                                np.maximum(site_idx, 0)], np.inf)
    ids = cands["site_id"].to_numpy()
    assignment = pd.DataFrame({
        "unit_id": demand["unit_id"].to_numpy(), "weight": w,
        "site_id": np.where(site_idx >= 0, ids[np.maximum(site_idx, 0)], None),
        "minutes": minutes,
    })
    sites = cands.iloc[np.asarray(result.new_sites, dtype=int)].copy()
    served = assignment.groupby("site_id").agg(demand_served=("weight", "sum"),
                                               mean_minutes=("minutes", "mean"))
    sites = sites.join(served, on="site_id")
    sites["demand_served"] = sites["demand_served"].fillna(0.0)
    district_of = dict(zip(dataset.units["unit_id"], dataset.units["district"], strict=True))
    sites["district"] = sites["unit_id"].map(district_of)
    ctx = dataclasses.replace(ctx, cands=cands.assign(selected=after))
    kpis = _kpis(ctx, before, after, sites)
    params = {**dataclasses.asdict(opts), "method": ttm.method,
              "profile": ctx.profile.name if ctx.profile else None,
              "user_candidates": 0 if candidates is None else len(candidates)}
    return SitingPlan(result=result, sites=sites.reset_index(drop=True), candidates=ctx.cands,
                      assignment=assignment, kpis=kpis, method=ttm.method, params=params,
                      fairness=fairness)


@dataclass(frozen=True, eq=False)
class YearlyPlan:
    """New stations by milestone year for a dataset (see :func:`plan_by_year`).

    Attributes
    ----------
    result : MultiPeriodResult
        Status, objective, bound, gap and the per-year indicators (``result.kpis``).
    schedule : geopandas.GeoDataFrame
        One row per new station: ``site_id``, ``year``, ``unit_id``, ``district``,
        ``site_cost``, ``staff_cost`` (EPSG:4326 points).
    method : str
        Cost source: ``"network"`` or ``"straight_line_fallback"``.
    """

    result: MultiPeriodResult
    schedule: gpd.GeoDataFrame
    method: str


def plan_by_year(
    dataset: Dataset,
    options: SitingOptions,
    years: YearPlan,
    *,
    site_cost: float = 1.0,
    staff_cost: float = 0.0,
    network: object | None = None,
    settings: Settings = DEFAULT,
) -> YearlyPlan:
    """Schedule new stations over milestone years under a budget per year.

    Existing stations stay open. A new station costs ``site_cost`` in its opening year
    and ``staff_cost`` every year it is open; coverage (demand within ``options.threshold_min``)
    summed over the years is maximised, so each year's target in ``years.targets`` is met as
    early as the budgets allow (:class:`~planning.siting.multiperiod.MultiPeriodCover`).

    Parameters
    ----------
    dataset : Dataset
        The area to plan.
    options : SitingOptions
        Threshold, mode, weight, candidate spacing and solver limits.
    years : YearPlan
        Years, budget per year and optional covered-share targets.
    site_cost : float
        One-off cost of opening a station (same currency as the budgets).
    staff_cost : float
        Yearly running cost of each new station (same currency as the budgets).
    network : RoutingNetwork, optional
        Street network; ``None`` uses the labelled straight-line fallback.
    settings : Settings
        Solver limits and fallback speeds.

    Returns
    -------
    YearlyPlan

    Raises
    ------
    InfeasibleError
        A target cannot be met within the budgets, or the demand mostly reaches no candidate.
    """
    demand = demand_points(dataset.units, weight=options.weight)
    cands = build_candidates(dataset, spacing_m=options.spacing_m)
    ttm = access.travel_times(demand, cands, network=network, mode=options.mode,
                              settings=settings)
    times = np.asarray(ttm.values, dtype=float)
    _check_reachable(demand, times)
    model = MultiPeriodCover.from_cost_matrix(
        times, demand["weight"].to_numpy(dtype=float), service_radius=options.threshold_min,
        plan=years, site_cost=np.full(len(cands), float(site_cost)),
        staff_cost=np.full(len(cands), float(staff_cost)),
        locked=np.flatnonzero(cands["locked"].to_numpy(dtype=bool)))
    result = model.solve(time_limit=options.time_limit or settings.solver_time_limit_s,
                         mip_gap=settings.solver_mip_gap if options.mip_gap is None
                         else options.mip_gap)
    sched = result.schedule
    rows = cands.iloc[sched["site"].to_numpy(dtype=int)].reset_index(drop=True)
    district_of = dict(zip(dataset.units["unit_id"], dataset.units["district"], strict=True))
    schedule = gpd.GeoDataFrame({
        "site_id": rows["site_id"].to_numpy(), "year": sched["year"].to_numpy(),
        "unit_id": rows["unit_id"].to_numpy(),
        "district": rows["unit_id"].map(district_of).to_numpy(),
        "site_cost": sched["site_cost"].to_numpy(), "staff_cost": sched["staff_cost"].to_numpy(),
    }, geometry=rows.geometry.to_numpy(), crs=WGS84)
    return YearlyPlan(result=result, schedule=schedule, method=ttm.method)


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
