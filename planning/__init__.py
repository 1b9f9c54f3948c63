"""jingkang-planner: the engine behind the app, the CLI and the notebooks.

A flat package, one module per concern, in pipeline order::

    io, crs, model          files -> validated Dataset (districts, townships, facilities)
    ledger, privacy         patient ledgers -> township counts; small-cell suppression
    rules, workbook         policy profiles -> findings table -> Excel
    network, access         street graphs -> travel-time matrices, isochrones, 2SFCA
    coverage, siting        township access summary; exact location-allocation
    maps, report            offline folium maps; PNG/PDF/GeoPackage/brief exports
    batch, partition        national runs on dask

Import the module you need (``from planning import rules``); nothing heavy loads here.
"""

__version__ = "0.1.0"
__all__ = [
    "access", "auth", "batch", "checks", "cli", "coverage", "crs", "datasets", "errors", "i18n",
    "indicators", "io", "ledger", "maps", "model", "national", "network", "partition", "places",
    "privacy", "report", "rules", "settings", "siting", "workbook",
]
