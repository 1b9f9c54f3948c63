"""Ledger ingestion speed: a generated 10^6-row CSV → township counts; prints rows/s.

Run with ``.venv/bin/python benchmarks/ledger.py [ROWS]``. The ledger is synthetic (see
``tests/bad_inputs/make.py``); 2 % of rows are placed by address, the rest by coordinates.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bad_inputs.make import grid_units, ledger_csv

from planning.data.ledger import read_ledger


def main(n: int = 1_000_000) -> None:
    units = grid_units(6, 5)
    with tempfile.TemporaryDirectory() as tmp:
        path = ledger_csv(Path(tmp) / "ledger.csv", units, n, address_share=0.02)
        t0 = time.perf_counter()
        summary = read_ledger(path, units)
        dt = time.perf_counter() - t0
    print(f"{n:,} rows in {dt:.1f} s = {n / dt:,.0f} rows/s; placed {summary.n_matched:,}, "
          f"not placed {summary.n_unmatched:,}, by {summary.located_by}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
