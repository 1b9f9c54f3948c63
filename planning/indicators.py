"""Headline indicators shown on the home page and in reports (aggregates only)."""

from __future__ import annotations

from dataclasses import dataclass

from planning.model import Dataset


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
