"""jingkang-planner dashboard: the Streamlit entry point (``make app`` / ``streamlit run app.py``).

It only declares the pages; each page in ``app_pages/`` is thin and calls the engine in
``planning/``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from planning.app.actions import show_refusals
from planning.app.auth import gate
from planning.publish.privacy import configure_logging

configure_logging()  # once per process, here at the entry point (idempotent across reruns)

st.set_page_config(page_title="精康融合规划 Jingkang planner", page_icon="🗺️", layout="wide")

PAGES = Path(__file__).parent / "app_pages"
navigation = st.navigation(
    [
        st.Page(PAGES / "0_总览_Overview.py", title="总览 Overview", default=True),
        st.Page(PAGES / "1_地图_Map.py", title="地图 Map", url_path="地图_Map"),
        st.Page(
            PAGES / "2_合规_Compliance.py", title="合规 Compliance", url_path="合规_Compliance"
        ),
        st.Page(PAGES / "3_可达性_Access.py", title="可达性 Access", url_path="可达性_Access"),
        st.Page(PAGES / "4_选址_Siting.py", title="选址 Siting", url_path="选址_Siting"),
        st.Page(PAGES / "5_情景_Scenarios.py", title="情景 Scenarios", url_path="情景_Scenarios"),
        st.Page(PAGES / "6_数据_Data.py", title="数据 Data", url_path="数据_Data"),
        st.Page(PAGES / "7_导出_Export.py", title="导出 Export", url_path="导出_Export"),
    ]
)
gate()  # login form until logged in whenever login is required (always in network mode)
with show_refusals():  # an engine refusal (role) ends the page with a clear message
    navigation.run()
