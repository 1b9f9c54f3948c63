"""Headline indicators shown on the home page and in reports (aggregates only)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planning.data.model import Dataset


@dataclass(frozen=True)
class Headline:
    """City (or district) headline numbers."""

    districts: int
    townships: int
    stations: int
    townships_without_station: int
    population: int

    @property
    def coverage(self) -> float:
        """Share of townships with at least one community rehab station."""
        if self.townships == 0:
            return float("nan")
        return 1.0 - self.townships_without_station / self.townships


def headline(dataset: Dataset, *, district: str | None = None) -> Headline:
    """Count townships, stations and townships without a station, city-wide or for a district."""
    ds = dataset.subset([district]) if district else dataset
    stations = ds.stations()
    covered = set(stations["unit_id"].dropna())
    n_units = len(ds.units)
    return Headline(
        districts=len(ds.districts),
        townships=n_units,
        stations=len(stations),
        townships_without_station=int((~ds.units["unit_id"].isin(covered)).sum()),
        population=int(ds.units["population"].fillna(0).sum()),
    )


@dataclass(frozen=True)
class Overview:
    """Service indicators for the home page (aggregates only)."""

    beds_per_100k: float
    staff_per_client: float
    home_service_rate: float

    @property
    def clients_per_staff(self) -> float:
        """Clients per service worker (the "1 : N" of a staff ratio); NaN when unknown."""
        s = self.staff_per_client
        return 1.0 / s if s == s and s > 0 else float("nan")


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def overview(dataset: Dataset, *, district: str | None = None) -> Overview:
    """Compute the home page's service indicators (aggregates only).

    Psychiatric + welfare beds per 100k residents, station staff per client, and the share of
    home patients receiving community rehabilitation.
    """
    ds = dataset.subset([district]) if district else dataset
    fac = ds.facilities
    beds = fac.loc[fac["kind"].isin(["psychiatric_hospital", "welfare_institution"]), "beds"]
    pop = ds.units["population"].fillna(0).sum()
    st = ds.stations()
    return Overview(
        beds_per_100k=_ratio(beds.fillna(0).sum() * 100_000, pop),
        staff_per_client=_ratio(st["staff"].fillna(0).sum(), st["clients"].fillna(0).sum()),
        home_service_rate=_ratio(ds.units["patients_served"].fillna(0).sum(),
                                 ds.units["patients"].fillna(0).sum()),
    )


def worst_districts(findings: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Rank districts by number of failing findings (city-scope findings excluded)."""
    f = findings[findings["district"].notna()]
    fails = f[f["status"] == "fail"].groupby("district").size()
    total = f.groupby("district").size()
    out = (fails.reindex(total.index, fill_value=0).rename("fail").to_frame()
           .assign(total=total, share_fail=lambda d: d["fail"] / d["total"]))
    return out.sort_values(["fail", "share_fail"], ascending=False).head(n).reset_index()


def progress_table(milestones: pd.DataFrame) -> pd.DataFrame:
    """Turn city-level milestone rows into measured vs each milestone target (for charts)."""
    city = milestones[milestones["entity_type"] == "city"]
    targets = [c for c in city.columns if c.startswith("target_")]
    return city.set_index("rule_id")[["measured", *targets]].astype(float)
