"""Street networks: building from OSM XML / GraphML, mode filters, speeds, cache, routing form."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from pyproj import CRS

from planning.access import network
from planning.errors import InputError, NetworkUnavailableError
from planning.settings import Settings


def _shared_data() -> Path:
    env = os.environ.get("JINGKANG_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


WUDAOKOU = _shared_data() / "osm" / "beijing-wudaokou.osm"
SHENZHEN = _shared_data() / "osm" / "shenzhen-futian-nanshan" / "ShenZhen.graphml"


def _needs(path: Path) -> Callable[[Callable[..., None]], Callable[..., None]]:
    reason = f"shared data not found at {path} (set JINGKANG_SHARED_DATA or add ../shared/data)"

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        return pytest.mark.shared(pytest.mark.skipif(not path.is_file(), reason=reason)(test))

    return mark


needs_wudaokou = _needs(WUDAOKOU)
needs_shenzhen = _needs(SHENZHEN)


@pytest.fixture(autouse=True)
def _offline_osmnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests may wait on the internet: point osmnx at a closed local port."""
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "nominatim_url", "http://127.0.0.1:9/")
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(cache_dir=tmp_path_factory.mktemp("net-cache"))


@pytest.fixture(scope="module")
def walk(settings: Settings) -> nx.MultiDiGraph:
    if not WUDAOKOU.is_file():
        pytest.skip(f"shared OSM data not found at {WUDAOKOU}")
    return network.graph_from_osm_xml(WUDAOKOU, mode="walk", settings=settings)


@pytest.fixture(scope="module")
def drive(settings: Settings) -> nx.MultiDiGraph:
    if not WUDAOKOU.is_file():
        pytest.skip(f"shared OSM data not found at {WUDAOKOU}")
    return network.graph_from_osm_xml(WUDAOKOU, mode="drive", settings=settings)


def _highways(G: nx.MultiDiGraph) -> set[str]:
    out: set[str] = set()
    for _, _, hwy in G.edges(data="highway"):
        out.update(hwy if isinstance(hwy, list) else [hwy])
    return out


@needs_wudaokou
def test_walk_graph_is_projected_connected_and_timed(walk: nx.MultiDiGraph) -> None:
    assert CRS.from_user_input(walk.graph["crs"]).to_epsg() == 32650  # UTM 50N for Beijing
    assert 300 < len(walk) < 2000
    assert nx.is_strongly_connected(walk)
    assert not _highways(walk) & network.WALK_EXCLUDED
    assert "footway" in _highways(walk)
    speeds = {d["speed_kph"] for _, _, d in walk.edges(data=True)}
    assert speeds == {4.5}
    for _, _, d in list(walk.edges(data=True))[:200]:
        assert d["travel_time"] == pytest.approx(d["length"] / (4.5 / 3.6), rel=1e-3, abs=0.1)
    # walkers ignore oneway: every edge has a reverse
    assert all(walk.has_edge(v, u) for u, v in walk.edges())
    xs = [d["x"] for _, d in walk.nodes(data=True)]
    assert 400_000 < min(xs) < max(xs) < 500_000  # metres, not degrees


@needs_wudaokou
def test_drive_graph_keeps_only_drivable_ways_and_one_way_streets(drive: nx.MultiDiGraph) -> None:
    assert _highways(drive) <= network.DRIVE_HIGHWAYS
    assert nx.is_strongly_connected(drive)
    one_way = [(u, v) for u, v, d in drive.edges(data=True) if d.get("oneway") is True]
    assert any(not drive.has_edge(v, u) for u, v in one_way)
    untagged = [
        d["speed_kph"]
        for _, _, d in drive.edges(data=True)
        if d.get("highway") == "primary" and not d.get("maxspeed")
    ]
    assert untagged and set(untagged) == {network.DRIVE_SPEEDS_KPH["primary"]}


@needs_wudaokou
def test_second_build_reads_the_cache_without_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(cache_dir=tmp_path)
    first = network.graph_from_osm_xml(WUDAOKOU, mode="walk", settings=settings)
    cached = network.cache_path(first.graph["jingkang_key"], settings)
    assert cached.is_file() and cached.parent == tmp_path / "networks"

    def no_parse(*args: object, **kwargs: object) -> None:
        msg = "the cached graph should have been used"
        raise AssertionError(msg)

    # parsing is disabled: the second build can only come from the cache (no timing here: the
    # speed of the cache belongs in benchmarks/, and a timed assertion failed on a busy machine)
    monkeypatch.setattr(ox, "graph_from_xml", no_parse)
    second = network.graph_from_osm_xml(WUDAOKOU, mode="walk", settings=settings)
    assert nx.utils.graphs_equal(first, second)


