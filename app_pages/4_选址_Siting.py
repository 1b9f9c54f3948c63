"""Siting page: pick a model, solve exactly, see sites, catchments and before/after KPIs."""

from __future__ import annotations

import streamlit as st

from planning.app import actions, auth
from planning.app import workspace_ui as wui
from planning.app.ui import (
    candidate_points,
    profile_picker,
    settings,
    show_map,
    sidebar,
    siting_map_spec,
    siting_plan,
    siting_size,
    yearly_plan,
)
from planning.errors import InfeasibleError, InputError
from planning.i18n import render_error, t, tf
from planning.publish import privacy, report, tables
from planning.siting.multiperiod import YearPlan
from planning.siting.plan import MODELS, WEIGHTS, SitingOptions

st.set_page_config(page_title="选址 Siting", layout="wide")
lang, dataset, district = sidebar()
_name, profile, year = profile_picker(lang)
st.title(t("siting_title", lang))
st.caption(t("siting_caption", lang))

with st.form("siting_form"):
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox(t("model", lang), MODELS, key="siting_model",
                         format_func=lambda m: t(f"model_{m}", lang))
    p = c2.number_input(t("p_new", lang), 1, 50, 3, key="siting_p")
    threshold = c3.number_input(t("threshold", lang), 5, 120, 30, step=5, key="siting_thr")
    c4, c5, c6, c7 = st.columns(4)
    mode = c4.selectbox(t("mode", lang), ["walk", "drive"], key="siting_mode",
                        format_func=lambda m: t(m, lang))
    weight = c5.selectbox(t("weight", lang), WEIGHTS, key="siting_weight",
                          format_func=lambda w: t(f"weight_{w}", lang))
    spacing = c6.number_input(t("spacing", lang), 500, 10000, 2000, step=500,
                              key="siting_spacing")
    limit = c7.number_input(t("time_limit", lang), 5, 600, 30, key="siting_limit")
    with st.expander(t("constraints", lang)):
        k1, k2, k3, k4 = st.columns(4)
        area = k1.checkbox(t("zone_floor_area", lang), value=True, key="siting_area")
        cap = k2.number_input(t("max_per_township", lang), 0, 10, 0, key="siting_cap")
        cost = k3.number_input(t("site_cost", lang), 0, 10_000_000, 100_000, step=10_000,
                               key="siting_cost")
        budget = k4.number_input(t("budget", lang), 0, 100_000_000, 0, step=100_000,
                                 key="siting_budget")
        k5, k6 = st.columns(2)
        participation = k5.number_input(t("participation", lang), 0.05, 1.0, 0.5, step=0.05,
                                        key="siting_participation",
                                        help=t("help_participation", lang))
        min_share = k6.number_input(t("min_share", lang), 0.0, 1.0, 0.0, step=0.05,
                                    key="siting_min_share")
        upload = st.file_uploader(t("candidates_file", lang), key="siting_candidates",
                                  type=["geojson", "json", "gpkg", "zip", "csv", "xlsx"])
    run = st.form_submit_button(t("run", lang), type="primary")

options = SitingOptions(model=model, p=int(p), threshold_min=float(threshold), mode=mode,
                        weight=weight, spacing_m=float(spacing), time_limit=float(limit),
                        zone_floor_area=area, max_per_township=int(cap) or None,
                        site_cost=float(cost), budget=float(budget) or None, year=year,
                        participation=float(participation),
                        min_share=float(min_share) or None)
candidates = None
if upload is not None:
    try:
        candidates = actions.read_upload(  # role and size checked before parsing
            auth.current_actor(), upload,
            lambda f: candidate_points(f.getvalue(), upload.name, dataset),
            name=upload.name, lang=lang)
    except InputError as exc:
        st.error(render_error(exc, lang), icon=":material/error:")
        st.stop()
try:  # the size and method of what "run" would solve, before solving
    size = siting_size(dataset, profile, options, district=district, candidates=candidates)
    st.caption(tf("model_size", lang, demand=f"{size['demand_points']:,}",
                  candidates=f"{size['candidates']:,}", free=f"{size['free_candidates']:,}",
                  nonzeros=f"{size['nonzeros']:,}", method=t(f"method_{size['method']}", lang)))
except (InfeasibleError, InputError):
    pass  # the same problem is reported in full when the model is run
