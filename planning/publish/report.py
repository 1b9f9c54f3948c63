"""Exports for officials: static coverage maps (PNG/PDF), offline HTML, GeoPackage, briefs.

Static maps are drawn with geopandas/matplotlib in a metric CRS so the scale bar is true; every
map carries a title, legend, north arrow, scale bar, data date and a source line (which says
"synthetic" when the dataset is). Only aggregates are exported; patient counts go through
small-cell suppression first.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from textwrap import fill

import geopandas as gpd
import pandas as pd
from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch

from planning.data import crs
from planning.data.io import write_gpkg
from planning.data.model import FACILITY_KINDS, Dataset
from planning.errors import InputError
from planning.publish import maps
from planning.publish.privacy import public_units
from planning.rules import indicators
from planning.settings import DEFAULT, Settings

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei",
             "Microsoft YaHei", "PingFang SC")


def cjk_font() -> str | None:
    """Return the first installed font family that has Chinese glyphs, if any."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in installed), None)


def _style() -> dict:
    font = cjk_font()
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    return {"font.family": "sans-serif", "font.sans-serif": family,
            "axes.unicode_minus": False, "pdf.fonttype": 42}


PAPERS: dict[str, tuple[float, float]] = {"A4": (8.27, 11.69), "A3": (11.69, 16.54)}
"""Paper sizes in inches (portrait)."""


@dataclass(frozen=True)
class PrintOptions:
    """How a static map or brief is laid out for print.

    Attributes
    ----------
    paper
        ``"A4"`` or ``"A3"``.
    orientation
        ``"portrait"`` or ``"landscape"``.
    lang
        ``"zh"`` or ``"en"``.
    profile
        Name of the policy profile the figures were checked against (shown in the subtitle).
    year
        Milestone year (shown in the subtitle).
    """

    paper: str = "A4"
    orientation: str = "portrait"
    lang: str = "zh"
    profile: str | None = None
    year: int | None = None

    def __post_init__(self) -> None:
        """Validate paper and orientation."""
        if self.paper not in PAPERS:
            msg = f"paper {self.paper!r}: choose one of {', '.join(PAPERS)}"
            raise InputError(msg, field="paper")
        if self.orientation not in ("portrait", "landscape"):
            msg = f"orientation {self.orientation!r}: choose portrait or landscape"
            raise InputError(msg, field="orientation")

    @property
    def size(self) -> tuple[float, float]:
        """Page size in inches (width, height)."""
        w, h = PAPERS[self.paper]
        return (w, h) if self.orientation == "portrait" else (h, w)

    @property
    def scale(self) -> float:
        """Font scale relative to A4."""
        return 1.0 if self.paper == "A4" else 1.35


def _nice_length(max_m: float) -> float:
    """Pick a round scale-bar length (1, 2, 5 × 10^k metres) not longer than ``max_m``."""
    exp = 10 ** math.floor(math.log10(max_m))
    for f in (5, 2, 1):
        if f * exp <= max_m:
            return f * exp
    return exp


def identity_lines(dataset: Dataset, opts: PrintOptions) -> tuple[str, list[str]]:
    """Subtitle (dataset, profile, milestone year, data date) and footer lines of an output.

    The footer names the data date and the dataset's own sources; the synthetic note appears
    only when the dataset says it is synthetic (real data never carries the demo's credits).
    """
    zh = opts.lang == "zh"
    sub = [dataset.name]
    if opts.profile:
        sub.append(("政策文件：" if zh else "Profile: ") + opts.profile)
    if opts.year:
        sub.append(f"目标年份：{opts.year}" if zh else f"Milestone year: {opts.year}")
    if dataset.data_date:
        sub.append(f"数据时间：{dataset.data_date}" if zh else
                    f"Data date: {dataset.data_date}")
    footer = []
    if dataset.sources:
        footer.append(("来源：" if zh else "Sources: ") + "；".join(dataset.sources))
    if dataset.is_synthetic:
        footer.append("注意：部分数据为合成演示数据（" + "、".join(dataset.synthetic) + "），"
                      "不可用于实际决策。" if zh else
                      "NOTE: parts of this dataset are SYNTHETIC demo data ("
                      + ", ".join(dataset.synthetic) + "); not for real decisions.")
    return " · ".join(sub), footer


