"""Exports for officials: static coverage maps (PNG/PDF), offline HTML, GeoPackage, briefs.

Static maps are drawn with geopandas/matplotlib in a metric CRS so the scale bar is true; every
map carries a title, legend, north arrow, scale bar, data date and a source line (which says
"synthetic" when the dataset is). Only aggregates are exported; patient counts go through
small-cell suppression first.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from planning.data import crs
from planning.data.io import write_gpkg
from planning.data.model import FACILITY_KINDS, Dataset
from planning.publish import maps
from planning.publish.privacy import public_units
from planning.rules import indicators
from planning.settings import DEFAULT, Settings

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei",
             "Microsoft YaHei", "PingFang SC")


def cjk_font() -> str | None:
    """The first installed font family that has Chinese glyphs, if any."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in installed), None)


def _style() -> dict:
    font = cjk_font()
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    return {"font.family": "sans-serif", "font.sans-serif": family,
            "axes.unicode_minus": False, "pdf.fonttype": 42}


def _nice_length(max_m: float) -> float:
    """A round scale-bar length (1, 2, 5 × 10^k metres) not longer than ``max_m``."""
    exp = 10 ** math.floor(math.log10(max_m))
    for f in (5, 2, 1):
        if f * exp <= max_m:
            return f * exp
    return exp


def _decorate(ax, *, title: str, footer: str) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    # scale bar (the axes are in metres)
    length = _nice_length(w * 0.25)
    bx, by = x0 + w * 0.05, y0 + h * 0.05
    ax.plot([bx, bx + length], [by, by], color="black", lw=3, solid_capstyle="butt")
    ax.plot([bx, bx + length / 2], [by, by], color="white", lw=1.5, solid_capstyle="butt")
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + h * 0.015, label, ha="center", va="bottom", fontsize=8)
    # north arrow (UTM grid north ≈ true north within a city)
    nx, ny = x1 - w * 0.06, y1 - h * 0.14
    ax.annotate("N", xy=(nx, ny + h * 0.08), xytext=(nx, ny), ha="center", va="center",
                fontsize=11, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})
    ax.set_title(title, fontsize=13, fontweight="bold")
    ax.set_axis_off()
    ax.figure.text(0.01, 0.01, footer, fontsize=6.5, color="#444444", ha="left", va="bottom",
                   wrap=True)


def _footer(dataset: Dataset, lang: str) -> str:
    zh = lang == "zh"
    parts = [
        (f"数据时间：{dataset.data_date}" if zh else f"Data date: {dataset.data_date}")
        if dataset.data_date else "",
        ("来源：" if zh else "Sources: ") + " ".join(dataset.sources[:2]),
    ]
    if dataset.is_synthetic:
        parts.append("注意：街乡与设施为合成演示数据。" if zh else
                     "NOTE: townships and facilities are SYNTHETIC demo data.")
    return "  |  ".join(p for p in parts if p)


def coverage_figure(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    title: str | None = None,
    suggested: gpd.GeoDataFrame | None = None,
    figsize: tuple[float, float] = (8.27, 8.0),
    ax=None,
):
    """A static coverage map: townships with/without a station, facilities by kind.

    Parameters
    ----------
    dataset
        The validated dataset.
    district
        Restrict to one district (by name); the whole city when ``None``.
    suggested
        Optional suggested new sites (points) from :mod:`planning.siting`, drawn as stars.
    ax
        Draw into an existing axes (used by the district brief).

    Returns
    -------
    matplotlib.figure.Figure
    """
    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    metric = crs.metric_crs(ds.units)
    covered = set(ds.stations()["unit_id"].dropna())
    units = ds.units.to_crs(metric)
    has = units["unit_id"].isin(covered)
    with rc_context(_style()):
        if ax is None:
            # A bare Figure (no pyplot): no global state, safe across Streamlit sessions.
            fig = Figure(figsize=figsize)
            ax = fig.add_subplot()
        else:
            fig = ax.figure
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
                                  label=("建议新址" if zh else "Suggested site")
                                  + f" ({len(sug)})"))
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.9,
                  title="图例" if zh else "Legend", title_fontsize=8)
        where = district or ("全市" if zh else "whole city")
        if title is None:
            title = (f"{dataset.name} · {where} · 康复驿站覆盖" if zh else
                     f"{dataset.name} · {where} · rehab station coverage")
        _decorate(ax, title=title, footer=_footer(dataset, lang))
    return fig


