"""Township accessibility summary: who is more than T minutes from a station, and 2SFCA access.

Demand is a population grid built inside each township (its residents spread evenly over grid
points ``grid_m`` apart), so "share of residents within 15 minutes" varies within a township
instead of being all-or-nothing. Costs come from :mod:`planning.access`: the street network when
one is given, else the labelled straight-line fallback (and circular catchments instead of
isochrones).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning import access
from planning.access.matrix import TravelTimeMatrix, fill_flagged, straight_line_matrix
from planning.access.network import snap
from planning.data.crs import WGS84, metric_crs
from planning.data.grid import grid_points
from planning.data.model import Dataset
from planning.errors import InputError
from planning.settings import DEFAULT, Settings


@dataclass(frozen=True, eq=False)
class NetworkFit:
    """How well a street network covers the demand points and stations it is asked to route.

    Attributes
    ----------
    demand_share
        Share of residents (demand weight) on points within ``max_snap_m`` of a network node.
    station_share
        Share of stations within ``max_snap_m``.
    max_snap_m
        The snapping tolerance, metres.
    townships
        Per township: ``unit_id``, ``name``, ``share_snapped`` (residents), ``median_snap_m``;
        only townships with some point off the network, worst first.
    stations
        Stations off the network: ``facility_id``, ``name``, ``snap_m``.
    action
        ``"network"`` (everything snapped), ``"fallback_per_point"`` (points off the network
        use straight-line times) or ``"refused"``.
    """

    demand_share: float
    station_share: float
    max_snap_m: float
    townships: pd.DataFrame
    stations: pd.DataFrame
    action: str

    @property
    def ok(self) -> bool:
        """Return whether every point snapped within the tolerance."""
        return self.action == "network"

    def describe(self, lang: str = "en", *, n: int = 3) -> str:
        """Return a sentence: coverage shares and the worst townships with their distance.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        n
            Townships named at most.
        """
        worst = self.townships.head(n)
        zh = lang == "zh"
        sep = "、" if zh else ", "
        names = sep.join(f"{r['name']} ({r['median_snap_m'] / 1000:,.1f} km)"
                         for _, r in worst.iterrows())
        more = len(self.townships) - len(worst)
        if more > 0:
            names += f" … (+{more})"
        if zh:
            head = (f"路网只覆盖 {self.demand_share:.0%} 的居民点、{self.station_share:.0%} 的驿站"
                    f"（吸附距离 ≤ {self.max_snap_m:,.0f} 米）")
            tail = {"network": "。", "fallback_per_point": "；路网外的点改用直线距离估算。",
                    "refused": "；路网与研究区不匹配，拒绝计算。"}[self.action]
            return head + (f"；最远的街乡：{names}" if names else "") + tail
        head = (f"the street network reaches {self.demand_share:.0%} of residents and "
                f"{self.station_share:.0%} of stations within {self.max_snap_m:,.0f} m")
        tail = {"network": ".",
                "fallback_per_point": "; points off the network use straight-line estimates.",
                "refused": "; the network does not cover this area, so it is not used."}[
                    self.action]
        return head + (f"; farthest townships: {names}" if names else "") + tail


def network_fit(
    network: object,
    demand: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    max_snap_m: float = 500.0,
    min_share: float = 0.5,
) -> NetworkFit:
    """Measure how many demand points and stations snap to ``network`` within ``max_snap_m``.

    Parameters
    ----------
    network
        A :class:`~planning.access.network.RoutingNetwork`.
    demand
        Demand points with ``unit_id`` and ``population``.
    stations
        Station points with ``facility_id`` and ``name``.
    units
        Townships (for names).
    max_snap_m
        Snapping tolerance, metres.
    min_share
        Below this share of residents (or with no station) on the network, the network is
        refused rather than patched point by point.

    Returns
    -------
    NetworkFit
    """
    _, d_snap = snap(network, demand, label="demand")
    _, s_snap = snap(network, stations, label="stations")
    w = demand["population"].to_numpy(dtype=float)
    on = d_snap <= max_snap_m
    total = w.sum()
    d_share = float(w[on].sum() / total) if total > 0 else float(on.mean() if len(on) else 0)
    s_on = s_snap <= max_snap_m
    s_share = float(s_on.mean()) if len(s_on) else 0.0
    tab = pd.DataFrame({"unit_id": demand["unit_id"].astype(str).to_numpy(), "w": w,
                        "won": np.where(on, w, 0.0), "snap": d_snap, "off": ~on})
    g = tab.groupby("unit_id").agg(w=("w", "sum"), won=("won", "sum"),
                                   median_snap_m=("snap", "median"), off=("off", "sum"))
    g = g[g["off"] > 0]
    g["share_snapped"] = g["won"] / g["w"].where(g["w"] > 0)
    names = units.assign(unit_id=units["unit_id"].astype(str)).set_index("unit_id")["name"]
    g["name"] = g.index.map(names)
    towns = (g.reset_index()[["unit_id", "name", "share_snapped", "median_snap_m"]]
             .sort_values(["share_snapped", "median_snap_m"], ascending=[True, False])
             .reset_index(drop=True))
    off = stations.loc[~s_on, ["facility_id", "name"]].assign(snap_m=s_snap[~s_on])
    if d_share < min_share or s_share == 0:
        action = "refused"
    elif on.all() and s_on.all():
        action = "network"
    else:
        action = "fallback_per_point"
    return NetworkFit(d_share, s_share, float(max_snap_m), towns,
                      off.reset_index(drop=True), action)


@dataclass(frozen=True, eq=False)
class AccessSummary:
    """Accessibility of a dataset's townships to its rehab stations.

    Attributes
    ----------
    townships
        Per township (EPSG:4326 polygons): ``share_within`` (residents within the threshold),
        ``mean_minutes`` (population-weighted to the nearest station), ``access_2sfca`` and
        ``access_e2sfca`` (station places per 10,000 residents, capacity = staff × the
        profile's clients per worker; empty when the profile sets no ratio).
        ``mean_minutes`` is NaN (never infinite) where no resident reaches a station or the
        township has no demand point; ``no_data_reason`` says why. ``time_source`` is
        ``network``, ``straight_line_fallback`` or ``mixed`` (some points off the network).
    catchments
        Isochrone polygons per station (network) or fallback circles, with ``minutes``.
    method
        ``"network"`` or ``"straight_line_fallback"``.
    threshold_min, mode
        The parameters used.
    fit
        How well the network covered the points (``None`` without a network).
    """

    townships: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    method: str
    threshold_min: float
    mode: str
    fit: NetworkFit | None = None

    def catchment_geojson(self, minutes: float, *, tolerance_m: float = 10.0) -> str | None:
        """Return the area within ``minutes`` of any station as GeoJSON for a map layer.

        The dissolved area is simplified to ``tolerance_m`` metres (topology kept) and its
        coordinates rounded to 1e-5 degrees (about 1 m): a display layer, several times
        lighter than the full-precision outline. ``None`` when no station has a catchment.
        """
        band = self.catchments[self.catchments["minutes"] == float(minutes)]
        if band.empty:
            return None
        area = band[["geometry"]].dissolve()
        metric = metric_crs(area)
        shown = area.to_crs(metric).simplify(tolerance_m, preserve_topology=True).to_crs(WGS84)
        return gpd.GeoDataFrame(geometry=shapely.set_precision(shown.to_numpy(), 1e-5),
                                crs=WGS84).to_json()

    def worst(self, n: int = 10) -> pd.DataFrame:
        """Return the ``n`` townships with the lowest share of residents within the threshold."""
        cols = ["unit_id", "name", "district", "population", "share_within", "mean_minutes",
                "access_2sfca"]
        return (self.townships.sort_values(["share_within", "mean_minutes"],
                                           ascending=[True, False])[cols].head(n)
                .reset_index(drop=True))


def population_grid(units: gpd.GeoDataFrame, *, grid_m: float = 1000.0) -> gpd.GeoDataFrame:
    """Grid points inside townships carrying an even share of each township's residents."""
    pts = grid_points(units[["unit_id", "geometry"]], spacing_m=grid_m).to_crs(WGS84)
    counts = pts.groupby("unit_id")["unit_id"].transform("size").to_numpy(dtype=float)
    pop = units.set_index("unit_id")["population"].astype("Float64").fillna(0)
    share = pts["unit_id"].map(pop).to_numpy(dtype=float) / counts
    return gpd.GeoDataFrame({"unit_id": pts["unit_id"].to_numpy(), "population": share},
                            geometry=pts.geometry.to_numpy(), crs=WGS84)


def _fallback_circles(stations: gpd.GeoDataFrame, minutes: list[float], mode: str,
                      settings: Settings) -> gpd.GeoDataFrame:
    speed = settings.walk_speed_kmh if mode == "walk" else settings.drive_speed_kmh
    metric = metric_crs(stations)
    st = stations.to_crs(metric)
    rows = []
    for m in sorted(minutes):
        radius = speed * 1000 / 60 * m / settings.detour_factor
        for sid, geom in zip(st["facility_id"], st.geometry, strict=True):
            rows.append({"station_id": sid, "minutes": m, "geometry": geom.buffer(radius)})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=metric).to_crs(WGS84)
    out["method"] = "straight_line_fallback"
    return out


