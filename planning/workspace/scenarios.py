"""Saved siting scenarios: save, list, load, rename, duplicate, delete, adopt, export, import.

A scenario is a :class:`~planning.siting.plan.SitingPlan` plus its name, district and the
dataset it was run on. It is stored as a portable JSON document (:func:`plan_document`) with the
model, parameters and KPIs also in their own columns for listing; the same document, with small
patient-derived cells suppressed, is the export file another planner imports.

Names follow the model and options (:func:`default_scenario_name`) until the planner types one.
Saving under a taken name is refused with :class:`~planning.workspace.store.ScenarioExistsError`
unless the caller passes ``replace=<the version it showed the user>``: overwrite asks first, and
a scenario changed by someone else since then is not overwritten
(:class:`~planning.workspace.store.StaleWriteError`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy import sparse
from sqlalchemy.engine import Connection

from planning.errors import InputError
from planning.roles import Actor, require
from planning.settings import Settings
from planning.siting.plan import SitingPlan, compare
from planning.siting.result import SitingResult
from planning.workspace import schema as S
from planning.workspace.store import (
    NotFoundError,
    ScenarioExistsError,
    StaleWriteError,
    Workspace,
    _check_name,
    _utc,
    now,
)

FORMAT = "jingkang-scenario"
FORMAT_VERSION = 1
#: Demand weights that are patient counts: their small cells are suppressed on export.
PATIENT_WEIGHTS = ("patients", "eligible", "patients_served")
LIST_COLUMNS = ["name", "model", "district", "status", "objective", "adopted", "version",
                "created_at", "created_by", "updated_at", "updated_by"]


# --- names -------------------------------------------------------------------------------------
def default_scenario_name(model: str, params: Mapping[str, Any], *,
                          district: str | None = None) -> str:
    """Name a scenario after the model and its options.

    Parameters
    ----------
    model : str
        Model name, e.g. ``"p-median"``.
    params : mapping or SitingOptions
        The run's parameters (``SitingPlan.params``, a ``SitingOptions`` or the form's values):
        ``p``,
        ``threshold_min``, ``mode``, ``weight``, ``max_per_township``, ``budget``,
        ``min_floor_area``.
    district : str, optional
        District the run was limited to (keyword-only).

    Returns
    -------
    str
        E.g. ``"p-median-p3-30min-walk-population"``; ``"-cap2"``, ``"-budget500000"``,
        ``"-area"`` and ``"@东城区"`` are appended when those options are set.
    """
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = dataclasses.asdict(params)
    parts = [str(model)]
    if params.get("p") is not None:
        parts.append(f"p{int(params['p'])}")
    if params.get("threshold_min") is not None:
        parts.append(f"{float(params['threshold_min']):g}min")
    for key in ("mode", "weight"):
        if params.get(key):
            parts.append(str(params[key]))
    if params.get("max_per_township"):
        parts.append(f"cap{int(params['max_per_township'])}")
    if params.get("budget"):
        parts.append(f"budget{float(params['budget']):g}")
    if params.get("min_floor_area") or params.get("zone_floor_area"):
        parts.append("area")
    name = "-".join(parts)
    return f"{name}@{district}" if district else name


# --- the portable document ---------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """JSON-able copy of parameters and scalars (tuples → lists, NaN → None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _frame_doc(frame: pd.DataFrame) -> dict:
    geo = isinstance(frame, gpd.GeoDataFrame)
    attrs = frame.drop(columns=frame.geometry.name) if geo else frame
    doc = {"index": _plain(list(frame.index)), "index_name": frame.index.name,
           "columns": [str(c) for c in attrs.columns],
           "dtypes": {str(c): str(t) for c, t in attrs.dtypes.items()},
           "data": [[_plain(v) for v in row] for row in attrs.astype(object).to_numpy()]}
    if geo:
        doc["wkt"] = [g.wkt if g is not None else None for g in frame.geometry]
        doc["crs"] = frame.crs.to_string() if frame.crs else None
        doc["order"] = [str(c) for c in frame.columns]
        doc["geometry"] = frame.geometry.name
    return doc


def _frame_from(doc: Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(doc["data"], columns=doc["columns"],
                         index=pd.Index(doc["index"], name=doc.get("index_name")))
    for col, dtype in doc["dtypes"].items():
        try:
            frame[col] = frame[col].astype(dtype if dtype != "object" else object)
        except (TypeError, ValueError):
            frame[col] = frame[col].astype(object)
    if "wkt" in doc:
        geoms = gpd.GeoSeries.from_wkt(pd.Series(doc["wkt"], dtype=object), crs=doc["crs"])
        geo_name = doc.get("geometry", "geometry")
        frame[geo_name] = geoms.to_numpy()
        frame = frame[doc.get("order", list(frame.columns))]
        return gpd.GeoDataFrame(frame, geometry=geo_name, crs=doc["crs"])
    return frame


def _result_doc(result: SitingResult) -> dict:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, sparse.sparray | sparse.spmatrix):
            coo = sparse.coo_array(value)
            value = {"shape": list(coo.shape), "row": coo.row.tolist(), "col": coo.col.tolist(),
                     "data": coo.data.tolist()}
        out[f.name] = _plain(value)
    return out


def _result_from(doc: Mapping[str, Any]) -> SitingResult:
    known = {f.name: f for f in dataclasses.fields(SitingResult)}
    kwargs: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in known:
            continue  # a field of a newer version: ignore
        if key == "allocation" and value is not None:
            value = sparse.csr_array((value["data"], (value["row"], value["col"])),
                                     shape=tuple(value["shape"]))
        elif key in ("objective", "bound", "gap", "runtime_s", "covered_weight",
                     "total_weight", "max_cost"):
            value = math.nan if value is None else float(value)
        kwargs[key] = value
    return SitingResult(**kwargs)


def plan_document(plan: SitingPlan, *, name: str, district: str | None = None,
                  dataset_token: str = "") -> dict:
    """Build the portable JSON-able document of a scenario (what is stored and exported).

    Parameters
    ----------
    plan : SitingPlan
        The solved plan.
    name : str
        Scenario name (keyword-only).
    district : str, optional
        District the run was limited to.
    dataset_token : str
        Content token of the dataset the plan was run on.

    Returns
    -------
    dict
        ``format``, ``format_version``, ``name``, ``model``, ``district``, ``dataset_token``
        and ``plan`` (result, sites, candidates, assignment, kpis, method, params).
    """
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
        "model": plan.result.model, "district": district, "dataset_token": dataset_token,
        "suppressed": [],
        "plan": {"result": _result_doc(plan.result), "sites": _frame_doc(plan.sites),
                 "candidates": _frame_doc(plan.candidates),
                 "assignment": _frame_doc(plan.assignment), "kpis": _frame_doc(plan.kpis),
                 "method": plan.method, "params": _plain(plan.params)},
    }


