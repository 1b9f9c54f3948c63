"""Folium maps that render offline and fast: inline assets, light display geometry, basemaps.

Plain folium links Leaflet, jQuery and their CSS from CDNs, which leaves a blank page without
internet. :func:`make_offline` swaps every asset link of every element in a map for a ``data:`` URI
built from the copies shipped inside the ``folium-offline`` package (installed from PyPI, never
copied into this repository). Assets that no package ships are dropped with a warning, so the map
still renders.

What a browser has to draw is kept small: polygons are simplified *as a coverage* (shared
edges stay shared, see :func:`display_frame`) to half a pixel two zoom levels in from the fitted
view and rounded to 5 decimals (~1 m); facilities are one GeoJSON layer per kind, not one marker
object each. Exports (GeoPackage, PDF) keep full precision: only the interactive maps use this.

Basemaps are off by default (offline first). :data:`BASEMAPS` has presets for OpenStreetMap,
天地图 (CGCS2000 ≈ WGS84, key from the settings) and 高德 / 腾讯, whose tiles are drawn in GCJ-02:
with those, every vector layer is shifted to GCJ-02 for display (:func:`wgs84_to_gcj02`) so the
boundaries line up with the streets of the tiles.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import branca
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data.model import FACILITY_KINDS, Dataset
from planning.i18n import t
from planning.settings import DEFAULT, Settings

log = logging.getLogger(__name__)

#: Colours per facility kind (colour-blind-safe palette, Okabe–Ito).
KIND_COLOURS: dict[str, str] = {
    "rehab_station": "#0072B2",
    "halfway_house": "#56B4E9",
    "welfare_institution": "#009E73",
    "psychiatric_hospital": "#D55E00",
    "general_hospital": "#CC79A7",
    "township_health_centre": "#999999",
    "rehab_centre": "#E69F00",
}

KIND_LABELS_EN: dict[str, str] = {
    "rehab_station": "Community rehab station",
    "halfway_house": "Halfway house",
    "welfare_institution": "Mental-health welfare institution",
    "psychiatric_hospital": "Psychiatric hospital",
    "general_hospital": "General hospital",
    "township_health_centre": "Township health centre",
    "rehab_centre": "County rehab centre",
}

_PIN_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="25" height="41" viewBox="0 0 25 41">'
    '<path d="M12.5 0C5.6 0 0 5.6 0 12.5 0 22 12.5 41 12.5 41S25 22 25 12.5C25 5.6 19.4 0 '
    '12.5 0z" fill="#2A81CB" stroke="#fff"/><circle cx="12.5" cy="12.5" r="5" fill="#fff"/>'
    "</svg>"
)
_ICON_FIX = (
    "if (window.L && L.Icon && L.Icon.Default) { L.Icon.Default.mergeOptions({iconUrl: "
    "'data:image/svg+xml;base64," + base64.b64encode(_PIN_SVG.encode()).decode() + "', "
    "iconRetinaUrl: null, shadowUrl: null}); L.Icon.Default.prototype._getIconUrl = "
    "function (name) { return this.options[name + 'Url'] || this.options.iconUrl; }; }\n"
)

# The assets a map needs and nothing more: Leaflet and its CSS, jQuery (folium's templates use it).
_KEEP_JS = {"leaflet", "jquery"}
_KEEP_CSS = {"leaflet_css"}


@cache
def _packaged_assets() -> dict[str, str]:
    """URL → file content, from the ``folium-offline`` package."""
    from offlinefolium import elements

    return dict(elements._res)


def _data_uri(url: str, content: str) -> str:
    mime = "text/css" if url.endswith(".css") else "text/javascript"
    return f"data:{mime};base64," + base64.b64encode(content.encode("utf-8")).decode("ascii")


@cache
def offline_uri(url: str) -> str | None:
    """Return a ``data:`` URI with the packaged copy of ``url`` (``None``: no package has it)."""
    content = _packaged_assets().get(url)
    return None if content is None else _data_uri(url, content)


def _walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def make_offline(m: folium.Map) -> folium.Map:
    """Point every JS/CSS asset of ``m`` and its children at inline ``data:`` URIs.

    Works per instance (instance attributes shadow folium's class lists), so nothing global
    changes and other maps in the same process are unaffected.
    """
    for el in _walk(m):
        for attr in ("default_js", "default_css"):
            links = getattr(el, attr, None)
            if not links:
                continue
            kept = []
            for name, url in links:
                if url.startswith("data:"):
                    kept.append((name, url))
                    continue
                uri = offline_uri(url)
                if uri is None:
                    log.warning("map asset %s has no offline copy; dropped", url)
                    continue
                if el is m and name not in _KEEP_JS | _KEEP_CSS:
                    continue  # bootstrap/fontawesome: not used by our layers, ~1 MB saved
                kept.append((name, uri))
            setattr(el, attr, kept)
    root = m.get_root()
    if "jk_icon_fix" not in root.script._children:
        # Leaflet looks for marker PNGs next to leaflet.css, which a data: URI has no "next to".
        # Point the default icon at an inline SVG pin so plain folium.Marker works offline too.
        root.script.add_child(folium.Element(_ICON_FIX), name="jk_icon_fix")
        root.script._children.move_to_end("jk_icon_fix", last=False)
    return m


# --- basemaps --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Basemap:
    """A tile preset: URL template, attribution, subdomains and the datum the tiles are drawn in.

    ``datum`` is ``"wgs84"`` (OpenStreetMap, 天地图's CGCS2000 agrees with WGS84 to centimetres)
    or ``"gcj02"`` (高德, 腾讯: the vector layers are shifted to match).
    """

    url: str
    attribution: str
    subdomains: str = "abc"
    datum: str = "wgs84"
    overlay: str | None = None


#: Presets selectable with ``Settings.basemap``; ``"none"`` (default) draws no tiles at all.
BASEMAPS: dict[str, Basemap] = {
    "osm": Basemap("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                   "© OpenStreetMap contributors", subdomains=""),
    "tianditu": Basemap(
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}",
        "天地图 © 国家地理信息公共服务平台", subdomains="01234567",
        overlay="https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
        "&VERSION=1.0.0&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}"
        "&TILEROW={y}&TILECOL={x}&tk={key}"),
    "amap": Basemap("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                    "&style=8&x={x}&y={y}&z={z}", "© 高德地图 AutoNavi", subdomains="1234",
                    datum="gcj02"),
    "tencent": Basemap("https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector"
                       "&styleid=0", "© 腾讯地图", subdomains="0123", datum="gcj02"),
}


def basemap_for(settings: Settings) -> Basemap | None:
    """Return the basemap the settings ask for, or ``None`` (no tiles, the default).

    ``settings.tiles_url`` (a local tile folder served on loopback, or any XYZ server) wins over
    a preset; its datum is ``settings.tiles_datum``.

    Raises
    ------
    ValueError
        For an unknown preset name, or 天地图 without a key.
    """
    url = getattr(settings, "tiles_url", None)
    if url:
        return Basemap(url, getattr(settings, "tiles_attribution", None) or "basemap",
                       subdomains="abc", datum=getattr(settings, "tiles_datum", "wgs84"))
    name = getattr(settings, "basemap", "none") or "none"
    if name == "none":
        return None
    if name not in BASEMAPS:
        msg = f"unknown basemap {name!r}; choose one of none, {', '.join(BASEMAPS)}"
        raise ValueError(msg)
    preset = BASEMAPS[name]
    if "{key}" in preset.url:
        key = getattr(settings, "tianditu_key", None)
        if not key:
            msg = "the 天地图 basemap needs a key (Settings.tianditu_key / JINGKANG_TIANDITU_KEY)"
            raise ValueError(msg)
        preset = Basemap(preset.url.replace("{key}", key), preset.attribution,
                         preset.subdomains, preset.datum,
                         preset.overlay.replace("{key}", key) if preset.overlay else None)
    return preset


# --- GCJ-02 ----------------------------------------------------------------------------------
_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 longitude/latitude to GCJ-02 (the datum of 高德/腾讯 tiles).

    The published forward formula (accurate to well under a metre); points outside China are
    returned unchanged, as GCJ-02 leaves them.

    Parameters
    ----------
    lon, lat
        Arrays of WGS84 degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitude and latitude.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (_A / sq * np.cos(rad) * np.pi)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


# --- display geometry ------------------------------------------------------------------------
@dataclass(frozen=True)
class Display:
    """How vector layers are prepared for one interactive map.

    Attributes
    ----------
    tolerance
        Simplification tolerance in degrees (0 keeps every vertex).
    gcj02
        Shift coordinates to GCJ-02 (for 高德/腾讯 tiles).
    decimals
        Coordinate decimals kept (5 ≈ 1 m).
    """

    tolerance: float = 0.0
    gcj02: bool = False
    decimals: int = 5


def fit_zoom(bounds: tuple[float, float, float, float] | None) -> int:
    """Return the zoom at which ``bounds`` (minx, miny, maxx, maxy) fill an ~800-pixel map."""
    if bounds is None:
        return 4
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, (maxy - miny) * 1.3, 1e-4)
    return int(max(3, min(16, math.floor(math.log2(800 * 360 / (256 * span))))))


def display_for(bounds: tuple[float, float, float, float] | None, *,
                settings: Settings = DEFAULT) -> Display:
    """Return the display recipe of a map fitted to ``bounds`` (half a pixel, two zooms in).

    Parameters
    ----------
    bounds
        (minx, miny, maxx, maxy) in WGS84 degrees.
    settings
        Picks the basemap, hence whether layers are shifted to GCJ-02.
    """
    zoom = fit_zoom(bounds) + 2
    tolerance = 0.5 * 360.0 / (256 * 2 ** zoom)
    basemap = basemap_for(settings)
    return Display(tolerance=tolerance, gcj02=basemap is not None and basemap.datum == "gcj02")


def display_frame(gdf: gpd.GeoDataFrame, display: Display) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` (WGS84) with light geometry for drawing in a browser.

    Polygons are simplified as a coverage (:func:`shapely.coverage_simplify`: an edge shared
    by two townships is simplified once, so no gaps or slivers open), then shifted to GCJ-02 if
    asked, then rounded to ``display.decimals``. Points are only shifted and rounded.

    Parameters
    ----------
    gdf
        Layer in EPSG:4326.
    display
        From :func:`display_for`.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    geoms = gdf.geometry.to_numpy()
    polys = shapely.get_type_id(geoms) >= 3
    if display.tolerance > 0 and polys.any():
        geoms = geoms.copy()
        try:
            geoms[polys] = shapely.coverage_simplify(geoms[polys], display.tolerance)
        except shapely.errors.GEOSException:  # not a valid coverage: simplify one by one
            geoms[polys] = shapely.simplify(geoms[polys], display.tolerance,
                                            preserve_topology=True)

    def move(coords: np.ndarray) -> np.ndarray:
        if display.gcj02:
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            coords = np.column_stack([lon, lat])
        return np.round(coords, display.decimals)

    geoms = shapely.transform(geoms, move)
    return gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=geoms,
                            crs="EPSG:4326")


def _geojson(frame: gpd.GeoDataFrame) -> dict:
    """Compact GeoJSON of a display frame (numbers as plain JSON, no bbox)."""
    return json.loads(frame.to_json(na="null", drop_id=True))


def _lean_template() -> object | None:
    """Build folium's GeoJson template with the data written as UTF-8 JSON (not escaped)."""
    import inspect
    import re

    from folium.template import Template

    try:
        src = inspect.getsource(folium.GeoJson)
        body = re.search(r'_template = Template\(\s*"""(.*?)"""', src, re.S).group(1)
    except (OSError, TypeError, AttributeError):
        return None
    if "{{ this.data|tojson }}" not in body:
        return None
    return Template(body.replace("{{ this.data|tojson }}", "{{ this.data_js }}"))


class LeanGeoJson(folium.GeoJson):
    """A :class:`folium.GeoJson` whose data are embedded as UTF-8 JSON.

    Chinese names cost 3 bytes instead of 6 and stay readable in the HTML file (a search for
    "东城区" finds them). ``</`` and the JS line separators are escaped, so the JSON is safe
    inside a ``<script>``.
    """

    _template = _lean_template() or folium.GeoJson._template

    @property
    def data_js(self) -> str:
        """The layer's data as a script-safe UTF-8 JSON literal."""
        text = json.dumps(self.data, ensure_ascii=False)
        return (text.replace("</", "<\\/").replace("\u2028", "\\u2028")
                .replace("\u2029", "\\u2029"))


def new_map(
    bounds: tuple[float, float, float, float] | None = None,
    *,
    settings: Settings = DEFAULT,
    height: str | int = "100%",
) -> folium.Map:
    """Make an offline-ready folium map, fitted to ``bounds`` (minx, miny, maxx, maxy).

    No tile layer unless the settings ask for a basemap (:func:`basemap_for`).
    """
    location = [35.0, 105.0]
    zoom = fit_zoom(bounds)
    basemap = basemap_for(settings)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        location = [(miny + maxy) / 2, (minx + maxx) / 2]
        if basemap is not None and basemap.datum == "gcj02":
            lon, lat = wgs84_to_gcj02(np.array([minx, maxx]), np.array([miny, maxy]))
            minx, maxx, miny, maxy = lon[0], lon[1], lat[0], lat[1]
            bounds = (minx, miny, maxx, maxy)
            location = [(miny + maxy) / 2, (minx + maxx) / 2]
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, control_scale=True,
                   height=height, prefer_canvas=False)
    if basemap is not None:
        kw = {"subdomains": basemap.subdomains} if basemap.subdomains else {}
        folium.TileLayer(tiles=basemap.url, attr=basemap.attribution, name="basemap",
                         max_zoom=18, **kw).add_to(m)
        if basemap.overlay:
            folium.TileLayer(tiles=basemap.overlay, attr=basemap.attribution, name="labels",
                             overlay=True, max_zoom=18, **kw).add_to(m)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    try:
        if pd.isna(v):
            return "—"
    except (TypeError, ValueError):
        pass
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.1f}"
    return html.escape(str(v))


