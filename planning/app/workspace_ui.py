"""Streamlit side of the planning workspace.

The session's workspace, project picker, the "save scenario" form (names follow the options;
overwrite asks first), the progress section and the ledger-snapshot form.

The only thing shared between browser sessions is the :class:`~planning.workspace.Workspace`
handle (an SQLAlchemy connection pool, cached per database URL); the chosen project, pending
confirmations and typed names live in each session's ``st.session_state``. Every number comes
from :mod:`planning.workspace`; these helpers only lay out and report errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from planning import workspace as wsp
from planning.app import auth
from planning.app.ui import settings
from planning.errors import InputError, PermissionDenied
from planning.i18n import t as _base_t
from planning.roles import Actor
from planning.siting.plan import SitingPlan

DEFAULT_PROJECT = "默认项目 Default project"

#: Workspace texts (中文, English); other keys fall back to :func:`planning.i18n.t`.
TEXT: dict[str, tuple[str, str]] = {
    "project": ("规划项目", "Planning project"),
    "new_project": ("新建项目名称", "New project name"),
    "create_project": ("新建项目", "Create project"),
    "no_projects": ("工作区中尚无项目，且当前角色无权新建。",
                    "The workspace has no project yet and your role may not create one."),
    "workspace_db": ("工作区数据库", "Workspace database"),
    "saved_list": ("已保存的情景", "Saved scenarios"),
    "exists_confirm": ("同名情景已存在（版本 {v}）。确认覆盖？",
                       "A scenario of that name exists (version {v}). Overwrite it?"),
    "overwrite": ("确认覆盖", "Overwrite"),
    "cancel": ("取消", "Cancel"),
    "manage": ("管理", "Manage"),
    "compare_two": ("对比两个情景", "Compare two"),
    "import": ("导入", "Import"),
    "pick_one": ("选择情景", "Scenario"),
    "rename_to": ("新名称", "New name"),
    "rename": ("重命名", "Rename"),
    "duplicate": ("复制", "Duplicate"),
    "delete": ("删除", "Delete"),
    "delete_confirm": ("确认删除此情景", "Yes, delete this scenario"),
    "adopt": ("设为采纳方案", "Mark as adopted plan"),
    "adopted": ("采纳方案", "Adopted plan"),
    "prepare_export": ("准备导出文件", "Prepare export file"),
    "download_scenario": ("下载情景文件 (.json)", "Download scenario file (.json)"),
    "scenario_file": ("情景文件 (.json)", "Scenario file (.json)"),
    "import_name": ("导入后的名称（留空则用文件中的名称）",
                    "Name after import (blank: the name in the file)"),
    "import_button": ("导入情景", "Import scenario"),
    "left": ("情景 A", "Scenario A"),
    "right": ("情景 B", "Scenario B"),
    "other_data": ("此情景基于另一版本的数据计算。",
                   "This scenario was computed on another version of the data."),
    "done": ("已完成", "Done"),
    "progress_over_time": ("指标进展（按台账报告日期）", "Indicators over time (by ledger date)"),
    "no_snapshots": ("尚无台账快照：在“数据”页导入台账汇总并按报告日期保存。",
                     "No ledger snapshots yet: import a ledger summary on the Data page and save "
                     "it with its reporting date."),
    "report_date": ("报告日期", "Reporting date"),
    "save_snapshot": ("保存为台账快照", "Save as ledger snapshot"),
    "replace_snapshot": ("替换同日期的快照", "Replace the snapshot of that date"),
    "target": ("目标", "Target"),
    "history": ("操作记录", "Audit log"),
}


def t(key: str, lang: str = "zh") -> str:
    """Workspace text for ``key`` (see :data:`TEXT`), else :func:`planning.i18n.t`."""
    pair = TEXT.get(key)
    if pair is None:
        return _base_t(key, lang)
    return pair[1] if lang == "en" else pair[0]


@st.cache_resource(show_spinner=False)
def _open(url: str) -> wsp.Workspace:
    # One connection pool per database URL for the process; it holds no per-user state.
    return wsp.Workspace.open(url=url)


def workspace() -> wsp.Workspace:
    """Open the workspace of the app's settings (``JINGKANG_DB`` or the embedded SQLite file).

    An unreachable or misconfigured database stops the page with a message naming the URL
    (password hidden) instead of a traceback.
    """
    import sqlalchemy as sa

    try:
        url = wsp.database_url(settings())
        return _open(url)
    except InputError as exc:
        st.error(str(exc))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        st.error(f"{t('workspace_db', 'zh')} / workspace database {shown}: "
                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    st.stop()
    raise RuntimeError  # unreachable: st.stop() raises


def actor() -> Actor:
    """Return the actor of this browser session (``local`` unless logins are on)."""
    return auth.current_actor()


def attempt(action: Callable[[], Any], lang: str) -> tuple[bool, Any]:
    """Run a workspace call; show a clear message instead of a traceback when it is refused.

    Returns ``(True, result)`` or ``(False, None)`` after showing the error.
    """
    try:
        return True, action()
    except (wsp.StaleWriteError, wsp.ScenarioExistsError, wsp.NotFoundError, InputError,
            PermissionDenied) as exc:
        st.error(message(exc, lang))
        return False, None


def message(exc: Exception, lang: str) -> str:
    """Return an engine refusal or error as the user should read it, in ``lang``."""
    from planning.app.actions import refusal_text
    from planning.i18n import render_error

    if isinstance(exc, PermissionDenied):
        return refusal_text(exc, lang)
    return render_error(exc, lang)


def project_picker(lang: str) -> str | None:
    """Sidebar: choose (or create) the planning project; returns its name or ``None``."""
    ws = workspace()
    names = [p.name for p in ws.projects()]
    who = actor()
    if not names:
        if not who.may("edit_project"):
            st.sidebar.info(t("no_projects", lang))
            return None
        ws.create_project(DEFAULT_PROJECT, actor=who, exist_ok=True)
        names = [DEFAULT_PROJECT]
    kept = st.session_state.get("_keep_ws_project")
    index = names.index(kept) if kept in names else 0
    name = st.sidebar.selectbox(t("project", lang), names, index=index, key="ws_project")
    st.session_state["_keep_ws_project"] = name
    if who.may("edit_project"):
        with st.sidebar.expander(t("create_project", lang)):
            new = st.text_input(t("new_project", lang), key="ws_new_project")
            if st.button(t("create_project", lang), key="ws_create_project") and new.strip():
                ok, _ = attempt(lambda: ws.create_project(new, actor=who), lang)
                if ok:
                    st.session_state["_keep_ws_project"] = new.strip()
                    st.rerun()
    st.sidebar.caption(f"{t('workspace_db', lang)}: {ws.backend}")
    return name


def _follow_default(key: str, default: str) -> None:
    """Keep the name box on ``default`` until the user types a name of their own."""
    typed = st.session_state.get(f"{key}_typed", False)
    if not typed or key not in st.session_state:
        st.session_state[key] = default
        st.session_state[f"{key}_typed"] = False


def _mark_typed(key: str) -> None:
    st.session_state[f"{key}_typed"] = True


def save_scenario_form(plan: SitingPlan, *, project: str, district: str | None,
                       dataset_token: str, default_name: str, lang: str) -> None:
    """Show the "save scenario" form of the Siting page.

    The name box shows ``default_name`` (pass ``options.default_name`` or
    :func:`planning.workspace.default_scenario_name`) and follows it while the options change,
    until the user types a name. Saving under a taken name asks for confirmation and then
    overwrites only the version the user was shown.
    """
    key = "ws_scenario_name"
    _follow_default(key, default_name)
    name = st.text_input(t("scenario_name", lang), key=key, on_change=_mark_typed, args=(key,))
    ws, who = workspace(), actor()
    pending = st.session_state.get("ws_pending_overwrite")
    if st.button(t("save_scenario", lang), key="ws_save_scenario"):
        try:
            wsp.save_scenario(ws, project, name, plan, actor=who, district=district,
                              dataset_token=dataset_token)
            st.session_state.pop("ws_pending_overwrite", None)
            st.success(f"{t('saved', lang)}: {name}")
        except wsp.ScenarioExistsError:
            version = wsp.get_scenario(ws, project, name).version
            pending = st.session_state["ws_pending_overwrite"] = (name, version)
        except (wsp.StaleWriteError, InputError, PermissionDenied) as exc:
            st.error(message(exc, lang))
    if pending and pending[0] == name:
        st.warning(t("exists_confirm", lang).format(v=pending[1]))
        c1, c2 = st.columns(2)
        if c1.button(t("overwrite", lang), key="ws_overwrite", type="primary"):
            ok, _ = attempt(lambda: wsp.save_scenario(
                ws, project, name, plan, actor=who, district=district,
                dataset_token=dataset_token, replace=pending[1]), lang)
            st.session_state.pop("ws_pending_overwrite", None)
            if ok:
                st.success(f"{t('saved', lang)}: {name}")
        if c2.button(t("cancel", lang), key="ws_cancel_overwrite"):
            st.session_state.pop("ws_pending_overwrite", None)
            st.rerun()


def progress_section(profile: Any, *, project: str, district: str | None, lang: str) -> None:
    """Overview: each milestone indicator over the ledger snapshots, against its targets."""
    ws = workspace()
    table = wsp.progress_table(ws, project, profile,
                               options=wsp.ProgressOptions(settings=settings()))
    st.markdown(f"**{t('progress_over_time', lang)}**")
    if table.empty:
        st.info(t("no_snapshots", lang))
        return
    area = district or "全市 city"
    rows = table[table["area"] == area]
    targets = [c for c in table.columns if c.startswith("target_")]
    cols = st.columns(max(1, rows["indicator"].nunique()))
    for col, (_ind, sub) in zip(cols, rows.groupby("indicator", sort=False), strict=False):
        label = sub["label_en" if lang == "en" else "label_zh"].iloc[0]
        chart = sub.set_index(pd.to_datetime(sub["report_date"]))[["value", *targets]]
        chart = chart.rename(columns={"value": label, **{
            c: f"{t('target', lang)} {c.removeprefix('target_')}" for c in targets}})
        col.caption(label)
        col.line_chart(chart.dropna(axis=1, how="all"))


def snapshot_form(counts: Any, *, project: str, lang: str) -> None:
    """Show the Data page form that saves a ledger summary (township counts) as a snapshot."""
    c1, c2, c3 = st.columns(3)
    when = c1.date_input(t("report_date", lang), value=dt.date.today(), key="ws_report_date")
    replace = c2.checkbox(t("replace_snapshot", lang), key="ws_replace_snapshot")
    if c3.button(t("save_snapshot", lang), key="ws_save_snapshot"):
        ok, n = attempt(lambda: wsp.import_ledger(workspace(), project, counts,
                                                  report_date=when, actor=actor(),
                                                  replace=replace), lang)
        if ok:
            st.success(f"{t('done', lang)}: {when} ({n})")