def plan_from_document(doc: Mapping[str, Any]) -> SitingPlan:
    """Rebuild the :class:`SitingPlan` of a document from :func:`plan_document`."""
    p = doc["plan"]
    return SitingPlan(result=_result_from(p["result"]), sites=_frame_from(p["sites"]),
                      candidates=_frame_from(p["candidates"]),
                      assignment=_frame_from(p["assignment"]), kpis=_frame_from(p["kpis"]),
                      method=p["method"], params=dict(p["params"]))


def _kpis_json(plan: SitingPlan) -> str:
    return json.dumps({str(k): {"before": _plain(r.get("before")), "after": _plain(r.get("after"))}
                       for k, r in plan.kpis.iterrows()}, ensure_ascii=False)


# --- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """A stored scenario as read.

    Attributes
    ----------
    name, model, district
        As saved.
    plan
        The rebuilt :class:`SitingPlan`.
    version
        Pass it back as ``expected_version`` / ``replace`` to change this scenario.
    adopted
        Whether it is the project's adopted plan.
    dataset_token
        Token of the dataset it was run on (compare with ``Dataset.token``).
    created_at, created_by, updated_at, updated_by
        Who saved it and when.
    """

    name: str
    model: str
    district: str | None
    plan: SitingPlan
    version: int
    adopted: bool
    dataset_token: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


def _row(conn: Connection, project_id: int, project: str, name: str) -> Any:
    row = conn.execute(sa.select(S.scenarios).where(
        (S.scenarios.c.project_id == project_id) & (S.scenarios.c.name == name))).mappings().first()
    if row is None:
        names = conn.execute(sa.select(S.scenarios.c.name).where(
            S.scenarios.c.project_id == project_id)).scalars().all()
        msg = (f"project {project!r} has no scenario {name!r}; scenarios: "
               f"{', '.join(map(repr, names)) or 'none yet'}")
        raise NotFoundError(msg)
    return row


def list_scenarios(ws: Workspace, project: str) -> pd.DataFrame:
    """List the project's scenarios, oldest first, one row each (:data:`LIST_COLUMNS`)."""
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        rows = conn.execute(sa.select(*(S.scenarios.c[c] for c in LIST_COLUMNS)).where(
            S.scenarios.c.project_id == proj.id).order_by(S.scenarios.c.id)).mappings().all()
    frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
    for col in ("created_at", "updated_at"):
        frame[col] = pd.to_datetime(frame[col].map(_utc), utc=True)
    frame["adopted"] = frame["adopted"].astype(bool)
    return frame


