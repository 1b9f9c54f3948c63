"""Travel-time matrices, snapping, fallback, isochrones, coverage and 2SFCA / E2SFCA."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from planning import access
from planning.access import network
from planning.errors import InputError
from planning.settings import Settings

UTM50 = "EPSG:32650"
X0, Y0 = 440_000.0, 4_428_000.0  # near Wudaokou, Beijing, in UTM 50N


def _shared_data() -> Path:
    env = os.environ.get("JINGKANG_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


WUDAOKOU = _shared_data() / "osm" / "beijing-wudaokou.osm"


def _points(xy: np.ndarray, crs: str = UTM50, **columns: object) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(columns, geometry=shapely.points(xy), crs=crs)


def _to_nx(net: network.RoutingNetwork) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n_nodes))
    edges = zip(net.tails.tolist(), net.heads.tolist(), net.minutes.tolist(), strict=True)
    G.add_weighted_edges_from(edges)
    return G


def _reference(G: nx.DiGraph, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    out = np.full((origins.size, targets.size), np.inf)
    for i, o in enumerate(origins):
        lengths = nx.single_source_dijkstra_path_length(G, int(o), weight="weight")
        out[i] = [lengths.get(int(t), np.inf) for t in targets]
    return out


@pytest.fixture(scope="module")
def directed() -> network.RoutingNetwork:
    """Random 60-node street-like network: a 2-way grid plus one-way shortcuts, uneven times."""
    rng = np.random.default_rng(7)
    side = 8
    ij = np.array([(i, j) for i in range(side) for j in range(side)])
    xy = np.column_stack([X0 + 150.0 * ij[:, 0], Y0 + 150.0 * ij[:, 1]])
    idx = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate(
        [np.column_stack([idx[:-1].ravel(), idx[1:].ravel()]),
         np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])]
    )  # fmt: skip
    oneway = rng.random(len(pairs)) < 0.25
    tails = np.concatenate([pairs[:, 0], pairs[~oneway, 1]])
    heads = np.concatenate([pairs[:, 1], pairs[~oneway, 0]])
    shortcuts = rng.choice(side * side, size=(15, 2))
    tails = np.concatenate([tails, shortcuts[:, 0]])
    heads = np.concatenate([heads, shortcuts[:, 1]])
    minutes = rng.uniform(0.5, 3.0, tails.size)
    return network.RoutingNetwork.from_arrays(xy, (tails, heads, minutes), crs=UTM50)


@pytest.mark.parametrize(("n_demand", "n_supply"), [(40, 6), (5, 30)])
def test_matrix_matches_networkx_on_directed_graph(
    directed: network.RoutingNetwork, n_demand: int, n_supply: int
) -> None:
    """Both Dijkstra directions (from the supply side and from the demand side) agree."""
    rng = np.random.default_rng(n_demand)
    d_nodes = rng.choice(directed.n_nodes, n_demand)
    s_nodes = rng.choice(directed.n_nodes, n_supply, replace=False)
    m = access.travel_time_matrix(
        directed, _points(directed.xy[d_nodes]), _points(directed.xy[s_nodes])
    )
    expected = _reference(_to_nx(directed), d_nodes, s_nodes)
    assert m.values.dtype == np.float32 and m.shape == (n_demand, n_supply)
    np.testing.assert_allclose(m.values, expected, rtol=1e-6)
    assert m.method == "network" and m.units == "minutes"
    assert np.all(m.demand_snap_m == 0) and not m.demand_flagged.any()


def test_one_way_streets_make_the_matrix_asymmetric() -> None:
    xy = np.array([[X0, Y0], [X0 + 100, Y0], [X0 + 200, Y0]])
    # 0 -> 1 -> 2 is one-way and fast; the way back 2 -> 0 is slow
    net = network.RoutingNetwork.from_arrays(xy, ([0, 1, 2], [1, 2, 0], [1.0, 1.0, 10.0]),
                                             crs=UTM50)
    m = access.travel_time_matrix(net, _points(xy), _points(xy))
    np.testing.assert_array_equal(m.values, [[0, 1, 2], [11, 0, 1], [10, 11, 0]])


def test_cutoff_sets_longer_times_to_inf(directed: network.RoutingNetwork) -> None:
    pts = _points(directed.xy[::3])
    full = access.travel_time_matrix(directed, pts, pts)
    cut = access.travel_time_matrix(directed, pts, pts, cutoff_min=4.0)
    within = full.values <= 4.0
    assert within.any() and (~within).any()
    np.testing.assert_array_equal(cut.values[within], full.values[within])
    assert np.isinf(cut.values[~within]).all() and cut.cutoff_min == 4.0


def test_snapping_reports_distance_and_flags_far_points(directed: network.RoutingNetwork) -> None:
    demand = _points(
        [[X0 + 30, Y0 + 40], [X0 + 150, Y0 - 2000], [X0 + 300, Y0]], township=["a", "b", "c"]
    )
    supply = _points([[X0 + 1050, Y0 + 1050]], name=["站1"])
    m = access.travel_time_matrix(
        directed, demand, supply, ids=("township", "name"), max_snap_m=300
    )
    np.testing.assert_allclose(m.demand_snap_m, [50.0, 2000.0, 0.0])
    assert m.demand_flagged.tolist() == [False, True, False]
    assert np.isfinite(m.values[[0, 2], 0]).all() and np.isinf(m.values[1, 0])
    assert m.demand_ids.tolist() == ["a", "b", "c"] and m.supply_ids.tolist() == ["站1"]
    # access time: 50 m at 4.5 km/h (75 m/min) is 2/3 minute, added to the network time
    walk = access.travel_time_matrix(
        directed, demand, supply, max_snap_m=300, add_access_time=True, settings=Settings()
    )
    assert walk.values[0, 0] == pytest.approx(m.values[0, 0] + 50 / 75, rel=1e-6)
    assert walk.values[2, 0] == pytest.approx(m.values[2, 0])


def test_points_in_lon_lat_are_projected_and_bad_input_refused(
    directed: network.RoutingNetwork,
) -> None:
    node = _points(directed.xy[[9]]).to_crs("EPSG:4326")
    m = access.travel_time_matrix(directed, node, node)
    assert m.demand_snap_m[0] < 1e-3 and m.values[0, 0] == 0
    with pytest.raises(InputError, match="no CRS"):
        access.travel_time_matrix(directed, node.set_crs(None, allow_override=True), node)
    poly = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 5, Y0 + 5)], crs=UTM50)
    with pytest.raises(InputError, match="Point") as err:
        access.travel_time_matrix(directed, node, poly)
    assert err.value.row == 1 and err.value.source == "supply"


def test_straight_line_fallback_is_labelled_and_correct() -> None:
    demand = _points([[X0, Y0], [X0 + 3000, Y0 + 4000]])
    supply = _points([[X0 + 1000, Y0]])
    s = Settings(walk_speed_kmh=4.5, detour_factor=1.3)
    m = access.travel_times(demand, supply, network=None, mode="walk", settings=s)
    assert m.method == "straight_line_fallback" and m.values.dtype == np.float32
    # 1000 m × 1.3 at 75 m/min; then sqrt(2000² + 4000²) × 1.3 / 75
    expected = [1300 / 75, np.hypot(2000, 4000) * 1.3 / 75]
    np.testing.assert_allclose(m.values[:, 0], expected, rtol=1e-3)  # UTM re-chosen: ~0.1%
    drive = access.straight_line_matrix(demand, supply, mode="drive", cutoff_min=3, settings=s)
    assert drive.values[0, 0] == pytest.approx(1.3 / 30 * 60, rel=1e-3)  # 2.6 min at 30 km/h
    assert np.isinf(drive.values[1, 0])
    with pytest.raises(InputError, match="unknown travel mode"):
        access.straight_line_matrix(demand, supply, mode="bicycle")


def _grid(side: int = 41, spacing: float = 100.0) -> network.RoutingNetwork:
    """Two-way square grid, 100 m edges at 6 km/h: every edge takes exactly 1 minute."""
    idx = np.arange(side * side).reshape(side, side)
    ij = np.argwhere(np.ones((side, side)))
    xy = np.column_stack([X0 + spacing * ij[:, 1], Y0 + spacing * ij[:, 0]])
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:].ravel()])
    tails, heads = np.concatenate([a, b]), np.concatenate([b, a])
    return network.RoutingNetwork.from_arrays(xy, (tails, heads, np.ones(tails.size)),
                                              crs=UTM50)


def test_isochrone_areas_population_and_nesting() -> None:
    """On the grid, network time = L1 distance / 100 m per minute, so the T-minute isochrone is
    the diamond |dx| + |dy| <= r = 100·T m (area 2r²) covered by street buffers of b = 60 m.

    Upper bound: the diamond dilated by b: 2r² + 4·√2·r·b + π·b² (2.3507 km² for T = 10).
    Lower bound: every point with L1 <= r - 100 is within 50 m < b of a reached street point, so
    the diamond of radius r - 100 (1.62 km²) is inside. Population (1 per node): the nodes with
    |i| + |j| <= 10 number 2·10² + 2·10 + 1 = 221; nodes at L1 = 11 are 100 m > b from the area.
    """
    net = _grid()
    centre = _points(net.xy[[20 * 41 + 20]], name=["s"])
    people = _points(net.xy, population=np.ones(net.n_nodes))
    iso = access.isochrones(
        net, centre, minutes=(15, 5, 10), station_id="name", buffer_m=60, population=people
    )
    assert iso.crs == "EPSG:4326" and iso["minutes"].tolist() == [5.0, 10.0, 15.0]
    r, b = 1000.0, 60.0
    upper = (2 * r**2 + 4 * np.sqrt(2) * r * b + np.pi * b**2) / 1e6
    assert 2 * (r - 100) ** 2 / 1e6 < iso["area_km2"].iloc[1] < upper
    metric = iso.to_crs(UTM50)
    assert metric.area.iloc[1] / 1e6 == pytest.approx(iso["area_km2"].iloc[1], rel=1e-3)
    assert iso["area_km2"].is_monotonic_increasing
    geoms = metric.geometry.buffer(1.0)
    assert geoms.iloc[2].contains(metric.geometry.iloc[1])
    assert geoms.iloc[1].contains(metric.geometry.iloc[0])
    assert iso["population"].iloc[1] == 221
    assert iso["population"].iloc[0] == 2 * 5**2 + 2 * 5 + 1
    assert iso["population_band"].sum() == iso["population"].iloc[2]


def test_isochrone_of_far_station_is_empty_and_flagged() -> None:
    net = _grid(side=5)
    stations = _points([[X0 + 200, Y0 + 200], [X0 + 200, Y0 + 5000]])
    iso = access.isochrones(net, stations, minutes=(2,), max_snap_m=200)
    assert iso["flagged"].tolist() == [False, True]
    assert iso["area_km2"].iloc[0] > 0 and iso.geometry.iloc[1].is_empty


def test_coverage_share_per_township() -> None:
    """Grid points 0..4 minutes from one station; 3-minute coverage: A has points at 0, 1 and 4
    minutes (weights 10, 20, 30) → 30 / 60 = 0.5; B has 2 and 3 minutes → 1.0."""
    net = _grid(side=5)
    station = _points(net.xy[[0]])
    pts = _points(net.xy[[0, 1, 4, 2, 3]], township=list("AAABB"), population=[10, 20, 30, 5, 5])
    times = access.travel_time_matrix(net, pts, station)
    out = access.coverage_share(times, pts, minutes=3)
    assert out.loc["A", "share"] == pytest.approx(0.5)
    assert out.loc["B", "share"] == pytest.approx(1.0)
    assert out["population"].sum() == 70
    with pytest.raises(InputError, match="township"):
        access.coverage_share(times, pts.drop(columns="township"), minutes=3)


# Hand example: 3 demand points (P = 100, 200, 300), 2 stations (S = 10, 20),
# travel times T = [[5, 25], [15, 8], [40, 12]] minutes.
T = np.array([[5.0, 25.0], [15.0, 8.0], [40.0, 12.0]])
P = np.array([100.0, 200.0, 300.0])
S = np.array([10.0, 20.0])


def test_two_stage_fca_hand_example() -> None:
    """2SFCA, catchment 20 min.

    Step 1: station 1 reaches demand 1, 2 (5, 15 min): R1 = 10 / (100 + 200) = 1/30.
            station 2 reaches demand 2, 3 (8, 12; 25 > 20):  R2 = 20 / (200 + 300) = 0.04.
    Step 2: A1 = R1 = 0.03333, A2 = R1 + R2 = 0.07333, A3 = R2 = 0.04.
    Check: Σ P·A = 3.333 + 14.667 + 12 = 30 = Σ S.
    """
    a = access.two_stage_fca(T, P, S, catchment_min=20)
    np.testing.assert_allclose(a, [1 / 30, 1 / 30 + 0.04, 0.04])
    assert P @ a == pytest.approx(S.sum())


def test_enhanced_two_stage_fca_hand_example() -> None:
    """E2SFCA, zones ≤10 → 1, ≤20 → 0.5, ≤30 → 0.25 (beyond 30 → 0).

    W = [[1, 0.25], [0.5, 1], [0, 0.5]].
    Step 1: R1 = 10 / (100·1 + 200·0.5 + 300·0) = 10/200 = 0.05;
            R2 = 20 / (100·0.25 + 200·1 + 300·0.5) = 20/375 = 0.053333.
    Step 2: A1 = 0.05 + 0.25·0.053333 = 0.063333; A2 = 0.5·0.05 + 0.053333 = 0.078333;
            A3 = 0.5·0.053333 = 0.026667.
    """
    zones = {10: 1.0, 20: 0.5, 30: 0.25}
    a = access.enhanced_two_stage_fca(T, P, S, zones=zones)
    np.testing.assert_allclose(a, [0.05 + 0.25 * 20 / 375, 0.025 + 20 / 375, 0.5 * 20 / 375])
    assert P @ a == pytest.approx(S.sum())
    g = access.gaussian_weights(30.0)(np.array([0.0, 15.0, 30.0, 31.0]))
    assert g[0] == pytest.approx(1.0) and g[2] == pytest.approx(0.0) and g[3] == 0.0
    assert 0 < g[1] < 1
    gauss = access.enhanced_two_stage_fca(T, P, S, decay="gaussian", catchment_min=30)
    assert gauss[2] < gauss[1] and P @ gauss == pytest.approx(S.sum())


def test_access_index_uses_capacity_and_aggregates_per_township() -> None:
    facilities = pd.DataFrame({"staff": [2, 4]})
    capacity = access.station_capacity(facilities, per_staff=5)  # 1:5 staff : clients
    np.testing.assert_array_equal(capacity, S)
    times = access.TravelTimeMatrix(
        values=T.astype(np.float32), demand_ids=np.array(["d1", "d2", "d3"]),
        supply_ids=np.array(["s1", "s2"]), method="network", mode="walk", units="minutes",
        cutoff_min=None, demand_snap_m=np.zeros(3), supply_snap_m=np.zeros(2),
        demand_flagged=np.zeros(3, bool), supply_flagged=np.zeros(2, bool),
    )  # fmt: skip
    demand = pd.DataFrame({"population": P, "township": ["x", "x", "y"]})
    per_point = access.access_index(times, demand, capacity, catchment_min=20, per=1)
    assert per_point.loc["d2", "access"] == pytest.approx(1 / 30 + 0.04)
    town = access.access_index(times, demand, capacity, catchment_min=20, by="township", per=1)
    # x: (100·1/30 + 200·(1/30 + 0.04)) / 300
    assert town.loc["x", "access"] == pytest.approx((100 / 30 + 200 * (1 / 30 + 0.04)) / 300)
    assert town.loc["y", "population"] == 300
    with pytest.raises(InputError, match="expected a number"):
        access.access_index(times, demand.assign(population=["1", "约80", "2"]), capacity)


def test_unreachable_and_flagged_demand_gets_zero_access(directed: network.RoutingNetwork) -> None:
    demand = _points([[X0, Y0], [X0, Y0 - 5000]])
    m = access.travel_time_matrix(directed, demand, _points(directed.xy[[5]]), max_snap_m=100)
    a = access.two_stage_fca(m, np.array([100.0, 100.0]), np.array([5.0]), catchment_min=60)
    assert a[1] == 0 and a[0] == pytest.approx(5 / 100)


needs_wudaokou = pytest.mark.skipif(
    not WUDAOKOU.is_file(), reason=f"shared data not found at {WUDAOKOU} (JINGKANG_SHARED_DATA)"
)


@pytest.mark.shared
@needs_wudaokou
def test_wudaokou_matrix_matches_networkx(tmp_path: Path) -> None:
    G = network.graph_from_osm_xml(WUDAOKOU, mode="drive", settings=Settings(cache_dir=tmp_path))
    net = network.routing_network(G)
    rng = np.random.default_rng(3)
    d_nodes, s_nodes = rng.choice(net.n_nodes, 6), rng.choice(net.n_nodes, 4, replace=False)
    demand = _points(net.xy[d_nodes], crs=G.graph["crs"]).to_crs("EPSG:4326")
    m = access.travel_time_matrix(net, demand, _points(net.xy[s_nodes]))
    assert m.demand_snap_m.max() < 0.01
    for i, d in enumerate(net.node_ids[d_nodes]):
        seconds = nx.single_source_dijkstra_path_length(G, d, weight="travel_time")
        expected = [seconds[s] / 60 for s in net.node_ids[s_nodes]]
        np.testing.assert_allclose(m.values[i], expected, rtol=1e-5)
    back = access.travel_time_matrix(net, _points(net.xy[s_nodes]), demand)
    assert not np.allclose(back.values.T, m.values)  # one-way streets: there ≠ back


@pytest.mark.shared
@needs_wudaokou
def test_wudaokou_walk_isochrones_are_nested_and_bounded(tmp_path: Path) -> None:
    """Walking at 4.5 km/h covers at most 75 m/min, so the T-minute isochrone lies within a disc
    of radius 75·T + b around the station (b = 100 m buffer): ≤ π·850² m² = 2.27 km² for 10 min.
    """
    G = network.graph_from_osm_xml(WUDAOKOU, mode="walk", settings=Settings(cache_dir=tmp_path))
    net = network.routing_network(G)
    centre = np.argmin(np.linalg.norm(net.xy - net.xy.mean(axis=0), axis=1))
    station = _points(net.xy[[centre]] + 30.0, crs=net.crs, name=["站"]).to_crs("EPSG:4326")
    iso = access.isochrones(net, station, minutes=(5, 10), station_id="name")
    assert not iso["flagged"].any() and iso["snap_m"].iloc[0] < 50
    assert 0 < iso["area_km2"].iloc[0] < iso["area_km2"].iloc[1] < np.pi * 0.85**2
    metric = iso.to_crs(net.crs)
    assert metric.geometry.iloc[1].buffer(1).contains(metric.geometry.iloc[0])
    far = shapely.Point(net.xy[0]).distance(metric.geometry.iloc[1])
    reach = access.travel_time_matrix(net, _points(net.xy[[0]], crs=net.crs), station)
    assert (far > 0) == (reach.values[0, 0] > 10)  # a node outside the polygon is > 10 min away


def test_isochrone_layer_is_a_light_faithful_outline(demo):
    """The display isochrones stay within the tolerance of the exact area, much lighter."""
    from planning.access.coverage import AccessOptions, township_access
    from planning.data.crs import metric_crs

    summary = township_access(demo.subset(["东城区", "西城区"]), AccessOptions(threshold_min=15))
    band = summary.catchments[summary.catchments["minutes"] == 15.0]
    exact = band[["geometry"]].dissolve()
    shown = gpd.read_file(summary.catchment_geojson(15, tolerance_m=10.0))
    metric = metric_crs(exact)
    a = exact.to_crs(metric).geometry.iloc[0]
    b = shown.set_crs(4326, allow_override=True).to_crs(metric).union_all()
    assert shapely.hausdorff_distance(a, b) <= 10.0 + 2.0  # tolerance + 1e-5 degree rounding
    assert abs(b.area - a.area) / a.area < 0.01
    assert len(summary.catchment_geojson(15, tolerance_m=10.0)) < 0.5 * len(exact.to_json())
    assert summary.catchment_geojson(7) is None  # no band at 7 minutes
