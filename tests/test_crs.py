"""GCJ-02 / BD-09 conversions against published point pairs, and metric projection."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planning.data import crs
from planning.errors import InputError

# Published results of the reference implementation (wandergis/coordtransform test/app.js)
# for the input (116.404, 39.915).
P = (116.404, 39.915)


def test_forward_gcj02_matches_reference():
    assert crs.wgs84_to_gcj02(*P) == pytest.approx((116.41024449916938, 39.91640428150164),
                                                   abs=1e-12)


def test_bd09_pair_matches_reference():
    assert crs.gcj02_to_bd09(*P) == pytest.approx((116.41036949371029, 39.92133699351021),
                                                  abs=1e-12)
    # the reference inverse is approximate (~1e-6 deg); ours refines it to round-trip exactly
    back = crs.bd09_to_gcj02(*P)
    assert back == pytest.approx((116.39762729119315, 39.90865673957631), abs=2e-5)
    assert crs.gcj02_to_bd09(*back) == pytest.approx(P, abs=1e-9)


def test_inverse_is_exact_where_reference_approximates():
    lon, lat = crs.gcj02_to_wgs84(*P)
    # the reference's one-step inverse is within ~0.05 m of ours ...
    assert (lon, lat) == pytest.approx((116.39775550083061, 39.91359571849836), abs=5e-6)
    # ... and ours round-trips to ~1e-10 degrees.
    assert crs.wgs84_to_gcj02(lon, lat) == pytest.approx(P, abs=1e-9)


def test_offset_in_beijing_is_about_500_m():
    lon, lat = crs.gcj02_to_wgs84(*P)
    g = gpd.GeoSeries(shapely.points([P[0], float(lon)], [P[1], float(lat)]), crs=crs.WGS84)
    d = crs.to_metric(g)
    metres = d.iloc[0].distance(d.iloc[1])
    assert 300 < metres < 700


def test_vectorised_and_outside_china_unchanged():
    lon = np.array([116.4, 121.47, 2.35])
    lat = np.array([39.9, 31.23, 48.86])  # Beijing, Shanghai, Paris
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert glon.shape == (3,)
    assert glon[2] == lon[2] and glat[2] == lat[2]
    assert np.all(np.abs(glon[:2] - lon[:2]) > 1e-4)
    back = crs.bd09_to_wgs84(*crs.gcj02_to_bd09(glon, glat))
    np.testing.assert_allclose(np.column_stack(back), np.column_stack([lon, lat]), atol=1e-8)


def test_to_wgs84_converts_polygons_and_refuses_missing_crs():
    poly = shapely.box(116.40, 39.90, 116.41, 39.91)
    gdf = gpd.GeoDataFrame(geometry=[poly], crs=crs.WGS84)
    out = crs.to_wgs84(gdf, datum="gcj02")
    assert out.crs.to_epsg() == 4326
    # converting moves the polygon south-west by the GCJ offset
    assert out.geometry.iloc[0].centroid.x < poly.centroid.x
    assert out.geometry.iloc[0].centroid.y < poly.centroid.y
    with pytest.raises(InputError, match="coordinate reference system"):
        crs.to_wgs84(gpd.GeoDataFrame(geometry=[poly]), source="x.shp")
    with pytest.raises(InputError, match="unknown coordinate system"):
        crs.to_wgs84(gdf, datum="mars")


def test_projected_input_is_reprojected_before_conversion():
    poly = shapely.box(116.40, 39.90, 116.41, 39.91)
    gdf = gpd.GeoDataFrame(geometry=[poly], crs=crs.WGS84).to_crs(32650)
    out = crs.to_wgs84(gdf)
    assert out.geometry.iloc[0].equals_exact(poly, tolerance=1e-7)
