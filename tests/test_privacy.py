"""Small-cell suppression (primary + complementary) and scrubbed logs."""

from __future__ import annotations

import io
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.publish.privacy import (
    SECONDARY,
    ScrubFilter,
    install_log_scrubber,
    scrub_text,
    suppress,
    suppress_frame_for_export,
    suppression_mask,
)
from planning.settings import Settings


def test_primary_and_complementary_in_one_column():
    t = pd.DataFrame({"n": [0, 3, 10, 12]}, index=list("abcd"))
    out = suppress(t, ["n"])
    # 3 is small; total 25 is published, so the next-smallest non-zero (10) is hidden too.
    assert list(out["n"]) == [0, "<5", SECONDARY, 12]
    assert list(t["n"]) == [0, 3, 10, 12]  # input untouched


def test_threshold_comes_from_settings_or_argument():
    t = pd.DataFrame({"n": [7, 8, 30]})
    assert list(suppress(t, ["n"], settings=Settings(suppression_threshold=10))["n"]) == [
        "<10", "<10", 30]
    assert list(suppress(t, ["n"], threshold=5)["n"]) == [7, 8, 30]
    with pytest.raises(ValueError, match="at least 2"):
        suppress(t, ["n"], threshold=1)


def test_all_ones_cannot_be_read_off_the_total():
    # Two hidden 1s with total 22: sum of hidden = 2 = their number, so both are known to be 1.
    t = pd.DataFrame({"n": [1, 1, 20, 30, 0]})
    out = suppress(t, ["n"])
    assert list(out["n"]) == ["<5", "<5", SECONDARY, 30, 0]


def test_groups_protect_each_subtotal():
    t = pd.DataFrame({"district": ["东城", "东城", "东城", "西城", "西城"],
                      "n": [2, 40, 50, 60, 70]})
    out = suppress(t, ["n"], group="district")
    assert list(out["n"]) == ["<5", SECONDARY, 50, 60, 70]


def test_single_small_cell_line_hides_the_total():
    t = pd.DataFrame({"g": ["a", "b", "b"], "n": [3, 20, 30]})
    out = suppress(t, ["n"], group="g", totals=True)
    body, tot = out.iloc[:3], out.iloc[3:]
    assert body["n"].tolist()[0] == "<5"
    # Group a's total equals its only cell (3): hidden; then the grand total line needs a
    # second hidden group total, and group b then needs a hidden cell.
    assert tot["n"].tolist() == ["<5", SECONDARY, 53]
    assert body["n"].tolist()[1:] == [SECONDARY, 30]


def test_row_total_line():
    t = pd.DataFrame({"patients": [30, 40], "risk_0": [27, 40], "risk_1": [3, 0]})
    out = suppress(t, ["patients", "risk_0", "risk_1"], row_total="patients")
    assert out.loc[0, "risk_1"] == "<5"
    assert out.loc[0, "risk_0"] == SECONDARY  # else patients − risk_0 gives risk_1 back
    assert out.loc[1].tolist() == [40, 40, 0]


def test_missing_counts_stay_missing():
    t = pd.DataFrame({"n": [np.nan, 10, 20]})
    assert suppress(t, ["n"])["n"].isna().tolist() == [True, False, False]


def test_export_helper_text_columns_and_rates():
    gdf = gpd.GeoDataFrame({"unit_id": ["a", "b", "c"], "patients": [3, 50, 60],
                            "coverage": [0.5, 0.2, 0.1]},
                           geometry=[shapely.Point(0, i) for i in range(3)], crs="EPSG:4326")
    out = suppress_frame_for_export(gdf, derived=["coverage"])
    assert isinstance(out, gpd.GeoDataFrame)
    assert out["patients"].tolist() == ["<5", "*", "60"]
    assert out["coverage"].tolist() == [SECONDARY, SECONDARY, 0.1]
    assert gdf["patients"].tolist() == [3, 50, 60]