@dataclass(frozen=True)
class PolygonStyle:
    """Outline colour and width, fill opacity and the column holding per-feature fills."""

    colour: str = "#333333"
    weight: float = 1.0
    fill_opacity: float = 0.05
    fill_column: str | None = None


def add_polygons(
    m: folium.Map | folium.FeatureGroup,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    fields: list[str],
    aliases: list[str],
    style: PolygonStyle | None = None,
    show: bool = True,
    display: Display | None = None,
) -> folium.GeoJson:
    """Add polygons with a hover tooltip; ``style.fill_column`` holds per-feature fills.

    Values are formatted and HTML-escaped here; geometry goes through :func:`display_frame`.
    """
    style = style or PolygonStyle()
    colour, weight, fill_opacity = style.colour, style.weight, style.fill_opacity
    fill_column = style.fill_column
    cols = [c for c in fields if c in gdf.columns]
    data = gdf[[*cols, *([fill_column] if fill_column else []), "geometry"]].copy()
    for c in cols:
        data[c] = data[c].map(_fmt)
    data = display_frame(data, display or Display())

    def styler(feature: dict) -> dict:
        fill = feature["properties"].get(fill_column) if fill_column else colour
        return {"color": colour, "weight": weight, "fillColor": fill or colour,
                "fillOpacity": fill_opacity}

    layer = LeanGeoJson(
        _geojson(data),
        name=name,
        style_function=styler,
        highlight_function=lambda _f: {"weight": weight + 2, "fillOpacity": fill_opacity + 0.2},
        tooltip=folium.GeoJsonTooltip(fields=cols, aliases=[aliases[fields.index(c)]
                                                            for c in cols]),
        show=show,
        smooth_factor=1.0,
    )
    layer.add_to(m)
    return layer