def _draw_coverage(ax: Axes, ds: Dataset, *, lang: str,
                   suggested: gpd.GeoDataFrame | None) -> list:
    """Draw townships, districts, facilities (and suggested sites); return legend handles."""
    zh = lang == "zh"
    metric = crs.metric_crs(ds.units)
    covered = set(ds.stations()["unit_id"].dropna())
    units = ds.units.to_crs(metric)
    has = units["unit_id"].isin(covered)
    units[has].plot(ax=ax, color="#9ecae1", edgecolor="#666666", linewidth=0.3)
    units[~has].plot(ax=ax, color="#fc9272", edgecolor="#666666", linewidth=0.3)
    ds.districts.to_crs(metric).boundary.plot(ax=ax, color="#222222", linewidth=1.0)
    handles = [
        Patch(facecolor="#9ecae1", edgecolor="#666666",
              label="有驿站的街乡" if zh else "Township with a station"),
        Patch(facecolor="#fc9272", edgecolor="#666666",
              label="无驿站的街乡" if zh else "Township without a station"),
    ]
    fac = ds.facilities.to_crs(metric)
    for kind in ("rehab_station", "welfare_institution", "psychiatric_hospital",
                 "halfway_house"):
        sub = fac[fac["kind"] == kind]
        if sub.empty:
            continue
        colour = maps.KIND_COLOURS[kind]
        size = 9 if kind == "rehab_station" else 22
        sub.plot(ax=ax, color=colour, markersize=size, edgecolor="white", linewidth=0.3)
        label = FACILITY_KINDS[kind] if zh else maps.KIND_LABELS_EN[kind]
        handles.append(Line2D([], [], marker="o", ls="", color=colour,
                              label=f"{label} ({len(sub)})"))
    if suggested is not None and len(suggested):
        sug = suggested.to_crs(metric)
        sug.plot(ax=ax, color="#E69F00", marker="*", markersize=90, edgecolor="black",
                 linewidth=0.5)
        handles.append(Line2D([], [], marker="*", ls="", color="#E69F00", markersize=12,
                              label=("建议新址" if zh else "Suggested site") + f" ({len(sug)})"))
    ax.set_aspect("equal")
    ax.set_axis_off()
    return handles


def _furniture(fig: Figure, ax: Axes, panel: tuple[float, float, float, float], *,
               handles: list, opts: PrintOptions) -> Axes:
    """Legend, north arrow and scale bar in ``panel`` (figure fractions), outside the map."""
    zh = opts.lang == "zh"
    s = opts.scale
    ax.apply_aspect()
    pos = ax.get_position()
    x0, x1 = ax.get_xlim()
    pax = fig.add_axes(panel)
    pax.set_axis_off()
    pax.set_xlim(0, 1)
    pax.set_ylim(0, 1)
    pax.legend(handles=handles, loc="upper left", fontsize=7.5 * s, framealpha=1.0,
               title="图例" if zh else "Legend", title_fontsize=8.5 * s, borderaxespad=0,
               frameon=True, edgecolor="#999999")
    # scale bar: true length on the map (the map axes are in metres), drawn in the panel
    length = _nice_length((x1 - x0) * 0.3)
    bar = length / (x1 - x0) * pos.width  # figure fraction
    px, pw = panel[0], panel[2]
    wide = pw > 0.3  # a panel below the map: legend left, scale bar and arrow right
    bx = px + pw * 0.55 if wide else px
    by = panel[1] + panel[3] * (0.45 if wide else 0.12)
    fig.add_artist(Line2D([bx, bx + bar], [by, by], color="black", lw=3,
                          solid_capstyle="butt", transform=fig.transFigure))
    fig.add_artist(Line2D([bx, bx + bar / 2], [by, by], color="white", lw=1.5,
                          solid_capstyle="butt", transform=fig.transFigure))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    fig.text(bx + bar / 2, by + 0.006, label, ha="center", va="bottom", fontsize=8 * s)
    fig.text(bx, by - 0.006, "比例尺" if zh else "Scale", ha="left", va="top",
             fontsize=7 * s, color="#444444")
    # north arrow (UTM grid north ≈ true north within a city)
    nx = px + pw * 0.92 if wide else px + pw * 0.5
    ny = panel[1] + panel[3] * (0.35 if wide else 0.22)
    fig.text(nx, ny + 0.045, "N", ha="center", va="bottom", fontsize=11 * s,
             fontweight="bold")
    fig.add_artist(FancyArrowPatch((nx, ny), (nx, ny + 0.043), arrowstyle="-|>",
                                   mutation_scale=14 * s, color="black", lw=1.5,
                                   transform=fig.transFigure))
    return pax


