"""Warm the server before it answers: imports and the default views of the embedded demo.

A planner's first visit should not pay for Python imports, the demo's generation, the rule
evaluation and four map documents. :func:`warm_up` does that work once, in the server process,
before the server accepts connections (:mod:`planning.app.launch`), through the *same* cached
functions the pages call (:mod:`planning.app.ui`), so a page's first run finds every result in
the cache. Only the embedded demo is warmed: a planner's own data is never computed without a
session that loaded it, and nothing here is per-session.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import time

log = logging.getLogger(__name__)

#: Modules the pages import (the pages themselves are executed per run by Streamlit).
PAGE_MODULES: tuple[str, ...] = (
    "planning.app.actions", "planning.app.auth", "planning.app.whatif",
    "planning.app.workspace_ui", "planning.publish.maps", "planning.publish.report",
    "planning.publish.tables", "planning.publish.privacy", "planning.siting.plan",
    "streamlit_folium", "folium", "folium.plugins", "altair",
    # first page run: the workspace's migrations (Alembic) and the page icon's emoji check
    "planning.workspace.store", "alembic.command", "alembic.config",
    "alembic.runtime.migration", "streamlit.emojis",
)
_COMPONENT_PACKAGES = frozenset({"streamlit_folium"})

_QUIET = ("streamlit.runtime.caching.cache_data_api",
          "streamlit.runtime.caching.cache_resource_api",
          "streamlit.runtime.scriptrunner_utils.script_run_context",
          "streamlit.runtime.caching.cache_utils")


def warm_up(*, lang: str = "zh") -> dict[str, float]:
    """Compute what a first visitor waits for, on the embedded demo; return seconds per step.

    Steps: importing the pages' modules; generating the demo; the parsed profiles, the findings,
    milestones and Compliance tables of the default profile and year; the Overview, Map,
    Compliance and Access map documents and
    the Access page's default summary (walk, 15 minutes), all for the whole city in ``lang``.

    Parameters
    ----------
    lang : {"zh", "en"}
        Language of the warmed map documents (the app opens in Chinese).

    Returns
    -------
    dict
        Seconds taken by each step, in order.
    """
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = now - t0
        return now

    t = time.perf_counter()
    import streamlit  # noqa: F401  (creates its loggers, which the next lines quiet)

    # Outside a running server Streamlit warns that caches have no runtime and calls have no
    # script context, once per function: expected here, not worth an operator's attention.
    quiet = [logging.getLogger(name) for name in _QUIET]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        from planning.app import ui
        from planning.rules import list_profiles

        for name in PAGE_MODULES:
            importlib.import_module(name)
        # Streamlit inspects the call stack on its first element (inspect.getmodule scans
        # sys.modules); after the imports above that scan is cached, not paid by a visitor.
        inspect.getmodule(inspect.currentframe())
        t = step("imports", t)
        dataset = ui.demo_dataset()
        t = step("demo", t)
        # every page run reads the chosen profile and the dropdown's titles: parse them all now
        ui.profile_titles(tuple(list_profiles()))
        profile = ui.packaged_profile(ui.default_profile_name(list_profiles()))
        year = ui.default_year(profile)
        findings = ui.findings_for(dataset, profile, district=None, year=year)
        if profile.milestones:
            ui.milestones_for(dataset, profile, district=None)
        ui.compliance_tables(dataset, profile, district=None, year=year, lang=lang,
                             statuses=ui.COMPLIANCE_DEFAULT_STATUSES, rule_ids=())
        t = step("rules", t)
        ui.map_document(ui.overview_map_spec(dataset, district=None, lang=lang))
        ui.map_document(ui.planner_map_spec(dataset, district=None, lang=lang))
        ui.map_document(ui.compliance_map_spec(dataset, findings, profile, district=None,
                                               year=year, lang=lang))
        t = step("maps", t)
        summary = ui.access_summary(dataset, profile, district=None,
                                    threshold=ui.ACCESS_DEFAULT_THRESHOLD,
                                    mode=ui.ACCESS_MODES[0])
        ui.map_document(ui.access_map_spec(dataset, summary, profile, district=None,
                                           net_key=None, column=ui.ACCESS_COLUMNS[0],
                                           lang=lang))
        # the Map page after a visit to Access shows the Access page's default isochrones
        isochrones = ui.isochrones_for(dataset, profile, summary, district=None, net_key=None)
        ui.map_document(ui.planner_map_spec(dataset, district=None, lang=lang,
                                            extras=(isochrones, None)))
        step("access", t)
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        _forget_components()
    return timings


def _forget_components() -> None:
    """Let the pages import the custom-component modules again.

    ``streamlit.components.v1.declare_component`` registers a component with the running
    server only when called inside a script run; imported here, before the server exists,
    streamlit_folium's map component would never be registered and its frame would be a 404.
    The cached map documents keep working: they are plain data.
    """
    for name in [m for m in sys.modules if m.split(".")[0] in _COMPONENT_PACKAGES]:
        del sys.modules[name]
