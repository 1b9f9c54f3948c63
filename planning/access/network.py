"""Street networks: osmnx graphs from local OSM / GraphML / (opt-in) online, and a routing form.

Every builder funnels into one workhorse, :func:`_build`, which

1. parses the source (``ox.graph_from_xml``, ``ox.load_graphml`` or an osmnx download),
2. keeps only highway ways suited to the mode (:data:`DRIVE_HIGHWAYS`, :data:`WALK_EXCLUDED`,
   plus ``area=yes`` and ``access=private``, mirroring osmnx's ``drive`` / ``walk`` filters),
3. simplifies the topology, makes walk graphs two-way,
4. adds ``speed_kph`` (walk: ``Settings.walk_speed_kmh`` everywhere; drive: OSM ``maxspeed`` where
   tagged, else :data:`DRIVE_SPEEDS_KPH` by highway type, else ``Settings.drive_speed_kmh``) and
   ``travel_time`` in seconds,
5. keeps the largest strongly connected component and projects to a metric (UTM) CRS chosen by
   :func:`planning.data.crs.metric_crs`,

and caches the result as a pickle under ``settings.cache_dir / "networks"`` keyed by the source's
content hash, the mode and the speed parameters, so a second call only reads the pickle.

Only tags in ``ox.settings.useful_tags_way`` survive ``graph_from_xml``, so ``foot=no`` and
``motor_vehicle=no`` are not honoured for local files (osmnx honours them in its Overpass query).

Routing does not run on networkx: :func:`routing_network` turns a graph into a
:class:`RoutingNetwork` (CSR adjacency in minutes, node coordinates, a KD-tree) that
:mod:`planning.access` hands to ``scipy.sparse.csgraph.dijkstra``. When no network can be built,
callers fall back to :func:`planning.access.straight_line_matrix` (straight-line distance × detour
factor at a mode speed), which labels its results ``"straight_line_fallback"``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree

from planning.data.crs import metric_crs, to_metric
from planning.errors import InputError, NetworkUnavailableError
from planning.settings import DEFAULT, Settings


def _ox() -> ModuleType:
    """Return osmnx, imported on first use.

    osmnx (with scikit-learn and matplotlib behind it) takes most of a second to import; pages
    that never build a street network should not pay for it. A plain import inside a function,
    not a lazy module in ``sys.modules``: ``inspect.getmodule`` (which Streamlit calls on its
    first element) touches every module there and would trigger a lazy one.
    """
    import osmnx

    return osmnx

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")

#: Highway types a car may use (osmnx ``drive``: no service roads, tracks or foot ways).
DRIVE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
        "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
        "residential", "living_street", "road",
    }
)  # fmt: skip

#: Highway types a pedestrian may not use (osmnx ``walk`` excludes these).
WALK_EXCLUDED: frozenset[str] = frozenset(
    {
        "abandoned", "bus_guideway", "busway", "construction", "cycleway", "motorway",
        "motorway_link", "no", "planned", "platform", "proposed", "raceway", "razed",
        "rest_area", "services",
    }
)  # fmt: skip

#: Typical urban free-flow speeds (km/h) in Chinese cities, used where OSM has no ``maxspeed``.
DRIVE_SPEEDS_KPH: dict[str, float] = {
    "motorway": 80.0, "motorway_link": 40.0, "trunk": 60.0, "trunk_link": 35.0,
    "primary": 45.0, "primary_link": 30.0, "secondary": 40.0, "secondary_link": 25.0,
    "tertiary": 30.0, "tertiary_link": 20.0, "unclassified": 25.0, "residential": 20.0,
    "living_street": 10.0, "road": 25.0,
}  # fmt: skip

_CACHE_VERSION = "1"
_XML_SUFFIXES = (".osm", ".xml")
_GRAPHML_SUFFIXES = (".graphml",)


# --------------------------------------------------------------------------------------------
# public builders
# --------------------------------------------------------------------------------------------


def graph_from_osm_xml(
    path: str | Path, *, mode: Mode = "walk", settings: Settings = DEFAULT, use_cache: bool = True
) -> nx.MultiDiGraph:
    """Build a projected, routable ``mode`` graph from a local OSM XML file.

    Parameters
    ----------
    path
        OSM XML (``.osm``) file, e.g. an export from openstreetmap.org.
    mode
        ``"walk"`` or ``"drive"``.
    settings
        Speeds and cache directory.
    use_cache
        Read/write the built graph under ``settings.cache_dir / "networks"``.

    Returns
    -------
    networkx.MultiDiGraph
        Largest strongly connected component in a UTM CRS, with ``speed_kph`` and
        ``travel_time`` (seconds) on every edge.
    """
    return _build_from_file(Path(path), "xml", mode=mode, settings=settings, use_cache=use_cache)


def graph_from_graphml(
    path: str | Path, *, mode: Mode = "drive", settings: Settings = DEFAULT, use_cache: bool = True
) -> nx.MultiDiGraph:
    """Build a projected, routable ``mode`` graph from an osmnx GraphML file.

    See :func:`graph_from_osm_xml` for parameters. Speeds and travel times already stored in
    the file are recomputed so that both sources follow the same rules.
    """
    return _build_from_file(
        Path(path), "graphml", mode=mode, settings=settings, use_cache=use_cache
    )


def graph_from_file(
    path: str | Path, *, mode: Mode = "walk", settings: Settings = DEFAULT, use_cache: bool = True
) -> nx.MultiDiGraph:
    """Dispatch on the suffix: ``.osm``/``.xml`` → OSM XML, ``.graphml`` → GraphML."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _XML_SUFFIXES:
        kind = "xml"
    elif suffix in _GRAPHML_SUFFIXES:
        kind = "graphml"
    else:
        msg = (
            f"unsupported network file type {suffix!r}; expected an OSM XML file "
            f"({', '.join(_XML_SUFFIXES)}) or an osmnx GraphML file (.graphml)"
        )
        raise InputError(msg, source=path.name)
    return _build_from_file(path, kind, mode=mode, settings=settings, use_cache=use_cache)


