"""The CLI runs the same engine as the app: check / export (suggest is tested with siting)."""

from __future__ import annotations

import openpyxl
import pyogrio
from typer.testing import CliRunner

from planning.cli import app

runner = CliRunner()


def test_help_explains_each_command():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("check", "suggest", "export"):
        assert cmd in res.output
    res = runner.invoke(app, ["check", "--help"])
    assert "--profile" in res.output and "--fail-on-findings" in res.output


def test_check_reports_clauses_and_exit_codes(tmp_path):
    out = tmp_path / "findings.xlsx"
    res = runner.invoke(app, ["check", "--year", "2025", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "FAIL bj.township_station" in res.output and "000 §二(一)3" in res.output
    wb = openpyxl.load_workbook(out)
    assert len(wb.sheetnames) > 5
    res = runner.invoke(app, ["check", "--fail-on-findings"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["check", "--profile", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "input error" in res.output


def test_check_lists_profiles():
    res = runner.invoke(app, ["check", "--list"])
    assert res.exit_code == 0
    assert {"beijing-2018", "jiangmen-2021", "songyang-2023"} <= set(res.output.split())


def test_export_writes_files(tmp_path):
    res = runner.invoke(app, ["export", str(tmp_path), "--district", "东城区",
                              "--formats", "html,png,gpkg,brief"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "coverage_东城区.png").read_bytes()[:4] == b"\x89PNG"
    assert "leaflet" in (tmp_path / "coverage_东城区.html").read_text(encoding="utf-8").lower()
    layers = set(pyogrio.list_layers(tmp_path / "coverage_东城区.gpkg")[:, 0])
    assert {"units", "facilities", "findings"} <= layers
    assert (tmp_path / "brief_东城区.pdf").read_bytes().startswith(b"%PDF")


def test_export_bad_data_dir_exits_2(tmp_path):
    res = runner.invoke(app, ["export", str(tmp_path / "o"), "--data", str(tmp_path)])
    assert res.exit_code == 2
    assert "no districts.*" in res.output


def test_suggest_prints_status_bound_gap_and_writes_sites(tmp_path):
    out = tmp_path / "sites.csv"
    res = runner.invoke(app, ["suggest", "--district", "东城区", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "status=optimal" in res.output and "bound=" in res.output and "gap=0.000%" in res.output
    assert "straight_line_fallback" in res.output
    import pandas as pd

    sites = pd.read_csv(out)
    assert len(sites) >= 1 and {"lon", "lat", "unit_id"} <= set(sites.columns)


def test_suggest_infeasible_exits_1():
    res = runner.invoke(app, ["suggest", "--district", "东城区", "--model", "cap_pmedian",
                              "--p", "1"])
    assert res.exit_code == 1
    assert "total capacity" in res.output
