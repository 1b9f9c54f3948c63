"""The server's warm-up computes exactly what the first pages need, through the pages' caches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from planning.app import launch, ui, warm

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
#: the pages a planner opens first, with the work each would otherwise do on its first run
FIRST_PAGES = [None, "app_pages/1_地图_Map.py", "app_pages/2_合规_Compliance.py",
               "app_pages/3_可达性_Access.py"]


def _engine_forbidden(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every engine call the pages' caches wrap record itself and fail."""
    calls: list[str] = []
    for name in ("beijing_demo", "evaluate_scope", "milestone_view", "township_access",
                 "_component_args", "load_profile", "summarise"):
        def computed(*_args, _name=name, **_kwargs):
            calls.append(_name)
            msg = "a page computed what the warm-up should have"
            raise AssertionError(msg)

        monkeypatch.setattr(ui, name, computed)
    return calls


def _run(page: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if page is not None:
        at.switch_page(page)
    return at.run()


@pytest.fixture
def cold_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()  # what the next tests get is computed by them, not by this one
    st.cache_resource.clear()


@pytest.mark.parametrize("page", FIRST_PAGES, ids=["overview", "map", "compliance", "access"])
def test_after_warm_up_a_first_visit_computes_nothing(cold_caches, monkeypatch, page):
    steps = warm.warm_up()
    assert list(steps) == ["imports", "demo", "rules", "maps", "access"]
    assert all(s >= 0 for s in steps.values())
    calls = _engine_forbidden(monkeypatch)
    at = _run(page)
    assert calls == []
    assert not at.exception
    assert at.title  # the page ran to its heading, not into an error


def test_after_warm_up_the_map_page_after_access_computes_nothing(cold_caches, monkeypatch):
    """Access puts its isochrones on the Map page's map: that variant is warmed up too."""
    warm.warm_up()
    calls = _engine_forbidden(monkeypatch)
    at = _run(FIRST_PAGES[-1])
    assert at.session_state["isochrones_geojson"]  # the Access page set the layer
    at.switch_page(FIRST_PAGES[1])
    at.run()
    assert calls == []
    assert not at.exception and at.title


def test_without_warm_up_the_same_visit_would_compute(cold_caches, monkeypatch):
    """The check above can fail: on cold caches the Access page computes (and is refused)."""
    calls = _engine_forbidden(monkeypatch)
    at = _run(FIRST_PAGES[-1])
    assert calls and at.exception


def test_warm_up_leaves_the_map_component_to_be_registered_by_a_page(cold_caches):
    warm.warm_up()
    # streamlit_folium registers its component on import, only inside a script run
    assert "streamlit_folium" not in sys.modules


def test_launcher_runs_this_checkouts_app_with_the_given_flags():
    args = launch.streamlit_args(["--server.port", "8502"])
    assert args[:2] == ["run", str(ROOT / "app.py")]
    assert args[2:] == ["--server.port", "8502"]


def test_a_failed_warm_up_does_not_stop_the_server(monkeypatch, capsys):
    from streamlit.web import cli

    started = []

    def broken():
        msg = "demo broken"
        raise RuntimeError(msg)

    monkeypatch.setattr(warm, "warm_up", broken)
    monkeypatch.setattr(cli, "main", lambda **kw: started.append(kw["args"]) or 0)
    assert launch.main(["--server.port", "8599"]) == 0
    assert started and started[0][-2:] == ["--server.port", "8599"]
    assert "warm-up skipped (RuntimeError)" in capsys.readouterr().err


def test_packaged_profiles_are_parsed_once_per_file_version(cold_caches, monkeypatch):
    """Every page run needs the profile: parsed once, again only when its file changes."""
    name = ui.default_profile_name(ui.list_profiles())
    first = ui.packaged_profile(name)
    parsed: list[str] = []
    real = ui.load_profile

    def counting(arg):
        parsed.append(arg)
        return real(arg)

    monkeypatch.setattr(ui, "load_profile", counting)
    assert ui.packaged_profile(name) is first and parsed == []
    text = ui.profile_text(name)
    monkeypatch.setattr(ui, "profile_text", lambda _n: text + "\n# edited\n")
    again = ui.packaged_profile(name)
    assert parsed == [name] and again is not first and again.hash == first.hash


def test_every_session_copy_of_the_demo_carries_its_token(cold_caches):
    a, b = ui.demo_dataset(), ui.demo_dataset()
    assert a is not b and "token" in a.__dict__ and a.token == b.token
    a.facilities.loc[a.facilities.index[0], "name"] = "改过的名字"
    assert b.facilities["name"].iloc[0] != "改过的名字"  # a copy, not the shared one


def test_map_documents_ship_jquery_only_to_maps_that_use_it(cold_caches):
    import folium

    demo = ui.demo_dataset()
    spec = ui.overview_map_spec(demo, district=None, lang="zh")
    overview = ui.map_document(spec)
    assert len(overview["js_links"]) == 1  # Leaflet only: nothing in the map uses jQuery
    assert "$(" not in overview["script"] and "jQuery" not in overview["script"]

    def with_popup() -> object:
        m = spec.build()
        html = folium.Html("<b>驿站</b>", script=True)  # folium renders this popup with $()
        folium.Marker([39.9, 116.4], popup=folium.Popup(html)).add_to(m)
        return m

    doc = ui.map_document(ui.MapSpec(with_popup, (*spec.content, "popup"), "popup_map"))
    assert "$(" in doc["script"] and len(doc["js_links"]) == 2  # jQuery kept where used
