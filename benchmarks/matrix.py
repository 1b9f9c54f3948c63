"""Benchmark: 10,000 × 1,000 travel-time matrix, ours (scipy csgraph) vs networkx per source.

Run with ``.venv/bin/python benchmarks/matrix.py [--sources 20] [--cutoff 30]``.

Cases
-----
synthetic
    A ~100k-node directed grid (317 × 317, 100 m blocks, 20–50 km/h per direction, 10 % of
    streets one-way), built with numpy/scipy; networkx only wraps it for the baseline.
shenzhen
    The real Futian/Nanshan drive graph (``ShenZhen.graphml`` from ../shared/data), when present.

For each case: 10,000 demand and 1,000 supply points at random inside the network's extent.
Ours is :func:`planning.access.travel_time_matrix` end to end (snapping, Dijkstra, assembly).
The baseline runs ``networkx.single_source_dijkstra_path_length`` (same cutoff) on the reversed
graph from a subset of the distinct supply nodes and is extrapolated linearly to all of them;
its columns are checked against ours. Ours is the median of a few runs; peak RSS is the
process maximum (``getrusage``) right after them, before the networkx graph exists.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import psutil
import shapely

from planning import access
from planning.access import network
from planning.settings import Settings

N_DEMAND, N_SUPPLY = 10_000, 1_000
UTM50 = "EPSG:32650"


def synthetic_network(side: int = 317, seed: int = 0) -> network.RoutingNetwork:
    """Directed grid of ``side²`` nodes with random per-direction speeds and one-way streets."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    rows, cols = np.divmod(np.arange(side * side), side)
    xy = np.column_stack([440_000.0 + 100.0 * cols, 4_400_000.0 + 100.0 * rows])
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:].ravel()])
    two_way = rng.random(a.size) >= 0.10
    tails = np.concatenate([a, b[two_way]])
    heads = np.concatenate([b, a[two_way]])
    kmh = rng.uniform(20.0, 50.0, tails.size)
    minutes = 0.1 / kmh * 60.0
    return network.RoutingNetwork.from_arrays(xy, (tails, heads, minutes), crs=UTM50, key="grid")


def random_points(net: network.RoutingNetwork, n: int, rng: np.random.Generator):
    lo, hi = net.xy.min(axis=0), net.xy.max(axis=0)
    xy = rng.uniform(lo, hi, size=(n, 2))
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=net.crs)


BASELINES = {
    # as specified: distances and paths (paths discarded)
    "single_source_dijkstra": lambda G, s, cut: nx.single_source_dijkstra(G, s, cutoff=cut)[0],
    # the leaner, stricter baseline: distances only
    "single_source_dijkstra_path_length": nx.single_source_dijkstra_path_length,
}


def baseline(
    net: network.RoutingNetwork,
    demand_nodes: np.ndarray,
    supply_nodes: np.ndarray,
    *,
    n_sources: int,
    cutoff: float | None,
) -> tuple[dict[str, float], float, np.ndarray]:
    """networkx per source on the reversed graph: ({function: s/source}, build s, times)."""
    t0 = time.perf_counter()
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n_nodes))
    edges = zip(net.heads.tolist(), net.tails.tolist(), net.minutes.tolist(), strict=True)
    G.add_weighted_edges_from(edges)  # reversed: distances *to* the source
    build_s = time.perf_counter() - t0
    sources = supply_nodes[:n_sources]
    out = np.full((demand_nodes.size, sources.size), np.inf)
    per_source = {}
    for name, fn in BASELINES.items():
        t0 = time.perf_counter()
        for k, s in enumerate(sources):
            lengths = fn(G, int(s), cutoff)
            out[:, k] = [lengths.get(int(d), np.inf) for d in demand_nodes]
        per_source[name] = (time.perf_counter() - t0) / sources.size
    return per_source, build_s, out


