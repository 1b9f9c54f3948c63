"""Issue 16: each profile says what its document says, no more and no less.

Every test here failed before the second fidelity pass (see the issue's numbered items).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_rules import JIANGMEN_POP, _point, build, drop, fac, set_units, status

from planning import rules
from planning.data.ledger import count_eligible


def test_1_national_target_cites_the_national_plan(good_ds=None) -> None:
    prof = rules.load_profile("jiangmen-2021")
    r = prof.rule("jm.psychiatrists_per_100k")
    assert r.document.external and "全国精神卫生工作规划" in r.document.title
    assert "003" not in r.citation and "执业(助理)" in r.quote
    f = rules.evaluate(build(), prof)
    row = f[f["rule_id"] == "jm.psychiatrists_per_100k"].iloc[0]
    assert "全国精神卫生工作规划" in row["document"] and "003" not in row["clause"]


def test_2_heshan_target_needs_a_public_psychiatric_hospital() -> None:
    def heshan(extra_fac: dict) -> pd.DataFrame:
        def mod(raw: dict) -> None:
            raw["districts"][1]["name"] = "鹤山市"
            for item in raw["units"] + raw["facilities"]:
                item["district"] = item["district"].replace("B区", "鹤山市")
            raw["facilities"].append({"district": "鹤山市", "geometry": _point("B1", 5),
                                      **extra_fac})
        f = rules.evaluate(build(mod), "jiangmen-2021")
        return f[(f["rule_id"] == "jm.hospital_beds_2022")].set_index("entity_name")
    general = heshan({"facility_id": "GH-2", "name": "鹤山市人民医院", "kind": "general_hospital",
                      "beds": 400, "ownership": "public"})
    assert general.loc["鹤山市公立精神专科医院", "status"] == "fail"  # a general hospital: no
    private = heshan({"facility_id": "PH-9", "name": "鹤山民营医院",
                      "kind": "psychiatric_hospital", "beds": 400, "ownership": "private"})
    assert private.loc["鹤山市公立精神专科医院", "status"] == "fail"
    public = heshan({"facility_id": "PH-9", "name": "鹤山精神病院",
                     "kind": "psychiatric_hospital", "beds": 300, "ownership": "public"})
    assert public.loc["鹤山市公立精神专科医院", "status"] == "pass"
    assert public.loc["鹤山市公立精神专科医院", "entity_id"] == "PH-9"


def test_3_or_branches() -> None:
    # 003 §二(四): no institution, but the township buys the service → pass, not fail.
    ds = build(lambda r: (drop(r, lambda f: f["facility_id"] == "ST-A1"),
                          set_units(r, purchased_service=False),
                          r["units"][0].update(purchased_service=True)))
    assert status(rules.evaluate(ds, "jiangmen-2021"), "jm.township_rehab", "A1") == {"pass"}
    # 002 Lanzhou: a grade-1 patient with one of the six disorders is eligible; so is an
    # uncertified one; a grade-1 patient with depression is not.
    ledger = pd.DataFrame({"age": [40, 40, 40, 40], "risk_level": [1, 1, 1, 1],
                           "disability_grade": [1, None, 1, 3],
                           "diagnosis": ["精神分裂症", "双相情感障碍", "抑郁症", None],
                           "unit_id": "u"})
    lz = rules.eligible_counts(ledger, "lanzhou-new-area").loc["u"]
    assert (lz["eligible"], lz["excluded_any_of"]) == (3, 1)
    assert {k for k, *_ in rules.load_profile("lanzhou-new-area").eligibility.recorded} >= {
        "household_registration", "no_serious_disease", "symptom_remission", "signed_agreement"}
    # 004 Songyang: risk 0–2 only for 严重精神障碍患者; depression at risk 3 stays eligible.
    sy_ledger = pd.DataFrame({"age": [30, 30], "risk_level": [3, 3],
                              "disability_grade": [None, None],
                              "diagnosis": ["抑郁症", "精神分裂症"], "unit_id": "u"})
    sy = rules.eligible_counts(sy_ledger, "songyang-2023").loc["u"]
    assert (sy["eligible"], sy["excluded_condition_1"]) == (1, 1)
    # 000 §二(一)3: risk 0 *or* judged suitable.
    bj = rules.load_profile("beijing-2018").eligibility
    cols = {"risk_level": np.array([0.0, 2.0, 2.0]),
            "assessed_suitable": np.array([np.nan, 1.0, 0.0])}
    assert bj.passes_columns(cols, 3).tolist() == [True, True, False]


def test_4_ledger_eligibility_follows_the_profile() -> None:
    ledger = pd.DataFrame({"age": [70, 40, 40, 16], "risk_level": [0, 0, 2, 0],
                           "disability_grade": [3, 3, 3, 3], "unit_id": "u"})
    bj = count_eligible(ledger, rules.load_profile("beijing-2018").eligibility).loc["u"]
    lz = count_eligible(ledger, rules.load_profile("lanzhou-new-area").eligibility).loc["u"]
    assert bj["eligible"] == 3  # risk 0 at any age (000 sets no age limit)
    assert lz["eligible"] == 2  # 18–60, risk 0–2, grade 3–4
    assert bj["eligible"] != lz["eligible"]


def test_5_halfway_houses_have_rules() -> None:
    ds = build(lambda r: fac(r, "HW-1").update(max_risk_level=2, max_stay_days=120))
    f = rules.evaluate(ds, "beijing-2018")
    assert status(f, "bj.halfway_risk", "HW-1") == {"fail"}
    assert status(f, "bj.halfway_stay", "HW-1") == {"fail"}
    assert rules.load_profile("beijing-2018").rule("bj.halfway_stay").clause == "§二(一)4"


def test_6_visits_divide_by_pilot_clients_and_read_extra() -> None:
    # 2 stations × 10 clients + centre 10 = 30 clients; 1,000 visits a year per township.
    one = build().subset(["A区"])
    f = rules.evaluate(one, "tongliang-2021").set_index("rule_id")
    assert f.loc["tl.monthly_home_visit", "measured"] == pytest.approx(2000 / (30 * 10))
    # registered home patients (200) are not the denominator
    assert f.loc["tl.monthly_home_visit", "measured"] != pytest.approx(2000 / (200 * 10))
    g = rules.evaluate(one, "tongliang-2021",
                       extra={"pilot_clients": 40, "home_visits_per_year": 380,
                              "activities_in_project": 12}).set_index("rule_id")
    assert g.loc["tl.monthly_home_visit", "measured"] == pytest.approx(380 / 400)
    assert g.loc["tl.home_visits_year", "measured"] == 380
    assert g.loc["tl.activities_project", "status"] == "pass"
    none = build(lambda r: [u.pop("home_visits_per_year") for u in r["units"]]).subset(["A区"])
    h = rules.evaluate(none, "tongliang-2021", extra={"home_visits_per_year": 500})
    assert status(h, "tl.home_visits_year") == {"pass"}
    assert h["reason"].fillna("").str.contains("not given in extra").sum() == 0


def test_7_lanzhou_named_sites_and_health_centre_stations() -> None:
    def mod(raw: dict) -> None:
        fac(raw, "THC-A1")["name"] = "秦川镇卫生院"
        fac(raw, "THC-B1")["name"] = "西岔镇卫生院"
        drop(raw, lambda f: f["facility_id"] == "ST-B1")
        raw["facilities"].append({"facility_id": "H-ZC", "name": "中川人民医院",
                                  "kind": "general_hospital", "district": "A区",
                                  "geometry": _point("A1", 11)})
    f = rules.evaluate(build(mod), "lanzhou-new-area")
    named = f[f["rule_id"] == "lz.named_stations"].set_index("entity_name")["status"]
    assert named.to_dict() == {"秦川镇卫生院": "pass", "西岔镇卫生院": "fail"}
    assert status(f, "lz.station_per_health_centre", "THC-B1") == {"fail"}
    assert status(f, "lz.named_centre") == {"fail"}  # the hospital exists, no centre named so
    absent = rules.evaluate(build(), "lanzhou-new-area")
    assert status(absent, "lz.named_stations") == {"not_assessable"}  # names not in the data
    assert "各社区卫生服务中心(站)" in rules.load_profile("lanzhou-new-area").rule(
        "lz.centre_and_stations").quote


def test_8_jiangmen_enping_and_hospital_conditions() -> None:
    def enping(**gh: object):
        def mod(raw: dict) -> None:
            raw["districts"][1]["name"] = "恩平市"
            for item in raw["units"] + raw["facilities"]:
                item["district"] = item["district"].replace("B区", "恩平市")
            fac(raw, "GH-1").update(**gh)
        return rules.evaluate(build(mod), "jiangmen-2021")
    assert status(enping(psychiatric_ward=True), "jm.enping_ward") == {"pass"}
    assert status(enping(psychiatric_ward=False), "jm.enping_ward") == {"fail"}
    assert status(enping(psychiatric_ward=True, grade=1), "jm.enping_ward") == {"fail"}
    assert status(enping(psychiatric_ward=True, ownership=None), "jm.enping_ward") == {
        "not_assessable"}
    # the clinic/psychiatrist rules apply to grade-2+ public hospitals only
    f = enping(grade=1, psychiatrists=0)
    gh = f[f["rule_id"] == "jm.general_hospital_psychiatrist"]
    assert set(gh["status"]) == {"not_assessable"} and "no general_hospital with" in \
        gh["reason"].iloc[0]
    assert set(rules.evaluate(build(), "jiangmen-2021").query(
        "rule_id == 'jm.enping_ward'")["status"]) == {"not_assessable"}  # no 恩平 in data


def test_9_every_profile_lists_unchecked_clauses() -> None:
    for name in rules.list_profiles():
        prof = rules.load_profile(name)
        assert prof.not_checkable, name
        for item in prof.not_checkable:
            assert item.clause.startswith("§") and item.quote and item.why_zh and item.why_en
    bj = rules.load_profile("beijing-2018")
    clauses = {i.clause for i in bj.not_checkable}
    assert {"§一(四)1(1)", "§二(二)6", "§二(二)10"} <= clauses  # ledgers, referral, privacy


def test_10_jiangmen_stated_rates_flagged_from_one_population() -> None:
    ds = build()
    f = rules.evaluate(ds, "jiangmen-2021", extra={"population": JIANGMEN_POP})
    rows = f[f["rule_id"] == "jm.stated_rates"].set_index("entity_name")
    assert rows.loc["psychiatric_beds 1828", "status"] == "pass"
    assert rows.loc["psychiatrists 158", "status"] == "fail"
    assert rows.loc["psychiatrists 158", "measured"] == pytest.approx(3.41)
    assert "4.593 M" in rows.loc["psychiatrists 158", "reason"]
    no_pop = build(lambda r: [d.update(population=None) for d in r["districts"]])
    g = rules.evaluate(no_pop, "jiangmen-2021").set_index("entity_name")
    assert g.loc["psychiatrists 158", "status"] == "fail"  # bed-implied population


def test_11_wording() -> None:
    bj = rules.load_profile("beijing-2018")
    assert "驿站" in bj.rule("bj.home_patients_station").title_zh
    assert bj.rule("bj.home_patients_station").milestones == (2025,)
    assert "不是" not in bj.zone_source and "not from this text" in bj.zone_source
    tl = rules.load_profile("tongliang-2021")
    assert "项目期间" in tl.rule("tl.activities_project").title_zh
    sy = rules.load_profile("songyang-2023")
    assert "起草说明" in sy.title_zh and "征求意见稿" in sy.title_zh
    ln = rules.load_profile("liaoning-city")
    assert "provincial_subsidy_per_qualifying_pilot_community_yuan_per_year" in ln.params
    assert "已开展" in ln.rule("ln.home_patients_served").note_zh
