"""Streamlit glue shared by app.py and app_pages/: sidebar, cached engine calls, error display.

Only presentation and caching live here; every number comes from the engine. Streamlit runs
every browser session in one process, so:

* caches key on *content* — the dataset token, the profile's hash, the options value — never
  on a name (an edited ``my.yaml`` uploaded under the same name gives new findings);
* what a cache hands out is never mutated: datasets are copied on the way out, results are
  frozen values;
* nothing here changes library globals or logging (the entry point ``app.py`` sets those up
  once).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import pandas as pd
import streamlit as st

from planning.access.coverage import AccessOptions, AccessSummary, township_access
from planning.app import auth
from planning.data.model import Dataset
from planning.demo import beijing_demo
from planning.errors import InputError
from planning.i18n import t
from planning.publish import maps, tables, workbook
from planning.publish.privacy import public_findings
from planning.rules import (
    evaluate_scope,
    filter_findings,
    list_profiles,
    load_profile,
    milestone_view,
    profile_text,
    summarise,
)
from planning.rules.profile import Profile
from planning.settings import DEFAULT, Settings
from planning.siting.multiperiod import YearPlan
from planning.siting.plan import (
    SitingOptions,
    SitingPlan,
    YearlyPlan,
    describe_run,
    plan_by_year,
    suggest_sites,
)


@st.cache_resource(show_spinner=False)
def _demo(settings: Settings) -> Dataset:
    return beijing_demo(settings)


DEFAULT_PROFILE = "beijing-2018"
"""Profile chosen when the session has not picked one (the embedded demo follows it)."""

ACCESS_MODES: tuple[str, ...] = ("walk", "drive")
ACCESS_THRESHOLDS: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60)
ACCESS_COLUMNS: tuple[str, ...] = ("share_within", "mean_minutes", "access_2sfca",
                                   "access_e2sfca")
ACCESS_DEFAULT_THRESHOLD = 15
"""The Access page's choices; the first mode and column and this threshold are its defaults."""


def default_profile_name(names: list[str]) -> str:
    """Return the profile a new session starts with: :data:`DEFAULT_PROFILE` if packaged."""
    return DEFAULT_PROFILE if DEFAULT_PROFILE in names else names[0]


def default_year(profile: Profile) -> int | None:
    """Return the milestone year a new session starts with: the profile's last (or None)."""
    years = list(profile.milestones)
    return years[-1] if years else None


def settings() -> Settings:
    """Return the app's settings value (one frozen value per process; pages never mutate it)."""
    return DEFAULT


def demo_dataset() -> Dataset:
    """Return a copy of the embedded Beijing demo (generated once per process).

    The shared original's content token is computed once, so every session's copy carries it
    instead of hashing the layers again.
    """
    shared = _demo(settings())
    _ = shared.token
    return shared.copy()


def current_dataset() -> Dataset:
    """Return the dataset the user loaded on the Data page, or (a copy of) the Beijing demo."""
    ds = st.session_state.get("dataset")
    if ds is None:
        ds = st.session_state.get("_demo_copy")
    if ds is None:
        ds = demo_dataset()
        st.session_state["_demo_copy"] = ds  # one copy per session, not one per rerun
    return ds


def _persist(key: str) -> None:
    """Copy a widget's value to a plain session key.

    Streamlit forgets widget state when the user switches pages; plain keys survive.
    """
    if key in st.session_state:  # gone after a logout cleared the session: nothing to keep
        st.session_state[f"_keep_{key}"] = st.session_state[key]


def _restore(key: str, options: list, default: object = None) -> int:
    kept = st.session_state.get(f"_keep_{key}", default)
    return options.index(kept) if kept in options else 0


def sidebar() -> tuple[str, Dataset, str | None]:
    """Language toggle, dataset label and district picker; returns (lang, dataset, district).

    Choices persist across pages within the browser session.
    """
    langs = ["zh", "en"]
    lang = st.sidebar.radio(
        t("language"), langs, horizontal=True, key="lang", index=_restore("lang", langs),
        format_func=lambda v: "中文" if v == "zh" else "English",
        on_change=_persist, args=("lang",),
    )
    auth.require_login("viewer")  # only when real ledgers are loaded or JINGKANG_AUTH=1
    try:
        ds = current_dataset()
    except InputError as exc:
        st.error(f"{t('load_error', lang)}: {exc}")
        st.stop()
    st.sidebar.caption(f"{t('dataset', lang)}: {ds.name}")
    all_label = t("all_districts", lang)
    options = [all_label, *ds.district_names()]
    choice = st.sidebar.selectbox(t("district", lang), options, key="district",
                                  index=_restore("district", options),
                                  on_change=_persist, args=("district",))
    # kept on every run too: a page switch that overtakes the widget's own rerun still keeps it
    st.session_state["_keep_district"] = choice
    district = None if choice == all_label else choice
    if ds.is_synthetic:
        st.sidebar.warning(t("synthetic_banner", lang))
    return lang, ds, district


