"""Population layers: a point grid or a GeoTIFF raster → township populations and demand points.

Two inputs are accepted:

* a point grid (GeoJSON/GeoPackage/CSV with lon/lat), one value per point, like the 250 m grid of
  central Beijing in ``../shared/data/beijing-dongcheng`` (GCJ-02: say so with ``datum``);
* a single-band GeoTIFF (read with rasterio), each cell's value placed at its centre (point
  aggregation of cell centres; nodata cells are skipped).

:func:`aggregate_population` assigns every point to the township containing it, sums per township,
and reports the share of population that fell outside every township — a grid that does not cover
the townships, or is in the wrong datum, shows up there. The points inside townships are the
demand points for accessibility and siting (:attr:`PopulationResult.demand`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data import crs as crs_mod
from planning.data.consistency import Conversion, convert_datum
from planning.data.model import units_of_points
from planning.errors import InputError

RASTER_SUFFIXES = (".tif", ".tiff")
#: Column names tried, in order, for the value of a point grid.
VALUE_NAMES = ("population", "resident_population", "pop", "value", "常住人口", "人口",
               "居住人口")


@dataclass(frozen=True, eq=False)
class PopulationLayer:
    """Population as points in WGS84.

    Attributes
    ----------
    points
        ``population`` (float ≥ 0) per point, EPSG:4326.
    source
        File name.
    kind
        ``"points"`` or ``"raster"``.
    conversion
        The datum conversion applied.
    value
        The column (or band) the values came from.
    """

    points: gpd.GeoDataFrame
    source: str
    kind: str
    conversion: Conversion
    value: str

    @property
    def total(self) -> float:
        """Return the total population of the layer."""
        return float(self.points["population"].sum())


def _raster_points(data: bytes, source: str) -> tuple[gpd.GeoDataFrame, str]:
    import rasterio
    from rasterio.io import MemoryFile

    try:
        with MemoryFile(data) as mem, mem.open() as src:
            band = src.read(1, masked=True).astype("float64")
            transform, crs = src.transform, src.crs
    except rasterio.errors.RasterioIOError as exc:
        msg = f"not a readable GeoTIFF: {exc}"
        raise InputError(msg, source=source) from exc
    if crs is None:
        msg = "the GeoTIFF has no coordinate reference system; declare one"
        raise InputError(msg, source=source, field="crs")
    values = np.ma.filled(band, np.nan)
    rows, cols = np.nonzero(np.isfinite(values) & (values > 0))
    xs, ys = rasterio.transform.xy(transform, rows, cols, offset="center")
    gdf = gpd.GeoDataFrame({"population": values[rows, cols]},
                           geometry=shapely.points(np.asarray(xs), np.asarray(ys)),
                           crs=crs.to_wkt())
    neg = np.isfinite(values) & (values < 0)
    if neg.any():
        r, c = np.argwhere(neg)[0]
        msg = f"cell (row {r}, column {c}) has population {values[r, c]:g} < 0"
        raise InputError(msg, source=source, field="band 1")
    return gdf, "band 1"


def _pick_value(gdf: gpd.GeoDataFrame, value: str | None, source: str) -> str:
    if value is not None:
        if value not in gdf.columns:
            found = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
            msg = f"no column {value!r}; found: {found}"
            raise InputError(msg, source=source, field=value)
        return value
    lower = {str(c).lower(): c for c in gdf.columns}
    for name in VALUE_NAMES:
        if name.lower() in lower:
            return lower[name.lower()]
    found = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
    msg = f"no population column (tried {', '.join(VALUE_NAMES)}); found: {found}"
    raise InputError(msg, source=source, field="population")


def read_population(
    file: str | Path | IO[bytes],
    *,
    datum: str = "wgs84",
    value: str | None = None,
    name: str | None = None,
) -> PopulationLayer:
    """Read a population point grid or GeoTIFF into WGS84 points with a ``population`` value.

    Parameters
    ----------
    file
        Path or uploaded file object.
    datum
        The coordinates' datum (``gcj02`` for grids from Amap-based sources).
    value
        Column holding the population (points only; detected from :data:`VALUE_NAMES`).
    name
        File name when ``file`` is a stream.

    Returns
    -------
    PopulationLayer

    Raises
    ------
    InputError
        Unreadable file, no value column, negative or non-numeric values (row named).
    """
    if isinstance(file, str | Path):
        source = name or Path(file).name
        if not Path(file).exists():
            msg = "file not found"
            raise InputError(msg, source=str(file))
        data = Path(file).read_bytes()
    else:
        source = name or Path(getattr(file, "name", "upload")).name
        data = file.read()
    if Path(source).suffix.lower() in RASTER_SUFFIXES:
        gdf, col = _raster_points(data, source)
        kind = "raster"
    else:
        from planning.data.io import read_raw

        gdf, _ = read_raw(io.BytesIO(data), name=source)
        col = _pick_value(gdf, value, source)
        nums = pd.to_numeric(gdf[col].astype("string").str.replace(",", "", regex=False),
                             errors="coerce")
        bad = nums.isna() & gdf[col].notna() & (gdf[col].astype("string").str.strip() != "")
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            msg = f"got {gdf[col].iloc[pos]!r} but expected a number"
            raise InputError(msg, source=source, row=pos, field=str(col))
        if (nums < 0).any():
            pos = int(np.flatnonzero((nums < 0).to_numpy())[0])
            msg = f"population {nums.iloc[pos]:g} < 0"
            raise InputError(msg, source=source, row=pos, field=str(col))
        not_points = ~gdf.geometry.geom_type.isin(["Point"])
        if not_points.any():
            gdf = gdf.copy()
            gdf[gdf.geometry.name] = gdf.geometry.representative_point()
        gdf = gpd.GeoDataFrame({"population": nums.fillna(0.0).to_numpy(dtype=float)},
                               geometry=gdf.geometry.values, crs=gdf.crs)
        kind = "points"
    gdf = gdf[gdf["population"] > 0].reset_index(drop=True)
    if gdf.empty:
        msg = "no cell or point with a population above 0"
        raise InputError(msg, source=source)
    gdf, conversion = convert_datum(gdf, datum, source=source)
    return PopulationLayer(gdf, source, kind, conversion, str(col))


@dataclass(frozen=True, eq=False)
class PopulationResult:
    """A population layer aggregated to townships.

    Attributes
    ----------
    by_unit
        Population per ``unit_id`` (every township, 0 where no point fell).
    demand
        Demand points inside townships: ``unit_id``, ``population``, EPSG:4326 — the input of
        accessibility and siting.
    total, outside
        Population of the whole layer and of the points outside every township.
    source
        The layer's file name.
    """

    by_unit: pd.Series
    demand: gpd.GeoDataFrame
    total: float
    outside: float
    source: str

    @property
    def outside_share(self) -> float:
        """Return the share of the layer's population outside every township."""
        return self.outside / self.total if self.total > 0 else 0.0

    @property
    def empty_units(self) -> list[str]:
        """Return the townships no point fell in (population 0 from this layer)."""
        return list(self.by_unit.index[self.by_unit <= 0])

    def describe(self, lang: str = "en") -> str:
        """Return one sentence: totals, share outside every township, empty townships.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        """
        inside = self.total - self.outside
        n_empty = len(self.empty_units)
        if lang == "zh":
            return (f"{self.source}：{inside:,.0f} 人落入 {len(self.by_unit)} 个街乡，"
                    f"{self.outside_share:.1%}（{self.outside:,.0f} 人）落在所有街乡之外；"
                    f"{n_empty} 个街乡没有人口点")
        return (f"{self.source}: {inside:,.0f} people in {len(self.by_unit)} townships, "
                f"{self.outside_share:.1%} ({self.outside:,.0f}) outside every township; "
                f"{n_empty} township(s) received no point")