@dataclass(frozen=True)
class AccessOptions:
    """How to measure township access (one frozen value, hashable for caches).

    Attributes
    ----------
    threshold_min : float
        Share of residents within this many minutes of a station.
    mode : str
        ``walk`` or ``drive``.
    grid_m : float
        Spacing of the population grid inside townships (when no demand points are given).
    catchment_min : float
        Catchment of the 2SFCA / E2SFCA access index.
    clients_per_staff : float, optional
        Station capacity per worker from the chosen profile (``profile.clients_per_staff``);
        ``None`` (a profile without a staff : client rule) leaves the 2SFCA indices empty
        rather than guess a ratio.
    max_snap_m : float
        Points farther than this from the network use straight-line times (see
        :func:`network_fit`).
    """

    threshold_min: float = 15.0
    mode: str = "walk"
    grid_m: float = 1000.0
    catchment_min: float = 30.0
    clients_per_staff: float | None = None
    max_snap_m: float = 500.0


def township_access(
    dataset: Dataset,
    options: AccessOptions | None = None,
    *,
    network: object | None = None,
    demand: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULT,
) -> AccessSummary:
    """Measure residents within T minutes of a station, mean time and 2SFCA per township.

    Parameters
    ----------
    dataset : Dataset
        Townships (with population) and stations.
    options : AccessOptions, optional
        Threshold, mode, grid, catchment, capacity per worker and snapping distance.
    network : RoutingNetwork, optional
        A :class:`~planning.access.network.RoutingNetwork` for street-network times; ``None``
        uses the straight-line fallback (distance × ``settings.detour_factor`` at the mode's
        speed).
    demand : geopandas.GeoDataFrame, optional
        Demand points (``unit_id``, ``population``), e.g. a real population grid from
        :func:`planning.data.population.aggregate_population`; default: residents spread evenly
        over a ``grid_m`` grid inside each township.
    settings : Settings
        Speeds and detour factor of the fallback.

    Returns
    -------
    AccessSummary

    Raises
    ------
    InputError
        The network reaches under half of the residents or no station: it does not cover the
        area (the message names the farthest townships and their distance).
    """
    opts = options or AccessOptions()
    threshold_min, mode, max_snap_m = opts.threshold_min, opts.mode, opts.max_snap_m
    grid_m, catchment_min, clients_per_staff = (opts.grid_m, opts.catchment_min,
                                                opts.clients_per_staff)
    stations = dataset.stations()
    if demand is None:
        grid = population_grid(dataset.units, grid_m=grid_m)
    else:
        keep = demand["unit_id"].astype(str).isin(dataset.units["unit_id"].astype(str))
        grid = demand.loc[keep, ["unit_id", "population", demand.geometry.name]].reset_index(
            drop=True)
    units = dataset.units.copy()
    if stations.empty:
        units["share_within"] = 0.0
        units["mean_minutes"] = np.nan
        units["no_data_reason"] = "no station"
        units["access_2sfca"] = 0.0
        units["access_e2sfca"] = 0.0
        units["time_source"] = "none"
        empty = gpd.GeoDataFrame({"station_id": [], "minutes": []}, geometry=[], crs=WGS84)
        return AccessSummary(units, empty, "none", threshold_min, mode)
    fit = None
    if network is not None:
        fit = network_fit(network, grid, stations, dataset.units, max_snap_m=max_snap_m)
        if fit.action == "refused":
            raise InputError(fit.describe("en"), source="network", field="coverage")
    ttm = _times(grid, stations, network, mode, max_snap_m, settings)
    grid_tab = pd.DataFrame({"population": grid["population"].to_numpy(),
                             "township": grid["unit_id"].to_numpy()})
    share = access.coverage_share(ttm, grid_tab, minutes=threshold_min, by="township")
    nearest = np.asarray(ttm.values, dtype=float).min(axis=1)
    w = grid_tab["population"].to_numpy(dtype=float)
    finite = np.isfinite(nearest)
    tab = pd.DataFrame({"township": grid_tab["township"], "w": w * finite,
                        "wt": np.where(finite, w * nearest, 0.0)})
    g = tab.groupby("township")[["w", "wt"]].sum()
    mean_minutes = g["wt"] / g["w"].where(g["w"] > 0)
    flagged = pd.Series(np.asarray(ttm.demand_flagged, dtype=bool)).groupby(
        grid_tab["township"].to_numpy()).mean()
    if clients_per_staff is None:
        a2 = a3 = pd.DataFrame({"access": pd.Series(dtype=float)})
    else:
        staffed = stations.assign(staff=stations["staff"].astype("Float64").fillna(0))
        capacity = access.station_capacity(staffed, per_staff=clients_per_staff)
        a2 = access.access_index(ttm, grid_tab, capacity, method="2sfca",
                                 catchment_min=catchment_min, by="township")
        a3 = access.access_index(ttm, grid_tab, capacity, method="e2sfca",
                                 catchment_min=catchment_min, by="township")
    units["share_within"] = units["unit_id"].map(share["share"]).astype(float)
    units["mean_minutes"] = units["unit_id"].map(mean_minutes).astype(float)
    units["access_2sfca"] = units["unit_id"].map(a2["access"]).astype(float)
    units["access_e2sfca"] = units["unit_id"].map(a3["access"]).astype(float)
    has_points = units["unit_id"].isin(set(grid_tab["township"]))
    units["no_data_reason"] = pd.Series(pd.NA, index=units.index, dtype="string")
    units.loc[~has_points, "no_data_reason"] = "no demand point"
    units.loc[has_points & units["mean_minutes"].isna(), "no_data_reason"] = "no station reached"
    off = units["unit_id"].map(flagged).astype(float)
    units["time_source"] = np.where(
        network is None, "straight_line_fallback",
        np.where(off >= 1.0, "straight_line_fallback", np.where(off > 0, "mixed", "network")))
    minutes = sorted({5.0, 10.0, 15.0, float(threshold_min)})
    if network is None:
        catchments = _fallback_circles(stations, minutes, mode, settings)
    else:
        catchments = access.isochrones(network, stations, minutes=minutes,
                                       station_id="facility_id")
        catchments["method"] = "network"
    return AccessSummary(units, catchments, ttm.method, float(threshold_min), mode, fit)


def _times(grid: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, network: object, mode: str,
           max_snap_m: float, settings: Settings) -> TravelTimeMatrix:
    """Network times with straight-line times for points off the network (or all, without)."""
    ttm = access.travel_times(grid, stations, network=network, mode=mode,
                              ids=(None, "facility_id"), max_snap_m=max_snap_m,
                              settings=settings)
    if network is None or not (ttm.demand_flagged.any() or ttm.supply_flagged.any()):
        return ttm
    line = straight_line_matrix(grid, stations, mode=mode, ids=(None, "facility_id"),
                                settings=settings)
    return fill_flagged(ttm, line)
