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

from planning import access
from planning.data.crs import WGS84, metric_crs
from planning.data.grid import grid_points
from planning.data.model import Dataset
from planning.settings import DEFAULT, Settings


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
    catchments
        Isochrone polygons per station (network) or fallback circles, with ``minutes``.
    method
        ``"network"`` or ``"straight_line_fallback"``.
    threshold_min, mode
        The parameters used.
    """

    townships: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    method: str
    threshold_min: float
    mode: str

    def catchment_geojson(self, minutes: float) -> str | None:
        """The area within ``minutes`` of any station, dissolved, as GeoJSON (``None`` if none)."""
        band = self.catchments[self.catchments["minutes"] == float(minutes)]
        if band.empty:
            return None
        return band[["geometry"]].dissolve().to_json()

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` townships with the lowest share of residents within the threshold."""
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


def township_access(
    dataset: Dataset,
    *,
    threshold_min: float = 15.0,
    mode: str = "walk",
    network=None,
    grid_m: float = 1000.0,
    catchment_min: float = 30.0,
    clients_per_staff: float | None = None,
    settings: Settings = DEFAULT,
) -> AccessSummary:
    """Share of residents within ``threshold_min`` of a station, mean time and 2SFCA per township.

    Parameters
    ----------
    network
        A :class:`~planning.access.network.RoutingNetwork` for street-network times; ``None`` uses
        the
        straight-line fallback (distance × ``settings.detour_factor`` at the mode's speed).
    grid_m
        Spacing of the population grid inside townships.
    catchment_min
        Catchment of the 2SFCA / E2SFCA access index.
    clients_per_staff
        Station capacity per worker from the chosen profile (``profile.clients_per_staff``);
        ``None`` (a profile without a staff : client rule) leaves the 2SFCA indices empty
        rather than guess a ratio.
    settings
        Speeds and detour factor of the fallback.
    """
    stations = dataset.stations()
    grid = population_grid(dataset.units, grid_m=grid_m)
    units = dataset.units.copy()
    if stations.empty:
        units["share_within"] = 0.0
        units["mean_minutes"] = np.inf
        units["access_2sfca"] = 0.0
        units["access_e2sfca"] = 0.0
        empty = gpd.GeoDataFrame({"station_id": [], "minutes": []}, geometry=[], crs=WGS84)
        return AccessSummary(units, empty, "none", threshold_min, mode)
    ttm = access.travel_times(grid, stations, network=network, mode=mode,
                              supply_id="facility_id", settings=settings)
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
    minutes = sorted({5.0, 10.0, 15.0, float(threshold_min)})
    if network is None:
        catchments = _fallback_circles(stations, minutes, mode, settings)
    else:
        catchments = access.isochrones(network, stations, minutes=minutes,
                                       station_id="facility_id")
        catchments["method"] = "network"
    return AccessSummary(units, catchments, ttm.method, float(threshold_min), mode)