def get_scenario(ws: Workspace, project: str, name: str) -> Scenario:
    """Load one scenario, plan included.

    Raises
    ------
    NotFoundError
        Naming the scenario asked for and the project's scenarios.
    """
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        row = _row(conn, proj.id, project, name)
    return Scenario(name=row["name"], model=row["model"], district=row["district"],
                    plan=plan_from_document(json.loads(row["document"])),
                    version=row["version"], adopted=bool(row["adopted"]),
                    dataset_token=row["dataset_token"], created_at=_utc(row["created_at"]),
                    created_by=row["created_by"], updated_at=_utc(row["updated_at"]),
                    updated_by=row["updated_by"])


def compare_scenarios(ws: Workspace, project: str, names: Iterable[str]) -> pd.DataFrame:
    """Scenarios side by side (:func:`planning.siting.plan.compare`), one column each."""
    return compare({n: get_scenario(ws, project, n).plan for n in names})


# --- writing -----------------------------------------------------------------------------------
def _check_version(row: Any, expected: int | None, project: str) -> None:
    if expected is not None and row["version"] != expected:
        msg = (f"scenario {row['name']!r} of project {project!r} was changed by "
               f"{row['updated_by']} since you opened it (you read version {expected}, it is "
               f"now version {row['version']}); reload it and apply your change again")
        raise StaleWriteError(msg)


def _bump(conn: Connection, row: Any, actor: Actor, project: str, values: dict) -> None:
    res = conn.execute(S.scenarios.update().where(
        (S.scenarios.c.id == row["id"]) & (S.scenarios.c.version == row["version"])).values(
        version=row["version"] + 1, updated_at=now(), updated_by=actor.name, **values))
    if res.rowcount != 1:  # changed between our read and our write
        msg = (f"scenario {row['name']!r} of project {project!r} was changed by someone else "
               "while you saved; reload it and apply your change again")
        raise StaleWriteError(msg)


def _name_taken(conn: Connection, project_id: int, name: str) -> Any:
    return conn.execute(sa.select(S.scenarios.c.id, S.scenarios.c.version).where(
        (S.scenarios.c.project_id == project_id) & (S.scenarios.c.name == name))).first()


def save_scenario(ws: Workspace, project: str, name: str, plan: SitingPlan, *, actor: Actor,
                  district: str | None = None, dataset_token: str = "",
                  replace: int | None = None) -> int:
    """Save a siting plan under ``name``.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    project : str
        Project name.
    name : str
        Scenario name (1–200 characters); see :func:`default_scenario_name`.
    plan : SitingPlan
        The solved plan.
    actor : Actor
        Needs ``save_scenario`` (keyword-only).
    district : str, optional
        District the run was limited to.
    dataset_token : str
        ``Dataset.token`` of the data the plan was run on.
    replace : int, optional
        To overwrite an existing scenario of that name: the version of it the user was shown
        and agreed to overwrite.

    Returns
    -------
    int
        The scenario's version after the save (1 for a new one).

    Raises
    ------
    ScenarioExistsError
        ``name`` is taken and ``replace`` was not given (ask the user first).
    StaleWriteError
        ``replace`` is not the stored version: someone changed it meanwhile.
    """
    name = _check_name(name, "scenario name")
    doc = plan_document(plan, name=name, district=district, dataset_token=dataset_token)
    values = {"model": plan.result.model, "district": district,
              "params": json.dumps(_plain(plan.params), ensure_ascii=False),
              "kpis": _kpis_json(plan), "status": plan.result.status,
              "objective": _plain(float(plan.result.objective)),
              "document": json.dumps(doc, ensure_ascii=False), "dataset_token": dataset_token}
    with ws.write(actor, "save_scenario", project=project, target=name) as conn:
        proj = ws.project_in(conn, project)
        taken = _name_taken(conn, proj.id, name)
        if taken is not None:
            if replace is None:
                msg = (f"project {project!r} already has a scenario called {name!r} "
                       f"(version {taken.version}); confirm to overwrite it or pick another "
                       "name")
                raise ScenarioExistsError(msg)
            row = _row(conn, proj.id, project, name)
            _check_version(row, replace, project)
            _bump(conn, row, actor, project, values)
            version = row["version"] + 1
            detail = f"overwrote version {row['version']} with model {plan.result.model}"
        else:
            ts = now()
            conn.execute(S.scenarios.insert().values(
                project_id=proj.id, name=name, version=1, adopted=False, created_at=ts,
                updated_at=ts, created_by=actor.name, updated_by=actor.name, **values))
            version, detail = 1, f"saved model {plan.result.model}"
        ws.audit_in(conn, actor, "save_scenario", name, project=project, detail=detail)
    return version


