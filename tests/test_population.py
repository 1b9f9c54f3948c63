"""Population layers: point grids and GeoTIFF rasters aggregated to townships."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from planning.access.coverage import AccessOptions, township_access
from planning.data import crs
from planning.data.population import aggregate_population, read_population, with_population
from planning.errors import InputError


@pytest.fixture()
def units():
    return gpd.GeoDataFrame({"unit_id": ["a", "b", "c"], "name": ["A", "B", "C"]},
                            geometry=[shapely.box(116.0, 40.0, 116.1, 40.1),
                                      shapely.box(116.1, 40.0, 116.2, 40.1),
                                      shapely.box(117.0, 40.0, 117.1, 40.1)], crs=crs.WGS84)


def test_point_grid_sums_per_township_and_reports_share_outside(tmp_path, units):
    pts = gpd.GeoDataFrame({"resident_population": [100.0, 50.0, 30.0, 20.0, None]},
                           geometry=shapely.points([116.05, 116.06, 116.15, 118.0, 116.07],
                                                   [40.05, 40.05, 40.05, 40.05, 40.05]),
                           crs=crs.WGS84)
    path = tmp_path / "grid.geojson"
    pts.to_file(path, driver="GeoJSON")
    layer = read_population(path)
    assert layer.value == "resident_population" and layer.total == pytest.approx(200)
    res = aggregate_population(layer, units)
    assert res.by_unit.to_dict() == {"a": 150.0, "b": 30.0, "c": 0.0}
    assert res.outside_share == pytest.approx(0.1)
    assert res.empty_units == ["c"]
    assert "10.0%" in res.describe() and "10.0%" in res.describe("zh")
    assert len(res.demand) == 3 and set(res.demand["unit_id"]) == {"a", "b"}
    filled = with_population(units.assign(population=[None, 7, None]), res)
    assert filled["population"].tolist()[:2] == [150, 7]
    assert filled["population"].isna().iloc[2]  # no point fell in C: no data, not 0


def test_negative_or_text_values_name_the_row(tmp_path, units):
    pts = gpd.GeoDataFrame({"population": ["10", "abc"]},
                           geometry=shapely.points([116.05, 116.06], [40.05, 40.05]),
                           crs=crs.WGS84)
    path = tmp_path / "bad.geojson"
    pts.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match=r"bad.geojson, row 1.*'abc'"):
        read_population(path)


def test_geotiff_cells_become_points_in_a_projected_crs(tmp_path, units):
    # a 4x4 raster of 1 km cells in UTM 50N over township A, with one nodata cell
    utm = units.iloc[[0]].to_crs(32650)
    x0, _, _, y1 = utm.total_bounds
    data = np.full((4, 4), 10.0, dtype="float32")
    data[0, 0] = -9999
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=1, dtype="float32",
                       crs="EPSG:32650", transform=from_origin(x0 + 500, y1 - 500, 1000, 1000),
                       nodata=-9999) as dst:
        dst.write(data, 1)
    layer = read_population(path)
    assert layer.kind == "raster" and len(layer.points) == 15
    assert layer.total == pytest.approx(150)
    res = aggregate_population(layer, units)
    assert res.by_unit["a"] == pytest.approx(150) and res.outside_share == 0


def test_real_population_points_drive_access(units):
    from planning.data.model import make_dataset

    districts = gpd.GeoDataFrame({"district_id": ["1"], "name": ["D"]},
                                 geometry=[shapely.box(115.9, 39.9, 117.2, 40.2)], crs=crs.WGS84)
    u = units.assign(district="D", population=[1000, 1000, 1000])
    fac = gpd.GeoDataFrame({"facility_id": ["s"], "name": ["S"], "kind": ["rehab_station"]},
                           geometry=[shapely.Point(116.01, 40.01)], crs=crs.WGS84)
    ds = make_dataset("t", districts, u, fac)
    # everyone in A lives next to the station; nobody lives in B's far corner
    demand = gpd.GeoDataFrame({"unit_id": ["a", "b"], "population": [500.0, 500.0]},
                              geometry=shapely.points([116.011, 116.19], [40.011, 40.09]),
                              crs=crs.WGS84)
    s = township_access(ds, AccessOptions(threshold_min=15), demand=demand)
    s = s.townships.set_index("unit_id")
    assert s.loc["a", "share_within"] == 1.0
    assert s.loc["b", "share_within"] == 0.0
    assert np.isnan(s.loc["c", "mean_minutes"])
    assert s.loc["c", "no_data_reason"] == "no demand point"
    assert not np.isinf(s["mean_minutes"].to_numpy(dtype=float)).any()
