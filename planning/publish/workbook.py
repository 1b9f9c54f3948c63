"""The Excel compliance workbook: a summary sheet plus one sheet per rule, clause cited on top.

Headers are bilingual: Chinese in the first header row, English in the second. Every table has
frozen header rows and an autofilter; failing rows are tinted red and not-assessable rows grey.
Text cells that start with ``=``, ``+``, ``-`` or ``@`` are written as text (quote-prefixed),
never as formulas; control characters Excel refuses are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from planning.rules import load_profile, summarise
from planning.rules.profile import Profile

__all__ = ["compliance_workbook", "progress_sheet", "sheet_name"]

#: (column, 中文, English) of a rule sheet's table.
RULE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("entity_id", "编号", "ID"),
    ("entity_type", "类型", "Type"),
    ("entity_name", "名称", "Name"),
    ("district", "所属区", "District"),
    ("milestone", "目标年份", "Milestone"),
    ("measured", "实测值", "Measured"),
    ("op", "比较", "Op"),
    ("threshold", "标准值", "Threshold"),
    ("status", "结果", "Status"),
    ("reason", "说明", "Reason"),
    ("clause", "条款", "Clause"),
)
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rule_id", "规则", "Rule"),
    ("title_zh", "要求", "Requirement (zh)"),
    ("title_en", "要求（英文）", "Requirement (en)"),
    ("clause", "条款", "Clause"),
    ("milestone", "目标年份", "Milestone"),
    ("pass", "达标", "Pass"),
    ("fail", "未达标", "Fail"),
    ("not_assessable", "无法评估", "Not assessable"),
    ("total", "合计", "Total"),
    ("sheet", "工作表", "Sheet"),
)
STATUS_ZH = {"pass": "达标 pass", "fail": "未达标 fail",
             "not_assessable": "无法评估 not_assessable"}
_FILL = {"fail": PatternFill("solid", fgColor="F8D7DA"),
         "not_assessable": PatternFill("solid", fgColor="E9ECEF")}
_HEAD = PatternFill("solid", fgColor="DDE7F0")
_FORMULA_START = ("=", "+", "-", "@")
_BAD_CHARS = re.compile(r"[\[\]:*?/\\']")


def sheet_name(rule_id: str, taken: Sequence[str] = ()) -> str:
    r"""Make an Excel-safe, unique sheet name (≤ 31 characters, no ``[]:*?/\'``) for a rule id."""
    base = _BAD_CHARS.sub("_", rule_id).strip() or "rule"
    if base.lower() == "history":
        base = "history_"
    name, n = base[:31], 1
    lowered = {t.lower() for t in taken}
    while name.lower() in lowered:
        n += 1
        suffix = f"~{n}"
        name = base[: 31 - len(suffix)] + suffix
    return name


def _cell_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters Excel refuses
    return value


def _write(ws: Worksheet, row: int, col: int, value: Any) -> None:
    cell = ws.cell(row=row, column=col, value=_cell_value(value))
    if isinstance(cell.value, str) and cell.value[:1] in _FORMULA_START:
        cell.data_type = "s"  # user text, never a formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited


def _table(ws: Worksheet, top: int, frame: pd.DataFrame,
           columns: Sequence[tuple[str, str, str]]) -> None:
    """Write a bilingual two-row header at ``top`` and ``frame`` below; freeze and filter."""
    for j, (_key, zh, en) in enumerate(columns, start=1):
        for r, text in ((top, zh), (top + 1, en)):
            cell = ws.cell(row=r, column=j, value=text)
            cell.font = Font(bold=True)
            cell.fill = _HEAD
    for i, rec in enumerate(frame.itertuples(index=False), start=top + 2):
        values = dict(zip(frame.columns, rec, strict=True))
        for j, (key, _zh, _en) in enumerate(columns, start=1):
            _write(ws, i, j, values.get(key))
        fill = _FILL.get(values.get("status_code", values.get("status")))
        if fill is not None:
            for j in range(1, len(columns) + 1):
                ws.cell(row=i, column=j).fill = fill
    last_row = top + 1 + max(len(frame), 1)
    ws.auto_filter.ref = f"A{top + 1}:{get_column_letter(len(columns))}{last_row}"
    ws.freeze_panes = ws.cell(row=top + 2, column=1)
    for j, (key, zh, en) in enumerate(columns, start=1):
        sample = frame[key].astype(str).str.len().max() if key in frame and len(frame) else 0
        sample = 0 if pd.isna(sample) else int(sample)
        width = max(len(en), 2 * len(zh), min(sample, 50)) + 2
        ws.column_dimensions[get_column_letter(j)].width = width


def _banner(ws: Worksheet, lines: Sequence[tuple[str, bool]]) -> int:
    """Write heading lines; return the first free row after a blank line."""
    for r, (text, bold) in enumerate(lines, start=1):
        cell = ws.cell(row=r, column=1, value=_cell_value(text))
        cell.font = Font(bold=bold, size=12 if r == 1 else 11,
                         color="B00020" if text.startswith("⚠") else None)
        cell.alignment = Alignment(wrap_text=False)
    return len(lines) + 2


def compliance_workbook(findings: pd.DataFrame, profile: Profile | str | Path,
                        path_or_buffer: str | Path | BytesIO, *, dataset_name: str,
                        synthetic_note: str | None = None) -> None:
    """Write the compliance workbook for a findings table (from :func:`planning.rules.evaluate`).

    Parameters
    ----------
    findings
        The tidy findings table.
    profile
        The profile that produced it (object, packaged name or YAML path): titles, clauses and
        quoted clause text come from here.
    path_or_buffer
        ``.xlsx`` path or a binary buffer.
    dataset_name
        Shown on every sheet.
    synthetic_note
        If given (synthetic or partly synthetic data), printed as a warning on every sheet.
    """
    prof = load_profile(profile)
    wb = Workbook()
    summary_ws = wb.active
    summary_ws.title = "汇总 Summary"
    warn = [(f"⚠ {synthetic_note}", True)] if synthetic_note else []
    counts = summarise(findings).by_rule if len(findings) else pd.DataFrame(
        columns=["rule_id", "milestone"])
    taken: list[str] = [summary_ws.title]
    sheets: dict[str, str] = {}
    for rule in prof.rules:
        name = sheet_name(rule.id, taken)
        taken.append(name)
        sheets[rule.id] = name
        ws = wb.create_sheet(name)
        rows = findings[findings["rule_id"] == rule.id].copy()
        rows["status_code"] = rows["status"]
        rows["status"] = rows["status"].map(STATUS_ZH)
        milestones = ", ".join(str(m) for m in rule.milestones) or "—"
        top = _banner(ws, [
            (f"{rule.title_zh} / {rule.title_en}", True),
            (f"依据 Source: {rule.citation} 《{rule.document.title}》", False),
            (f"原文 Clause: “{rule.quote}”", False),
            (f"规则 Rule: {rule.id}  指标 metric: {rule.metric}  范围 scope: {rule.scope}  "
             f"目标年份 milestone(s): {milestones}", False),
            *([(f"注：{rule.note_zh}", False)] if rule.note_zh else []),
            *([(f"Note: {rule.note}", False)] if rule.note else []),
            (f"数据集 Dataset: {dataset_name}", False),
            *warn,
            *([] if len(rows) else [("本规则无评估结果 No findings for this rule", True)]),
        ])
        _table(ws, top, rows, RULE_COLUMNS)
    table = counts.copy()
    table["sheet"] = table["rule_id"].map(sheets)
    top = _banner(summary_ws, [
        (f"合规检查 Compliance check — {prof.title_zh} / {prof.title_en}", True),
        (f"数据集 Dataset: {dataset_name}", False),
        *warn,
        ("依据 Documents: " + "; ".join(f"{d.key} 《{d.title}》"
                                      for d in prof.documents.values()), False),
        (f"生成日期 Generated: {date.today().isoformat()}  ·  每条规则一张工作表，"
         "原文条款见各表顶部 (one sheet per rule; clause text at the top of each)", False),
    ])
    _table(summary_ws, top, table, SUMMARY_COLUMNS)
    _clauses_sheet(wb, prof, sheets, dataset_name)
    wb.save(path_or_buffer)


#: (column, 中文, English) of the clauses sheet: every clause, checked or not.
CLAUSE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("clause", "条款", "Clause"),
    ("document", "文件", "Document"),
    ("title_zh", "要求", "Requirement (zh)"),
    ("title_en", "要求（英文）", "Requirement (en)"),
    ("checked", "是否核查", "Checked"),
    ("how", "核查方式/原因", "How checked / why not"),
    ("quote", "原文", "Quote"),
)