def map_extras() -> tuple[str | None, str | None]:
    """GeoJSON computed on other pages this session: (isochrones, suggested sites)."""
    return (st.session_state.get("isochrones_geojson"), st.session_state.get("suggested_geojson"))


def _extra_layers(extras: tuple[str | None, str | None], lang: str) -> list:
    import folium

    names = (("等时圈", "Isochrones"), ("建议新址", "Suggested sites"))
    return [folium.GeoJson(data, name=name[lang == "en"])
            for data, name in zip(extras, names, strict=True) if data]


@st.cache_data(show_spinner=False, max_entries=64)
def _findings(token: str, profile_hash: str, district: str | None, year: int | None,
              _dataset: Dataset, _profile: Profile) -> pd.DataFrame:
    findings = evaluate_scope(_dataset, _profile, district=district, year=year)
    # what pages and exports show: patient rates of areas with < 5 patients are blanked
    return public_findings(findings, _dataset.units, {r.id: r.metric for r in _profile.rules},
                           settings=settings())


def findings_for(dataset: Dataset, profile: Profile, *, district: str | None,
                 year: int | None) -> pd.DataFrame:
    """Return the findings of one scope (:func:`planning.rules.evaluate_scope`), cached."""
    return _findings(dataset.token, profile.hash, district, year, dataset, profile)


#: The Compliance page's status filter: what it shows before the planner changes it.
COMPLIANCE_STATUSES: tuple[str, ...] = ("fail", "not_assessable", "pass")
COMPLIANCE_DEFAULT_STATUSES: tuple[str, ...] = ("fail", "not_assessable")


class ComplianceTables(NamedTuple):
    """The Compliance page's tables, laid out in the UI language."""

    findings: pd.DataFrame
    by_rule: pd.DataFrame
    by_district: pd.DataFrame


@st.cache_data(show_spinner=False, max_entries=32)
def _compliance_tables(token: str, profile_hash: str, district: str | None, year: int | None,
                       lang: str, statuses: tuple[str, ...], rule_ids: tuple[str, ...],
                       _dataset: Dataset, _profile: Profile) -> ComplianceTables:
    view = findings_for(_dataset, _profile, district=district, year=year)
    shown = filter_findings(view, statuses=statuses, rule_ids=rule_ids)
    summary = summarise(view)
    return ComplianceTables(tables.findings_table(shown, lang),
                            tables.rule_summary_table(summary.by_rule, lang),
                            tables.district_table(summary.district_totals(), lang))


def compliance_tables(dataset: Dataset, profile: Profile, *, district: str | None,
                      year: int | None, lang: str, statuses: tuple[str, ...],
                      rule_ids: tuple[str, ...]) -> ComplianceTables:
    """Return the filtered findings table and the summaries by rule and by district, cached.

    Keyed like :func:`findings_for` plus the language and the filters, so a page switch back to
    Compliance lays nothing out again.
    """
    return _compliance_tables(dataset.token, profile.hash, district, year, lang,
                              tuple(statuses), tuple(rule_ids), dataset, profile)


@st.cache_data(show_spinner=False, max_entries=16)
def _milestones(token: str, profile_hash: str, district: str | None, _dataset: Dataset,
                _profile: Profile) -> pd.DataFrame:
    ds = _dataset.subset([district]) if district else _dataset
    return milestone_view(ds, _profile)


def milestones_for(dataset: Dataset, profile: Profile, *, district: str | None) -> pd.DataFrame:
    """Milestone view of one scope, cached on content."""
    return _milestones(dataset.token, profile.hash, district, dataset, profile)


@st.cache_data(show_spinner=False, max_entries=16)
def _workbook(token: str, profile_hash: str, district: str | None, year: int | None,
              _findings_table: pd.DataFrame, _profile: Profile, name: str,
              note: str | None) -> bytes:
    return workbook.compliance_workbook_bytes(_findings_table, _profile, dataset_name=name,
                                              synthetic_note=note)