def save_figure(fig, path: str | Path | io.BytesIO, *, fmt: str | None = None) -> None:
    """Save a figure as PNG (200 dpi) or PDF, chosen by ``fmt`` or the file suffix."""
    if fmt is None:
        fmt = Path(path).suffix.lstrip(".").lower()
    with rc_context(_style()):
        fig.savefig(path, format=fmt, dpi=200 if fmt == "png" else None, bbox_inches="tight")


def figure_bytes(fig, fmt: str) -> bytes:
    """A figure rendered to PNG or PDF bytes (for download buttons)."""
    buf = io.BytesIO()
    save_figure(fig, buf, fmt=fmt)
    return buf.getvalue()


def map_html_bytes(dataset: Dataset, *, district: str | None = None, lang: str = "zh",
                   settings: Settings = DEFAULT) -> bytes:
    """The interactive map as a standalone, offline HTML file."""
    m = maps.overview_map(dataset, district=district, lang=lang, settings=settings)
    return maps.map_html(m).encode("utf-8")


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
                lang: str = "zh") -> bytes:
    """:func:`district_brief` (one-page PDF) written to memory."""
    buf = io.BytesIO()
    district_brief(dataset, district, buf, findings=findings, lang=lang)
    return buf.getvalue()


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV with a BOM (Excel opens Chinese text correctly)."""
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


def district_brief(
    dataset: Dataset,
    district: str,
    path: str | Path | io.BytesIO,
    *,
    findings: pd.DataFrame | None = None,
    lang: str = "zh",
    max_rows: int = 14,
) -> None:
    """A one-page A4 PDF for one district: KPIs, coverage map, failed clauses."""
    zh = lang == "zh"
    kpi = indicators.headline(dataset, district=district)
    with rc_context(_style()), PdfPages(path) as pdf:
        fig = Figure(figsize=(8.27, 11.69))
        fig.text(0.05, 0.965, f"{district} · " + ("精神障碍社区康复工作简报" if zh else
                                                 "Community mental-health rehab brief"),
                 fontsize=16, fontweight="bold")
        labels = (("街道/乡镇", "康复驿站", "无驿站街乡", "驿站覆盖率", "常住人口") if zh else
                  ("Townships", "Stations", "Without station", "Coverage", "Population"))
        values = (kpi.townships, kpi.stations, kpi.townships_without_station,
                  f"{kpi.coverage:.0%}", f"{kpi.population:,}")
        for i, (lab, val) in enumerate(zip(labels, values, strict=True)):
            x = 0.05 + i * 0.185
            fig.text(x, 0.925, lab, fontsize=8, color="#555555")
            fig.text(x, 0.9, str(val), fontsize=14, fontweight="bold")
        ax = fig.add_axes((0.05, 0.40, 0.9, 0.47))
        coverage_figure(dataset, district=district, lang=lang, ax=ax,
                        title="覆盖图" if zh else "Coverage map")
        fig.text(0.05, 0.37, "未达标条款" if zh else "Failed clauses", fontsize=12,
                 fontweight="bold")
        rows = []
        if findings is not None and len(findings):
            f = findings[(findings["district"] == district) & (findings["status"] == "fail")]
            title_col = "title_zh" if zh else "title_en"
            grouped = (f.groupby(["rule_id", title_col, "clause"], dropna=False)
                       .size().reset_index(name="n").sort_values("n", ascending=False))
            rows = [(r["clause"], r[title_col], r["n"]) for _, r in grouped.iterrows()]
        if not rows:
            fig.text(0.05, 0.34, "无（或未评估）" if zh else "None (or not assessed)",
                     fontsize=9)
        for i, (clause, title, n) in enumerate(rows[:max_rows]):
            y = 0.34 - i * 0.021
            fig.text(0.05, y, str(clause), fontsize=8, color="#444444")
            fig.text(0.30, y, str(title)[:60], fontsize=8)
            fig.text(0.90, y, str(n), fontsize=8, ha="right")
        if len(rows) > max_rows:
            fig.text(0.05, 0.34 - max_rows * 0.021,
                     f"… +{len(rows) - max_rows}", fontsize=8)
        pdf.savefig(fig)
