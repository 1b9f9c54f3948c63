"""Travel-time matrices, isochrones, coverage shares and floating-catchment access indices.

All times are **minutes** from a demand point (township point, population-grid point) *to* a
supply point (station, candidate site). On a
:class:`~planning.access.network.RoutingNetwork` they come
from ``scipy.sparse.csgraph.dijkstra`` run from the smaller side; without a network,
:func:`straight_line_matrix` estimates them as straight-line distance × detour factor at a mode
speed and labels the result ``method="straight_line_fallback"``.

Points are snapped to their nearest network node; the snapping distance is reported per point and
points farther than ``max_snap_m`` are *flagged*: they keep their row/column, filled with ``inf``,
instead of being silently attached to a distant street.

Everything here is a pure function of its arguments, so the app can wrap calls in
``st.cache_data`` (key on ``network.key``) without module-level state.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse.csgraph import dijkstra
from scipy.spatial.distance import cdist

from planning.access.network import MODES, RoutingNetwork, points_xy, snap
from planning.data.crs import WGS84, metric_crs
from planning.errors import InputError
from planning.settings import DEFAULT, Settings

Method = Literal["network", "straight_line_fallback"]

#: Luo & Qi (2009) E2SFCA travel-time zones (minutes → weight) for a 30-minute catchment,
#: in PySAL ``access.weights.step_fn`` form: a cost up to and including the key gets the value.
LUO_QI_ZONES: dict[float, float] = {10.0: 1.0, 20.0: 0.68, 30.0: 0.22}

_BLOCK_BYTES = 128 * 2**20  # float64 Dijkstra distance rows held in memory at once


@dataclass(frozen=True, eq=False)
class TravelTimeMatrix:
    """Travel times from demand points (rows) to supply points (columns).

    Attributes
    ----------
    values
        ``float32`` array ``(n_demand, n_supply)`` in minutes; ``inf`` beyond the cutoff, when
        unreachable, or for a flagged point.
    demand_ids, supply_ids
        Row and column labels.
    method
        ``"network"`` or ``"straight_line_fallback"``.
    mode
        ``"walk"`` or ``"drive"``.
    units
        Always ``"minutes"``.
    cutoff_min
        Times above this were set to ``inf`` (``None``: no cutoff).
    demand_snap_m, supply_snap_m
        Distance from each point to its network node (zeros for the fallback).
    demand_flagged, supply_flagged
        Points farther than ``max_snap_m`` from the network; their rows/columns are ``inf``.
    """

    values: np.ndarray
    demand_ids: np.ndarray
    supply_ids: np.ndarray
    method: Method
    mode: str
    units: str
    cutoff_min: float | None
    demand_snap_m: np.ndarray
    supply_snap_m: np.ndarray
    demand_flagged: np.ndarray
    supply_flagged: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_demand, n_supply)``."""
        return self.values.shape  # type: ignore[return-value]

    def to_frame(self) -> pd.DataFrame:
        """Return the matrix as a DataFrame indexed by demand id with one column per supply id."""
        return pd.DataFrame(self.values, index=self.demand_ids, columns=self.supply_ids)


def _freeze(**arrays: np.ndarray) -> dict[str, np.ndarray]:
    for arr in arrays.values():
        arr.setflags(write=False)
    return arrays


def _ids(points: gpd.GeoDataFrame, column: str | None, label: str) -> np.ndarray:
    if column is None:
        return points.index.to_numpy()
    if column not in points.columns:
        msg = f"no id column {column!r}; found {', '.join(map(str, points.columns))}"
        raise InputError(msg, source=label, field=column)
    return points[column].to_numpy()


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        msg = f"unknown travel mode {mode!r}; expected one of {', '.join(MODES)}"
        raise InputError(msg, field="mode")


# --------------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------------


def travel_times(
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    network: RoutingNetwork | None = None,
    mode: str = "walk",
    ids: tuple[str | None, str | None] = (None, None),
    cutoff_min: float | None = None,
    max_snap_m: float = 500.0,
    settings: Settings = DEFAULT,
) -> TravelTimeMatrix:
    """Compute demand × supply minutes on ``network``, or the labelled straight-line fallback.

    See :func:`travel_time_matrix` and :func:`straight_line_matrix` for the parameters.
    """
    if network is None:
        return straight_line_matrix(demand, supply, mode=mode, ids=ids, cutoff_min=cutoff_min,
                                    settings=settings)
    return travel_time_matrix(network, demand, supply, ids=ids, cutoff_min=cutoff_min,
                              max_snap_m=max_snap_m, settings=settings)


