"""Folium maps that render offline: inline Leaflet/jQuery assets, no basemap unless asked.

Plain folium links Leaflet, jQuery and their CSS from CDNs, which leaves a blank page without
internet. :func:`make_offline` swaps every asset link of every element in a map for a ``data:`` URI
built from the copies shipped inside the ``folium-offline`` package (installed from PyPI, never
copied into this repository). Assets that no package ships are dropped with a warning, so the map
still renders. Marker icons are drawn as circle markers (no image files needed).
"""

from __future__ import annotations

import base64
import html
import logging
import math
from functools import cache

import branca
import folium
import geopandas as gpd

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
    """A ``data:`` URI with the packaged copy of ``url``, or ``None`` if no package ships it."""
    content = _packaged_assets().get(url)
    return None if content is None else _data_uri(url, content)


def _walk(element: branca.element.Element):
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


def new_map(
    bounds: tuple[float, float, float, float] | None = None,
    *,
    settings: Settings = DEFAULT,
    height: str | int = "100%",
) -> folium.Map:
    """An offline-ready folium map, fitted to ``bounds`` (minx, miny, maxx, maxy).

    No tile layer unless ``settings.tiles_url`` is set (then it is the basemap, with its
    attribution).
    """
    location, zoom = [35.0, 105.0], 4
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        location = [(miny + maxy) / 2, (minx + maxx) / 2]
        span = max(maxx - minx, (maxy - miny) * 1.3, 1e-4)
        zoom = int(max(3, min(16, math.floor(math.log2(800 * 360 / (256 * span))))))
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, control_scale=True,
                   height=height)
    if settings.tiles_url:
        folium.TileLayer(
            tiles=settings.tiles_url,
            attr=settings.tiles_attribution or "basemap",
            name="basemap",
        ).add_to(m)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    try:
        import pandas as pd

        if pd.isna(v):
            return "—"
    except (TypeError, ValueError):
        pass
    if isinstance(v, float) and v.is_integer():
        return f"{int(v)}"
    return html.escape(str(v))


