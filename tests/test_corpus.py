"""The issue-15 corpus (tests/bad_inputs/corpus.py): no crash, hang, leak or silent acceptance.

Every case must end as a clear error (file named; row/field where the case asks; the message
matching what the user needs to hear, at most 2,000 characters, no planted secret), a warning the
user sees, or — for inputs that are fine once normalised (full-width digits, a GBK shapefile
without .cpg, a semicolon CSV) — the right result.
"""

from __future__ import annotations

import pytest
from bad_inputs.corpus import SECRETS, cases, outcome_table, run_case

CASES = cases()
GOOD = {"error", "warned", "ok"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case, tmp_path):
    outcome, detail = run_case(case, tmp_path)
    assert outcome in GOOD, f"{case.cls}/{case.id}: {outcome}: {detail}"
    assert outcome == {"error": "error", "warn": "warned", "ok": "ok"}[case.expect]


def test_corpus_covers_every_class_with_several_cases():
    by_cls: dict[str, int] = {}
    for case in CASES:
        by_cls[case.cls] = by_cls.get(case.cls, 0) + 1
    assert len({c.id for c in CASES}) == len(CASES)
    assert {"privacy-message", "geojson-crash", "container-crash", "profile", "cli",
            "coordinates", "encoding", "spreadsheet", "ambiguous", "ledger", "message",
            "html"} == set(by_cls)
    assert min(by_cls.values()) >= 3, by_cls


def test_outcome_table_counts_each_case_once():
    fake = {c.id: ("error" if c.expect == "error" else "ok", "") for c in CASES}
    table = outcome_table(fake, CASES)
    last = table.splitlines()[-1].split()
    assert last[0] == "all" and int(last[-1]) == len(CASES)


def test_run_case_flags_crash_silence_and_leak(tmp_path):
    from bad_inputs.corpus import Case

    from planning.errors import InputError

    def crash(_d):
        msg = "boom"
        raise KeyError(msg)

    def leak(_d):
        msg = f"found: {SECRETS[0]}"
        raise InputError(msg, source="x.csv")

    assert run_case(Case("c", "t", crash), tmp_path)[0] == "crash"
    assert run_case(Case("s", "t", lambda _d: 1), tmp_path)[0] == "silent"
    assert run_case(Case("l", "t", leak), tmp_path)[0] == "leak"
    assert run_case(Case("v", "t", lambda _d: (_ for _ in ()).throw(
        InputError("x", source="f")), field="age"), tmp_path)[0] == "vague"
