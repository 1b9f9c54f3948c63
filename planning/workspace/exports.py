"""A project as one GeoPackage for QGIS: its layers, the adopted plan's sites and its progress.

The workspace database itself is SQLite or PostGIS; this is the file a planner hands to a
colleague or opens in QGIS. Township patient counts, sites' patient-weighted demand and the
progress rates pass the same small-cell suppression as every other export.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from planning.publish.privacy import public_site_table
from planning.publish.report import export_gpkg
from planning.roles import Actor, require
from planning.settings import DEFAULT, Settings
from planning.workspace.datasets import load_dataset
from planning.workspace.progress import ProgressOptions, progress_table
from planning.workspace.scenarios import get_scenario, list_scenarios
from planning.workspace.store import Workspace


def export_project_gpkg(ws: Workspace, project: str, path: str | Path, *, actor: Actor,
                        profile: str | None = None, settings: Settings = DEFAULT) -> Path:
    """Write the project's latest dataset, adopted plan and progress table to a GeoPackage.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name.
    path : str or Path
        Output ``.gpkg`` file.
    actor : Actor
        Needs ``export_aggregates`` (keyword-only); the export is audited, refusals too.
    profile : str, optional
        Policy profile for the ``progress`` table (omitted when ``None`` or no snapshots).
    settings : Settings
        Suppression threshold.

    Returns
    -------
    Path
        The file: layers ``districts``, ``units`` (suppressed counts), ``facilities``,
        ``adopted_sites`` (when a plan is adopted), ``progress`` and ``metadata``.
    """
    try:
        require(actor, "export_aggregates")
    except PermissionError as exc:
        ws.record(actor, "export_aggregates", Path(path).name, project=project,
                  outcome="refused", detail=str(exc))
        raise
    dataset = load_dataset(ws, project)
    extra: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {}
    listed = list_scenarios(ws, project)
    adopted = listed.loc[listed["adopted"], "name"]
    if len(adopted):
        plan = get_scenario(ws, project, adopted.iloc[0]).plan
        table = public_site_table(plan.sites, weight=plan.params.get("weight", "population"),
                                  settings=settings)
        extra["adopted_sites"] = gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"], errors="ignore").assign(
                scenario=adopted.iloc[0]), geometry=plan.sites.geometry.to_numpy(),
            crs=plan.sites.crs)
    if profile is not None:
        progress = progress_table(ws, project, profile,
                                  options=ProgressOptions(settings=settings))
        if len(progress):
            extra["progress"] = progress.assign(report_date=progress["report_date"].astype(str))
    out = export_gpkg(dataset, path, extra=extra, settings=settings)
    names = ", ".join(["districts", "units", "facilities", *extra])
    ws.record(actor, "export_aggregates", Path(path).name, project=project, outcome="ok",
              detail=f"GeoPackage with layers {names}")
    return out