# --- properties ------------------------------------------------------------------------------
small_or_big = st.one_of(st.integers(0, 6), st.integers(0, 60))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_no_small_cell_published_and_no_single_hidden_cell_per_line(data):
    n_rows = data.draw(st.integers(1, 8))
    n_cols = data.draw(st.integers(1, 3))
    t = data.draw(st.integers(2, 6))
    values = np.array([[data.draw(small_or_big) for _ in range(n_cols)] for _ in range(n_rows)])
    groups = np.array([data.draw(st.integers(0, 2)) for _ in range(n_rows)])
    _, groups = np.unique(groups, return_inverse=True)
    grid, hidden = suppression_mask(values, threshold=t, group_codes=groups)
    # 1. no shown count in 1 .. t-1 (cells and totals alike)
    assert not np.any((hidden == 0) & (grid >= 1) & (grid < t))
    # 2. no line (group cells + group total; group totals + grand total) has exactly one hidden
    #    cell, and a line with a visible total never has all-primary hidden cells whose values
    #    are forced (all 1 or all t-1).
    n_groups = groups.max() + 1
    lines = [(np.flatnonzero(groups == g), n_rows + g) for g in range(n_groups)]
    if n_groups > 1:
        lines.append((n_rows + np.arange(n_groups), n_rows + n_groups))
    for c in range(n_cols):
        for members, total in lines:
            h = hidden[members, c]
            k = np.count_nonzero(h) + (hidden[total, c] > 0)
            assert k != 1
            if hidden[total, c] == 0 and np.count_nonzero(h) and np.all(h[h > 0] == 1):
                hv = grid[members, c][h > 0]
                recovered = grid[total, c] - grid[members, c][h == 0].sum()
                assert recovered == hv.sum()
                assert recovered not in (len(hv), len(hv) * (t - 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(small_or_big, min_size=1, max_size=10))
def test_suppress_table_never_shows_small_numbers(col):
    out = suppress(pd.DataFrame({"n": col}), ["n"], totals=True)
    shown = [v for v in out["n"] if not isinstance(v, str)]
    assert all(v == 0 or v >= 5 for v in shown)
    hidden = [i for i, v in enumerate(out["n"].iloc[:-1]) if isinstance(v, str)]
    total = out["n"].iloc[-1]
    if not isinstance(total, str):  # total published: a lone hidden cell would be total − rest
        assert len(hidden) != 1


# --- logs --------------------------------------------------------------------------------
def test_scrub_text_ids_phones_and_tokens():
    text = ("患者110101199003074518 电话13812345678 +86 139-1234-5678 座机010-87654321 "
            "身份证 11010119900307451X 旧证 110101900307451 姓名赵一 343 个街乡 2024 年 "
            "unit 110101001")
    out = scrub_text(text, tokens={"赵一"})
    for secret in ("110101199003074518", "13812345678", "139-1234-5678", "010-87654321",
                   "11010119900307451X", "110101900307451", "赵一"):
        assert secret not in out
    assert "343 个街乡" in out and "2024" in out and "110101001" in out  # not over-redacted
    assert out.count("[id]") == 3 and out.count("[phone]") == 3


def test_log_filter_scrubs_args_and_tracebacks():
    logger = logging.getLogger("jingkang.test.privacy")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.handlers = [handler]
    install_log_scrubber(logger, tokens={"钱二"})
    install_log_scrubber(logger)  # idempotent
    assert sum(isinstance(f, ScrubFilter) for f in handler.filters) == 1
    logger.warning("patient %s phone %s", "钱二", "13912345678")
    try:
        msg = "bad id 110101199003074518"
        raise ValueError(msg)
    except ValueError:
        logger.exception("failed")
    child = logging.getLogger("jingkang.test.privacy.child")
    child.error("child 13700001111")
    text = stream.getvalue()
    assert "钱二" not in text and "13912345678" not in text and "110101199003074518" not in text
    assert "13700001111" not in text  # propagated records pass the handler's filter
    assert "[redacted]" in text and "Traceback" in text and "[id]" in text
