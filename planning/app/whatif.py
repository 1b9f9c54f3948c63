"""What-if edits a planner makes on the map: a planned station where they clicked.

Plain functions on frozen values (no Streamlit here): the Map page reads the click, calls
:func:`add_planned_station` and keeps the returned dataset as the session's current scenario;
every page then shows compliance and access for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from planning.data.model import FACILITY_SCHEMA, Dataset, units_of_points, validate
from planning.errors import InputError
from planning.publish.maps import wgs84_to_gcj02

WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class PlannedStation:
    """A rehab station the planner intends to open.

    Attributes
    ----------
    lon, lat
        Location in WGS84 degrees.
    floor_area_m2
        Planned floor area.
    staff
        Planned service staff.
    social_workers
        Planned professional social workers.
    name
        Display name (a default one is made from the township when empty).
    """

    lon: float
    lat: float
    floor_area_m2: float = 100.0
    staff: int = 5
    social_workers: int = 0
    name: str = ""


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Invert :func:`planning.publish.maps.wgs84_to_gcj02` (a click on GCJ-02 tiles).

    Fixed-point iteration; converges to well under a centimetre in a few steps.
    """
    x, y = float(lon), float(lat)
    for _ in range(30):
        gx, gy = wgs84_to_gcj02(np.array([x]), np.array([y]))
        dx, dy = float(gx[0]) - lon, float(gy[0]) - lat
        x, y = x - dx, y - dy
        if abs(dx) < 1e-9 and abs(dy) < 1e-9:
            break
    return x, y


def township_at(dataset: Dataset, lon: float, lat: float) -> pd.Series | None:
    """Return the township row containing the point, or ``None`` outside every township."""
    pt = gpd.GeoDataFrame(geometry=gpd.points_from_xy([lon], [lat]), crs=WGS84)
    hit = units_of_points(pt, dataset.units)["unit_id"].iloc[0]
    if pd.isna(hit):
        return None
    return dataset.units.loc[dataset.units["unit_id"] == hit].iloc[0]


def add_planned_station(dataset: Dataset, station: PlannedStation) -> Dataset:
    """Return ``dataset`` with a planned rehab station added where the planner clicked.

    Only the new row is validated (floor area and staff within the schema's ranges).

    Raises
    ------
    InputError
        The point is outside every township of the dataset, or a value is out of range.
    """
    unit = township_at(dataset, station.lon, station.lat)
    if unit is None:
        msg = (f"({station.lon:.5f}, {station.lat:.5f}) is outside every township of "
               f"{dataset.name}")
        raise InputError(msg, source="map click", key="err_click_outside",
                         params={"lon": f"{station.lon:.5f}", "lat": f"{station.lat:.5f}"})
    existing = set(dataset.facilities["facility_id"].astype(str))
    n = 1
    while f"PLAN{n:03d}" in existing:
        n += 1
    fid = f"PLAN{n:03d}"
    new = gpd.GeoDataFrame({
        "facility_id": [fid],
        "name": [station.name or f"{unit['name']} 规划驿站 planned {n}"],
        "kind": ["rehab_station"],
        "district": [unit["district"]],
        "unit_id": [unit["unit_id"]],
        "floor_area_m2": [float(station.floor_area_m2)],
        "staff": [int(station.staff)],
        "social_workers": [int(station.social_workers)],
    }, geometry=gpd.points_from_xy([station.lon], [station.lat]), crs=WGS84)
    new = validate(new, FACILITY_SCHEMA, source="planned station")
    fac = pd.concat([dataset.facilities, new], ignore_index=True)
    return dataclasses.replace(dataset, facilities=gpd.GeoDataFrame(fac, geometry="geometry",
                                                                     crs=WGS84))


@dataclass(frozen=True)
class Snapshot:
    """One side of a what-if comparison: dataset, its findings and per-township access."""

    dataset: Dataset
    findings: pd.DataFrame
    access: pd.DataFrame | None = None


def township_change(unit_id: str, before: Snapshot, after: Snapshot, *,
                    lang: str = "zh") -> pd.DataFrame:
    """Compare one township before and after an edit: result, failing checks, access.

    A township's failing checks include those of the stations inside it; access numbers come
    from ``Snapshot.access`` (``township_access(...).townships``) when given.

    Returns
    -------
    pandas.DataFrame
        Rows: result, failing checks, share within the threshold, mean minutes; columns
        before / after (strings, in ``lang``).
    """
    from planning.i18n import fmt_number, t, value_label
    from planning.publish.maps import township_status

    def side(snap: Snapshot) -> list[str]:
        status = township_status(snap.dataset, snap.findings).get(unit_id, "not_assessable")
        ids = {unit_id, *snap.dataset.facilities.loc[
            snap.dataset.facilities["unit_id"] == unit_id, "facility_id"].astype(str)}
        fails = int(((snap.findings["status"] == "fail")
                     & snap.findings["entity_id"].astype(str).isin(ids)).sum())
        share = minutes = None
        if snap.access is not None:
            row = snap.access.loc[snap.access["unit_id"] == unit_id]
            if len(row):
                share, minutes = row["share_within"].iloc[0], row["mean_minutes"].iloc[0]
        return [str(value_label(status, lang)), f"{fails:,}",
                fmt_number(share, percent=True, lang=lang),
                fmt_number(minutes, decimals=1, unit=t("unit_minutes", lang), lang=lang)]

    rows = [t("col_status", lang), t("kpi_failing_findings", lang),
            t("col_share_within", lang), t("col_mean_minutes", lang)]
    return pd.DataFrame({t("indicator", lang): rows, t("before", lang): side(before),
                         t("after", lang): side(after)})