def add_polygons(
    m: folium.Map | folium.FeatureGroup,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    fields: list[str],
    aliases: list[str],
    colour: str = "#333333",
    weight: float = 1.0,
    fill_opacity: float = 0.05,
    fill_column: str | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """Add polygons with a hover tooltip; ``fill_column`` holds per-feature fill colours."""
    cols = [c for c in fields if c in gdf.columns]
    data = gdf[[*cols, *([fill_column] if fill_column else []), "geometry"]].copy()
    for c in cols:
        data[c] = data[c].map(_fmt)

    def style(feature: dict) -> dict:
        fill = feature["properties"].get(fill_column) if fill_column else colour
        return {"color": colour, "weight": weight, "fillColor": fill or colour,
                "fillOpacity": fill_opacity}

    layer = folium.GeoJson(
        data.to_json(),
        name=name,
        style_function=style,
        highlight_function=lambda _f: {"weight": weight + 2, "fillOpacity": fill_opacity + 0.2},
        tooltip=folium.GeoJsonTooltip(fields=cols, aliases=[aliases[fields.index(c)]
                                                            for c in cols]),
        show=show,
    )
    layer.add_to(m)
    return layer


def facility_popup(row, *, lang: str = "zh") -> str:
    """HTML popup for one facility (aggregates only; facilities carry no patient rows)."""
    kind = row["kind"]
    kind_label = FACILITY_KINDS.get(kind, kind) if lang == "zh" else KIND_LABELS_EN.get(kind, kind)
    labels = {
        "zh": ("面积(m²)", "户外(m²)", "床位", "服务人员", "社工", "服务对象"),
        "en": ("Floor area (m²)", "Outdoor (m²)", "Beds", "Staff", "Social workers", "Clients"),
    }[lang]
    keys = ("floor_area_m2", "outdoor_area_m2", "beds", "staff", "social_workers", "clients")
    rows = "".join(
        f"<tr><td>{lab}</td><td>{_fmt(row.get(k))}</td></tr>"
        for lab, k in zip(labels, keys, strict=True)
        if _fmt(row.get(k)) != "—"
    )
    return (f"<b>{html.escape(str(row['name']))}</b><br><i>{kind_label}</i>"
            f"<table>{rows}</table>")


def add_facilities(
    m: folium.Map,
    facilities: gpd.GeoDataFrame,
    *,
    lang: str = "zh",
    kinds: list[str] | None = None,
) -> None:
    """One toggleable layer per facility kind, drawn as coloured circle markers."""
    for kind in kinds or list(KIND_COLOURS):
        sub = facilities[facilities["kind"] == kind]
        if sub.empty:
            continue
        label = FACILITY_KINDS[kind] if lang == "zh" else KIND_LABELS_EN[kind]
        group = folium.FeatureGroup(name=f"{label} ({len(sub)})",
                                    show=kind != "township_health_centre")
        radius = 6 if kind == "rehab_station" else 5
        for _, row in sub.iterrows():
            folium.CircleMarker(
                location=(row.geometry.y, row.geometry.x),
                radius=radius,
                color="#ffffff",
                weight=1,
                fill=True,
                fill_color=KIND_COLOURS[kind],
                fill_opacity=0.95,
                tooltip=html.escape(str(row["name"])),
                popup=folium.Popup(facility_popup(row, lang=lang), max_width=300),
                class_name=f"facility-{kind}",
            ).add_to(group)
        group.add_to(m)


def add_legend(m: folium.Map, items: list[tuple[str, str]], *, title: str) -> None:
    """A fixed legend box (colour, label) in the bottom-left corner."""
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


def overview_map(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """District and township boundaries plus facilities by type, for a city or one district."""
    ds = dataset.subset([district]) if district else dataset
    m = new_map(tuple(ds.units.total_bounds), settings=settings)
    zh = lang == "zh"
    add_polygons(
        m, ds.districts, name="区界" if zh else "Districts",
        fields=["name", "zone", "population"],
        aliases=["区", "功能区", "常住人口"] if zh else ["District", "Zone", "Population"],
        colour="#222222", weight=2.5, fill_opacity=0.0,
    )
    covered = set(ds.stations()["unit_id"].dropna())
    units = ds.units.assign(
        _fill=["#9ecae1" if u in covered else "#fc9272" for u in ds.units["unit_id"]]
    )
    add_polygons(
        m, units, name="街道/乡镇" if zh else "Streets/townships",
        fields=["name", "district", "population"],
        aliases=["街道/乡镇", "区", "常住人口"] if zh else ["Township", "District", "Population"],
        colour="#555555", weight=0.8, fill_opacity=0.35, fill_column="_fill",
    )
    add_facilities(m, ds.facilities, lang=lang)
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


def _ramp(values, colours=("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")):
    """Quantile classes → colours; returns (colour per value, [(colour, label), ...])."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return ["#dddddd"] * len(v), []
    edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, len(colours) + 1)))
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    out = [colours[i] if f else "#dddddd" for i, f in zip(idx, ok, strict=True)]
    legend = [(colours[i], f"{edges[i]:.1f} – {edges[i + 1]:.1f}") for i in range(len(edges) - 1)]
    return out, legend


def planner_map(
    dataset: Dataset,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
    extra_layers: list[folium.map.Layer] | None = None,
) -> folium.Map:
    """The full Map page: boundaries, patient density (suppressed), heat layer, facilities,
    township search, plus any extra layers (isochrones, suggested sites)."""
    import pandas as pd
    from folium.plugins import HeatMap, Search

    from planning.publish.privacy import RATE_COLUMN, heat_points, public_units

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    m = new_map(tuple(ds.units.total_bounds), settings=settings)
    add_polygons(
        m, ds.districts, name="区界" if zh else "Districts",
        fields=["name", "zone", "population"],
        aliases=["区", "功能区", "常住人口"] if zh else ["District", "Zone", "Population"],
        colour="#222222", weight=2.5, fill_opacity=0.0,
    )
    # Everything below comes from the public table only: hidden counts ("<5", "*") have their
    # rate blanked there, and neither fill colour, legend edges nor heat use raw counts.
    units = public_units(ds.units, threshold=settings.suppression_threshold)
    legend: list[tuple[str, str]] = []
    if RATE_COLUMN in units.columns:
        rate = pd.to_numeric(units[RATE_COLUMN], errors="coerce").astype(float)
        fills, legend = _ramp(rate.to_numpy())
        units = units.assign(_fill=fills, rate=units[RATE_COLUMN])
        units["patients"] = units["patients"].astype(object)
    else:
        units = units.assign(_fill="#eeeeee", rate="—")
    layer = add_polygons(
        m, units, name="患者密度（每万人）" if zh else "Patients per 10k residents",
        fields=["name", "district", "population", "patients", "rate"],
        aliases=(["街道/乡镇", "区", "常住人口", "居家患者", "每万人"] if zh else
                 ["Township", "District", "Population", "Home patients", "Per 10k"]),
        colour="#555555", weight=0.7, fill_opacity=0.6, fill_column="_fill",
    )
    heat = heat_points(units)
    if heat:
        HeatMap(heat, name="患者热力（街乡汇总）" if zh else "Patient heat (township totals)",
                show=False, radius=25, blur=20).add_to(m)
    Search(layer=layer, search_label="name", placeholder="搜索街乡…" if zh else
           "Search township…", collapsed=False, position="topleft").add_to(m)
    add_facilities(m, ds.facilities, lang=lang)
    for extra in extra_layers or []:
        extra.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    items = [(c, ("每万人 " if zh else "per 10k ") + lab) for c, lab in legend]
    items += [(KIND_COLOURS[k], FACILITY_KINDS[k] if zh else KIND_LABELS_EN[k])
              for k in KIND_COLOURS if (ds.facilities["kind"] == k).any()]
    add_legend(m, items, title="图例" if zh else "Legend")
    return make_offline(m)


STATUS_COLOURS = {"pass": "#1a9850", "fail": "#d73027", "not_assessable": "#bdbdbd"}
STATUS_LABELS = {
    "zh": {"pass": "达标", "fail": "未达标", "not_assessable": "无法评估"},
    "en": {"pass": "pass", "fail": "fail", "not_assessable": "not assessable"},
}


def compliance_map(
    dataset: Dataset,
    findings,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Townships and stations coloured by their worst finding; a township takes the worst of
    its own findings and those of the stations inside it."""
    import pandas as pd

    from planning.rules import worst_status

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    labels = STATUS_LABELS["zh" if zh else "en"]
    worst = worst_status(findings)
    rank = {"pass": 0, "not_assessable": 1, "fail": 2}
    fac = ds.facilities.assign(_status=ds.facilities["facility_id"].map(worst))
    fac_rank = fac["_status"].map(rank).groupby(fac["unit_id"]).max()
    own = ds.units["unit_id"].map(worst).map(rank)
    combined = pd.concat([own, ds.units["unit_id"].map(fac_rank)], axis=1).max(axis=1)
    status = combined.map({v: k for k, v in rank.items()}).fillna("not_assessable")
    fails = findings[findings["status"] == "fail"].groupby("entity_id")["rule_id"].agg(
        lambda s: ", ".join(dict.fromkeys(s)))
    units = ds.units.assign(
        _fill=status.map(STATUS_COLOURS).to_numpy(),
        status=status.map(labels).to_numpy(),
        failed=ds.units["unit_id"].map(fails).fillna("").to_numpy(),
    )
    m = new_map(tuple(ds.units.total_bounds), settings=settings)
    add_polygons(m, ds.districts, name="区界" if zh else "Districts", fields=["name"],
                 aliases=["区" if zh else "District"], colour="#222222", weight=2.5,
                 fill_opacity=0.0)
    add_polygons(
        m, units, name="街乡（最差结果）" if zh else "Townships (worst finding)",
        fields=["name", "district", "status", "failed"],
        aliases=(["街道/乡镇", "区", "结果", "未达标规则"] if zh else
                 ["Township", "District", "Result", "Failed rules"]),
        colour="#555555", weight=0.7, fill_opacity=0.45, fill_column="_fill",
    )
    st = fac[fac["kind"] == "rehab_station"]
    group = folium.FeatureGroup(name=("驿站（最差结果）" if zh else "Stations (worst finding)"))
    for _, row in st.iterrows():
        s = row["_status"] if isinstance(row["_status"], str) else "not_assessable"
        failed = fails.get(row["facility_id"], "")
        folium.CircleMarker(
            location=(row.geometry.y, row.geometry.x), radius=6, color="#ffffff", weight=1,
            fill=True, fill_color=STATUS_COLOURS[s], fill_opacity=0.95,
            tooltip=html.escape(f"{row['name']} — {labels[s]}" + (f": {failed}" if failed
                                                                  else "")),
            popup=folium.Popup(facility_popup(row, lang=lang), max_width=300),
            class_name=f"station-{s}",
        ).add_to(group)
    group.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    add_legend(m, [(STATUS_COLOURS[k], labels[k]) for k in ("fail", "not_assessable", "pass")],
               title="合规" if zh else "Compliance")
    return make_offline(m)


def siting_map(
    dataset: Dataset,
    plan,
    *,
    district: str | None = None,
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Suggested sites (orange), existing stations (blue) and catchment lines from each
    township's demand point to the site serving it."""
    from planning.siting.plan import demand_points

    ds = dataset.subset([district]) if district else dataset
    zh = lang == "zh"
    m = new_map(tuple(ds.units.total_bounds), settings=settings)
    add_polygons(m, ds.units, name="街道/乡镇" if zh else "Townships",
                 fields=["name", "district"], aliases=["街道/乡镇", "区"] if zh else
                 ["Township", "District"], colour="#777777", weight=0.7, fill_opacity=0.05)
    demand = demand_points(ds.units).set_index("unit_id")
    cands = plan.candidates.set_index("site_id")
    lines = folium.FeatureGroup(name="服务范围" if zh else "Catchments")
    for _, row in plan.assignment.iterrows():
        if row["site_id"] is None or row["unit_id"] not in demand.index:
            continue
        a = demand.loc[row["unit_id"]].geometry
        b = cands.loc[row["site_id"]].geometry
        new = not bool(cands.loc[row["site_id"], "locked"])
        folium.PolyLine([(a.y, a.x), (b.y, b.x)], weight=1.5 if new else 0.8,
                        color="#E69F00" if new else "#0072B2", opacity=0.7,
                        tooltip=f"{row['minutes']:.1f} min").add_to(lines)
    lines.add_to(m)
    existing = cands[cands["locked"]]
    grp = folium.FeatureGroup(name="现有驿站" if zh else "Existing stations")
    for sid, row in existing.iterrows():
        folium.CircleMarker((row.geometry.y, row.geometry.x), radius=5, color="#ffffff",
                            weight=1, fill=True, fill_color=KIND_COLOURS["rehab_station"],
                            fill_opacity=0.9, tooltip=html.escape(str(sid))).add_to(grp)
    grp.add_to(m)
    new_grp = folium.FeatureGroup(name="建议新址" if zh else "Suggested sites")
    for _, row in plan.sites.iterrows():
        tip = (f"{row['site_id']} · {row['source']} · "
               + ("服务权重" if zh else "demand served") + f" {row['demand_served']:,.0f}")
        folium.CircleMarker((row.geometry.y, row.geometry.x), radius=10, color="#000000",
                            weight=1.5, fill=True, fill_color="#E69F00", fill_opacity=1.0,
                            tooltip=html.escape(tip), class_name="suggested-site").add_to(new_grp)
    new_grp.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    add_legend(m, [("#0072B2", "现有驿站" if zh else "Existing station"),
                   ("#E69F00", "建议新址" if zh else "Suggested site")],
               title="选址" if zh else "Siting")
    return make_offline(m)


def access_map(
    summary,
    stations: gpd.GeoDataFrame,
    *,
    column: str = "share_within",
    lang: str = "zh",
    settings: Settings = DEFAULT,
) -> folium.Map:
    """Choropleth of an access measure per township, catchments at the threshold, stations."""
    zh = lang == "zh"
    units = summary.townships
    m = new_map(tuple(units.total_bounds), settings=settings)
    values = units[column].astype(float)
    fills, legend = _ramp(values.to_numpy(), colours=("#d73027", "#fc8d59", "#fee08b",
                                                      "#91cf60", "#1a9850"))
    shown = units.assign(_fill=fills, share=(units["share_within"] * 100).round(0),
                         minutes=units["mean_minutes"].round(1),
                         a2=units["access_2sfca"].round(2))
    add_polygons(
        m, shown, name="可达性" if zh else "Access",
        fields=["name", "district", "share", "minutes", "a2"],
        aliases=(["街道/乡镇", "区", f"{summary.threshold_min:g}分钟内居民%", "平均分钟",
                  "2SFCA 每万人名额"] if zh else
                 ["Township", "District", f"% residents within {summary.threshold_min:g} min",
                  "Mean minutes", "2SFCA places per 10k"]),
        colour="#555555", weight=0.7, fill_opacity=0.6, fill_column="_fill",
    )
    catch = summary.catchments
    if len(catch):
        at = catch[catch["minutes"] == summary.threshold_min]
        if len(at):
            dissolved = gpd.GeoDataFrame(geometry=[at.union_all()], crs=at.crs)
            label = (f"{summary.threshold_min:g}分钟范围" if zh else
                     f"{summary.threshold_min:g}-minute catchment")
            folium.GeoJson(dissolved.to_json(), name=label,
                           style_function=lambda _f: {"color": "#0072B2", "weight": 1,
                                                      "fillColor": "#0072B2",
                                                      "fillOpacity": 0.12}).add_to(m)
    add_facilities(m, stations, lang=lang, kinds=["rehab_station"])
    folium.LayerControl(collapsed=True).add_to(m)
    station_label = FACILITY_KINDS["rehab_station"] if zh else KIND_LABELS_EN["rehab_station"]
    add_legend(m, [*legend, (KIND_COLOURS["rehab_station"], station_label)],
               title=t(f"measure_{column}", lang))
    return make_offline(m)


def map_html(m: folium.Map) -> str:
    """The standalone, offline HTML document of a map."""
    return m.get_root().render()