def run_case(
    name: str, net: network.RoutingNetwork, *, cutoff: float | None, n_sources: int, repeats: int
) -> None:
    rng = np.random.default_rng(1)
    demand, supply = random_points(net, N_DEMAND, rng), random_points(net, N_SUPPLY, rng)
    print(f"\n== {name}: {net.n_nodes:,} nodes, {net.forward.nnz:,} directed edges ==")
    print(f"matrix {N_DEMAND:,} × {N_SUPPLY:,}, cutoff {cutoff} min, {os.cpu_count()} CPUs")
    rss0 = psutil.Process().memory_info().rss
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = access.travel_time_matrix(net, demand, supply, cutoff_min=cutoff, max_snap_m=1e9)
        runs.append(time.perf_counter() - t0)
    ours_s = statistics.median(runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    finite = np.isfinite(m.values).mean()
    each = ", ".join(f"{r:.2f}" for r in runs)
    print(f"ours:     {ours_s:8.2f} s   median of {repeats} runs ({each}), snapping included")
    print(
        f"memory:   process peak RSS so far {peak / 2**20:,.0f} MB (RSS before the runs "
        f"{rss0 / 2**20:,.0f} MB; networkx not built yet); {finite:.0%} of pairs within cutoff"
    )
    d_nodes, _ = network.snap(net, demand)
    s_nodes, _ = network.snap(net, supply)
    first = np.sort(np.unique(s_nodes, return_index=True)[1])
    distinct = s_nodes[first]  # distinct supply nodes in column order
    per_src, build_s, base = baseline(net, d_nodes, distinct, n_sources=n_sources, cutoff=cutoff)
    n_timed = min(n_sources, distinct.size)
    print(
        f"networkx: timed on {n_timed} sources, extrapolated linearly to all {distinct.size} "
        f"distinct supply nodes (DiGraph build {build_s:.1f} s not counted)"
    )
    ours_cols = m.values[:, first[:n_sources]].astype(np.float64)
    both = np.isfinite(base) & np.isfinite(ours_cols)
    same_inf = np.array_equal(np.isfinite(base), np.isfinite(ours_cols))
    err = np.abs(base[both] - ours_cols[both]).max() if both.any() else 0.0
    print(f"check:    max |ours - networkx| = {err:.2e} min, same unreachable set: {same_inf}")
    for fn_name, per in per_src.items():
        est = per * distinct.size
        ratio = est / ours_s
        verdict = "OK" if ratio >= 20 and peak <= 2 * 2**30 else "BELOW TARGET"
        print(
            f"  nx.{fn_name}: {per * 1e3:.1f} ms/source → {est:.1f} s; ours is "
            f"{ratio:.1f}× faster (target ≥ 20×, peak ≤ 2 GB): {verdict}"
        )


def shenzhen_graphml() -> Path:
    env = os.environ.get("JINGKANG_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "osm" / "shenzhen-futian-nanshan" / "ShenZhen.graphml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20, help="baseline sources to time")
    parser.add_argument("--cutoff", type=float, default=30.0, help="minutes (synthetic case)")
    parser.add_argument("--side", type=int, default=317, help="synthetic grid side")
    args = parser.parse_args()

    t0 = time.perf_counter()
    net = synthetic_network(args.side)
    print(f"synthetic network built with numpy/scipy in {time.perf_counter() - t0:.1f} s")
    run_case("synthetic grid", net, cutoff=args.cutoff, n_sources=args.sources, repeats=3)
    del net

    path = shenzhen_graphml()
    if not path.is_file():
        print(f"\n(skipping Shenzhen: {path} not found)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        G = network.graph_from_graphml(path, mode="drive", settings=Settings(cache_dir=Path(tmp)))
    net = network.routing_network(G)
    # a small graph: time more baseline sources so the estimate is not noise
    run_case("Shenzhen Futian/Nanshan drive", net, cutoff=None, n_sources=5 * args.sources,
             repeats=5)  # fmt: skip


if __name__ == "__main__":
    main()