def rename_scenario(ws: Workspace, project: str, name: str, new_name: str, *, actor: Actor,
                    expected_version: int | None = None) -> None:
    """Rename a scenario (``save_scenario``); a taken ``new_name`` is refused."""
    new_name = _check_name(new_name, "scenario name")
    with ws.write(actor, "save_scenario", project=project, target=name) as conn:
        proj = ws.project_in(conn, project)
        row = _row(conn, proj.id, project, name)
        _check_version(row, expected_version, project)
        if new_name != name and _name_taken(conn, proj.id, new_name) is not None:
            msg = f"project {project!r} already has a scenario called {new_name!r}"
            raise ScenarioExistsError(msg)
        doc = json.loads(row["document"])
        doc["name"] = new_name
        _bump(conn, row, actor, project, {"name": new_name,
                                          "document": json.dumps(doc, ensure_ascii=False)})
        ws.audit_in(conn, actor, "save_scenario", new_name, project=project,
                    detail=f"renamed from {name!r}")


def duplicate_scenario(ws: Workspace, project: str, name: str, new_name: str | None = None, *,
                       actor: Actor) -> str:
    """Copy a scenario under ``new_name`` (default ``"<name> (2)"``, ``"(3)"`` …); returns it."""
    with ws.write(actor, "save_scenario", project=project, target=name) as conn:
        proj = ws.project_in(conn, project)
        row = _row(conn, proj.id, project, name)
        if new_name is None:
            k = 2
            while _name_taken(conn, proj.id, f"{name} ({k})") is not None:
                k += 1
            new_name = f"{name} ({k})"
        new_name = _check_name(new_name, "scenario name")
        if _name_taken(conn, proj.id, new_name) is not None:
            msg = f"project {project!r} already has a scenario called {new_name!r}"
            raise ScenarioExistsError(msg)
        doc = json.loads(row["document"])
        doc["name"] = new_name
        ts = now()
        keep = {c: row[c] for c in ("model", "district", "params", "kpis", "objective",
                                    "status", "dataset_token")}
        conn.execute(S.scenarios.insert().values(
            project_id=proj.id, name=new_name, version=1, adopted=False, created_at=ts,
            updated_at=ts, created_by=actor.name, updated_by=actor.name,
            document=json.dumps(doc, ensure_ascii=False), **keep))
        ws.audit_in(conn, actor, "save_scenario", new_name, project=project,
                    detail=f"duplicated from {name!r}")
    return new_name


def delete_scenario(ws: Workspace, project: str, name: str, *, actor: Actor,
                    expected_version: int | None = None) -> None:
    """Delete a scenario (``delete_scenario``); refuses a stale ``expected_version``."""
    with ws.write(actor, "delete_scenario", project=project, target=name) as conn:
        proj = ws.project_in(conn, project)
        row = _row(conn, proj.id, project, name)
        _check_version(row, expected_version, project)
        res = conn.execute(S.scenarios.delete().where(
            (S.scenarios.c.id == row["id"]) & (S.scenarios.c.version == row["version"])))
        if res.rowcount != 1:
            msg = f"scenario {name!r} was changed by someone else while you deleted it"
            raise StaleWriteError(msg)
        ws.audit_in(conn, actor, "delete_scenario", name, project=project,
                    detail=f"deleted version {row['version']}")


