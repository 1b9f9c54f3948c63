"""jingkang-planner: the engine behind the app, the CLI and the notebooks.

One subpackage per pipeline stage; a later stage may import an earlier one, never the reverse
(an import-linter contract in ``pyproject.toml`` enforces it)::

    errors, settings, i18n   one error vocabulary; frozen settings; UI text (zh/en)
    data      files, ledgers, the Beijing demo -> validated Dataset; township counts
    rules     policy profiles (YAML) -> findings table, summaries, indicators
    access    street graphs -> travel-time matrices, isochrones, 2SFCA, township access
    siting    exact location-allocation on HiGHS; dataset -> suggested sites
    publish   privacy (suppression), folium maps, PNG/PDF/GeoPackage, Excel workbook
    batch     national runs on dask
    app, cli  Streamlit glue and login; the ``jingkang`` command

Import what you need (``from planning import rules``); nothing heavy loads here.
"""

__version__ = "0.2.0"
__all__ = ["access", "app", "batch", "cli", "data", "errors", "i18n", "publish", "rules",
           "settings", "siting"]