def graph_from_place(
    query: str,
    *,
    mode: Mode = "walk",
    settings: Settings = DEFAULT,
    online: bool = False,
    use_cache: bool = True,
) -> nx.MultiDiGraph:
    """Download a ``mode`` network for a geocodable place name (opt-in, needs the internet).

    Parameters
    ----------
    query
        Place name Nominatim can geocode to a polygon, e.g. ``"Dongcheng District, Beijing"``.
    online
        Must be ``True`` to download: nothing goes online unless the caller asks for it. A graph
        built earlier from the same query is returned from the cache even offline.

    Raises
    ------
    NetworkUnavailableError
        ``online`` is false, the servers cannot be reached, or the area has no streets.
    """
    return _build_online(
        "place", query, mode=mode, settings=settings, online=online,
        use_cache=use_cache,
    )  # fmt: skip


def graph_from_polygon(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    mode: Mode = "walk",
    settings: Settings = DEFAULT,
    online: bool = False,
    use_cache: bool = True,
) -> nx.MultiDiGraph:
    """Download a ``mode`` network inside a WGS84 polygon (opt-in; see :func:`graph_from_place`)."""
    return _build_online(
        "polygon", polygon, mode=mode, settings=settings, online=online,
        use_cache=use_cache,
    )  # fmt: skip


def cache_path(key: str, settings: Settings = DEFAULT) -> Path:
    """Where the built graph with cache ``key`` (``G.graph["jingkang_key"]``) is stored."""
    return Path(settings.cache_dir) / "networks" / f"{key}.pkl"


# --------------------------------------------------------------------------------------------
# workhorse
# --------------------------------------------------------------------------------------------


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        msg = f"unknown travel mode {mode!r}; expected one of {', '.join(MODES)}"
        raise InputError(msg, field="mode")


def _speed_fingerprint(mode: str, settings: Settings) -> str:
    if mode == "walk":
        return f"walk:{settings.walk_speed_kmh}"
    return f"drive:{settings.drive_speed_kmh}:{sorted(DRIVE_SPEEDS_KPH.items())}"