FACILITY_FIELDS = ("floor_area_m2", "outdoor_area_m2", "beds", "staff", "social_workers",
                   "clients")
FACILITY_FIELD_LABELS = {
    "zh": ("类型", "面积（m²）", "户外（m²）", "床位", "服务人员", "社工", "服务对象"),
    "en": ("Type", "Floor area (m²)", "Outdoor (m²)", "Beds", "Staff", "Social workers",
           "Clients"),
}


def facility_popup(row: pd.Series, *, lang: str = "zh") -> str:
    """HTML popup for one facility (aggregates only; facilities carry no patient rows)."""
    table = facility_table(pd.DataFrame([row]), lang=lang)
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{v}</td></tr>"
                   for c, v in table.iloc[0].items() if v != "—")
    return f"<b>{html.escape(str(row['name']))}</b><table>{rows}</table>"


def facility_table(facilities: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Popup fields of facilities: kind label and attributes, formatted, escaped, localised."""
    labels = FACILITY_FIELD_LABELS["en" if lang == "en" else "zh"]
    names = FACILITY_KINDS if lang != "en" else KIND_LABELS_EN
    out = {labels[0]: [html.escape(names.get(k, k)) for k in facilities["kind"]]}
    for lab, key in zip(labels[1:], FACILITY_FIELDS, strict=True):
        col = facilities[key] if key in facilities.columns else pd.Series(
            [None] * len(facilities), index=facilities.index)
        out[lab] = [_fmt(v) for v in col]
    return pd.DataFrame(out, index=facilities.index)


@dataclass(frozen=True)
class PointStyle:
    """Look of a point layer: fill colour(s), CSS class(es) and radius in pixels.

    ``colours``/``classes`` hold one value for every point or one value per point.
    """

    colours: tuple[str, ...] | str
    classes: tuple[str, ...] | str
    radius: float = 6


def point_layer(
    points: gpd.GeoDataFrame,
    *,
    name: str,
    style: PointStyle,
    tooltips: list[str] | None = None,
    popup: pd.DataFrame | None = None,
    display: Display | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """Points as *one* GeoJSON layer of circle markers (not one folium object per point).

    ``tooltips`` are plain text (escaped here); ``popup`` is a table of already formatted and
    escaped values (columns are the row labels), shown as a two-column popup.
    """
    n = len(points)

    def per_point(v: tuple[str, ...] | str) -> list[str]:
        return [v] * n if isinstance(v, str) else list(v)

    props = {"_fill": per_point(style.colours), "_class": per_point(style.classes)}
    if tooltips:
        props["tip"] = [html.escape(str(x)) for x in tooltips]
    popup_cols: list[str] = []
    if popup is not None:
        for i, col in enumerate(popup.columns):
            props[f"p{i}"] = [str(v) for v in popup[col]]
            popup_cols.append(col)
    frame = display_frame(gpd.GeoDataFrame(props, geometry=points.geometry.to_numpy(),
                                           crs=points.crs), display or Display())

    def styler(feature: dict) -> dict:
        p = feature["properties"]
        return {"fillColor": p["_fill"], "className": p["_class"], "color": "#ffffff",
                "weight": 1, "fillOpacity": 0.95}

    fields = [f"p{i}" for i in range(len(popup_cols))]
    return LeanGeoJson(
        _geojson(frame),
        name=name,
        marker=folium.CircleMarker(radius=style.radius, fill=True),
        style_function=styler,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False) if tooltips else None,
        popup=folium.GeoJsonPopup(fields=fields, aliases=popup_cols) if fields else None,
        show=show,
    )


def add_facilities(
    m: folium.Map,
    facilities: gpd.GeoDataFrame,
    *,
    lang: str = "zh",
    kinds: list[str] | None = None,
    display: Display | None = None,
) -> None:
    """One toggleable GeoJSON layer per facility kind, drawn as coloured circle markers."""
    for kind in kinds or list(KIND_COLOURS):
        sub = facilities[facilities["kind"] == kind]
        if sub.empty:
            continue
        label = FACILITY_KINDS[kind] if lang == "zh" else KIND_LABELS_EN[kind]
        point_layer(
            sub, name=f"{label} ({len(sub)})",
            style=PointStyle(KIND_COLOURS[kind], f"facility-{kind}",
                             6 if kind == "rehab_station" else 5),
            tooltips=[str(v) for v in sub["name"]], popup=facility_table(sub, lang=lang),
            display=display, show=kind != "township_health_centre",
        ).add_to(m)


def add_legend(m: folium.Map, items: list[tuple[str, str]], *, title: str) -> None:
    """Add a fixed legend box (colour, label) in the bottom-left corner."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
        f'background:{c};margin-right:6px"></span>{html.escape(lab)}</div>'
        for c, lab in items
    )
    box = (
        '<div class="jk-legend" style="position:absolute;bottom:64px;left:10px;z-index:9999;'
        'background:rgba(255,255,255,.92);padding:6px 10px;border:1px solid #999;'
        f'border-radius:4px;font:12px sans-serif"><b>{html.escape(title)}</b>{rows}</div>'
    )
    m.get_root().html.add_child(folium.Element(box))


