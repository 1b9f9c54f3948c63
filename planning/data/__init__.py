"""Ingestion and the validated model: files in, a checked :class:`~planning.data.model.Dataset` out.

What enters: vector and table files (GeoJSON, GeoPackage, Shapefile, CSV, Excel) in WGS84,
GCJ-02 or BD-09, patient ledgers, or the embedded Beijing demo. What leaves: a frozen
``Dataset`` of districts, townships and facilities in EPSG:4326 whose every row passed the
schema in :mod:`~planning.data.model`, and, from ledgers, township *counts* only
(:class:`~planning.data.ledger.LedgerSummary`) — no patient row ever leaves this package.
Nothing here knows about policy, networks or publishing.

Public entry points: :func:`read_layer` (with :class:`~planning.data.io.ReadOptions`),
:func:`load_dataset`, :func:`read_ledger`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReadOptions", "load_dataset", "read_layer", "read_ledger"]


def __getattr__(name: str) -> Any:  # lazy: importing planning.data stays cheap
    if name in ("ReadOptions", "read_layer", "load_dataset"):
        from planning.data import io

        return getattr(io, name)
    if name == "read_ledger":
        from planning.data import ledger

        return ledger.read_ledger
    msg = f"module 'planning.data' has no attribute {name!r}"
    raise AttributeError(msg)