def adopt_scenario(ws: Workspace, project: str, name: str | None, *, actor: Actor,
                   expected_version: int | None = None) -> None:
    """Mark ``name`` as the project's adopted plan (``None``: none adopted).

    Needs ``edit_project``; records a decision on the project and unmarks the previous plan.
    """
    with ws.write(actor, "edit_project", project=project, target=name or "") as conn:
        proj = ws.project_in(conn, project)
        for other in conn.execute(sa.select(S.scenarios).where(
                (S.scenarios.c.project_id == proj.id) & S.scenarios.c.adopted
                & (S.scenarios.c.name != (name or "")))).mappings().all():
            _bump(conn, other, actor, project, {"adopted": False})
        text = "no adopted plan"
        if name is not None:
            row = _row(conn, proj.id, project, name)
            _check_version(row, expected_version, project)
            if not row["adopted"]:
                _bump(conn, row, actor, project, {"adopted": True})
            text = f"adopted scenario {name!r} as the plan"
        conn.execute(S.decisions.insert().values(
            project_id=proj.id, text=text, kind="decision", created_at=now(),
            created_by=actor.name))
        ws.audit_in(conn, actor, "edit_project", name or "", project=project, detail=text)


# --- export / import ---------------------------------------------------------------------------
def _suppress_doc(doc: dict, threshold: int) -> dict:
    """Blank patient-derived cells between 1 and ``threshold - 1`` (sites, assignment)."""
    weight = (doc["plan"].get("params") or {}).get("weight")
    if weight not in PATIENT_WEIGHTS:
        return doc
    hidden = []
    for table, col in (("sites", "demand_served"), ("assignment", "weight")):
        t = doc["plan"][table]
        if col not in t["columns"]:
            continue
        j = t["columns"].index(col)
        for row in t["data"]:
            v = row[j]
            if v is not None and 0 < float(v) < threshold:
                row[j] = None
        hidden.append(f"{table}.{col}")
    doc["suppressed"] = hidden
    doc["suppression_threshold"] = threshold
    return doc


def export_scenario(ws: Workspace, project: str, name: str, *, actor: Actor,
                    settings: Settings | None = None) -> bytes:
    """Export a scenario as a UTF-8 JSON file another planner can import.

    Patient-derived cells (sites' ``demand_served`` and the assignment's ``weight`` when the
    demand weight is a patient count) from 1 to ``suppression_threshold - 1`` are blanked; the
    stored scenario keeps its numbers. Needs ``export_aggregates``; audited.
    """
    threshold = settings.suppression_threshold if settings is not None else 5
    try:
        require(actor, "export_aggregates")
    except Exception as exc:
        ws.record(actor, "export_aggregates", name, project=project, outcome="refused",
                  detail=str(exc))
        raise
    with ws.engine.connect() as conn:
        proj = ws.project_in(conn, project)
        doc = json.loads(_row(conn, proj.id, project, name)["document"])
    doc = _suppress_doc(doc, threshold)
    ws.record(actor, "export_aggregates", name, project=project, outcome="ok",
              detail="exported scenario file")
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def read_scenario_file(data: bytes, *, source: str = "scenario file") -> dict:
    """Parse and check an exported scenario file; returns its document.

    Raises
    ------
    InputError
        Not JSON, not a Jingkang scenario, a newer format, or a broken plan — naming what was
        found and what was expected.
    """
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"got a file that is not UTF-8 JSON ({type(exc).__name__}); expected a .json " \
              "scenario file exported from the Scenarios page"
        raise InputError(msg, source=source) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        msg = f"got format {found!r} but expected {FORMAT!r} (a file exported from Scenarios)"
        raise InputError(msg, source=source, field="format")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        msg = (f"got format_version {doc.get('format_version')} but this version reads up to "
               f"{FORMAT_VERSION}; update jingkang-planner")
        raise InputError(msg, source=source, field="format_version")
    try:
        plan_from_document(doc)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"the plan in the file is incomplete or damaged ({type(exc).__name__}: {exc})"
        raise InputError(msg, source=source, field="plan") from None
    return doc


def import_scenario(ws: Workspace, project: str, data: bytes, *, actor: Actor,
                    name: str | None = None, replace: int | None = None) -> str:
    """Import an exported scenario file into a project (``save_scenario``); returns its name.

    The file's name is used unless ``name`` is given; a taken name raises
    :class:`ScenarioExistsError` unless ``replace`` is the version to overwrite.
    """
    doc = read_scenario_file(data)
    name = name or doc["name"]
    save_scenario(ws, project, name, plan_from_document(doc), actor=actor,
                  district=doc.get("district"), dataset_token=doc.get("dataset_token", ""),
                  replace=replace)
    return name