NO_DATA = "#d9d9d9"


def _edge_decimals(edges: np.ndarray) -> int:
    """Fewest decimals (0–4) that keep every class edge label distinct."""
    for d in range(5):
        labels = [f"{e:,.{d}f}" for e in edges]
        if len(set(labels)) == len(labels):
            return d
    return 4


def class_breaks(values: np.ndarray, *, k: int = 5, scale: float = 1.0,
                 unit: str = "") -> tuple[np.ndarray, list[str]]:
    """Quantile class edges of the finite ``values`` and one label per class.

    Never degenerate: repeated quantiles collapse into one class, a constant layer is one
    class labelled with its value, and labels get as many decimals as it takes to tell the
    edges apart (``0.012 – 0.034``, not ``0.0 – 0.0``).

    Parameters
    ----------
    values
        The measure per feature (non-finite = no data).
    k
        Classes wanted (fewer when the data have fewer distinct quantiles).
    scale
        Multiply before labelling (``100`` for a share shown in %).
    unit
        Appended to every label.

    Returns
    -------
    tuple
        (edges, labels) with ``len(labels) == len(edges) - 1`` (or one label, one edge pair).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.array([]), []
    edges = np.unique(np.quantile(v, np.linspace(0, 1, k + 1)))
    if len(edges) == 1:
        d = _edge_decimals(edges * scale)
        return np.array([edges[0], edges[0]]), [f"{edges[0] * scale:,.{d}f}{unit}"]
    d = _edge_decimals(edges * scale)
    labels = [f"{edges[i] * scale:,.{d}f} – {edges[i + 1] * scale:,.{d}f}{unit}"
              for i in range(len(edges) - 1)]
    return edges, labels


def _ramp(values: Sequence[float] | np.ndarray,
          colours: tuple[str, ...] = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"),
          *, scale: float = 1.0, unit: str = "",
          no_data: str = "无数据") -> tuple[list[str], list[tuple[str, str]]]:
    """Quantile classes → colours; returns (colour per value, [(colour, label), ...]).

    Features without a value are grey, with a legend entry of their own.
    """
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    edges, labels = class_breaks(v, k=len(colours), scale=scale, unit=unit)
    if not labels:
        return [NO_DATA] * len(v), [(NO_DATA, no_data)]
    n = len(labels)
    # spread the palette over the classes we have (3 classes: light, middle, dark)
    pick = [colours[round(i * (len(colours) - 1) / max(n - 1, 1))] for i in range(n)]
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n - 1)
    out = [pick[i] if f else NO_DATA for i, f in zip(idx, ok, strict=True)]
    legend = list(zip(pick, labels, strict=True))
    if not ok.all():
        legend.append((NO_DATA, no_data))
    return out, legend


def overview_map(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """District and township boundaries plus facilities by type, for a city or one district."""
    ds = dataset.subset([district]) if district else dataset
    bounds = tuple(ds.units.total_bounds)
    disp = display_for(bounds, settings=settings)
    m = new_map(bounds, settings=settings)
    zh = lang == "zh"
    add_polygons(
        m, ds.districts, name="区界" if zh else "Districts",
        fields=["name", "zone", "population"],
        aliases=["区", "功能区", "常住人口"] if zh else ["District", "Zone", "Population"],
        style=PolygonStyle("#222222", 2.5, 0.0), display=disp,
    )
    covered = set(ds.stations()["unit_id"].dropna())
    units = ds.units.assign(
        _fill=["#9ecae1" if u in covered else "#fc9272" for u in ds.units["unit_id"]]
    )
    add_polygons(
        m, units, name="街道/乡镇" if zh else "Streets/townships",
        fields=["name", "district", "population"],
        aliases=["街道/乡镇", "区", "常住人口"] if zh else ["Township", "District", "Population"],
        style=PolygonStyle("#555555", 0.8, 0.35, "_fill"), display=disp,
    )
    add_facilities(m, ds.facilities, lang=lang, display=disp)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = [
        ("#9ecae1", "有驿站的街乡" if zh else "Township with a station"),
        ("#fc9272", "无驿站的街乡" if zh else "Township without a station"),
    ] + [
        (KIND_COLOURS[k], FACILITY_KINDS[k] if zh else KIND_LABELS_EN[k])
        for k in KIND_COLOURS if (ds.facilities["kind"] == k).any()
    ]
    add_legend(m, legend, title="图例" if zh else "Legend")
    return make_offline(m)


def planner_map(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
    extra_layers: list[folium.map.Layer] | None = None,
) -> folium.Map:
    """Draw the full Map page.

    Boundaries, patient density (suppressed), heat layer, facilities, township search (zooms
    to the township found), plus extra layers (isochrones, suggested sites).
    """
    from folium.plugins import HeatMap, Search

    from planning.publish.privacy import RATE_COLUMN, heat_points, public_units

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    bounds = tuple(ds.units.total_bounds)
    disp = display_for(bounds, settings=settings)
    m = new_map(bounds, settings=settings)
    add_polygons(
        m, ds.districts, name="区界" if zh else "Districts",
        fields=["name", "zone", "population"],
        aliases=["区", "功能区", "常住人口"] if zh else ["District", "Zone", "Population"],
        style=PolygonStyle("#222222", 2.5, 0.0), display=disp,
    )
    # Everything below comes from the public table only: hidden counts ("<5", "*") have their
    # rate blanked there, and neither fill colour, legend edges nor heat use raw counts.
    units = public_units(ds.units, threshold=settings.suppression_threshold)
    legend: list[tuple[str, str]] = []
    no_data = "无数据" if zh else "no data"
    if RATE_COLUMN in units.columns:
        rate = pd.to_numeric(units[RATE_COLUMN], errors="coerce").astype(float)
        fills, legend = _ramp(rate.to_numpy(), no_data=no_data)
        units = units.assign(_fill=fills, rate=units[RATE_COLUMN])
        units["patients"] = units["patients"].astype(object)
    else:
        units = units.assign(_fill=NO_DATA, rate="—")
        legend = [(NO_DATA, no_data)]
    layer = add_polygons(
        m, units, name="患者密度（每万人）" if zh else "Patients per 10k residents",
        fields=["name", "district", "population", "patients", "rate"],
        aliases=(["街道/乡镇", "区", "常住人口", "居家患者", "每万人"] if zh else
                 ["Township", "District", "Population", "Home patients", "Per 10k"]),
        style=PolygonStyle("#555555", 0.7, 0.6, "_fill"), display=disp,
    )
    heat = heat_points(units)
    if heat:
        if disp.gcj02:
            lon, lat = wgs84_to_gcj02(np.array([h[1] for h in heat]),
                                      np.array([h[0] for h in heat]))
            heat = [[float(y), float(x), h[2]] for x, y, h in zip(lon, lat, heat, strict=True)]
        HeatMap(heat, name="患者热力（街乡汇总）" if zh else "Patient heat (township totals)",
                show=False, radius=25, blur=20).add_to(m)
    Search(layer=layer, search_label="name", geom_type="Polygon",
           placeholder="搜索街乡…" if zh else "Search township…", collapsed=False,
           position="topleft", color="#000000", weight=4, fillOpacity=0.1).add_to(m)
    add_facilities(m, ds.facilities, lang=lang, display=disp)
    for extra in extra_layers or []:
        extra.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    items = [(c, ("每万人 " if zh else "per 10k ") + lab if c != NO_DATA else lab)
             for c, lab in legend]
    items += [(KIND_COLOURS[k], FACILITY_KINDS[k] if zh else KIND_LABELS_EN[k])
              for k in KIND_COLOURS if (ds.facilities["kind"] == k).any()]
    add_legend(m, items, title="图例" if zh else "Legend")
    return make_offline(m)


STATUS_COLOURS = {"pass": "#1a9850", "fail": "#d73027", "not_assessable": "#bdbdbd"}
STATUS_LABELS = {
    "zh": {"pass": "达标", "fail": "未达标", "not_assessable": "无法评估"},
    "en": {"pass": "pass", "fail": "fail", "not_assessable": "not assessable"},
}


def township_status(dataset: Dataset, findings: pd.DataFrame) -> pd.Series:
    """Worst finding per township (``unit_id`` index): its own and its stations' findings.

    Parameters
    ----------
    dataset
        The dataset the findings were computed on.
    findings
        From :func:`planning.rules.evaluate_scope`.

    Returns
    -------
    pandas.Series
        ``"pass"``, ``"fail"`` or ``"not_assessable"`` per township, in ``dataset.units`` order.
    """
    from planning.rules import worst_status

    worst = worst_status(findings)
    rank = {"pass": 0, "not_assessable": 1, "fail": 2}
    fac = dataset.facilities.assign(_status=dataset.facilities["facility_id"].map(worst))
    fac_rank = fac["_status"].map(rank).groupby(fac["unit_id"]).max()
    own = dataset.units["unit_id"].map(worst).map(rank)
    combined = pd.concat([own, dataset.units["unit_id"].map(fac_rank)], axis=1).max(axis=1)
    status = combined.map({v: k for k, v in rank.items()}).fillna("not_assessable")
    return pd.Series(status.to_numpy(), index=dataset.units["unit_id"].to_numpy(),
                     name="status")


def compliance_map(
    dataset: Dataset,
    findings: pd.DataFrame,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Colour townships and stations by their worst finding.

    A township takes the worst of its own findings and those of the stations inside it.
    """
    from planning.rules import worst_status

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    labels = STATUS_LABELS["zh" if zh else "en"]
    status = township_status(ds, findings)
    worst = worst_status(findings)
    fac = ds.facilities.assign(_status=ds.facilities["facility_id"].map(worst))
    title_col = "title_zh" if zh else "title_en"
    fails = findings[findings["status"] == "fail"].groupby("entity_id")[
        title_col if title_col in findings.columns else "rule_id"].agg(
        lambda s: "；".join(dict.fromkeys(map(str, s))))
    units = ds.units.assign(
        _fill=status.map(STATUS_COLOURS).to_numpy(),
        status=status.map(labels).to_numpy(),
        failed=ds.units["unit_id"].map(fails).fillna("").to_numpy(),
    )
    bounds = tuple(ds.units.total_bounds)
    disp = display_for(bounds, settings=settings)
    m = new_map(bounds, settings=settings)
    add_polygons(m, ds.districts, name="区界" if zh else "Districts", fields=["name"],
                 aliases=["区" if zh else "District"], style=PolygonStyle("#222222", 2.5, 0.0),
                 display=disp)
    add_polygons(
        m, units, name="街乡（最差结果）" if zh else "Townships (worst finding)",
        fields=["name", "district", "status", "failed"],
        aliases=(["街道/乡镇", "区", "结果", "未达标规则"] if zh else
                 ["Township", "District", "Result", "Failed rules"]),
        style=PolygonStyle("#555555", 0.7, 0.45, "_fill"), display=disp,
    )
    st = fac[fac["kind"] == "rehab_station"]
    if len(st):
        s = [v if isinstance(v, str) else "not_assessable" for v in st["_status"]]
        tips = [f"{name} — {labels[x]}" + (f"：{fails.get(fid)}" if fails.get(fid) else "")
                for name, x, fid in zip(st["name"], s, st["facility_id"], strict=True)]
        point_layer(st, name=("驿站（最差结果）" if zh else "Stations (worst finding)"),
                    style=PointStyle(tuple(STATUS_COLOURS[x] for x in s),
                                     tuple(f"station-{x}" for x in s)),
                    tooltips=tips, popup=facility_table(st, lang=lang),
                    display=disp).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    add_legend(m, [(STATUS_COLOURS[k], labels[k]) for k in ("fail", "not_assessable", "pass")],
               title="合规" if zh else "Compliance")
    return make_offline(m)