def travel_time_matrix(
    network: RoutingNetwork,
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    ids: tuple[str | None, str | None] = (None, None),
    cutoff_min: float | None = None,
    max_snap_m: float = 500.0,
    add_access_time: bool = False,
    settings: Settings = DEFAULT,
) -> TravelTimeMatrix:
    """Compute network travel times from every demand point to every supply point.

    Parameters
    ----------
    network
        From :func:`planning.access.network.routing_network`.
    demand, supply
        Point layers with a CRS (any; projected to the network's CRS).
    ids
        ``(demand_id, supply_id)`` columns; the index where ``None``.
    cutoff_min
        Stop searching beyond this many minutes; longer times are ``inf``. Speeds up large runs.
    max_snap_m
        Points farther than this from the nearest node are flagged and get ``inf``.
    add_access_time
        Add the walk from each point to its node (snap distance at ``settings.walk_speed_kmh``),
        at both ends.

    Returns
    -------
    TravelTimeMatrix
        ``method="network"``.

    Notes
    -----
    Dijkstra runs once per distinct snapped node of the smaller side, on the reversed graph when
    that side is the supply (times *to* a station), in blocks of rows so memory stays bounded;
    the graph's all-pairs matrix is never formed.
    """
    d_node, d_snap = snap(network, demand, label="demand")
    s_node, s_snap = snap(network, supply, label="supply")
    d_flag, s_flag = d_snap > max_snap_m, s_snap > max_snap_m
    d_ok, s_ok = np.flatnonzero(~d_flag), np.flatnonzero(~s_flag)
    limit = np.inf if cutoff_min is None else float(cutoff_min)
    sub = node_times(network, d_node[d_ok], s_node[s_ok], limit=limit)
    if add_access_time:
        per_min = settings.walk_speed_kmh * 1000.0 / 60.0
        sub += (d_snap[d_ok, None] / per_min).astype(np.float32)
        sub += (s_snap[None, s_ok] / per_min).astype(np.float32)
        if cutoff_min is not None:
            sub[sub > cutoff_min] = np.inf
    if d_ok.size == d_node.size and s_ok.size == s_node.size:
        values = sub
    else:
        values = np.full((d_node.size, s_node.size), np.inf, dtype=np.float32)
        values[np.ix_(d_ok, s_ok)] = sub
    arrays = _freeze(
        values=values, demand_ids=_ids(demand, ids[0], "demand"),
        supply_ids=_ids(supply, ids[1], "supply"), demand_snap_m=d_snap, supply_snap_m=s_snap,
        demand_flagged=d_flag, supply_flagged=s_flag,
    )  # fmt: skip
    return TravelTimeMatrix(method="network", mode=network.mode, units="minutes",
                            cutoff_min=cutoff_min, **arrays)  # fmt: skip