def aggregate_population(layer: PopulationLayer, units: gpd.GeoDataFrame) -> PopulationResult:
    """Sum a population layer per township and keep the points inside as demand points.

    Parameters
    ----------
    layer
        From :func:`read_population`.
    units
        Townships (``unit_id``, polygons, EPSG:4326).

    Returns
    -------
    PopulationResult
    """
    pts = layer.points
    unit = units_of_points(pts, units)["unit_id"]
    inside = unit.notna().to_numpy()
    demand = gpd.GeoDataFrame({"unit_id": unit[inside].astype(str).to_numpy(),
                               "population": pts["population"].to_numpy()[inside]},
                              geometry=pts.geometry.to_numpy()[inside], crs=crs_mod.WGS84)
    sums = demand.groupby("unit_id")["population"].sum()
    by_unit = sums.reindex(units["unit_id"].astype(str), fill_value=0.0)
    total = float(pts["population"].sum())
    return PopulationResult(by_unit, demand.reset_index(drop=True), total,
                            float(pts["population"].to_numpy()[~inside].sum()), layer.source)


def with_population(units: gpd.GeoDataFrame, result: PopulationResult, *,
                    overwrite: bool = False) -> gpd.GeoDataFrame:
    """Return a copy of ``units`` with ``population`` from ``result`` (rounded to persons).

    Parameters
    ----------
    units
        Validated townships.
    result
        From :func:`aggregate_population`.
    overwrite
        Replace populations already present; by default only missing ones are filled.
        Townships no point fell in get ``<NA>`` (no data), never 0.
    """
    out = units.copy()
    # A township no point fell in has no data from this layer (outside the grid): <NA>, not 0.
    got = result.by_unit.where(result.by_unit > 0)
    new = out["unit_id"].astype(str).map(got).round().astype("Int64")
    if overwrite or "population" not in out.columns:
        out["population"] = new
    else:
        out["population"] = out["population"].astype("Int64").fillna(new)
    return out
