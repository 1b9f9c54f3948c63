"""Tests of the Excel compliance workbook (opened back with openpyxl)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import openpyxl
import pytest
from test_rules import build, drop, fac

from planning import rules
from planning.publish.workbook import compliance_workbook, sheet_name


@pytest.fixture(scope="module")
def findings():
    ds = build(lambda r: (fac(r, "ST-A1").update(floor_area_m2=40, name="=HYPERLINK(\"x\")"),
                          drop(r, lambda f: f["facility_id"] == "ST-B2")))
    return rules.evaluate(ds, "beijing-2018")


def _find_header(ws: openpyxl.worksheet.worksheet.Worksheet, first: str) -> int:
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value == first:
            return row[0].row
    msg = f"no header {first!r} in {ws.title}"
    raise AssertionError(msg)


def test_workbook_sheets_panes_filters_and_clause(tmp_path: Path, findings) -> None:
    path = tmp_path / "compliance.xlsx"
    compliance_workbook(findings, "beijing-2018", path, dataset_name="tiny",
                        synthetic_note="合成数据 synthetic data")
    wb = openpyxl.load_workbook(path)
    prof = rules.load_profile("beijing-2018")
    assert wb.sheetnames[0] == "汇总 Summary"
    assert wb.sheetnames[1:-1] == [r.id for r in prof.rules]
    assert wb.sheetnames[-1] == "条款 Clauses"
    assert all(len(n) <= 31 for n in wb.sheetnames)

    ws = wb["bj.station_floor_area"]
    top = [c.value for c in ws["A"][:8]]
    assert any("000 §二(三)12" in str(v) for v in top)  # clause cited at the top
    assert any("首都功能核心区不少于50平方米" in str(v) for v in top)  # clause text quoted
    assert any("synthetic" in str(v) for v in top)
    head = _find_header(ws, "编号")  # Chinese header row, English below it
    assert ws.cell(row=head + 1, column=1).value == "ID"
    assert ws.freeze_panes == f"A{head + 2}"
    assert ws.auto_filter.ref.startswith(f"A{head + 1}:")
    header = [c.value for c in ws[head + 1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True))
            for r in ws.iter_rows(min_row=head + 2)]
    failing = [r for r in rows if "fail" in r["Status"] and "not" not in r["Status"]]
    assert [r["ID"] for r in failing] == ["ST-A1"]
    assert failing[0]["Clause"] == "000 §二(三)12"
    assert failing[0]["Measured"] == 40 and failing[0]["Threshold"] == 50
    # user text that looks like a formula stays text
    cell = next(c for c in ws["C"] if c.value and str(c.value).startswith("=HYPERLINK"))
    assert cell.data_type == "s"

    summary = wb["汇总 Summary"]
    head = _find_header(summary, "规则")
    assert summary.freeze_panes == f"A{head + 2}" and summary.auto_filter.ref
    table = {summary.cell(row=r, column=1).value: [c.value for c in summary[r]]
             for r in range(head + 2, summary.max_row + 1)}
    hdr = [c.value for c in summary[head + 1]]
    station = dict(zip(hdr, table["bj.township_station"], strict=True))
    assert (station["Pass"], station["Fail"], station["Total"]) == (3, 1, 4)
    assert station["Clause"] == "000 §二(一)3"


def test_workbook_to_buffer_without_findings_for_a_rule(findings) -> None:
    buf = BytesIO()
    some = findings[findings["rule_id"] != "bj.star_rating"]
    compliance_workbook(some, rules.load_profile("beijing-2018"), buf, dataset_name="tiny")
    wb = openpyxl.load_workbook(BytesIO(buf.getvalue()))
    texts = [c.value for c in wb["bj.star_rating"]["A"][:9]]
    assert "本规则无评估结果 No findings for this rule" in texts


def test_sheet_names_are_safe_and_unique() -> None:
    taken = ["汇总 Summary"]
    long_id = "x" * 40
    a = sheet_name(long_id, taken)
    b = sheet_name(long_id, [*taken, a])
    assert len(a) == len(b) == 31 and a != b
    assert sheet_name("a/b:c*d?[e]") == "a_b_c_d__e_"
    assert sheet_name("History") != "History"


def test_clauses_sheet_lists_checked_and_unchecked(tmp_path: Path, findings) -> None:
    path = tmp_path / "c.xlsx"
    compliance_workbook(findings, "beijing-2018", path, dataset_name="tiny")
    ws = openpyxl.load_workbook(path)["条款 Clauses"]
    prof = rules.load_profile("beijing-2018")
    head = _find_header(ws, "条款")
    header = [c.value for c in ws[head + 1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True))
            for r in ws.iter_rows(min_row=head + 2)]
    checked = [r for r in rows if r["Checked"].startswith("核查")]
    unchecked = [r for r in rows if "not checkable" in r["Checked"]]
    assert len(checked) == len(prof.rules)
    assert len(unchecked) == len(prof.not_checkable) + len(prof.eligibility.recorded)
    privacy = next(r for r in unchecked if r["Clause"] == "000 §二(二)10")
    assert "隐私" in privacy["Quote"] and privacy["How checked / why not"]
    assert ws.cell(row=head + 2 + len(checked), column=1).fill.fgColor.rgb.endswith("E9ECEF")
    assert any("not from this text" in str(c.value) for c in ws["A"][:6])  # zone source


def test_rule_notes_in_chinese(tmp_path: Path, findings) -> None:
    path = tmp_path / "n.xlsx"
    compliance_workbook(findings, "beijing-2018", path, dataset_name="tiny")
    ws = openpyxl.load_workbook(path)["bj.station_outdoor_space"]
    top = [str(c.value) for c in ws["A"][:10]]
    assert any(v.startswith("注：按同句所列") for v in top)
    assert any(v.startswith("Note: Read as applying") for v in top)