def node_times(
    network: RoutingNetwork, origins: np.ndarray, destinations: np.ndarray, *, limit: float = np.inf
) -> np.ndarray:
    """Minutes from each origin node to each destination node (row indices), ``float32``.

    The workhorse of :func:`travel_time_matrix`: runs Dijkstra once per *distinct* node of the
    smaller side (forward from origins, or on the transposed graph from destinations), with
    ``limit`` as the search cutoff, in row blocks of at most ~128 MB. scipy holds the GIL in
    Dijkstra, so threads would not help; the blocks run one after another.
    """
    uo, inv_o = np.unique(origins, return_inverse=True)
    ud, inv_d = np.unique(destinations, return_inverse=True)
    from_dest = ud.size <= uo.size
    graph = network.backward if from_dest else network.forward
    sources, targets = (ud, uo) if from_dest else (uo, ud)
    block = max(1, _BLOCK_BYTES // (8 * network.n_nodes))
    parts = [
        dijkstra(graph, indices=sources[i : i + block], limit=limit)[:, targets].astype(np.float32)
        for i in range(0, sources.size, block)
    ]
    unique = np.concatenate(parts) if parts else np.empty((0, targets.size), np.float32)
    if from_dest:  # rows are distinct destinations: make them columns
        unique = np.ascontiguousarray(unique.T)
    return np.take(np.take(unique, inv_d, axis=1), inv_o, axis=0)


def straight_line_matrix(
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    mode: str = "walk",
    ids: tuple[str | None, str | None] = (None, None),
    cutoff_min: float | None = None,
    speed_kmh: float | None = None,
    detour_factor: float | None = None,
    settings: Settings = DEFAULT,
) -> TravelTimeMatrix:
    """Fallback without a street network: straight-line distance × detour factor at a speed.

    ``minutes = metres × detour_factor / (speed_kmh × 1000 / 60)``, with ``speed_kmh`` defaulting
    to ``settings.walk_speed_kmh`` or ``settings.drive_speed_kmh`` for ``mode`` and
    ``detour_factor`` to ``settings.detour_factor``. Distances are measured in the UTM zone of
    both layers together. The result is labelled ``method="straight_line_fallback"``; snap
    distances are zero and nothing is flagged.
    """
    _check_mode(mode)
    if speed_kmh is None:
        speed_kmh = settings.walk_speed_kmh if mode == "walk" else settings.drive_speed_kmh
    detour = settings.detour_factor if detour_factor is None else detour_factor
    if speed_kmh <= 0 or detour < 1:
        msg = f"need speed_kmh > 0 and detour_factor >= 1; got {speed_kmh} and {detour}"
        raise InputError(msg, field="speed_kmh")
    lonlat = np.vstack([points_xy(demand, WGS84, label="demand"),
                        points_xy(supply, WGS84, label="supply")])  # fmt: skip
    crs = metric_crs(gpd.GeoSeries(shapely.points(lonlat), crs=WGS84)) if len(lonlat) else WGS84
    d_xy = points_xy(demand, crs, label="demand")
    s_xy = points_xy(supply, crs, label="supply")
    values = np.empty((len(d_xy), len(s_xy)), dtype=np.float32)
    per_min = speed_kmh * 1000.0 / 60.0
    step = max(1, 2**22 // max(1, len(s_xy)))
    for i in range(0, len(d_xy), step):
        values[i : i + step] = cdist(d_xy[i : i + step], s_xy) * (detour / per_min)
    if cutoff_min is not None:
        values[values > cutoff_min] = np.inf
    arrays = _freeze(
        values=values, demand_ids=_ids(demand, ids[0], "demand"),
        supply_ids=_ids(supply, ids[1], "supply"), demand_snap_m=np.zeros(len(d_xy)),
        supply_snap_m=np.zeros(len(s_xy)), demand_flagged=np.zeros(len(d_xy), dtype=bool),
        supply_flagged=np.zeros(len(s_xy), dtype=bool),
    )  # fmt: skip
    return TravelTimeMatrix(method="straight_line_fallback", mode=mode, units="minutes",
                            cutoff_min=cutoff_min, **arrays)  # fmt: skip


# --------------------------------------------------------------------------------------------
# isochrones and coverage
# --------------------------------------------------------------------------------------------


def isochrones(
    network: RoutingNetwork,
    stations: gpd.GeoDataFrame,
    *,
    minutes: Sequence[float] = (5, 10, 15, 30),
    station_id: str | None = None,
    buffer_m: float = 100.0,
    max_snap_m: float = 500.0,
    population: gpd.GeoDataFrame | None = None,
    weight: str = "population",
) -> gpd.GeoDataFrame:
    """Areas from which each station is reached within each threshold, as polygons in EPSG:4326.

    Construction: Dijkstra on the reversed graph gives every node's time *to* the station. An
    edge ``u → v`` whose head is reached in ``t_v ≤ T`` is kept over the fraction
    ``min(1, (T - t_v) / t_edge)`` next to ``v`` (cut with ``shapely.ops.substring``); the kept
    street pieces are buffered by ``buffer_m`` (default 100 m, about half a Chinese street
    block, the distance residents walk from their door to the street). Polygons are cumulative,
    so bands nest: the 10-minute polygon contains the 5-minute one.

    Parameters
    ----------
    population
        Optional point layer; ``population`` (residents inside the polygon) and
        ``population_band`` (residents added by this band) sum its ``weight`` column.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per station × threshold: ``station_id``, ``minutes``, ``area_km2``,
        ``snap_m``, ``flagged`` (snap farther than ``max_snap_m``: empty polygon), optional
        population columns, geometry in EPSG:4326.
    """
    thresholds = np.sort(np.asarray(minutes, dtype=np.float64))
    if thresholds.size == 0 or thresholds[0] <= 0:
        msg = f"isochrone thresholds must be positive minutes; got {list(minutes)}"
        raise InputError(msg, field="minutes")
    nodes, snap_m = snap(network, stations, label="stations")
    flagged = snap_m > max_snap_m
    ids = _ids(stations, station_id, "stations")
    unique, inv = np.unique(nodes[~flagged], return_inverse=True)
    geoms = np.empty((len(nodes), thresholds.size), dtype=object)
    geoms[:] = shapely.Polygon()
    if unique.size:
        polys = np.empty((unique.size, thresholds.size), dtype=object)
        block = max(1, _BLOCK_BYTES // (8 * network.n_nodes))
        for i in range(0, unique.size, block):
            dist = dijkstra(network.backward, indices=unique[i : i + block], limit=thresholds[-1])
            for k, row in enumerate(dist):
                polys[i + k] = _reach_polygons(network, row, thresholds, buffer_m)
        geoms[~flagged] = polys[inv]
    flat = geoms.ravel()
    out = gpd.GeoDataFrame(
        {
            "station_id": np.repeat(ids, thresholds.size),
            "minutes": np.tile(thresholds, len(nodes)),
            "area_km2": shapely.area(flat) / 1e6,
            "snap_m": np.repeat(snap_m, thresholds.size),
            "flagged": np.repeat(flagged, thresholds.size),
        },
        geometry=flat,
        crs=network.crs,
    )
    if population is not None:
        inside = _weight_inside(network, flat, population, weight).reshape(geoms.shape)
        out["population"] = inside.ravel()
        out["population_band"] = np.diff(inside, axis=1, prepend=0.0).ravel()
    return out.to_crs(WGS84)


def _reach_polygons(
    network: RoutingNetwork, to_station: np.ndarray, thresholds: np.ndarray, buffer_m: float
) -> list[shapely.Geometry]:
    t_head = to_station[network.heads]
    out = []
    for limit in thresholds:
        frac = (limit - t_head) / network.minutes
        full = frac >= 1.0
        part = np.flatnonzero((frac > 1e-9) & ~full)
        pieces = [shapely.ops.substring(network.edge_geoms[e], 1.0 - frac[e], 1.0,
                                        normalized=True) for e in part]  # fmt: skip
        station = shapely.points(network.xy[to_station == 0])  # non-empty even with no street
        parts = np.concatenate([network.edge_geoms[full], np.array(pieces, dtype=object), station])
        # buffering pieces one by one and merging is ~7x faster than buffering one multi-line
        out.append(shapely.union_all(shapely.buffer(parts, buffer_m)))
    return out


def _weight_inside(
    network: RoutingNetwork, polygons: np.ndarray, points: gpd.GeoDataFrame, weight: str
) -> np.ndarray:
    w = _column(points, weight, "population").astype(np.float64)
    tree = shapely.STRtree(shapely.points(points_xy(points, network.crs, label="population")))
    poly_idx, pt_idx = tree.query(polygons, predicate="intersects")
    return np.bincount(poly_idx, weights=w[pt_idx], minlength=len(polygons))


def _column(frame: pd.DataFrame, name: str, label: str) -> np.ndarray:
    if name not in frame.columns:
        msg = f"no column {name!r}; found {', '.join(map(str, frame.columns))}"
        raise InputError(msg, source=label, field=name)
    values = pd.to_numeric(frame[name], errors="coerce")
    if values.isna().any() or (values < 0).any():
        row = int(np.flatnonzero((values.isna() | (values < 0)).to_numpy())[0])
        msg = f"got {frame[name].iloc[row]!r} but expected a number >= 0"
        raise InputError(msg, source=label, row=row + 1, field=name)
    return values.to_numpy(dtype=np.float64)


def coverage_share(
    times: TravelTimeMatrix,
    population: pd.DataFrame,
    *,
    minutes: float = 15.0,
    weight: str = "population",
    by: str = "township",
) -> pd.DataFrame:
    """Per township, the share of residents within ``minutes`` of their nearest station.

    Parameters
    ----------
    times
        Matrix whose rows are the rows of ``population`` (e.g. a population grid) and whose
        columns are the stations.
    population
        Demand table with a ``weight`` column (residents) and a ``by`` column (township).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``: ``population``, ``covered``, ``share`` (covered / population) and
        ``unsnapped`` (residents on points flagged as too far from the network, never covered).
    """
    if len(population) != times.shape[0]:
        msg = f"population has {len(population)} rows but the matrix has {times.shape[0]}"
        raise InputError(msg, source="population")
    w = _column(population, weight, "population")
    if by not in population.columns:
        msg = f"no township column {by!r}; found {', '.join(map(str, population.columns))}"
        raise InputError(msg, source="population", field=by)
    nearest = times.values.min(axis=1, initial=np.inf)
    frame = pd.DataFrame(
        {
            by: population[by].to_numpy(),
            "population": w,
            "covered": np.where(nearest <= minutes, w, 0.0),
            "unsnapped": np.where(times.demand_flagged, w, 0.0),
        }
    )
    out = frame.groupby(by, sort=True).sum()
    out["share"] = out["covered"] / out["population"].where(out["population"] > 0)
    return out[["population", "covered", "share", "unsnapped"]]


# --------------------------------------------------------------------------------------------
# floating catchment area access
# --------------------------------------------------------------------------------------------


def step_weights(zones: dict[float, float]) -> Callable[[np.ndarray], np.ndarray]:
    """Stepwise decay (PySAL ``step_fn``): a time ``≤ key`` gets the value of the smallest key."""
    edges = np.array(sorted(zones), dtype=np.float64)
    values = np.array([zones[k] for k in sorted(zones)] + [0.0], dtype=np.float64)

    def fn(t: np.ndarray) -> np.ndarray:
        return values[np.searchsorted(edges, t, side="left")]

    return fn


def gaussian_weights(catchment_min: float) -> Callable[[np.ndarray], np.ndarray]:
    """Gaussian decay of Dai (2010): ``(e^(-½(t/t0)²) - e^(-½)) / (1 - e^(-½))`` for ``t ≤ t0``.

    Equal to 1 at the station and 0 at the catchment edge, 0 beyond.
    """
    edge = math.exp(-0.5)

    def fn(t: np.ndarray) -> np.ndarray:
        g = (np.exp(-0.5 * (t / catchment_min) ** 2) - edge) / (1.0 - edge)
        return np.where(t <= catchment_min, g, 0.0)

    return fn


def floating_catchment(
    times: TravelTimeMatrix | np.ndarray,
    demand: np.ndarray,
    capacity: np.ndarray,
    weight_fn: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Compute a generic two-step floating catchment: the workhorse of 2SFCA and E2SFCA.

    With ``W = weight_fn(T)`` (demand × supply):

    * step 1, each station's supply-to-demand ratio ``R_j = S_j / Σ_i P_i W_ij`` (0 when no
      demand lies in its catchment);
    * step 2, each demand point's access ``A_i = Σ_j R_j W_ij``.

    ``inf`` times (cut off, unreachable, flagged) weigh 0. When every station reaches some
    demand, ``Σ_i P_i A_i = Σ_j S_j`` (supply is conserved).
    """
    t = np.asarray(times.values if isinstance(times, TravelTimeMatrix) else times, np.float64)
    p = np.asarray(demand, dtype=np.float64)
    s = np.asarray(capacity, dtype=np.float64)
    if t.shape != (p.size, s.size):
        msg = f"matrix is {t.shape} but got {p.size} demand and {s.size} supply values"
        raise InputError(msg, field="demand")
    w = np.where(np.isfinite(t), weight_fn(np.where(np.isfinite(t), t, 0.0)), 0.0)
    served = p @ w
    ratio = np.divide(s, served, out=np.zeros_like(s), where=served > 0)
    return w @ ratio


def two_stage_fca(
    times: TravelTimeMatrix | np.ndarray,
    demand: np.ndarray,
    capacity: np.ndarray,
    *,
    catchment_min: float = 30.0,
) -> np.ndarray:
    """2SFCA (Luo & Wang 2003; PySAL ``access.two_stage_fca``): binary catchment of ``t ≤ t0``."""
    return floating_catchment(times, demand, capacity, lambda t: (t <= catchment_min) * 1.0)


def enhanced_two_stage_fca(
    times: TravelTimeMatrix | np.ndarray,
    demand: np.ndarray,
    capacity: np.ndarray,
    *,
    zones: dict[float, float] | None = None,
    decay: Literal["step", "gaussian"] = "step",
    catchment_min: float = 30.0,
) -> np.ndarray:
    """E2SFCA (Luo & Qi 2009; PySAL ``access.enhanced_two_stage_fca``): decay in both steps.

    ``decay="step"`` uses ``zones`` (default :data:`LUO_QI_ZONES`, times beyond the last key
    weigh 0); ``decay="gaussian"`` uses :func:`gaussian_weights` over ``catchment_min``.
    """
    if decay == "gaussian":
        fn = gaussian_weights(catchment_min)
    elif decay == "step":
        fn = step_weights(LUO_QI_ZONES if zones is None else zones)
    else:
        msg = f"unknown decay {decay!r}; expected 'step' or 'gaussian'"
        raise InputError(msg, field="decay")
    return floating_catchment(times, demand, capacity, fn)


def station_capacity(
    facilities: pd.DataFrame, *, per_staff: float, basis: Literal["staff", "clients"] = "staff"
) -> np.ndarray:
    """Supply capacity per station: ``per_staff × staff``, or the current ``clients``.

    Parameters
    ----------
    facilities : pandas.DataFrame
        Stations with a ``staff`` (or ``clients``) column.
    per_staff : float
        Clients one worker may serve — the profile's ``clients_per_staff`` (1:5 → 5); no
        default, so the number always comes from the chosen policy profile.
    basis : {"staff", "clients"}
        Capacity from staffing or the stations' current clients.

    Returns
    -------
    numpy.ndarray
        Capacity per station (NaN where the column is empty).
    """
    values = _column(facilities, basis, "facilities")
    return values * per_staff if basis == "staff" else values


def access_index(
    times: TravelTimeMatrix,
    demand: pd.DataFrame,
    capacity: np.ndarray,
    *,
    method: Literal["2sfca", "e2sfca"] = "2sfca",
    catchment_min: float = 30.0,
    decay: Literal["step", "gaussian"] | dict[float, float] = "step",
    by: str | None = None,
    per: float = 10_000.0,
) -> pd.DataFrame:
    """Spatial access index per demand point or, with ``by``, per township.

    ``demand`` has a ``population`` column (and ``by``). ``decay`` for E2SFCA is ``"step"``
    (Luo & Qi zones), ``"gaussian"``, or a ``{minutes: weight}`` dict of stepped zones.
    Returns a DataFrame with ``population`` and ``access`` (capacity per ``per`` residents, e.g.
    places per 10,000); with ``by``, the population-weighted mean access of the township's
    points (for a population grid), indexed by township.
    """
    p = _column(demand, "population", "demand")
    if method == "2sfca":
        a = two_stage_fca(times, p, capacity, catchment_min=catchment_min)
    elif method == "e2sfca":
        zones = decay if isinstance(decay, dict) else None
        kind = "step" if zones is not None else decay
        a = enhanced_two_stage_fca(times, p, capacity, zones=zones, decay=kind,
                                   catchment_min=catchment_min)  # fmt: skip
    else:
        msg = f"unknown access method {method!r}; expected '2sfca' or 'e2sfca'"
        raise InputError(msg, field="method")
    frame = pd.DataFrame({"population": p, "access": a * per}, index=times.demand_ids)
    if by is None:
        return frame
    frame[by] = demand[by].to_numpy()
    frame["weighted"] = frame["access"] * frame["population"]
    out = frame.groupby(by, sort=True)[["population", "weighted"]].sum()
    out["access"] = out["weighted"] / out["population"].where(out["population"] > 0)
    return out[["population", "access"]]


def fill_flagged(times: TravelTimeMatrix, fallback: TravelTimeMatrix) -> TravelTimeMatrix:
    """Use ``fallback`` times for the rows and columns of points the network did not reach.

    Parameters
    ----------
    times
        A network matrix whose flagged points (farther than ``max_snap_m`` from the network)
        hold ``inf``.
    fallback
        A matrix of the same shape for the same points, e.g. :func:`straight_line_matrix`.

    Returns
    -------
    TravelTimeMatrix
        A new matrix: network times where both ends snapped, ``fallback`` times elsewhere.
        The ``*_flagged`` arrays are kept, so callers can still say which points fell back.
    """
    if times.shape != fallback.shape:
        msg = f"fallback has shape {fallback.shape} but the matrix has {times.shape}"
        raise InputError(msg, field="fallback")
    use = times.demand_flagged[:, None] | times.supply_flagged[None, :]
    if not use.any():
        return times
    values = np.where(use, fallback.values, times.values).astype(np.float32)
    values.setflags(write=False)
    return dataclasses.replace(times, values=values)
