"""Role-checked entry points for every state-changing action the pages offer.

Hiding a button is not a permission check: a viewer's browser can still send the widget events
that call a page's actions. So each action here takes the :class:`~planning.roles.Actor` of the
session, calls :func:`planning.roles.require` *before* touching the engine, writes a refusal
(and, for changes, a success) to the audit log, and only then calls the engine. Upload sizes
are checked per file type before a byte is parsed.

The functions hold no state of their own: scenario stores and datasets are passed in (the
session's own, or a shared workspace project), so nothing here can leak between sessions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from planning.app.audit import audit
from planning.errors import InputError, PermissionDenied
from planning.i18n import t
from planning.roles import ACTIONS, Actor, require
from planning.settings import DEFAULT, Settings

if TYPE_CHECKING:
    from planning.data.ledger import LedgerSummary
    from planning.data.model import Dataset

#: Upload limits in MB per kind of file. ``.streamlit/config.toml``'s ``server.maxUploadSize``
#: must be at least the largest of these (it is the hard cap the server enforces first).
UPLOAD_LIMITS_MB: dict[str, int] = {"vector": 50, "table": 20, "ledger": 20, "raster": 50,
                                    "osm": 50, "profile": 1}

_KIND_BY_SUFFIX = {
    ".geojson": "vector", ".json": "vector", ".gpkg": "vector", ".shp": "vector",
    ".zip": "vector", ".csv": "table", ".txt": "table", ".xlsx": "table", ".xlsm": "table",
    ".osm": "osm", ".pbf": "osm", ".graphml": "osm", ".yaml": "profile", ".yml": "profile",
    ".tif": "raster", ".tiff": "raster",
}


def upload_kind(name: str, *, ledger: bool = False) -> str:
    """Return the limit class of an uploaded file: vector, table, ledger, raster, osm, profile.

    Raises
    ------
    InputError
        For a file type no page accepts.
    """
    kind = _KIND_BY_SUFFIX.get(Path(name).suffix.lower())
    if kind is None:
        msg = "this file type is not accepted"
        raise InputError(msg, source=Path(name).name)
    return "ledger" if ledger and kind == "table" else kind


def _size_of(file: Any) -> int:
    size = getattr(file, "size", None)
    if isinstance(size, int):
        return size
    if isinstance(file, str | Path):
        return Path(file).stat().st_size
    if hasattr(file, "getbuffer"):
        return file.getbuffer().nbytes
    if hasattr(file, "seek") and hasattr(file, "tell"):
        pos = file.tell()
        end = file.seek(0, 2)
        file.seek(pos)
        return end
    return len(bytes(file))


def check_upload(file: Any, name: str, *, ledger: bool = False, lang: str = "zh") -> int:
    """Refuse an upload over the limit for its type; return its size in bytes.

    Parameters
    ----------
    file : path, bytes-like or file object
        The upload (a Streamlit ``UploadedFile`` has ``.size``).
    name : str
        Its file name (decides the type).
    ledger : bool
        A patient ledger (its own, usually smaller, limit).
    lang : str
        Language of the error message.

    Raises
    ------
    InputError
        Over the limit or of an unknown type; the message is in ``lang``.
    """
    try:
        kind = upload_kind(name, ledger=ledger)
    except InputError:
        raise InputError(t("upload_bad_type", lang).format(name=Path(name).name)) from None
    size = _size_of(file)
    limit = UPLOAD_LIMITS_MB[kind]
    if size > limit * 1024 * 1024:
        msg = t("upload_too_large", lang).format(
            name=Path(name).name, size=f"{size / 1024 / 1024:.1f}", limit=limit,
            kind=t(f"upload_kind_{kind}", lang))
        raise InputError(msg)
    return size


def upload_limits_text(lang: str = "zh") -> str:
    """Return the per-type upload limits as one sentence for the page."""
    return t("upload_limits", lang).format(**UPLOAD_LIMITS_MB)


def refusal_text(exc: PermissionDenied, lang: str = "zh") -> str:
    """Return a refusal as the user should read it, in ``lang`` (no secret, no traceback)."""
    needed = ACTIONS.get(exc.action, "editor")
    return t("permission_denied", lang).format(
        action=t(f"action_{exc.action}", lang), needed=t(f"role_{needed}", lang),
        role=t(f"role_{exc.role}", lang))


def guard(actor: Actor, action: str, target: str, *, settings: Settings = DEFAULT) -> None:
    """:func:`planning.roles.require`, with a refusal written to the audit log first.

    Parameters
    ----------
    actor : Actor
        Who is acting.
    action : str
        A key of :data:`planning.roles.ACTIONS`.
    target : str
        What the action is on (file or scenario name), for the log.
    settings : Settings
        Where the audit log lives.

    Raises
    ------
    PermissionDenied
        When ``actor``'s role does not allow ``action``.
    """
    try:
        require(actor, action)
    except PermissionDenied as exc:
        audit(actor, action, target, outcome="refused", detail=f"role {exc.role}",
              settings=settings)
        raise


def upload_layer(actor: Actor, file: str | Path | IO[bytes], layer: str, *,
                 datum: str = "wgs84", name: str | None = None, lang: str = "zh",
                 settings: Settings = DEFAULT) -> gpd.GeoDataFrame:
    """Check role and size, then read and validate one uploaded layer.

    Parameters
    ----------
    actor : Actor
        Who uploads; needs the ``upload`` action.
    file : path or file object
        The upload.
    layer : str
        ``"districts"``, ``"units"`` or ``"facilities"``.
    datum, name
        Passed to :func:`planning.data.io.read_layer`.
    lang : str
        Language of a size error.
    settings : Settings
        Where the audit log lives.

    Returns
    -------
    geopandas.GeoDataFrame
        The validated layer (nothing is replaced yet: see :func:`replace_dataset`).

    Raises
    ------
    PermissionDenied
        Role without ``upload`` (logged).
    InputError
        Too large, wrong type or invalid content.
    """
    from planning.data import io as pio

    fname = name or Path(str(getattr(file, "name", file))).name
    guard(actor, "upload", f"{layer}:{fname}", settings=settings)
    check_upload(file, fname, lang=lang)
    gdf = pio.read_layer(file, layer, datum=datum, name=fname)
    audit(actor, "upload", f"{layer}:{fname}", outcome="ok", detail=f"{len(gdf)} rows",
          settings=settings)
    return gdf


def replace_dataset(actor: Actor, dataset: Dataset, layers: Mapping[str, gpd.GeoDataFrame],
                    *, name: str | None = None, source: str = "upload",
                    settings: Settings = DEFAULT) -> Dataset:
    """Check role, then build the dataset with some layers replaced (the caller keeps it).

    Returns
    -------
    planning.data.model.Dataset
        A new dataset; ``dataset`` is unchanged.

    Raises
    ------
    PermissionDenied
        Role without ``replace_data`` (logged).
    InputError
        When the layers fail the cross-layer checks.
    """
    from planning.data.model import replace_layers

    guard(actor, "replace_data", ",".join(layers) or "-", settings=settings)
    new = replace_layers(dataset, name=name, source=source, **dict(layers))
    audit(actor, "replace_data", ",".join(layers), outcome="ok", settings=settings)
    return new


def import_ledger(actor: Actor, file: str | Path | IO[bytes], units: gpd.GeoDataFrame, *,
                  name: str | None = None, datum: str = "wgs84", lang: str = "zh",
                  settings: Settings = DEFAULT) -> LedgerSummary:
    """Check role and size, then read a patient ledger into a township summary.

    Returns
    -------
    planning.data.ledger.LedgerSummary
        Township counts only; the rows never leave :mod:`planning.data.ledger`.

    Raises
    ------
    PermissionDenied
        Role without ``import_ledger`` (logged).
    InputError
        Too large, wrong type or invalid content.
    """
    from planning.data import ledger

    fname = name or Path(str(getattr(file, "name", file))).name
    guard(actor, "import_ledger", fname, settings=settings)
    check_upload(file, fname, ledger=True, lang=lang)
    summary = ledger.read_ledger(file, units, name=fname, datum=datum)
    audit(actor, "import_ledger", fname, outcome="ok",
          detail=f"{summary.n_matched}/{summary.n_rows} rows matched", settings=settings)
    return summary


def apply_ledger(actor: Actor, dataset: Dataset, summary: LedgerSummary, *, name: str,
                 settings: Settings = DEFAULT) -> Dataset:
    """Check role, then the dataset with the ledger's township counts in place of the synthetic.

    Raises
    ------
    PermissionDenied
        Role without ``import_ledger`` (logged).
    """
    import dataclasses

    from planning.data import ledger
    from planning.data.model import replace_layers

    guard(actor, "import_ledger", name, settings=settings)
    units = ledger.apply_to_units(dataset.units, summary)
    merged = replace_layers(dataset, units=units, source=f"ledger {name} (aggregated)")
    audit(actor, "replace_data", f"ledger:{name}", outcome="ok", settings=settings)
    return dataclasses.replace(merged, synthetic=tuple(
        s for s in dataset.synthetic if s != "units.patients"))


def save_scenario(actor: Actor, store: MutableMapping[str, Any], name: str, entry: Any, *,
                  settings: Settings = DEFAULT) -> None:
    """Check role, then save ``entry`` under ``name`` in ``store`` (the session's or a project's).

    Raises
    ------
    PermissionDenied
        Role without ``save_scenario`` (logged); ``store`` is unchanged.
    """
    guard(actor, "save_scenario", name, settings=settings)
    store[name] = entry
    audit(actor, "save_scenario", name, outcome="ok", settings=settings)


def delete_scenario(actor: Actor, store: MutableMapping[str, Any], name: str, *,
                    settings: Settings = DEFAULT) -> None:
    """Check role, then delete scenario ``name`` from ``store``.

    Raises
    ------
    PermissionDenied
        Role without ``delete_scenario`` (logged); ``store`` is unchanged.
    KeyError
        No such scenario.
    """
    guard(actor, "delete_scenario", name, settings=settings)
    del store[name]
    audit(actor, "delete_scenario", name, outcome="ok", settings=settings)


def _without_patient_columns(dataset: Dataset) -> Dataset:
    import dataclasses

    from planning.publish.privacy import PATIENT_COLUMNS

    cols = [c for c in PATIENT_COLUMNS if c in dataset.units.columns]
    return dataclasses.replace(dataset, units=dataset.units.drop(columns=cols)) if cols \
        else dataset


def export_layers(actor: Actor, dataset: Dataset, path: str | Path, *,
                  findings: pd.DataFrame | None = None, include_patient_layers: bool = False,
                  settings: Settings = DEFAULT) -> Path:
    """Check role, then write the GeoPackage of all layers.

    Without ``include_patient_layers`` the township layer carries no patient-derived column
    (``patients``, ``patients_served``, ``eligible``), so a viewer may export it; with it,
    the counts are included (small cells suppressed) and the ``export_patient_layers`` role
    is needed.

    Raises
    ------
    PermissionDenied
        Role without ``export_aggregates`` or, with patient layers, ``export_patient_layers``
        (logged).
    """
    from planning.publish import report

    action = "export_patient_layers" if include_patient_layers else "export_aggregates"
    guard(actor, "export_aggregates", Path(path).name, settings=settings)
    guard(actor, action, Path(path).name, settings=settings)
    data = dataset if include_patient_layers else _without_patient_columns(dataset)
    out = report.export_gpkg(data, path, findings=findings, settings=settings)
    audit(actor, action, Path(path).name, outcome="ok", settings=settings)
    return out


# --- thin guards matching the pages' current engine calls --------------------------------------
def read_upload(actor: Actor, file: Any, reader: Any, *, name: str, ledger: bool = False,
                lang: str = "zh", settings: Settings = DEFAULT) -> Any:
    """Check role and size, then call ``reader(file)`` (e.g. ``pio.read_raw``).

    Parameters
    ----------
    actor : Actor
        Who uploads: needs ``upload``, or ``import_ledger`` with ``ledger=True``.
    file : file object or path
        The upload.
    reader : callable
        Called with ``file`` only after both checks pass; its result is returned.
    name : str
        The file name (type and limit).
    ledger : bool
        A patient ledger.
    lang : str
        Language of a size error.
    settings : Settings
        Where the audit log lives.

    Raises
    ------
    PermissionDenied
        Without the role (logged); ``reader`` is not called.
    InputError
        Over the size limit for its type, or whatever ``reader`` raises.
    """
    action = "import_ledger" if ledger else "upload"
    guard(actor, action, Path(name).name, settings=settings)
    check_upload(file, name, ledger=ledger, lang=lang)
    return reader(file)


def accept_dataset(actor: Actor, dataset: Any, *, target: str = "dataset",
                   ledger: bool = False, settings: Settings = DEFAULT) -> Any:
    """Check role before a page makes ``dataset`` the session's current data; returns it.

    Parameters
    ----------
    actor : Actor
        Needs ``replace_data`` (and ``import_ledger`` when ``ledger``).
    dataset : Dataset
        The validated candidate the page built.
    target : str
        What is replaced, for the log (no patient data).
    ledger : bool
        The dataset carries a ledger's township counts.
    settings : Settings
        Where the audit log lives.

    Raises
    ------
    PermissionDenied
        Without the role (logged); the page keeps its current data.
    """
    if ledger:
        guard(actor, "import_ledger", target, settings=settings)
    guard(actor, "replace_data", target, settings=settings)
    audit(actor, "replace_data", target, outcome="ok", settings=settings)
    return dataset


def exportable(actor: Actor, dataset: Any, *, target: str = "exports",
               settings: Settings = DEFAULT) -> Any:
    """Return the dataset an actor may export: patient-derived columns only if they may.

    Parameters
    ----------
    actor : Actor
        Needs ``export_aggregates``; patient columns stay only with ``export_patient_layers``.
    dataset : Dataset
        The session's dataset.
    target : str
        For the log.
    settings : Settings
        Where the audit log lives.

    Returns
    -------
    Dataset
        ``dataset`` itself, or a copy whose township layer has no ``patients``,
        ``patients_served`` or ``eligible`` column.

    Raises
    ------
    PermissionDenied
        Without ``export_aggregates`` (logged).
    """
    guard(actor, "export_aggregates", target, settings=settings)
    if actor.may("export_patient_layers"):
        return dataset
    audit(actor, "export_patient_layers", target, outcome="refused",
          detail="patient-derived columns left out", settings=settings)
    return _without_patient_columns(dataset)


@contextlib.contextmanager
def show_refusals(lang: str | None = None) -> Iterator[None]:
    """Show any :class:`PermissionDenied` raised inside as a clear message, not a traceback.

    ``app.py`` wraps ``navigation.run()`` in it, so a page only has to call the guarded
    functions above: a refusal (already in the audit log) ends the page with
    :func:`refusal_text` in the UI language.
    """
    try:
        yield
    except PermissionDenied as exc:
        import streamlit as st

        from planning.app.auth import _lang

        st.error(refusal_text(exc, lang or _lang()))
