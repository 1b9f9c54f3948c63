"""Generators for the bad-input corpus: anything large or binary is made at test time.

Nothing here is committed output: tests call these functions with ``tmp_path``. Run
``python -m tests.bad_inputs.make DIR`` to write every generated file into ``DIR`` for a look.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook

#: Headers of a typical Chinese ledger (台账).
LEDGER_HEADERS = ("患者编号", "姓名", "住址", "经度", "纬度", "年龄", "危险性评估等级", "残疾等级",
                  "诊断", "在家状态", "是否接受社区康复", "随访次数")


_NAMES = ("安定门", "和平里", "东四", "景山", "交道口", "北新桥", "东直门", "建国门", "朝阳门",
          "东华门", "天坛", "龙潭", "前门", "崇文门外", "永定门外", "体育馆路", "月坛", "金融街",
          "什刹海", "德胜", "新街口", "展览路", "广安门内", "牛街", "白纸坊", "椿树", "陶然亭",
          "大栅栏", "西长安街", "广安门外")


def grid_units(nx: int = 4, ny: int = 3, *, x0: float = 116.30, y0: float = 39.85,
               step: float = 0.05) -> gpd.GeoDataFrame:
    """A small township layer: ``nx × ny`` square townships over central Beijing, two districts."""
    rows = []
    for j in range(ny):
        for i in range(nx):
            k = j * nx + i
            rows.append({
                "unit_id": f"U{k:02d}",
                "name": f"{_NAMES[k % len(_NAMES)]}{'' if k < len(_NAMES) else k}街道",
                "district": "东城区" if i < nx // 2 else "西城区",
                "geometry": shapely.box(x0 + i * step, y0 + j * step,
                                        x0 + (i + 1) * step, y0 + (j + 1) * step),
            })
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def ledger_frame(units: gpd.GeoDataFrame, n: int, *, seed: int = 0,
                 address_share: float = 0.0) -> pd.DataFrame:
    """A synthetic ledger of ``n`` patients inside ``units`` (vectorised; 10^6 rows in ~1 s).

    A share ``address_share`` of rows has no coordinates but an address naming district and
    township.
    """
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, len(units), n)
    b = units.geometry.bounds.to_numpy()[pos]
    lon = b[:, 0] + (b[:, 2] - b[:, 0]) * rng.uniform(0.05, 0.95, n)
    lat = b[:, 1] + (b[:, 3] - b[:, 1]) * rng.uniform(0.05, 0.95, n)
    by_address = rng.random(n) < address_share
    names = units["name"].to_numpy(dtype=object)[pos]
    districts = units["district"].to_numpy(dtype=object)[pos]
    address = np.where(by_address, "北京市" + districts + names + "幸福里"
                       + (np.arange(n) % 97).astype(str) + "号", "")
    return pd.DataFrame({
        "患者编号": np.char.add("P", np.arange(n).astype(str)),
        "姓名": "测试",
        "住址": address,
        "经度": np.where(by_address, np.nan, lon.round(6)),
        "纬度": np.where(by_address, np.nan, lat.round(6)),
        "年龄": rng.integers(12, 90, n),
        "危险性评估等级": rng.integers(0, 6, n),
        "残疾等级": rng.choice(["1", "2", "3", "4", ""], n),
        "诊断": rng.choice(["精神分裂症", "双相情感障碍", "偏执性精神病"], n),
        "在家状态": rng.choice(["在家", "住院"], n, p=[0.9, 0.1]),
        "是否接受社区康复": rng.choice(["是", "否"], n),
        "随访次数": rng.integers(0, 13, n),
    })


def ledger_csv(path: Path, units: gpd.GeoDataFrame, n: int, **kw) -> Path:
    """Write :func:`ledger_frame` as a UTF-8 CSV."""
    ledger_frame(units, n, **kw).to_csv(path, index=False)
    return path


def xlsx(path: Path, rows: list[list[object]], *, merge: str | None = None) -> Path:
    """Write rows to an .xlsx (first row = header), optionally merging a range."""
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    wb.save(path)
    return path


def zip_bomb(*, inner: str = "units.shp", size: int = 50_000_000) -> bytes:
    """A small zip that expands ``size`` bytes of zeros (ratio ≈ 1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(inner, b"\0" * size)
    return buf.getvalue()


def xlsx_bomb(size: int = 50_000_000) -> bytes:
    """An .xlsx-shaped zip whose worksheet XML expands to ``size`` bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b" " * size)
    return buf.getvalue()


def zipped_shapefile(tmp: Path, drop: str | None = None) -> bytes:
    """Township polygons as a zipped Shapefile, leaving out the part with suffix ``drop``."""
    shp = tmp / "units.shp"
    grid_units(2, 1).to_file(shp, encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(tmp.glob("units.*")):
            if f.suffix != drop:
                zf.write(f, f.name)
    return buf.getvalue()


def main(out: str) -> None:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    ledger_csv(d / "ledger_1e6.csv", grid_units(), 1_000_000)
    (d / "bomb.zip").write_bytes(zip_bomb())
    (d / "bomb.xlsx").write_bytes(xlsx_bomb())
    for part in (".prj", ".dbf"):
        sub = d / f"no{part[1:]}"
        sub.mkdir(exist_ok=True)
        (d / f"units_no_{part[1:]}.zip").write_bytes(zipped_shapefile(sub, drop=part))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_generated")
