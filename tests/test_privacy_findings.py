"""Findings as published: a patient rate over fewer than 5 patients would give the count back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planning import rules
from planning.publish.privacy import PATIENT_METRICS, public_findings


@pytest.fixture(scope="module")
def liaoning():
    return rules.load_profile("liaoning-city")


def _two_districts(demo, patients_a: int, patients_b: int):
    ds = demo.subset(["东城区", "西城区"])
    units = ds.units.copy()
    a = (units["district"] == "东城区").to_numpy()
    pa = np.zeros(a.sum(), dtype=int)
    pa[0] = patients_a
    pb = np.zeros((~a).sum(), dtype=int)
    pb[0] = patients_b
    units.loc[a, "patients"] = pa
    units.loc[~a, "patients"] = pb
    units["patients_served"] = (units["patients"] > 0).astype(int)  # one served where any
    import dataclasses

    return dataclasses.replace(ds, units=units)


def test_small_district_rate_is_blanked_threshold_is_not(demo, liaoning):
    ds = _two_districts(demo, 3, 5)  # 东城区: 3 patients (hidden); 西城区: exactly 5 (shown)
    metric_of = {r.id: r.metric for r in liaoning.rules}
    raw = rules.evaluate(ds, liaoning)
    served = raw[raw["rule_id"].map(metric_of).isin(PATIENT_METRICS)
                 & (raw["entity_type"] == "district")]
    assert set(served["district"]) == {"东城区", "西城区"}
    assert served["measured"].notna().all()  # the engine's numbers stay exact
    pub = public_findings(raw, ds.units, metric_of)
    row = pub.loc[served.index].set_index("district")
    assert np.isnan(row.loc["东城区", "measured"])  # 1 / 3 would give the 3 patients back
    assert "fewer than 5" in row.loc["东城区", "reason"]
    assert row.loc["西城区", "measured"] == pytest.approx(1 / 5)  # exactly at the threshold
    assert (pub["status"] == raw["status"]).all()  # counts of failures do not change
    other = ~pub.index.isin(served.index)
    pd.testing.assert_series_equal(pub.loc[other, "measured"], raw.loc[other, "measured"])


def test_the_app_shows_the_blanked_value(demo, liaoning):
    from planning.app import ui

    ds = _two_districts(demo, 2, 40)
    shown = ui.findings_for(ds, liaoning, district=None, year=None)
    metric_of = {r.id: r.metric for r in liaoning.rules}
    rate = shown[shown["rule_id"].map(metric_of).isin(PATIENT_METRICS)
                 & (shown["district"] == "东城区") & (shown["entity_type"] == "district")]
    assert len(rate) and rate["measured"].isna().all()