def _cache_key(source_digest: str, mode: str, settings: Settings) -> str:
    parts = [_CACHE_VERSION, _ox().__version__, nx.__version__, source_digest, mode]
    parts.append(_speed_fingerprint(mode, settings))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _build_from_file(
    path: Path, kind: str, *, mode: Mode, settings: Settings, use_cache: bool
) -> nx.MultiDiGraph:
    _check_mode(mode)
    if not path.is_file():
        msg = f"street network file not found: {path}; pass an existing .osm or .graphml file"
        raise NetworkUnavailableError(msg)
    key = _cache_key(f"{kind}:{_file_digest(path)}", mode, settings)

    def parse() -> nx.MultiDiGraph:
        try:
            if kind == "xml":
                # walk: every way is two-way; drive: respect oneway tags
                return _ox().graph_from_xml(
                    path, bidirectional=(mode == "walk"), simplify=False, retain_all=True
                )
            return _ox().load_graphml(path)
        except (OSError, ValueError, KeyError) as exc:  # ParseError is a SyntaxError
            msg = f"could not read street network {path.name}: {exc}"
            raise NetworkUnavailableError(msg) from exc
        except SyntaxError as exc:
            msg = f"{path.name} is not well-formed XML: {exc}"
            raise NetworkUnavailableError(msg) from exc

    return _build(parse, key=key, mode=mode, settings=settings, use_cache=use_cache,
                  filter_ways=True, label=path.name)  # fmt: skip


def _build_online(
    kind: str, what: Any, *, mode: Mode, settings: Settings, online: bool,
    use_cache: bool,
) -> nx.MultiDiGraph:  # fmt: skip
    _check_mode(mode)
    ident = what if kind == "place" else shapely.to_wkb(what, hex=True)
    key = _cache_key(f"{kind}:{hashlib.sha256(str(ident).encode()).hexdigest()}", mode, settings)

    def download() -> nx.MultiDiGraph:  # only called when the graph is not cached yet
        if not online:
            msg = (
                "downloading a street network needs online=True; offline, build the graph from "
                "a local .osm / .graphml file or use access.straight_line_matrix as the fallback"
            )
            raise NetworkUnavailableError(msg)
        # osmnx's own settings (HTTP cache, timeout) apply as the caller configured them: the
        # engine never changes library globals, which every browser session shares.
        try:
            if kind == "place":
                return _ox().graph_from_place(what, network_type=mode, simplify=False)
            return _ox().graph_from_polygon(what, network_type=mode, simplify=False)
        except Exception as exc:  # requests / osmnx raise many types; all mean "no network"
            msg = f"could not download the {mode} network for {str(ident)[:80]}: {exc}"
            raise NetworkUnavailableError(msg) from exc

    label = str(what) if kind == "place" else "polygon"
    return _build(download, key=key, mode=mode, settings=settings, use_cache=use_cache,
                  filter_ways=False, label=label)  # fmt: skip


