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
                              "--p", "1", "--participation", "1.0"])
    assert res.exit_code == 1
    assert "total capacity" in res.output and "more staff" in res.output
    ok = runner.invoke(app, ["suggest", "--district", "东城区", "--model", "cap_pmedian",
                             "--p", "3", "--participation", "0.5"])
    assert ok.exit_code == 0 and "status=optimal" in ok.output


# --- bad input on the command line: clear errors (exit 2), nothing half-written ------------
def test_partial_district_lists_the_matches():
    res = runner.invoke(app, ["suggest", "--district", "东城"])
    assert res.exit_code == 2, res.output
    assert "did you mean '东城区'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["check", "--district", "火星区"])
    assert res.exit_code == 2 and "expected one of" in res.output


def test_out_into_a_missing_folder_is_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "findings.csv"
    res = runner.invoke(app, ["check", "--district", "东城区", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.stat().st_size > 0


def test_bad_out_suffix_is_refused_before_any_work(tmp_path):
    res = runner.invoke(app, ["check", "--out", str(tmp_path / "x.docx")])
    assert res.exit_code == 2 and "unsupported output .docx" in res.output
    assert not (tmp_path / "x.docx").exists()


def test_unknown_export_format_writes_nothing(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["export", str(out), "--formats", "html,png,pdf,gpkg,brief,xlsx"])
    assert res.exit_code == 2 and "xlsx" in res.output
    assert not out.exists() or not any(out.iterdir())


def test_year_outside_the_profile_is_an_input_error():
    res = runner.invoke(app, ["check", "--year", "1999"])
    assert res.exit_code == 2, res.output
    assert "1999" in res.output and "Traceback" not in res.output


def test_two_candidate_files_for_one_layer_are_refused(tmp_path):
    for name in ("districts.gpkg", "districts.geojson", "units.geojson", "facilities.csv"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    res = runner.invoke(app, ["check", "--data", str(tmp_path)])
    assert res.exit_code == 2
    assert "districts.gpkg" in res.output and "districts.geojson" in res.output


def test_csv_cells_never_become_formulas():
    import pandas as pd

    from planning.cli import _safe_csv

    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "ok"],
                          "n": [1, 2, 3, 4, 5]})
    out = _safe_csv(frame)
    assert out["name"].tolist() == ["'=HYPERLINK(\"x\")", "'+1", "'-2+3", "'@SUM(A1)", "ok"]
    assert out["n"].tolist() == [1, 2, 3, 4, 5]


def test_suggest_fair_mclp_reports_the_price_of_fairness():
    from planning.demo import beijing_demo
    from planning.siting.plan import SitingOptions, suggest_sites

    res = runner.invoke(app, ["suggest", "--district", "东城区", "--model", "fair_mclp",
                              "--p", "5", "--threshold", "10"])
    assert res.exit_code == 0, res.output
    plan = suggest_sites(beijing_demo().subset(["东城区"]),
                         SitingOptions(model="fair_mclp", p=5, threshold_min=10),
                         profile="beijing-2018")
    f = plan.fairness
    assert (f"fairness: worst township share={f.worst_share:.1%} ({f.unreachable} township(s) "
            f"no candidate reaches left out) price of fairness={f.price_of_fairness:.2%} "
            f"against mclp objective={f.baseline.objective:.6g} (optimal)") in res.output
