"""Streamlit glue shared by app.py and app_pages/: sidebar, cached loaders, error display.

Only presentation lives here; every number comes from the engine modules.
"""

from __future__ import annotations

import logging

import streamlit as st

from planning.app import auth
from planning.data.datasets import beijing_demo
from planning.data.model import Dataset
from planning.errors import InputError
from planning.i18n import t
from planning.publish import privacy
from planning.settings import DEFAULT, Settings

log = logging.getLogger(__name__)
privacy.install_log_scrubber()  # idempotent: redacts id/phone numbers from every log line


@st.cache_resource(show_spinner=False)
def _demo(settings: Settings) -> Dataset:
    # cache_resource: the Dataset is frozen and never mutated by pages.
    return beijing_demo(settings)


def settings() -> Settings:
    """The app's settings value (one per process; pages never mutate it)."""
    return DEFAULT


def current_dataset() -> Dataset:
    """The dataset the user loaded on the Data page, or the Beijing demo."""
    ds = st.session_state.get("dataset")
    if ds is None:
        ds = _demo(settings())
    return ds


def _persist(key: str) -> None:
    """Copy a widget's value to a plain session key: Streamlit forgets widget state when the
    user switches pages, plain keys survive."""
    st.session_state[f"_keep_{key}"] = st.session_state[key]


def _restore(key: str, options: list, default=None):
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
    district = None if choice == all_label else choice
    if ds.is_synthetic:
        st.sidebar.warning(t("synthetic_banner", lang))
    return lang, ds, district


def extra_map_layers(lang: str) -> list:
    """Folium layers computed on other pages this session (isochrones, suggested sites)."""
    import folium

    layers = []
    for key, label in (("isochrones_geojson", "isochrones"), ("suggested_geojson", "suggested")):
        data = st.session_state.get(key)
        if data:
            name = {"isochrones": ("等时圈", "Isochrones"),
                    "suggested": ("建议新址", "Suggested sites")}[label][lang == "en"]
            layers.append(folium.GeoJson(data, name=name))
    return layers


@st.cache_data(show_spinner=False, max_entries=32)
def findings_for(token: str, _dataset: Dataset, profile: str, year: int | None,
                 _profile_obj=None):
    """Cached findings table, keyed by dataset content token, profile and year."""
    from planning import rules

    return rules.evaluate(_dataset, _profile_obj or profile, year=year)


def profile_picker(lang: str):
    """Sidebar: policy profile (packaged or an uploaded YAML) and milestone year.

    Returns (profile name, Profile object, year).
    """
    from planning import rules
    from planning.errors import InputError

    names = rules.list_profiles()
    default = names.index("beijing-2018") if "beijing-2018" in names else 0
    kept = st.session_state.get("_keep_profile")
    index = names.index(kept) if kept in names else default
    name = st.sidebar.selectbox(t("profile", lang), names, index=index, key="profile",
                                on_change=_persist, args=("profile",))
    custom = st.sidebar.file_uploader(t("custom_profile", lang), type=["yaml", "yml"],
                                      key="profile_upload")
    profile = rules.load_profile(name)
    if custom is not None:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / custom.name
            path.write_bytes(custom.getvalue())
            try:
                profile = rules.load_profile(path)
                name = f"{custom.name}"
            except InputError as exc:
                st.sidebar.error(str(exc))
    years = list(profile.milestones)
    year = None
    if years:
        kept_year = st.session_state.get("_keep_milestone_year")
        index = years.index(kept_year) if kept_year in years else len(years) - 1
        year = st.sidebar.selectbox(t("milestone_year", lang), years, index=index,
                                    key="milestone_year", on_change=_persist,
                                    args=("milestone_year",))
    return name, profile, year


def _frozen(params: tuple) -> dict:
    return {k: (dict(v) if isinstance(v, tuple) and v and isinstance(v[0], tuple) else v)
            for k, v in params}


@st.cache_data(show_spinner=False, max_entries=16)
def siting_plan(token: str, _dataset: Dataset, district: str | None, params: tuple,
                candidates=None):
    """Cached siting run keyed by dataset token, district, the parameters and candidates."""
    from planning.siting.plan import suggest_sites

    ds = _dataset.subset([district]) if district else _dataset
    return suggest_sites(ds, settings=settings(), extra_candidates=candidates,
                         **_frozen(params))


@st.cache_data(show_spinner=False, max_entries=8)
def candidate_points(data: bytes, name: str, token: str):
    """User candidate sites from an uploaded point file, joined to townships."""
    import io as _io

    from planning.data.io import read_points
    from planning.siting.candidates import from_points

    pts = read_points(_io.BytesIO(data), name=name)
    return from_points(pts, units=current_dataset().units, source=f"user:{name}")


@st.cache_resource(show_spinner=False, max_entries=4)
def routing_network_from_upload(digest: str, name: str, data: bytes, mode: str):
    """Build (once per file content and mode) a routing network from an uploaded OSM file."""
    import tempfile
    from pathlib import Path

    from planning.access import network

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        graph = network.graph_from_file(path, mode=mode, settings=settings())
    return network.routing_network(graph)


@st.cache_data(show_spinner=False, max_entries=16)
def access_summary(token: str, _dataset: Dataset, district: str | None, threshold: float,
                   mode: str, net_key: str | None, _network=None):
    """Cached accessibility summary keyed by dataset token, district, parameters and network."""
    from planning.access.coverage import township_access

    ds = _dataset.subset([district]) if district else _dataset
    return township_access(ds, threshold_min=threshold, mode=mode, network=_network,
                           settings=settings())