def test_cache_key_depends_on_mode_and_speeds() -> None:
    base = Settings(cache_dir=Path("unused"))
    walk = network._cache_key("digest", "walk", base)
    assert walk != network._cache_key("digest", "drive", base)
    assert walk != network._cache_key("digest", "walk", replace(base, walk_speed_kmh=4.0))
    assert walk != network._cache_key("other", "walk", base)
    assert walk == network._cache_key("digest", "walk", replace(base, detour_factor=2.0))


@needs_shenzhen
def test_shenzhen_graphml_builds_drive_and_walk(settings: Settings) -> None:
    drive = network.graph_from_file(SHENZHEN, mode="drive", settings=settings)
    walk = network.graph_from_file(SHENZHEN, mode="walk", settings=settings)
    assert CRS.from_user_input(drive.graph["crs"]).to_epsg() == 32650  # 114°E is UTM 50N
    assert 1500 < len(drive) <= 1970  # the file has 1,970 nodes
    assert len(walk) >= len(drive)  # walkers may use one-way streets both ways
    assert all(walk.has_edge(v, u) for u, v in walk.edges())
    assert any(not drive.has_edge(v, u) for u, v in drive.edges())


def test_missing_or_unsupported_files_and_bad_mode(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    with pytest.raises(NetworkUnavailableError, match="not found"):
        network.graph_from_osm_xml(tmp_path / "absent.osm", settings=settings)
    (tmp_path / "roads.shp").write_bytes(b"")
    with pytest.raises(InputError, match=r"\.graphml"):
        network.graph_from_file(tmp_path / "roads.shp", settings=settings)
    with pytest.raises(InputError, match="unknown travel mode"):
        network.graph_from_file(tmp_path / "x.osm", mode="bike", settings=settings)  # type: ignore[arg-type]


def test_osm_file_without_streets_is_unavailable(tmp_path: Path) -> None:
    osm = tmp_path / "buildings.osm"
    osm.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="39.99" lon="116.31"/><node id="2" lat="39.991" lon="116.31"/>'
        '<way id="9"><nd ref="1"/><nd ref="2"/><tag k="building" v="yes"/></way></osm>'
    )
    with pytest.raises(NetworkUnavailableError, match="no walk streets"):
        network.graph_from_osm_xml(osm, settings=Settings(cache_dir=tmp_path))


def test_online_download_is_opt_in_and_fails_fast(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    with pytest.raises(NetworkUnavailableError, match="online=True"):
        network.graph_from_place("Dongcheng District, Beijing", settings=settings)
    before = {k: getattr(ox.settings, k) for k in ("requests_timeout", "use_cache",
                                                   "cache_folder")}
    with pytest.raises(NetworkUnavailableError, match="could not download"):
        network.graph_from_polygon(
            shapely.box(116.30, 39.99, 116.31, 40.0), settings=settings, online=True
        )
    # the engine never touches osmnx's global settings (shared by every browser session)
    assert {k: getattr(ox.settings, k) for k in before} == before


def test_routing_network_collapses_parallel_edges_and_drops_loops() -> None:
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    net = network.RoutingNetwork.from_arrays(
        xy, ([0, 0, 1, 2, 1], [1, 1, 2, 2, 0], [5.0, 2.0, 1.0, 0.5, 3.0]), crs="EPSG:32650"
    )
    assert net.forward.nnz == 3  # 0->1 (twice), 1->2, 1->0; the 2->2 loop is gone
    assert net.forward[0, 1] == 2.0  # the faster parallel edge
    assert net.backward[1, 0] == 2.0 and net.backward[0, 1] == 3.0
    assert shapely.length(net.edge_geoms).tolist() == [100.0, 100.0, 100.0]
    with pytest.raises(ValueError, match="read-only"):
        net.minutes[0] = 9.0


@needs_wudaokou
def test_routing_network_from_graph_matches_edges(walk: nx.MultiDiGraph) -> None:
    net = network.routing_network(walk)
    assert net.n_nodes == len(walk) and net.mode == "walk"
    assert net.key == walk.graph["jingkang_key"]
    u, v = next(iter(walk.edges()))
    i, j = np.flatnonzero(net.node_ids == u)[0], np.flatnonzero(net.node_ids == v)[0]
    fastest = min(e["travel_time"] for e in walk.get_edge_data(u, v).values())
    assert net.forward[i, j] == pytest.approx(fastest / 60.0)
    assert net.edge_geoms.size == net.forward.nnz
    shortest: dict[tuple[int, int], float] = {}
    for a, b, length in walk.edges(data="length"):
        shortest[a, b] = min(length, shortest.get((a, b), np.inf))
    assert shapely.length(net.edge_geoms).sum() == pytest.approx(sum(shortest.values()), rel=0.01)