def workbook_for(dataset: Dataset, profile: Profile, *, district: str | None,
                 year: int | None) -> bytes:
    """Return the compliance workbook of one scope, built once per content."""
    findings = findings_for(dataset, profile, district=district, year=year)
    note = dataset.synthetic_note
    return _workbook(dataset.token, profile.hash, district, year, findings, profile,
                     dataset.name, note)


@st.cache_data(show_spinner=False, max_entries=32)
def _profile_from_bytes(digest: str, name: str, data: bytes) -> Profile:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(data)
        return load_profile(path)


@st.cache_resource(show_spinner=False, max_entries=64)
def _packaged_profile(name: str, digest: str) -> Profile:
    return load_profile(name)


def packaged_profile(name: str) -> Profile:
    """Return a packaged profile, parsed once per version of its file.

    Parsing and checking a profile's YAML takes a tenth of a second or more; every page run
    needs the profile. The parse is keyed on the file's SHA-256, so an edited file is parsed
    again. One :class:`Profile` serves every session: it is immutable (frozen, read-only maps).
    """
    digest = hashlib.sha256(profile_text(name).encode("utf-8")).hexdigest()
    return _packaged_profile(name, digest)


@st.cache_data(show_spinner=False)
def profile_titles(names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Return the (Chinese, English) title of each packaged profile, for the dropdown."""
    return {n: (packaged_profile(n).title_zh, packaged_profile(n).title_en) for n in names}


def profile_picker(lang: str) -> tuple[str, Profile, int | None]:
    """Sidebar: policy profile (packaged or an uploaded YAML) and milestone year.

    Returns
    -------
    tuple
        (profile label, Profile, milestone year or ``None``).
    """
    names = list_profiles()
    default = names.index(default_profile_name(names))
    kept = st.session_state.get("_keep_profile")
    index = names.index(kept) if kept in names else default
    titles = profile_titles(tuple(names))
    name = st.sidebar.selectbox(t("profile", lang), names, index=index, key="profile",
                                on_change=_persist, args=("profile",),
                                format_func=lambda n: titles[n][lang == "en"])
    custom = st.sidebar.file_uploader(t("custom_profile", lang), type=["yaml", "yml"],
                                      key="profile_upload")
    profile = packaged_profile(name)
    if custom is not None:
        from planning.app.actions import check_upload

        try:
            check_upload(custom, custom.name, lang=lang)  # 1 MB for a profile, before parsing
        except InputError as exc:
            st.sidebar.error(str(exc))
            custom = None
    if custom is not None:
        data = custom.getvalue()
        try:
            profile = _profile_from_bytes(hashlib.sha256(data).hexdigest(), custom.name, data)
            name = custom.name
        except InputError as exc:
            st.sidebar.error(str(exc))
    years = list(profile.milestones)
    year = None
    if years:
        kept_year = st.session_state.get("_keep_milestone_year")
        index = years.index(kept_year if kept_year in years else default_year(profile))
        year = st.sidebar.selectbox(t("milestone_year", lang), years, index=index,
                                    key="milestone_year", on_change=_persist,
                                    args=("milestone_year",))
    return name, profile, year


@st.cache_data(show_spinner=False, max_entries=16)
def _siting(token: str, district: str | None, options: SitingOptions, profile_hash: str,
            candidates_token: str | None, _dataset: Dataset, _profile: Profile,
            _candidates: gpd.GeoDataFrame | None) -> SitingPlan:
    ds = _dataset.subset([district]) if district else _dataset
    return suggest_sites(ds, options, profile=_profile, candidates=_candidates,
                         settings=settings())


def siting_plan(dataset: Dataset, profile: Profile, options: SitingOptions, *,
                district: str | None, candidates: tuple[str, gpd.GeoDataFrame] | None = None,
                ) -> SitingPlan:
    """Return a siting run, cached on dataset, district, options, profile and candidates."""
    ctoken, cframe = candidates if candidates is not None else (None, None)
    return _siting(dataset.token, district, options, profile.hash, ctoken, dataset, profile,
                   cframe)


@st.cache_data(show_spinner=False, max_entries=8)
def _candidates(digest: str, token: str, name: str, data: bytes,
                _units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from planning.data.io import read_points
    from planning.siting.candidates import from_points

    pts = read_points(io.BytesIO(data), name=name)
    return from_points(pts, units=_units, source=f"user:{name}")


def candidate_points(data: bytes, name: str, dataset: Dataset) -> tuple[str, gpd.GeoDataFrame]:
    """User candidate sites from an uploaded point file, joined to the dataset's townships."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return digest, _candidates(digest, dataset.token, name, data, dataset.units)


@st.cache_resource(show_spinner=False, max_entries=4)
def routing_network_from_upload(digest: str, name: str, data: bytes, mode: str) -> object:
    """Build (once per file content and mode) a routing network from an uploaded OSM file."""
    from planning.access import network

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(data)
        graph = network.graph_from_file(path, mode=mode, settings=settings())
    return network.routing_network(graph)


@st.cache_data(show_spinner=False, max_entries=16)
def _access(token: str, district: str | None, threshold: float, mode: str,
            net_key: str | None, per_staff: float | None, _dataset: Dataset,
            _network: object | None) -> AccessSummary:
    ds = _dataset.subset([district]) if district else _dataset
    opts = AccessOptions(threshold_min=threshold, mode=mode, clients_per_staff=per_staff)
    return township_access(ds, opts, network=_network, settings=settings())


def access_summary(dataset: Dataset, profile: Profile, *, district: str | None,
                   threshold: float, mode: str,
                   network: tuple[str, object] | None = None) -> AccessSummary:
    """Return the access summary, cached on dataset, district, options, network, profile."""
    net_key, net = network if network is not None else (None, None)
    return _access(dataset.token, district, float(threshold), mode, net_key,
                   profile.clients_per_staff, dataset, net)


@st.cache_data(show_spinner=False, max_entries=16)
def _isochrones(token: str, district: str | None, threshold: float, mode: str,
                net_key: str | None, per_staff: float | None,
                _summary: AccessSummary) -> str | None:
    return _summary.catchment_geojson(threshold)


def isochrones_for(dataset: Dataset, profile: Profile, summary: AccessSummary, *,
                   district: str | None, net_key: str | None) -> str | None:
    """Return the Access page's isochrone layer (GeoJSON) of ``summary``, cached like it."""
    return _isochrones(dataset.token, district, float(summary.threshold_min), summary.mode,
                       net_key, profile.clients_per_staff, summary)


# --- maps: one rendered document per content, drawn without re-rendering on reruns ----------
def _component_args(fmap: object) -> dict:
    """Return what ``streamlit_folium`` sends to the browser for ``fmap``, computed once."""
    import streamlit_folium as sf

    fmap.get_root().render()
    fmap.render()
    html = sf._get_html(fmap)
    header = sf._get_header(fmap)
    script = sf._get_map_string(fmap)
    # folium links jQuery for two templates of its own; a map that uses neither (ours: no
    # element popups, no keep_in_front) needn't ship 117 KB of it into every map frame
    uses_jquery = any("$(" in part or "jQuery" in part for part in (script, header, html))
    css, js = [], []
    for elem in _walk_assets(fmap):
        css.extend(href for _, href in getattr(elem, "default_css", []))
        js.extend(src for name, src in getattr(elem, "default_js", [])
                  if uses_jquery or name != "jquery")
    return {"script": script, "header": header, "html": html, "id": sf.get_full_id(fmap),
            "css_links": list(dict.fromkeys(css)), "js_links": list(dict.fromkeys(js))}


def _walk_assets(element: object) -> Iterator[object]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk_assets(child)


class MapSpec(NamedTuple):
    """A map to draw: how to build it and the content its cached document is keyed on.

    Attributes
    ----------
    build
        Zero-argument callable returning a :class:`folium.Map` (called on a cache miss only).
    content
        Hashable description of everything the map depends on.
    key
        Widget key (unique per page).
    """

    build: Callable[[], object]
    content: tuple
    key: str


def overview_map_spec(dataset: Dataset, *, district: str | None, lang: str) -> MapSpec:
    """Return the Overview page's map (townships by coverage, stations)."""
    return MapSpec(lambda: maps.overview_map(dataset, district=district, lang=lang,
                                             settings=settings()),
                   ("overview", dataset.token, district, lang, settings()), "home_map")


def planner_map_spec(dataset: Dataset, *, district: str | None, lang: str,
                     extras: tuple[str | None, str | None] = (None, None)) -> MapSpec:
    """Return the Map page's map, with layers other pages computed (:func:`map_extras`)."""
    return MapSpec(lambda: maps.planner_map(dataset, district=district, lang=lang,
                                            settings=settings(),
                                            extra_layers=_extra_layers(extras, lang)),
                   ("planner", dataset.token, district, lang, settings(), extras),
                   "planner_map")


def compliance_map_spec(dataset: Dataset, findings: pd.DataFrame, profile: Profile, *,
                        district: str | None, year: int | None, lang: str) -> MapSpec:
    """Return the Compliance page's map (townships by their worst finding)."""
    return MapSpec(lambda: maps.compliance_map(dataset, findings, district=district, lang=lang,
                                               settings=settings()),
                   ("compliance", dataset.token, profile.hash, district, year, lang,
                    settings()), "compliance_map")


def access_map_spec(dataset: Dataset, summary: AccessSummary, profile: Profile, *,
                    district: str | None, net_key: str | None, column: str,
                    lang: str) -> MapSpec:
    """Return the Access page's map (townships coloured by ``column``, stations).

    ``summary`` is the :func:`access_summary` it shows (its threshold and mode key the map).
    """
    def build() -> object:
        view = dataset.subset([district]) if district else dataset
        return maps.access_map(summary, view.stations(), column=column, lang=lang,
                               settings=settings())

    return MapSpec(build, ("access", dataset.token, district, summary.threshold_min,
                           summary.mode, net_key,
                           profile.clients_per_staff, column, lang, settings()), "access_map")


def siting_map_spec(dataset: Dataset, plan: SitingPlan, profile: Profile, *,
                    options: SitingOptions, candidates_token: str | None,
                    district: str | None, lang: str) -> MapSpec:
    """Return the Siting page's map (suggested and existing sites)."""
    return MapSpec(lambda: maps.siting_map(dataset, plan, district=district, lang=lang,
                                           settings=settings()),
                   ("siting", dataset.token, district, options, profile.hash,
                    candidates_token, lang, settings()), "siting_map")


@st.cache_data(show_spinner=False, max_entries=48)
def _map_document(content: tuple, key: str, _build: object) -> dict:
    import streamlit_folium as sf

    args = _component_args(_build())
    args["key"] = sf.generate_js_hash(args["script"], key, False)
    return args


def map_document(spec: MapSpec) -> dict:
    """Return what the browser is sent for ``spec``: rendered once per content, then cached."""
    return _map_document(spec.content, spec.key, spec.build)


def show_map(spec: MapSpec, *, height: int, returned: tuple[str, ...] = ()) -> dict | None:
    """Draw the folium map of ``spec``, rendered once per ``spec.content``.

    The map document is cached on the content (dataset token, parameters, language, settings),
    so a rerun sends the same arguments and the browser keeps the drawn map. Keep the call at
    a fixed place in the page (put notes that come and go in one ``st.container()`` above it):
    a component that moves is remounted. Only the events
    in ``returned`` (e.g. ``("last_clicked",)``) come back to Python; pan, zoom, hover and layer
    toggles never cause a rerun.

    Parameters
    ----------
    spec
        The map (see :class:`MapSpec` and the ``*_map_spec`` functions).
    height
        Height in pixels.
    returned
        Map events to return.

    Returns
    -------
    dict or None
        The returned events (``None`` values until the user acts).
    """
    import streamlit_folium as sf

    args = map_document(spec)
    return sf._component_func(
        **args, height=height, width=None, returned_objects=list(returned),
        default=dict.fromkeys(returned), zoom=None, center=None, feature_group=None,
        return_on_hover=False, layer_control=None, pixelated=False, wrap_longitude=False,
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _yearly(token: str, district: str | None, options: SitingOptions, years: YearPlan,
            costs: tuple[float, float], _dataset: Dataset) -> YearlyPlan:
    ds = _dataset.subset([district]) if district else _dataset
    return plan_by_year(ds, options, years, site_cost=costs[0], staff_cost=costs[1],
                        settings=settings())


def yearly_plan(dataset: Dataset, options: SitingOptions, years: YearPlan, *,
                district: str | None, costs: tuple[float, float]) -> YearlyPlan:
    """Return a multi-period plan, cached on dataset, district, options, years and costs."""
    return _yearly(dataset.token, district, options, years, costs, dataset)


@st.cache_data(show_spinner=False, max_entries=32)
def _size(token: str, district: str | None, options: SitingOptions, profile_hash: str,
          candidates_token: str | None, _dataset: Dataset, _profile: Profile,
          _candidates: gpd.GeoDataFrame | None) -> dict:
    ds = _dataset.subset([district]) if district else _dataset
    return describe_run(ds, options, profile=_profile, candidates=_candidates,
                        settings=settings())


def siting_size(dataset: Dataset, profile: Profile, options: SitingOptions, *,
                district: str | None,
                candidates: tuple[str, gpd.GeoDataFrame] | None = None) -> dict:
    """Return the model size and method before solving, cached like :func:`siting_plan`."""
    ctoken, cframe = candidates if candidates is not None else (None, None)
    return _size(dataset.token, district, options, profile.hash, ctoken, dataset, profile,
                 cframe)
