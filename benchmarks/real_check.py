"""Time the compliance check on the 343 real Beijing townships (../shared/data).

Prints the import and check times and the ratio to a baseline run in the same process (the demo's
check), so machines of different speed compare. Not a test: run ``python benchmarks/real_check.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

from planning import rules
from planning.data.mapping import ImportMapping, LayerMapping, import_files
from planning.demo import beijing_demo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    tw = SHARED / "beijing-townships"
    if not tw.is_dir():
        print(f"skipped: {tw} not found")
        return 0
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="real-check-"))
    towns = gpd.read_file(tw / "townships.geojson")
    pts = towns.geometry.representative_point()
    pd.DataFrame({"编号": [f"S{i:03d}" for i in range(0, len(towns), 3)],
                  "名称": [f"{n}驿站" for n in towns["name"].iloc[::3]],
                  "类型": "社区康复驿站", "建筑面积": 80, "服务人员": 3, "服务对象数": 12,
                  "经度": pts.x.iloc[::3].to_numpy(), "纬度": pts.y.iloc[::3].to_numpy()},
                 ).to_csv(folder / "stations.csv", index=False)
    spec = ImportMapping(name="北京街乡真实边界", data_date="2023", layers={
        "districts": LayerMapping("districts", file=str(tw / "districts.geojson")),
        "units": LayerMapping("units", columns={"unit_id": "code", "name": "name",
                                                "district": "district"},
                              file=str(tw / "townships.geojson")),
        "facilities": LayerMapping("facilities", file="stations.csv"),
        "population": LayerMapping("population", columns={"population": "resident_population"},
                                   datum="gcj02", file=str(SHARED / "beijing-dongcheng"
                                                           / "population_grid.geojson")),
    })
    prof = rules.load_profile("beijing-2018")
    demo = beijing_demo()
    t0 = time.perf_counter()
    base = rules.evaluate(demo, prof)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = import_files({}, spec, repair=True, folder=folder)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    f = rules.evaluate(res.dataset, prof)
    t_check = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = rules.evaluate_scope(res.dataset, prof, district="东城区")
    t_scope = time.perf_counter() - t0
    print(f"baseline demo check ({len(demo.units)} townships, {len(base)} findings): "
          f"{t_base:.3f} s")
    print(f"real import (343 townships, mapping, repair, GCJ-02 grid, checks): {t_import:.2f} s "
          f"= {t_import / t_base:.1f}x baseline")
    print(f"real check, whole city ({len(f)} findings, {int((f.status == 'fail').sum())} fail): "
          f"{t_check:.3f} s = {t_check / t_base:.2f}x baseline")
    print(f"real check, 东城区 ({len(d)} findings, {int((d.status == 'fail').sum())} fail): "
          f"{t_scope:.3f} s = {t_scope / t_base:.2f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