if run:
    st.session_state["siting_options"] = options
if st.session_state.get("siting_options") is None:
    st.info(t("run_first", lang))
    st.stop()
try:
    with st.spinner(t("solving", lang)):
        plan = siting_plan(dataset, profile, st.session_state["siting_options"],
                           district=district, candidates=candidates)
except (InfeasibleError, InputError) as exc:
    st.error(f"{t('solve_failed', lang)}：{render_error(exc, lang)}", icon=":material/error:")
    st.stop()

r = plan.result
status, objective, bound, gap, runtime = tables.solver_metrics(
    r, model=plan.params.get("model", ""), lang=lang)
# two rows so long values (objective in 人·分钟) are never cut off
for row in ((status, gap, runtime), (objective, bound)):
    for col, metric in zip(st.columns(3), row, strict=False):
        col.metric(metric.label, metric.value, help=metric.help or None)
st.caption(f"{t('solve_method', lang)}: {r.method}")
if plan.fairness is not None:
    for col, metric in zip(st.columns(3), tables.fairness_metrics(plan.fairness, lang),
                           strict=True):
        col.metric(metric.label, metric.value, help=metric.help or None)
if plan.method != "network":
    st.warning(t("fallback_note", lang))

show_map(siting_map_spec(dataset, plan, profile, options=st.session_state["siting_options"],
                         candidates_token=candidates and candidates[0], district=district,
                         lang=lang), height=560)
st.session_state["suggested_geojson"] = plan.sites[["site_id", "geometry"]].to_json()

st.subheader(t("before_after", lang))
st.dataframe(tables.kpi_table(plan.kpis, lang), hide_index=True, width="stretch")
st.subheader(t("suggested_sites", lang))
table = privacy.public_site_table(plan.sites, weight=plan.params["weight"],
                                  settings=settings())
st.dataframe(tables.sites_table(table, lang), hide_index=True, width="stretch")
d1, d2 = st.columns(2)
d1.download_button(t("download_sites_gpkg", lang), report.sites_gpkg_bytes(plan.sites),
                   file_name="suggested_sites.gpkg", key="dl_sites_gpkg", on_click="ignore")
d2.download_button(t("download_sites_csv", lang), report.csv_bytes(table),
                   file_name="suggested_sites.csv", key="dl_sites_csv", on_click="ignore")

project = wui.project_picker(lang)
if project is not None:
    wui.save_scenario_form(plan, project=project, district=district,
                           dataset_token=dataset.token,
                           default_name=st.session_state["siting_options"].default_name,
                           lang=lang)

with st.expander(t("years_title", lang)):
    st.caption(t("years_caption", lang))
    with st.form("years_form"):
        y1, y2, y3 = st.columns(3)
        years_text = y1.text_input(t("years_list", lang), "2025,2026,2027", key="years_list")
        budget_text = y2.text_input(t("budget_list", lang), "300000,300000,300000",
                                    key="budget_list")
        target_text = y3.text_input(t("target_list", lang), "", key="target_list")
        y4, y5 = st.columns(2)
        site_cost = y4.number_input(t("site_cost", lang), 0, 10_000_000, 100_000,
                                    step=10_000, key="years_site_cost")
        staff_cost = y5.number_input(t("staff_cost", lang), 0, 10_000_000, 0, step=10_000,
                                     key="years_staff_cost")
        go = st.form_submit_button(t("plan_years", lang))
    if go:
        try:
            years = YearPlan.from_text(years_text, budget_text, target_text)
            yp = yearly_plan(dataset, st.session_state["siting_options"], years,
                             district=district, costs=(float(site_cost), float(staff_cost)))
        except (InfeasibleError, InputError) as exc:
            st.error(render_error(exc, lang), icon=":material/error:")
        else:
            status, objective, _bound, gap, _runtime = tables.solver_metrics(
                yp.result, model="multi_period", lang=lang)
            for col, metric in zip(st.columns(3), (status, objective, gap), strict=False):
                col.metric(metric.label, metric.value, help=metric.help or None)
            per_year, schedule = tables.year_plan_tables(yp.result.kpis, yp.schedule, lang)
            st.dataframe(per_year, hide_index=True, width="stretch")
            st.markdown(f"**{t('schedule', lang)}**")
            st.dataframe(schedule, hide_index=True, width="stretch")
