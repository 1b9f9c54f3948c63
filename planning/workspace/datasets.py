"""Dataset versions: a project's boundaries, townships and facilities, numbered and kept.

:func:`save_dataset` writes one new version (one row per feature, attributes as JSON and the
geometry in a PostGIS / WKB column) in one transaction; :func:`load_dataset` reads a version
back to a :class:`~planning.data.model.Dataset` with the same column types, so its content
``token`` is unchanged by the round trip. The import mapping the planner used (which header was
which field) is stored with the version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from planning.data.model import Dataset
from planning.roles import Actor
from planning.workspace import schema as S
from planning.workspace.store import NotFoundError, Workspace, now

LAYERS: tuple[str, ...] = ("districts", "units", "facilities")
_CHUNK = 500


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value


def _feature_rows(layer: str, frame: gpd.GeoDataFrame, version_id: int) -> list[dict]:
    attrs = frame.drop(columns=frame.geometry.name)
    cols = list(attrs.columns)
    values = attrs.astype(object).to_numpy()
    geoms = np.asarray(frame.geometry.values)
    return [{"dataset_version_id": version_id, "layer": layer, "row_no": i,
             "props": json.dumps(dict(zip(cols, map(_jsonable, row), strict=True)),
                                 ensure_ascii=False),
             "geom": geoms[i]}
            for i, row in enumerate(values)]


def _layer_meta(frame: gpd.GeoDataFrame) -> dict:
    attrs = frame.drop(columns=frame.geometry.name)
    return {"columns": list(attrs.columns), "dtypes": {c: str(t) for c, t in attrs.dtypes.items()},
            "geometry": frame.geometry.name, "crs": frame.crs.to_string() if frame.crs else None}


def save_dataset(ws: Workspace, project: str, dataset: Dataset, *, actor: Actor,
                 mapping: Mapping[str, Any] | None = None,
                 expected_version: int | None = None) -> int:
    """Store ``dataset`` as the project's next dataset version.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name.
    dataset : Dataset
        Validated dataset; only aggregated township counts are in it, never patient rows.
    actor : Actor
        Needs ``replace_data`` (keyword-only).
    mapping : mapping, optional
        The import mapping used (e.g. ``{"units": {"街道名称": "name"}}``), stored as JSON.
    expected_version : int, optional
        The project version the caller read; a newer one refuses the write.

    Returns
    -------
    int
        The new dataset version number (1, 2, …).

    Raises
    ------
    StaleWriteError
        The project changed since ``expected_version``.
    """
    with ws.write(actor, "replace_data", project=project, target=dataset.name) as conn:
        proj = ws.project_in(conn, project)
        ws.bump_project(conn, proj, expected_version)
        number = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(
            S.dataset_versions.c.number), 0)).where(
            S.dataset_versions.c.project_id == proj.id)).scalar()) + 1
        meta = {"synthetic": list(dataset.synthetic), "sources": list(dataset.sources),
                "data_date": dataset.data_date,
                "layers": {name: _layer_meta(getattr(dataset, name)) for name in LAYERS}}
        version_id = conn.execute(S.dataset_versions.insert().values(
            project_id=proj.id, number=number, name=dataset.name, token=dataset.token,
            meta=json.dumps(meta, ensure_ascii=False),
            mapping=json.dumps(dict(mapping or {}), ensure_ascii=False, default=str),
            created_at=now(), created_by=actor.name).returning(
            S.dataset_versions.c.id)).scalar_one()
        for name in LAYERS:
            rows = _feature_rows(name, getattr(dataset, name), version_id)
            for start in range(0, len(rows), _CHUNK):
                conn.execute(S.features.insert(), rows[start:start + _CHUNK])
        detail = (f"dataset version {number}: {len(dataset.districts)} districts, "
                  f"{len(dataset.units)} townships, {len(dataset.facilities)} facilities")
        ws.audit_in(conn, actor, "replace_data", dataset.name, project=project, detail=detail)
    return number


def dataset_versions(ws: Workspace, project: str) -> pd.DataFrame:
    """List the project's dataset versions: ``number, name, token, created_at, created_by``."""
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        rows = conn.execute(sa.select(
            S.dataset_versions.c.number, S.dataset_versions.c.name, S.dataset_versions.c.token,
            S.dataset_versions.c.created_at, S.dataset_versions.c.created_by).where(
            S.dataset_versions.c.project_id == proj.id).order_by(
            S.dataset_versions.c.number)).mappings().all()
    return pd.DataFrame(rows, columns=["number", "name", "token", "created_at", "created_by"])


def _version_row(conn: Connection, project_id: int, project: str,
                 number: int | None) -> Any:
    q = sa.select(S.dataset_versions).where(S.dataset_versions.c.project_id == project_id)
    q = (q.where(S.dataset_versions.c.number == number) if number is not None
         else q.order_by(S.dataset_versions.c.number.desc()).limit(1))
    row = conn.execute(q).mappings().first()
    if row is None:
        which = f"version {number}" if number is not None else "any dataset"
        msg = f"project {project!r} has no {which}; save a dataset to it first"
        raise NotFoundError(msg)
    return row


def _restore(meta: dict, rows: list[Any]) -> gpd.GeoDataFrame:
    cols = meta["columns"]
    props = [json.loads(r.props) for r in rows]
    frame = pd.DataFrame.from_records(props, columns=cols) if props else pd.DataFrame(
        columns=cols)
    for col, dtype in meta["dtypes"].items():
        if dtype == "bool":
            frame[col] = frame[col].astype(bool)
        elif dtype == "object":
            frame[col] = frame[col].astype(object)
        else:
            frame[col] = frame[col].astype(dtype)
    geoms = gpd.GeoSeries([r.geom for r in rows], crs=meta["crs"])
    return gpd.GeoDataFrame(frame, geometry=geoms.values, crs=meta["crs"]).rename_geometry(
        meta["geometry"]) if meta["geometry"] != "geometry" else gpd.GeoDataFrame(
        frame, geometry=geoms.values, crs=meta["crs"])


def load_dataset(ws: Workspace, project: str, *, version: int | None = None) -> Dataset:
    """Read a dataset version back (default: the latest).

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name.
    version : int, optional
        Dataset version number (keyword-only); the latest when omitted.

    Returns
    -------
    Dataset
        Same columns, dtypes, row order and geometries as saved (equal ``token``).

    Raises
    ------
    NotFoundError
        No such project or version.
    """
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        row = _version_row(conn, proj.id, project, version)
        feats = conn.execute(sa.select(S.features.c.layer, S.features.c.props,
                                       S.features.c.geom).where(
            S.features.c.dataset_version_id == row["id"]).order_by(
            S.features.c.layer, S.features.c.row_no)).all()
    meta = json.loads(row["meta"])
    by_layer: dict[str, list] = {name: [] for name in LAYERS}
    for f in feats:
        by_layer[f.layer].append(f)
    layers = {name: _restore(meta["layers"][name], by_layer[name]) for name in LAYERS}
    return Dataset(name=row["name"], synthetic=tuple(meta["synthetic"]),
                   sources=tuple(meta["sources"]), data_date=meta["data_date"], **layers)


def dataset_mapping(ws: Workspace, project: str, *, version: int | None = None) -> dict:
    """Return the import mapping stored with a dataset version (default: the latest)."""
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        return json.loads(_version_row(conn, proj.id, project, version)["mapping"])
