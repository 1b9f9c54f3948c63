"""No export and no log line leaks a ledger's ids, names, addresses or a count under 5.

A ledger with distinctive identifiers is ingested into the Beijing demo (Dongcheng), then every
export format is produced and scanned: offline HTML maps, PNG/PDF coverage maps and the district
brief, the GeoPackage, the compliance workbook and a findings CSV.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib

import pandas as pd
import pyogrio
import pytest

from planning import rules
from planning.data.ledger import apply_to_units, read_ledger
from planning.data.model import replace_layers
from planning.publish import maps, report, workbook
from planning.publish.privacy import install_log_scrubber

SECRET_IDS = [f"ZZID{i:05d}X" for i in range(60)]
SECRET_NAMES = [f"隐私姓名{i:02d}" for i in range(60)]
SECRET_ADDR = [f"秘密胡同{i:02d}号院" for i in range(60)]
SECRET_PHONE = "13912345678"


@pytest.fixture(scope="module")
def sensitive(demo, tmp_path_factory):
    ds = demo.subset(["东城区"])
    units = ds.units.reset_index(drop=True)
    # counts per township: 1, 2, 3, 4 (must be suppressed) and larger ones
    sizes = [1, 2, 3, 4] + [8] * (len(units) - 4)
    rows, k = [], 0
    pts = units.to_crs(units.estimate_utm_crs()).representative_point().to_crs(4326)
    for n, p in zip(sizes, pts, strict=True):
        for _ in range(n):
            i = k % 60
            rows.append({"患者编号": f"{SECRET_IDS[i]}{k}", "姓名": SECRET_NAMES[i],
                         "住址": f"北京市东城区{SECRET_ADDR[i]}", "联系电话": SECRET_PHONE,
                         "经度": p.x, "纬度": p.y, "年龄": 40, "危险性评估等级": 1,
                         "在家状态": "在家", "是否接受社区康复": "是" if k % 2 else "否"})
            k += 1
    path = tmp_path_factory.mktemp("ledger") / "台账.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    summary = read_ledger(path, units)
    new_units = apply_to_units(ds.units, summary)
    small = dict(zip(units["unit_id"], sizes, strict=True))
    return replace_layers(ds, units=new_units, source="ledger"), small


def _assert_clean(blob: bytes | str, what: str) -> None:
    text = blob.decode("utf-8", "ignore") if isinstance(blob, bytes) else blob
    # not the bare word 隐私 (privacy): policy clauses quoted in the workbook use it
    for secret in (*SECRET_IDS, *SECRET_NAMES, *SECRET_ADDR, SECRET_PHONE, "隐私姓名", "秘密胡同"):
        assert secret not in text, f"{what} leaks {secret!r}"


def _pdf_text(data: bytes) -> str:
    out = [data.decode("latin-1")]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out)


def test_aggregates_arrived_and_small_cells_exist(sensitive):
    ds, small = sensitive
    counts = dict(zip(ds.units["unit_id"], ds.units["patients"], strict=True))
    assert [counts[u] for u, n in small.items() if n < 5] == [1, 2, 3, 4]


def test_html_maps_suppress_small_counts(sensitive):
    ds, _small = sensitive
    html = maps.map_html(maps.planner_map(ds))
    _assert_clean(html, "planner map HTML")
    published = re.findall(r'"patients": "?([^",}]*)', html)
    assert published, "the map should carry the (suppressed) patient counts"
    assert not {"1", "2", "3", "4"} & set(published)
    assert any(v.endswith("lt;5") or v == "<5" for v in published)  # shown as "<5"
    _assert_clean(report.map_html_bytes(ds), "coverage HTML")


def test_static_maps_and_brief_carry_no_identifiers(sensitive):
    ds, _ = sensitive
    fig = report.coverage_figure(ds)
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    _assert_clean(texts, "PNG/PDF map text")
    _assert_clean(_pdf_text(report.figure_bytes(fig, "pdf")), "PDF map")
    buf = io.BytesIO()
    report.district_brief(ds, "东城区", buf)
    _assert_clean(_pdf_text(buf.getvalue()), "district brief")


def test_geopackage_suppresses_and_has_no_identifiers(sensitive, tmp_path):
    ds, small = sensitive
    findings = rules.evaluate(ds, "beijing-2018")
    path = report.export_gpkg(ds, tmp_path / "x.gpkg", findings=findings)
    _assert_clean(path.read_bytes(), "GeoPackage")
    units = pyogrio.read_dataframe(path, layer="units")
    vals = units.set_index("unit_id")["patients"].astype(str)
    for uid, n in small.items():
        if n < 5:
            assert vals[uid] in ("<5", "*"), f"{uid}: {vals[uid]}"
    numeric = pd.to_numeric(vals, errors="coerce")
    assert not numeric.between(1, 4).any()


def test_workbook_and_csv_have_no_identifiers(sensitive):
    ds, _ = sensitive
    findings = rules.evaluate(ds, "beijing-2018")
    buf = io.BytesIO()
    workbook.compliance_workbook(findings, "beijing-2018", buf, dataset_name=ds.name)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        for name in zf.namelist():
            _assert_clean(zf.read(name), f"workbook {name}")
    _assert_clean(findings.to_csv(index=False), "findings CSV")


def test_no_log_line_leaks(sensitive, demo, tmp_path, caplog):
    ds, _ = sensitive
    with caplog.at_level(logging.DEBUG):
        install_log_scrubber()  # as the app does at start
        units = demo.subset(["东城区"]).units
        pd.DataFrame({"患者编号": [SECRET_IDS[0]], "姓名": [SECRET_NAMES[0]],
                      "住址": ["火星" + SECRET_ADDR[0]], "年龄": [40]}).to_csv(
            tmp_path / "l.csv", index=False)
        summary = read_ledger(tmp_path / "l.csv", units)
        assert summary.n_unmatched == 1
        report.export_gpkg(ds, tmp_path / "y.gpkg")
        maps.map_html(maps.planner_map(ds))
        logging.getLogger("planning").warning("patient %s at %s", SECRET_IDS[1], SECRET_PHONE)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET_NAMES[0] not in text and SECRET_ADDR[0] not in text
    assert SECRET_IDS[0] not in text
    assert SECRET_PHONE not in text  # scrubbed even when code logs it by mistake