def _clauses_sheet(wb: Workbook, prof: Profile, sheets: dict[str, str],
                   dataset_name: str) -> None:
    """List every clause of the profile: checked rules (with their sheet) and not-checkable."""
    rows = [{"clause": r.citation, "document": r.document.title, "title_zh": r.title_zh,
             "title_en": r.title_en, "checked": "核查 checked",
             "how": f"工作表 sheet {sheets.get(r.id, r.id)}"
                    + (f"；{r.note_zh}" if r.note_zh else ""), "quote": r.quote}
            for r in prof.rules]
    rows += [{"clause": n.citation, "document": n.document.title, "title_zh": n.title_zh,
              "title_en": n.title_en, "checked": "无法核查 not checkable",
              "how": f"{n.why_zh} / {n.why_en}", "quote": n.quote,
              "status": "not_assessable"} for n in prof.not_checkable]
    if prof.eligibility is not None:
        rows += [{"clause": prof.eligibility.citation, "document": "", "title_zh": zh,
                  "title_en": en, "checked": "无法核查 not checkable",
                  "how": "服务对象条件，台账无此字段 / a client criterion no ledger column holds",
                  "quote": prof.eligibility.quote, "status": "not_assessable"}
                 for _key, zh, en in prof.eligibility.recorded]
    ws = wb.create_sheet(sheet_name("条款 Clauses", list(wb.sheetnames)))
    top = _banner(ws, [
        (f"全部条款 All clauses — {prof.title_zh}", True),
        ("已核查的规则与无法用数据核查的条款（灰色）；本工具不覆盖灰色各项 / Checked rules and "
         "clauses data cannot check (grey): the tool does not cover the grey ones", False),
        *([(f"功能区划分来源 Zones: {prof.zone_source}", False)] if prof.zone_source else []),
        (f"数据集 Dataset: {dataset_name}", False),
    ])
    _table(ws, top, pd.DataFrame(rows), CLAUSE_COLUMNS)


