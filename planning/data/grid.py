"""Regular point grids inside township polygons (demand points, candidate sites)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data.crs import to_metric


def grid_points(units: gpd.GeoDataFrame, *, spacing_m: float = 1000.0,
                min_per_unit: int = 1) -> gpd.GeoDataFrame:
    """Return a regular grid of points inside township polygons, in the townships' UTM zone.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Townships with a ``unit_id`` column.
    spacing_m : float
        Grid spacing in metres (true distance: the grid is laid out in UTM).
    min_per_unit : int
        A township too small to hold a grid point still gets this many points (a point
        guaranteed inside it), so every township is represented.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``unit_id`` (string), in the metric CRS.
    """
    metric = to_metric(units)
    xmin, ymin, xmax, ymax = metric.total_bounds
    xs = np.arange(xmin + spacing_m / 2, xmax, spacing_m)
    ys = np.arange(ymin + spacing_m / 2, ymax, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    grid = gpd.GeoDataFrame(geometry=shapely.points(gx.ravel(), gy.ravel()), crs=metric.crs)
    inside = gpd.sjoin(grid, metric[["unit_id", metric.geometry.name]], predicate="within")
    inside = inside[~inside.index.duplicated(keep="first")][["unit_id", "geometry"]]
    have = set(inside["unit_id"].astype(str))
    missing = metric[~metric["unit_id"].astype(str).isin(have)]
    if min_per_unit > 0 and len(missing):
        extra = gpd.GeoDataFrame(
            {"unit_id": missing["unit_id"].to_numpy()},
            geometry=missing.geometry.representative_point().to_numpy(),
            crs=metric.crs,
        )
        inside = pd.concat([inside, extra], ignore_index=True)
    pts = gpd.GeoDataFrame(
        {"unit_id": inside["unit_id"].astype("string").to_numpy()},
        geometry=inside.geometry.to_numpy(),
        crs=metric.crs,
    )
    return pts