def siting_map(
    dataset: Dataset,
    plan: object,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Draw suggested sites (orange), existing stations (blue) and catchment lines.

    A line joins each township's demand point to the site serving it.
    """
    from planning.siting.plan import demand_points

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    bounds = tuple(ds.units.total_bounds)
    disp = display_for(bounds, settings=settings)
    m = new_map(bounds, settings=settings)
    add_polygons(m, ds.units, name="街道/乡镇" if zh else "Townships",
                 fields=["name", "district"], aliases=["街道/乡镇", "区"] if zh else
                 ["Township", "District"], style=PolygonStyle("#777777", 0.7, 0.05),
                 display=disp)
    demand = demand_points(ds.units).set_index("unit_id")
    cands = plan.candidates.set_index("site_id")
    segs, tips, new_flags = [], [], []
    for _, row in plan.assignment.iterrows():
        if row["site_id"] is None or row["unit_id"] not in demand.index:
            continue
        a = demand.loc[row["unit_id"]].geometry
        b = cands.loc[row["site_id"]].geometry
        segs.append(shapely.LineString([(a.x, a.y), (b.x, b.y)]))
        tips.append(f"{row['minutes']:.1f} " + ("分钟" if zh else "min"))
        new_flags.append(not bool(cands.loc[row["site_id"], "locked"]))
    if segs:
        lines = display_frame(gpd.GeoDataFrame({"tip": tips, "new": new_flags}, geometry=segs,
                                               crs="EPSG:4326"), disp)
        LeanGeoJson(
            _geojson(lines), name="服务范围" if zh else "Catchments",
            style_function=lambda f: {"color": "#E69F00" if f["properties"]["new"] else
                                      "#0072B2", "weight": 1.5 if f["properties"]["new"] else
                                      0.8, "opacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)
    existing = cands[cands["locked"]]
    if len(existing):
        point_layer(existing, name="现有驿站" if zh else "Existing stations",
                    style=PointStyle(KIND_COLOURS["rehab_station"], "existing-station", 5),
                    tooltips=[str(s) for s in existing.index], display=disp).add_to(m)
    sites = plan.sites
    if len(sites):
        served = "服务权重" if zh else "demand served"
        tips = [f"{r['site_id']} · {r['source']} · {served} {r['demand_served']:,.0f}"
                for _, r in sites.iterrows()]
        layer = point_layer(sites, name="建议新址" if zh else "Suggested sites",
                            style=PointStyle("#E69F00", "suggested-site", 10),
                            tooltips=tips, display=disp)
        layer.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    add_legend(m, [("#0072B2", "现有驿站" if zh else "Existing station"),
                   ("#E69F00", "建议新址" if zh else "Suggested site")],
               title="选址" if zh else "Siting")
    return make_offline(m)


def access_map(
    summary: object,
    stations: gpd.GeoDataFrame,
    *,
    column: str = "share_within",
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Choropleth of an access measure per township, catchments at the threshold, stations.

    Townships the network does not reach (infinite or missing times) are grey "no data",
    never "Infinity".
    """
    zh = lang == "zh"
    units = summary.townships
    bounds = tuple(units.total_bounds)
    disp = display_for(bounds, settings=settings)
    m = new_map(bounds, settings=settings)
    values = units[column].astype(float).to_numpy()
    values = np.where(np.isfinite(values), values, np.nan)
    share = column == "share_within"
    scale, unit = (100.0, "%") if share else (1.0, " 分钟" if zh and column == "mean_minutes"
                                               else (" min" if column == "mean_minutes" else ""))
    palette = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
    if column == "mean_minutes":
        palette = palette[::-1]  # fewer minutes is better
    fills, legend = _ramp(values, colours=palette, scale=scale, unit=unit,
                          no_data="无数据（路网未覆盖）" if zh else "no data (not reached)")

    def finite(col: str, digits: int, factor: float = 1.0) -> list:
        v = units[col].astype(float).to_numpy() * factor
        return [round(float(x), digits) if np.isfinite(x) else None for x in v]

    shown = units.assign(_fill=fills, share=finite("share_within", 0, 100.0),
                         minutes=finite("mean_minutes", 1), a2=finite("access_2sfca", 2))
    add_polygons(
        m, shown, name="可达性" if zh else "Access",
        fields=["name", "district", "share", "minutes", "a2"],
        aliases=(["街道/乡镇", "区", f"{summary.threshold_min:g}分钟内居民（%）",
                  "平均时间（分钟）", "2SFCA（每万人名额）"] if zh else
                 ["Township", "District", f"% residents within {summary.threshold_min:g} min",
                  "Mean time (min)", "2SFCA (places per 10k)"]),
        style=PolygonStyle("#555555", 0.7, 0.6, "_fill"), display=disp,
    )
    catch = summary.catchments
    if len(catch):
        at = catch[catch["minutes"] == summary.threshold_min]
        if len(at):
            dissolved = gpd.GeoDataFrame(geometry=[at.union_all()], crs=at.crs)
            label = (f"{summary.threshold_min:g}分钟范围" if zh else
                     f"{summary.threshold_min:g}-minute catchment")
            LeanGeoJson(_geojson(display_frame(dissolved, disp)), name=label,
                           style_function=lambda _f: {"color": "#0072B2", "weight": 1,
                                                      "fillColor": "#0072B2",
                                                      "fillOpacity": 0.12}).add_to(m)
    add_facilities(m, stations, lang=lang, kinds=["rehab_station"], display=disp)
    folium.LayerControl(collapsed=True).add_to(m)
    station_label = FACILITY_KINDS["rehab_station"] if zh else KIND_LABELS_EN["rehab_station"]
    add_legend(m, [*legend, (KIND_COLOURS["rehab_station"], station_label)],
               title=t(f"measure_{column}", lang))
    return make_offline(m)


@dataclass(frozen=True)
class MapPage:
    """What a standalone HTML map says about itself: title, heading and the footer lines."""

    title: str
    subtitle: str = ""
    footer: tuple[str, ...] = ()


def map_html(m: folium.Map, page: MapPage | None = None) -> str:
    """Render the standalone, offline HTML document of a map.

    With ``page``, the document gets a real ``<title>``, a heading above the map and a footer
    (data date, sources, synthetic note) — what an official sees when opening the file.
    """
    if page is None:
        return m.get_root().render()
    root = m.get_root()
    root.title = page.title
    heading = (
        '<div class="jk-heading" style="position:absolute;top:0;left:0;right:0;z-index:1000;'
        'background:#fff;padding:6px 12px;border-bottom:1px solid #999;font:14px sans-serif">'
        f'<h1 style="margin:0;font-size:18px">{html.escape(page.title)}</h1>'
        + (f'<div style="color:#444">{html.escape(page.subtitle)}</div>' if page.subtitle
           else "") + "</div>")
    footer = (
        '<div class="jk-footer" style="position:absolute;bottom:0;left:0;right:0;z-index:1000;'
        'background:rgba(255,255,255,.92);padding:3px 12px;border-top:1px solid #999;'
        'font:11px sans-serif;color:#333">'
        + " | ".join(html.escape(line) for line in page.footer) + "</div>")
    root.html.add_child(folium.Element(heading + footer), name="jk_page")
    # leave room for the heading and footer around the map
    root.header.add_child(folium.Element(
        "<style>.folium-map{top:64px !important;bottom:26px !important;height:auto !important;"
        "position:absolute !important}</style>"), name="jk_page_css")
    return root.render()