def _header_footer(fig: Figure, *, title: str, subtitle: str, footer: list[str],
                   opts: PrintOptions) -> None:
    s = opts.scale
    fig.text(0.04, 0.975, title, fontsize=15 * s, fontweight="bold", va="top")
    fig.text(0.04, 0.975 - 0.03 * (11.69 / opts.size[1]) * s, subtitle, fontsize=8.5 * s,
             color="#333333", va="top")
    width = int(150 * opts.size[0] / 8.27 / s)  # characters per footer line
    y = 0.012
    for line in reversed(footer):
        text = fill(line, width)
        fig.text(0.04, y, text, fontsize=6.5 * s, color="#444444", ha="left", va="bottom")
        y += 0.013 * s * (11.69 / opts.size[1]) * (text.count("\n") + 1) + 0.004


def coverage_figure(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    title: str | None = None,
    suggested: gpd.GeoDataFrame | None = None,
    page: PrintOptions | None = None,
) -> Figure:
    """Lay out a print-ready coverage map: townships with/without a station, facilities by kind.

    The page is exactly the chosen paper (A4/A3, portrait/landscape): title and subtitle
    (dataset, profile, milestone year, data date) on top, the map, and beside or below it —
    never on it — the legend, north arrow and scale bar; sources (and the synthetic note when
    the data are synthetic) at the bottom.

    Parameters
    ----------
    dataset
        The validated dataset.
    district
        Restrict to one district (by name); the whole city when ``None``.
    lang
        ``"zh"`` or ``"en"`` (``page.lang`` wins when ``page`` is given).
    title
        Replace the default title.
    suggested
        Optional suggested new sites (points) from :mod:`planning.siting`, drawn as stars.
    page
        Paper, orientation, profile and year; A4 portrait by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    opts = page or PrintOptions(lang=lang)
    ds = dataset.subset([district]) if district else dataset
    zh = opts.lang == "zh"
    where = district or ("全市" if zh else "whole city")
    if title is None:
        title = (f"{dataset.name} · {where} · 康复驿站覆盖" if zh else
                 f"{dataset.name} · {where} · rehab station coverage")
    subtitle, footer = identity_lines(dataset, opts)
    with rc_context(_style()):
        # A bare Figure (no pyplot): no global state, safe across Streamlit sessions.
        fig = Figure(figsize=opts.size)
        if opts.orientation == "portrait":
            map_rect, panel = (0.04, 0.22, 0.92, 0.68), (0.04, 0.07, 0.92, 0.13)
        else:
            map_rect, panel = (0.03, 0.08, 0.70, 0.80), (0.76, 0.10, 0.21, 0.76)
        ax = fig.add_axes(map_rect)
        handles = _draw_coverage(ax, ds, lang=opts.lang, suggested=suggested)
        _furniture(fig, ax, panel, handles=handles, opts=opts)
        _header_footer(fig, title=title, subtitle=subtitle, footer=footer, opts=opts)
    return fig


def save_figure(fig: Figure, path: str | Path | io.BytesIO, *, fmt: str | None = None) -> None:
    """Save a figure as PNG (200 dpi) or PDF at its exact page size (no cropping)."""
    if fmt is None:
        fmt = Path(path).suffix.lstrip(".").lower()
    with rc_context(_style()):
        fig.savefig(path, format=fmt, dpi=200 if fmt == "png" else None)


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """Render a figure to PNG or PDF bytes (for download buttons)."""
    buf = io.BytesIO()
    save_figure(fig, buf, fmt=fmt)
    return buf.getvalue()


def map_html_bytes(dataset: Dataset, *, district: str | None = None, lang: str = "zh",
                   settings: Settings = DEFAULT, page: PrintOptions | None = None) -> bytes:
    """Write the interactive map as a standalone, offline HTML file with title and sources."""
    opts = page or PrintOptions(lang=lang)
    zh = opts.lang == "zh"
    m = maps.overview_map(dataset, district=district, lang=opts.lang, settings=settings)
    where = district or ("全市" if zh else "whole city")
    title = (f"{dataset.name} · {where} · 康复驿站覆盖" if zh else
             f"{dataset.name} · {where} · rehab station coverage")
    subtitle, footer = identity_lines(dataset, opts)
    return maps.map_html(m, maps.MapPage(title, subtitle, tuple(footer))).encode("utf-8")



def sites_gpkg_bytes(sites: gpd.GeoDataFrame, *, layer: str = "suggested_sites") -> bytes:
    """Suggested sites as the bytes of a GeoPackage (one layer), for a download button."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_gpkg({layer: sites}, Path(tmp) / "sites.gpkg")
        return path.read_bytes()


