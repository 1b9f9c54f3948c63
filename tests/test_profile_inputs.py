"""Hostile and malformed profile files: a ProfileError naming file, rule/key path and field.

The files live in ``tests/bad_inputs/profiles/`` (``make.py`` writes them). Every case must fail
fast with one :class:`~planning.errors.ProfileError` — never a traceback, hang or huge memory.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from planning import rules
from planning.errors import InputError, ProfileError
from planning.rules.profile import MAX_PROFILE_BYTES, decode_profile, load_yaml

BAD = Path(__file__).parent / "bad_inputs" / "profiles"

# (file, field the error names (or a prefix of it), words in the message, rule id or None)
CASES = [
    ("billion_laughs.yaml", "line ", "aliases", None),
    ("alias_doubling.yaml", "a22", "values once YAML aliases are expanded", None),
    ("deep_list.yaml", "line 1", "nested more than", None),
    ("deep_mapping.yaml", "line ", "nested more than", None),
    ("list_as_key.yaml", "rules[6].threshold_by_zone", "a list is used as a key",
     "bj.station_floor_area"),
    ("list_as_metric.yaml", "metric", "unknown metric", "bj.station_floor_area"),
    ("list_as_zone.yaml", "zones", "'zones' must be a list", "bj.station_outdoor_space"),
    ("duplicate_threshold.yaml", "rules[10].threshold", "duplicate key 'threshold'",
     "bj.station_staff_ratio"),
    ("duplicate_top_key.yaml", "profile", "duplicate key 'profile'", None),
    ("nan_threshold.yaml", "threshold", "finite number", "bj.station_staff_ratio"),
    ("inf_threshold.yaml", "threshold_by_zone.core", "finite number", "bj.station_floor_area"),
    ("staff_ratio_5.yaml", "threshold", "write 1:5 as 0.2", "bj.station_staff_ratio"),
    ("staff_ratio_zero.yaml", "threshold", "write 1:5 as 0.2", "bj.station_staff_ratio"),
    ("eligibility_age_600.yaml", "eligibility.age", "outside the possible range [0, 120]", None),
    ("eligibility_risk_9.yaml", "eligibility.any_of[0].risk_level",
     "outside the possible range [0, 5]", None),
    ("gbk_bad_op.yaml", "op", "'op' must be one of", "bj.station_barrier_free"),
]


@pytest.fixture(autouse=True)
def _memory_cap():
    """Cap the address space so that an alias bomb fails the test instead of the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = 4_000_000_000
    if soft == resource.RLIM_INFINITY or soft > used:
        resource.setrlimit(resource.RLIMIT_AS, (used, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize(("name", "field", "words", "rule_id"), CASES, ids=[c[0] for c in CASES])
def test_bad_profile_names_file_rule_and_field(name: str, field: str, words: str,
                                               rule_id: str | None) -> None:
    path = BAD / name
    start = time.perf_counter()
    with pytest.raises(ProfileError) as err:
        rules.load_profile(path)
    assert time.perf_counter() - start < 5  # refused before any expansion, never a hang
    assert err.value.source == str(path) and name in str(err.value)
    assert err.value.field and err.value.field.startswith(field)
    assert words in str(err.value)
    if rule_id:
        assert rule_id in str(err.value)


def test_gbk_profile_loads_like_utf8() -> None:
    gbk = rules.load_profile(BAD / "gbk_valid.yaml")
    utf8 = rules.load_profile("beijing-2018")
    assert gbk.rules == utf8.rules and gbk.title_zh == utf8.title_zh


def test_gbk_profile_through_the_cli() -> None:
    from typer.testing import CliRunner

    from planning.cli import app

    res = CliRunner().invoke(app, ["check", "--profile", str(BAD / "gbk_bad_op.yaml")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "gbk_bad_op.yaml" in res.output and "bj.station_barrier_free" in res.output


@pytest.mark.parametrize("size", [MAX_PROFILE_BYTES + 1, 50_000_000])
def test_oversized_profile_is_refused_before_parsing(tmp_path: Path, size: int) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.write(b"# padding\n")
        fh.truncate(size)
    start = time.perf_counter()
    with pytest.raises(ProfileError, match="MB") as err:
        rules.load_profile(path)
    assert time.perf_counter() - start < 1 and err.value.source == str(path)
    with pytest.raises(ProfileError, match="MB"):
        decode_profile(b" " * size, source="upload.yaml")


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "rules:\n  - {id: x, ? {a: 1} : 2}\n"])
def test_unhashable_keys_in_text(text: str) -> None:
    with pytest.raises(ProfileError, match="used as a key"):
        load_yaml(text, source="inline.yaml")


@pytest.mark.parametrize("text", ["a: &x {b: 1}\nc:\n  <<: *x\n", "a: 1\na: 2\n"])
def test_merge_and_duplicate_keys_refused(text: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_yaml(text, source="inline.yaml")
    assert err.value.field in ("c.<<", "a")


@pytest.mark.parametrize(("profile", "year", "ok"), [
    ("beijing-2018", 1999, False), ("beijing-2018", 2017, False), ("beijing-2018", 2101, False),
    ("beijing-2018", 2025, True), ("beijing-2018", 2018, True), ("jiangmen-2021", 2020, False),
    ("jiangmen-2021", 2022, True), ("lanzhou-new-area", 1989, False),
])
def test_year_outside_the_profile(profile: str, year: int, ok: bool) -> None:
    prof = rules.load_profile(profile)
    if ok:
        assert prof.check_year(year) == year
    else:
        with pytest.raises(InputError) as err:
            prof.check_year(year)
        assert err.value.field == "year" and str(year) in str(err.value)
    assert prof.check_year(None) is None