def compliance_workbook_bytes(findings: pd.DataFrame, profile: Profile | str | Path, *,
                              dataset_name: str, synthetic_note: str | None = None) -> bytes:
    """:func:`compliance_workbook` written to memory, for a download button."""
    buf = BytesIO()
    compliance_workbook(findings, profile, buf, dataset_name=dataset_name,
                        synthetic_note=synthetic_note)
    return buf.getvalue()


def progress_sheet(wb: Workbook, progress: pd.DataFrame, *,
                   title: str = "progress") -> Worksheet:
    """Add a sheet of milestone indicators over time (from ``planning.workspace.progress_table``).

    Parameters
    ----------
    wb : openpyxl.Workbook
        The workbook to add the sheet to (e.g. one made by :func:`compliance_workbook`, reopened).
    progress : pandas.DataFrame
        Tidy rows ``report_date, area, indicator, label_zh, label_en, value, suppressed,
        target_<year>…, met_<year>…``, already suppressed for publication.
    title : str
        Sheet name (keyword-only).

    Returns
    -------
    Worksheet
        The new sheet: a bilingual header, one row per date × area × indicator.
    """
    years = [c.removeprefix("target_") for c in progress.columns if c.startswith("target_")]
    columns = (("report_date", "报告日期", "Reporting date"), ("area", "地区", "Area"),
               ("label_zh", "指标", "Indicator (zh)"), ("label_en", "指标（英文）", "Indicator"),
               ("value", "实测值", "Measured"),
               *((f"target_{y}", f"{y}年目标", f"Target {y}") for y in years),
               *((f"met_{y}", f"{y}年是否达标", f"Met {y}") for y in years),
               ("suppressed", "小数值已隐藏", "Small count hidden"))
    frame = progress.copy()
    frame["report_date"] = frame["report_date"].astype(str)
    for col in [c for c in frame.columns if c.startswith("met_")] + ["suppressed"]:
        frame[col] = frame[col].map(lambda v: None if v is None or v is pd.NA
                                    else ("是 yes" if bool(v) else "否 no"))
    ws = wb.create_sheet(sheet_name(title, wb.sheetnames))
    top = _banner(ws, [("指标进展 Progress over time", True),
                       (f"生成日期 Generated: {date.today().isoformat()}", False)])
    _table(ws, top, frame, columns)
    return ws
