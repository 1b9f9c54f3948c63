"""Server-side render time of every app page on the default data: first load vs cached reload.

Prints seconds per page and the ratio of the reload to the first load (both measured here, in
one process, with Streamlit's AppTest), next to the 3 s target for a reload.

    .venv/bin/python benchmarks/pages.py
"""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

TARGET_S = 3.0


def main() -> None:
    pages = sorted((Path(__file__).resolve().parents[1] / "app_pages").glob("*.py"))
    print(f"{'page':28s} {'first s':>8s} {'reload s':>9s} {'reload/first':>13s}  target")
    for page in pages:
        at = AppTest.from_file(str(page), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        again = time.perf_counter() - t0
        ok = "OK" if again <= TARGET_S and not at.exception else "SLOW"
        print(f"{page.stem:28s} {first:8.2f} {again:9.2f} {again / first:13.2f}  {ok}")


if __name__ == "__main__":
    main()