def gpkg_bytes(dataset: Dataset, *, findings: pd.DataFrame | None = None,
               settings: Settings = DEFAULT) -> bytes:
    """:func:`export_gpkg` written to memory, for a download button."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return export_gpkg(dataset, Path(tmp) / "export.gpkg", findings=findings,
                           settings=settings).read_bytes()


def brief_bytes(dataset: Dataset, district: str, *, findings: pd.DataFrame | None = None,
                lang: str = "zh", page: PrintOptions | None = None) -> bytes:
    """:func:`district_brief` (one-page PDF) written to memory."""
    buf = io.BytesIO()
    district_brief(dataset, district, buf, findings=findings, lang=lang, page=page)
    return buf.getvalue()


def csv_bytes(table: pd.DataFrame) -> bytes:
    """Encode a table as UTF-8 CSV with a BOM (Excel opens Chinese text correctly)."""
    return table.to_csv(index=False).encode("utf-8-sig")


def export_gpkg(
    dataset: Dataset,
    path: str | Path,
    *,
    findings: pd.DataFrame | None = None,
    extra: dict[str, gpd.GeoDataFrame | pd.DataFrame] | None = None,
    settings: Settings = DEFAULT,
) -> Path:
    """Write districts, townships (suppressed counts), facilities, findings and extras to GPKG.

    A ``metadata`` table records the dataset name, data date, sources and which parts are
    synthetic.
    """
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        "districts": dataset.districts,
        "units": public_units(dataset.units, threshold=settings.suppression_threshold),
        "facilities": dataset.facilities,
    }
    if findings is not None:
        layers["findings"] = findings
    layers.update(extra or {})
    layers["metadata"] = pd.DataFrame({
        "key": ["name", "data_date", "synthetic", *[f"source_{i}" for i in
                                                    range(len(dataset.sources))]],
        "value": [dataset.name, dataset.data_date, ",".join(dataset.synthetic) or "none",
                  *dataset.sources],
    })
    return write_gpkg(layers, path)

def _table(fig: Figure, rect: tuple[float, float, float, float], *, header: str,
           columns: list[str], rows: list[list[str]], widths: list[float],
           opts: PrintOptions) -> None:
    """Draw a ruled table with a heading, filling ``rect`` (figure fractions)."""
    s = opts.scale
    fig.text(rect[0], rect[1] + rect[3], header, fontsize=11 * s, fontweight="bold",
             va="bottom")
    tax = fig.add_axes(rect)
    tax.set_axis_off()
    if not rows:
        tax.text(0, 0.95, "无" if opts.lang == "zh" else "None", fontsize=9 * s, va="top")
        return
    n = len(rows) + 1
    row_h = min(1.0 / n, 0.11)
    table = tax.table(cellText=rows, colLabels=columns, colWidths=widths, cellLoc="left",
                      colLoc="left", bbox=(0, 1 - row_h * n, 1, row_h * n))
    table.auto_set_font_size(False)
    table.set_fontsize(7.2 * s)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        cell.set_linewidth(0.4)
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.get_text().set_fontweight("bold")


def _cut(text: object, n: int) -> str:
    text = "" if text is None or text is pd.NA else str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def brief_tables(dataset: Dataset, district: str, findings: pd.DataFrame | None, *,
                 lang: str = "zh") -> tuple[list[list[str]], list[list[str]]]:
    """Rows of a district brief: failing clauses (with citations) and townships (worst first).

    Returns
    -------
    tuple
        (clause rows ``[clause, document, rule, n]``, township rows
        ``[name, population, stations, result, failed rules]``).
    """
    zh = lang == "zh"
    title_col = "title_zh" if zh else "title_en"
    clauses: list[list[str]] = []
    status = pd.Series(dtype=object)
    fails_per_unit = pd.Series(dtype=int)
    ds = dataset.subset([district])
    if findings is not None and len(findings):
        f = findings[findings["district"] == district]
        failed = f[f["status"] == "fail"]
        grouped = (failed.groupby(["clause", "document", title_col], dropna=False).size()
                   .reset_index(name="n").sort_values("n", ascending=False))
        clauses = [[_cut(r["clause"], 24), _cut(r["document"], 30), _cut(r[title_col], 30),
                    f"{r['n']:,}"] for _, r in grouped.iterrows()]
        status = maps.township_status(ds, findings)
        # a township's failures include those of the stations inside it
        unit_of = dict(zip(ds.facilities["facility_id"], ds.facilities["unit_id"], strict=True))
        fails_per_unit = failed["entity_id"].map(lambda e: unit_of.get(e, e)).value_counts()
    stations = ds.stations().groupby("unit_id").size()
    labels = maps.STATUS_LABELS["zh" if zh else "en"]
    status_of = dict(status.items())
    st = [status_of.get(u, "not_assessable") for u in ds.units["unit_id"]]
    rank = {"fail": 0, "not_assessable": 1, "pass": 2}
    units = ds.units.assign(_status=st, _rank=[rank.get(x, 1) for x in st])
    units = units.sort_values(["_rank", "population"], ascending=[True, False])
    towns = [[_cut(r["name"], 16), f"{int(r['population']):,}" if pd.notna(r["population"])
              else "—", str(int(stations.get(r["unit_id"], 0))), labels[r["_status"]],
              str(int(fails_per_unit.get(r["unit_id"], 0)))] for _, r in units.iterrows()]
    return clauses, towns


def district_brief(
    dataset: Dataset,
    district: str,
    path: str | Path | io.BytesIO,
    *,
    findings: pd.DataFrame | None = None,
    lang: str = "zh",
    max_rows: int = 14,
    page: PrintOptions | None = None,
) -> None:
    """Write a one-page PDF brief for one district that fills its page.

    KPIs, the coverage map (legend, north arrow and scale bar beside it), the failing clauses
    with their citations (document and clause), a township table (worst first) and, in the
    subtitle, dataset, profile, milestone year and data date; sources at the bottom.

    Parameters
    ----------
    dataset
        The validated dataset.
    district
        District name.
    path
        Output file or buffer.
    findings
        Findings of the dataset (any scope containing the district).
    lang
        ``"zh"`` or ``"en"`` (``page.lang`` wins when ``page`` is given).
    max_rows
        Most clause rows listed (the rest are summarised as "… +N").
    page
        Paper, profile and year; A4 portrait by default.
    """
    opts = page or PrintOptions(lang=lang)
    opts = PrintOptions(opts.paper, "portrait", opts.lang, opts.profile, opts.year)
    zh = opts.lang == "zh"
    s = opts.scale
    kpi = indicators.headline(dataset, district=district)
    clauses, towns = brief_tables(dataset, district, findings, lang=opts.lang)
    n_fail = 0 if findings is None else int(((findings["district"] == district)
                                            & (findings["status"] == "fail")).sum())
    subtitle, footer = identity_lines(dataset, opts)
    with rc_context(_style()), PdfPages(path) as pdf:
        fig = Figure(figsize=opts.size)
        title = f"{district} · " + ("精神障碍社区康复工作简报" if zh else
                                    "Community mental-health rehab brief")
        _header_footer(fig, title=title, subtitle=subtitle, footer=footer, opts=opts)
        labels = (("街道/乡镇", "康复驿站", "无驿站街乡", "驿站覆盖率", "常住人口", "未达标检查项")
                  if zh else ("Townships", "Stations", "Without station", "Coverage",
                              "Population", "Failing checks"))
        values = (f"{kpi.townships:,}", f"{kpi.stations:,}",
                  f"{kpi.townships_without_station:,}", f"{kpi.coverage:.0%}",
                  f"{kpi.population:,}", f"{n_fail:,}")
        for i, (lab, val) in enumerate(zip(labels, values, strict=True)):
            x = 0.04 + i * 0.155
            fig.text(x, 0.905, lab, fontsize=8 * s, color="#555555")
            fig.text(x, 0.878, val, fontsize=14 * s, fontweight="bold")
        ax = fig.add_axes((0.04, 0.50, 0.62, 0.36))
        handles = _draw_coverage(ax, dataset.subset([district]), lang=opts.lang,
                                 suggested=None)
        _furniture(fig, ax, (0.69, 0.50, 0.27, 0.36), handles=handles, opts=opts)
        shown = clauses[:max_rows]
        if len(clauses) > max_rows:
            shown.append(["…", "", f"+{len(clauses) - max_rows}", ""])
        _table(fig, (0.04, 0.30, 0.92, 0.16),
               header="未达标条款（依据）" if zh else "Failed clauses (citations)",
               columns=(["条款", "文件", "规则", "未达标对象"] if zh else
                        ["Clause", "Document", "Rule", "Failing"]),
               rows=shown[:8] if len(shown) > 8 else shown, widths=[0.2, 0.33, 0.35, 0.12],
               opts=opts)
        room = 11 if len(towns) > 11 else len(towns)
        rows = towns[:room]
        if len(towns) > room:
            rows.append(["…", "", "", "", f"+{len(towns) - room}"])
        _table(fig, (0.04, 0.075, 0.92, 0.19),
               header="街乡一览（问题最多者在前）" if zh else "Townships (worst first)",
               columns=(["街道/乡镇", "常住人口", "驿站", "结果", "未达标项"] if zh else
                        ["Township", "Population", "Stations", "Result", "Failing"]),
               rows=rows, widths=[0.34, 0.18, 0.12, 0.2, 0.16], opts=opts)
        pdf.savefig(fig)