def _build(
    parse: Callable[[], nx.MultiDiGraph],
    *,
    key: str,
    mode: Mode,
    settings: Settings,
    use_cache: bool,
    filter_ways: bool,
    label: str,
) -> nx.MultiDiGraph:
    """Read the cached graph for ``key`` or parse, prepare and cache it."""
    target = cache_path(key, settings)
    if use_cache and target.is_file():
        try:
            with target.open("rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            pass  # a truncated or stale cache file: rebuild below
    G = _prepare(parse(), mode=mode, settings=settings, filter_ways=filter_ways, label=label)
    G.graph["jingkang_key"] = key
    G.graph["jingkang_mode"] = mode
    if use_cache:
        _atomic_pickle(G, target)
    return G


def _atomic_pickle(obj: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _way_allowed(data: dict[str, Any], mode: str) -> bool:
    if str(data.get("area", "no")) == "yes" or str(data.get("access", "")) == "private":
        return False
    hwy = data.get("highway")
    if hwy is None:
        return False
    values = hwy if isinstance(hwy, list) else [hwy]
    if mode == "drive":
        return any(v in DRIVE_HIGHWAYS for v in values)
    if str(data.get("service", "")) == "private":
        return False
    return any(v not in WALK_EXCLUDED for v in values)


def _prepare(
    G: nx.MultiDiGraph, *, mode: Mode, settings: Settings, filter_ways: bool, label: str
) -> nx.MultiDiGraph:
    if filter_ways:
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
                if not _way_allowed(d, mode)]  # fmt: skip
        G.remove_edges_from(drop)
        G.remove_nodes_from([n for n, deg in G.degree() if deg == 0])
    if len(G.edges) == 0:
        msg = f"{label} contains no {mode} streets (highway ways); check the extract or the mode"
        raise NetworkUnavailableError(msg)
    if not G.graph.get("simplified", False):
        G = _ox().simplify_graph(G)
    if mode == "walk":
        _add_reverse_edges(G)
        nx.set_edge_attributes(G, float(settings.walk_speed_kmh), "speed_kph")
    else:
        G = _ox().routing.add_edge_speeds(
            G, hwy_speeds=DRIVE_SPEEDS_KPH, fallback=float(settings.drive_speed_kmh)
        )
    G = _ox().routing.add_edge_travel_times(G)
    G = _ox().truncate.largest_component(G, strongly=True)
    if len(G) < 2:
        msg = f"{label}: the {mode} network has no strongly connected part with 2+ nodes"
        raise NetworkUnavailableError(msg)
    nodes = _ox().convert.graph_to_gdfs(G, edges=False)
    return _ox().projection.project_graph(G, to_crs=metric_crs(nodes))


def _add_reverse_edges(G: nx.MultiDiGraph) -> None:
    """Walkers ignore ``oneway``: add the missing reverse of each one-way edge (in place)."""
    missing = [(u, v, d) for u, v, d in G.edges(data=True) if not G.has_edge(v, u)]
    for u, v, d in missing:
        rev = dict(d)
        if "geometry" in rev:
            rev["geometry"] = shapely.reverse(rev["geometry"])
        rev["reversed"] = not bool(d.get("reversed", False))
        G.add_edge(v, u, **rev)


# --------------------------------------------------------------------------------------------
# routing form
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RoutingNetwork:
    """A street network in the form scipy's shortest-path routines need.

    Build with :func:`routing_network` (from an osmnx graph) or :meth:`from_arrays`. Parallel
    edges are collapsed to the fastest; self-loops are dropped. Picklable, so the app can keep
    one per network in ``st.cache_resource``.

    Attributes
    ----------
    node_ids
        OSM node id of each row/column, shape ``(n,)``.
    xy
        Node coordinates in ``crs`` (metres), shape ``(n, 2)``.
    crs
        The metric CRS of ``xy`` and ``edge_geoms``.
    tails, heads, minutes
        Edge ``tails[e] -> heads[e]`` (row indices) takes ``minutes[e]``.
    edge_geoms
        Edge geometries (LineStrings from tail to head) in ``crs``.
    forward, backward
        CSR adjacency in minutes, and its transpose (to route *to* a node).
    tree
        KD-tree over ``xy`` for snapping.
    mode, key
        Travel mode and the source cache key (stable across sessions; use it as a cache key).
    """

    node_ids: np.ndarray
    xy: np.ndarray
    crs: CRS
    tails: np.ndarray
    heads: np.ndarray
    minutes: np.ndarray
    edge_geoms: np.ndarray
    forward: sp.csr_array
    backward: sp.csr_array
    tree: cKDTree
    mode: str
    key: str

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.xy.shape[0])

    @classmethod
    def from_arrays(
        cls,
        xy: np.ndarray,
        edges: tuple[np.ndarray, np.ndarray, np.ndarray],
        *,
        crs: Any,
        node_ids: np.ndarray | None = None,
        edge_geoms: np.ndarray | None = None,
        mode: str = "drive",
        key: str = "",
    ) -> RoutingNetwork:
        """Build from node coordinates and edge arrays (no networkx needed).

        ``edges`` is ``(tails, heads, minutes)``: node indices and travel minutes per directed
        edge. ``edge_geoms`` defaults to straight segments between the end nodes.
        """
        tails, heads, minutes = edges
        xy = np.asarray(xy, dtype=np.float64)
        n = xy.shape[0]
        tails = np.asarray(tails, dtype=np.int64)
        heads = np.asarray(heads, dtype=np.int64)
        # zero-weight edges would vanish from a sparse matrix; keep them as 1 ms
        minutes = np.maximum(np.asarray(minutes, dtype=np.float64), 1e-5 / 60.0)
        keep = tails != heads
        order = np.lexsort((minutes, heads, tails))
        order = order[keep[order]]
        t, h = tails[order], heads[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
        order = order[first]
        tails, heads, minutes = tails[order], heads[order], minutes[order]
        if edge_geoms is None:
            pairs = np.stack([xy[tails], xy[heads]], axis=1)
            edge_geoms = shapely.linestrings(pairs)
        else:
            edge_geoms = np.asarray(edge_geoms, dtype=object)[order]
        forward = sp.csr_array((minutes, (tails, heads)), shape=(n, n))
        backward = sp.csr_array((minutes, (heads, tails)), shape=(n, n))
        ids = np.arange(n, dtype=np.int64) if node_ids is None else np.asarray(node_ids)
        for arr in (ids, xy, tails, heads, minutes, edge_geoms):
            arr.setflags(write=False)
        return cls(
            node_ids=ids, xy=xy, crs=CRS.from_user_input(crs), tails=tails, heads=heads,
            minutes=minutes, edge_geoms=edge_geoms, forward=forward, backward=backward,
            tree=cKDTree(xy), mode=mode, key=key,
        )  # fmt: skip


def routing_network(G: nx.MultiDiGraph, *, weight: str = "travel_time") -> RoutingNetwork:
    """Convert a graph from this module's builders into a :class:`RoutingNetwork`.

    Parameters
    ----------
    G
        Graph with node ``x``/``y``, a ``crs`` graph attribute and ``weight`` (seconds) on every
        edge. An unprojected graph is projected to UTM first.
    weight
        Edge attribute in **seconds** (osmnx ``travel_time``); converted to minutes.
    """
    crs = G.graph.get("crs")
    if crs is None:
        msg = "the graph has no 'crs' attribute; build it with planning.access.network or osmnx"
        raise InputError(msg, field="crs")
    if CRS.from_user_input(crs).is_geographic:
        nodes = _ox().convert.graph_to_gdfs(G, edges=False)
        G = _ox().projection.project_graph(G, to_crs=metric_crs(nodes))
        crs = G.graph["crs"]
    node_ids = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
    position = {n: i for i, n in enumerate(G.nodes)}
    xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)], dtype=np.float64)
    m = G.number_of_edges()
    tails = np.empty(m, dtype=np.int64)
    heads = np.empty(m, dtype=np.int64)
    seconds = np.empty(m, dtype=np.float64)
    geoms = np.empty(m, dtype=object)
    for e, (u, v, d) in enumerate(G.edges(data=True)):
        if weight not in d:
            msg = f"edge {u}->{v} has no {weight!r}; build the graph with planning.access.network"
            raise InputError(msg, field=weight)
        tails[e], heads[e], seconds[e] = position[u], position[v], float(d[weight])
        geoms[e] = d.get("geometry")
    straight = np.array([g is None for g in geoms], dtype=bool)
    if straight.any():
        pairs = np.stack([xy[tails[straight]], xy[heads[straight]]], axis=1)
        geoms[straight] = shapely.linestrings(pairs)
    # isochrones cut edges from the head end: make every geometry run tail -> head
    start = shapely.get_point(geoms, 0)
    flipped = shapely.distance(start, shapely.points(xy[heads])) < shapely.distance(
        start, shapely.points(xy[tails])
    )
    geoms[flipped] = shapely.reverse(geoms[flipped])
    return RoutingNetwork.from_arrays(
        xy, (tails, heads, seconds / 60.0), crs=crs, node_ids=node_ids, edge_geoms=geoms,
        mode=str(G.graph.get("jingkang_mode", "drive")), key=str(G.graph.get("jingkang_key", "")),
    )  # fmt: skip


def points_xy(points: gpd.GeoDataFrame | gpd.GeoSeries, crs: Any, *, label: str) -> np.ndarray:
    """Validate a point layer and return its coordinates in ``crs`` as an ``(n, 2)`` array."""
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geoms.crs is None:
        msg = "the point layer has no CRS; declare it (e.g. EPSG:4326 for lon/lat)"
        raise InputError(msg, source=label, field="geometry")
    bad = geoms.isna() | geoms.is_empty | (geoms.geom_type != "Point")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found = geoms.iloc[row].geom_type if geoms.iloc[row] is not None else "nothing"
        msg = (
            f"expected a Point geometry but found {found}; use .representative_point() for polygons"
        )
        raise InputError(msg, source=label, row=row + 1, field="geometry")
    projected = to_metric(geoms, crs)
    return np.column_stack([projected.x.to_numpy(), projected.y.to_numpy()])


def snap(
    network: RoutingNetwork, points: gpd.GeoDataFrame | gpd.GeoSeries, *, label: str = "points"
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest network node (row index) of each point and its distance in metres."""
    dist, idx = network.tree.query(points_xy(points, network.crs, label=label))
    return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float64)
