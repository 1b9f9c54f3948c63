"""Print-ready outputs, checked the way a printer sees them: rendered by poppler."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import rc_context
from PIL import Image

from planning.publish import report
from planning.rules import evaluate_scope, load_profile

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                reason="poppler-utils missing; `make test` installs it")

PT = 72.0
SIZES_PT = {("A4", "portrait"): (595.3, 841.9), ("A4", "landscape"): (841.9, 595.3),
            ("A3", "portrait"): (841.9, 1190.6), ("A3", "landscape"): (1190.6, 841.9)}


def _pdfinfo_size(path) -> tuple[float, float]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                         check=True).stdout
    w, h = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", out).groups()
    assert re.search(r"Pages:\s+1\b", out)
    return float(w), float(h)


def _render(path, tmp_path, dpi: int) -> Image.Image:
    stem = tmp_path / path.stem
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(path), str(stem)],
                   check=True)
    return Image.open(f"{stem}.png").convert("RGB")


def _near(img: np.ndarray, hex_colour: str, tol: int = 18) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return (np.abs(img.astype(int) - rgb).max(axis=2) <= tol)


@pytest.mark.parametrize(("paper", "orientation"), list(SIZES_PT))
def test_coverage_pdf_has_the_paper_size_and_the_legend_off_the_map(demo, tmp_path, paper,
                                                                     orientation):
    opts = report.PrintOptions(paper, orientation, "zh", "beijing-2018", 2020)
    fig = report.coverage_figure(demo, page=opts)
    path = tmp_path / f"cov_{paper}_{orientation}.pdf"
    path.write_bytes(report.figure_bytes(fig, "pdf"))
    w, h = _pdfinfo_size(path)
    assert (w, h) == pytest.approx(SIZES_PT[(paper, orientation)], abs=1.5)

    dpi = 40
    img = np.asarray(_render(path, tmp_path, dpi))
    assert img.shape[1] == pytest.approx(w / PT * dpi, abs=2)
    # where the legend is on the page (from the figure), in rendered pixels (y down)
    with rc_context(report._style()):  # the fonts the PDF was drawn with
        fig.draw_without_rendering()
        legend = next(a.get_legend() for a in fig.axes if a.get_legend() is not None)
        box = legend.get_window_extent().transformed(fig.transFigure.inverted())
    H, W = img.shape[:2]
    lx0, lx1 = int(box.x0 * W), int(np.ceil(box.x1 * W))
    ly0, ly1 = int((1 - box.y1) * H), int(np.ceil((1 - box.y0) * H))
    # where the township fills are drawn, outside the legend box
    fills = _near(img, "#9ecae1") | _near(img, "#fc9272")
    fills[ly0:ly1, lx0:lx1] = False
    ys, xs = np.nonzero(fills)
    assert len(xs) > 1000  # the map is there
    fx0, fx1, fy0, fy1 = xs.min(), xs.max(), ys.min(), ys.max()
    overlap = not (lx1 < fx0 or lx0 > fx1 or ly1 < fy0 or ly0 > fy1)
    assert not overlap, f"legend {lx0, ly0, lx1, ly1} overlaps the mapped area {fx0, fy0, fx1, fy1}"


def test_png_keeps_the_page_and_the_title(demo, tmp_path):
    fig = report.coverage_figure(demo, page=report.PrintOptions("A4", "landscape", "en"))
    png = Image.open(__import__("io").BytesIO(report.figure_bytes(fig, "png")))
    assert png.size == (round(11.69 * 200), round(8.27 * 200))  # no tight crop
    top = np.asarray(png.convert("L"))[: png.size[1] // 20]
    assert (top < 128).any()  # the title is inside the page, not clipped


def test_footer_names_only_what_the_dataset_has(demo):
    real = dataclasses.replace(demo, synthetic=(), sources=())
    sub, footer = report.identity_lines(real, report.PrintOptions(profile="p", year=2025))
    assert footer == []  # no empty "来源：", no synthetic note, no demo credits
    assert "p" in sub and "2025" in sub and real.name in sub
    sub, footer = report.identity_lines(demo, report.PrintOptions())
    assert footer[0].startswith("来源：") and "合成" in footer[-1]


def test_brief_fills_an_a4_page_with_profile_year_and_citations(demo, tmp_path):
    profile = load_profile("beijing-2018")
    findings = evaluate_scope(demo, profile, district="朝阳区", year=2020)
    path = tmp_path / "brief.pdf"
    report.district_brief(demo, "朝阳区", path, findings=findings,
                          page=report.PrintOptions(profile="beijing-2018", year=2020))
    assert _pdfinfo_size(path) == pytest.approx((595.3, 841.9), abs=1.5)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "beijing-2018" in text and "2020" in text
    assert "未达标条款" in text and "§" in text  # clauses with their citations
    assert "街乡一览" in text
    ink = np.asarray(_render(path, tmp_path, 30).convert("L")) < 200
    rows_with_ink = ink.any(axis=1)
    bands = np.array_split(rows_with_ink, 10)
    assert all(b.any() for b in bands[1:]), "a band of the page is empty"  # fills its page


def test_html_map_has_title_heading_date_and_sources(demo):
    html = report.map_html_bytes(demo, district="东城区",
                                 page=report.PrintOptions(profile="beijing-2018",
                                                          year=2020)).decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert demo.name in title and "东城区" in title
    assert re.search(r"<h1[^>]*>[^<]*东城区", html)
    assert demo.data_date in html and "来源：" in html and "beijing-2018" in html
    real = dataclasses.replace(demo, synthetic=(), sources=("区统计局 2024",))
    html = report.map_html_bytes(real).decode()
    assert "合成" not in html.split("<script")[0] and "区统计局 2024" in html
