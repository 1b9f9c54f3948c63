"""Write the malformed profiles in this folder (run: python tests/bad_inputs/profiles/make.py).

Each file is the packaged Beijing profile with one defect, or a small hostile YAML document.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
BASE = (HERE.parents[2] / "planning" / "rules" / "profiles" / "beijing-2018.yaml").read_text(
    encoding="utf-8")


def edit(old: str, new: str) -> str:
    """The Beijing profile with ``old`` replaced once by ``new``."""
    assert BASE.count(old) >= 1, old
    return BASE.replace(old, new, 1)


RATIO = '    metric: staff_client_ratio\n    op: ">="\n    threshold: 0.2'
AREA = "    threshold_by_zone: {core: 50, expansion: 70, new_development: 100, ecological: 100}"
AGE_AT = '    - {risk_level: [0, 0], label: 危险行为评级为0级}'


def laughs(levels: int, fan: int) -> str:
    """An alias bomb: ``levels`` levels, each ``fan`` aliases of the one below."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


FILES: dict[str, str | bytes] = {
    # alias expansion ("billion laughs"): many aliases, or few aliases nested deep
    "billion_laughs.yaml": laughs(9, 9),
    "alias_doubling.yaml": laughs(22, 2),
    # deep nesting
    "deep_list.yaml": "rules: " + "[" * 200 + "]" * 200 + "\n",
    "deep_mapping.yaml": "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "x: 1\n",
    # a list or mapping where a key (hashable) is expected
    "list_as_key.yaml": edit(AREA, "    threshold_by_zone: {[core, expansion]: 50}"),
    "list_as_metric.yaml": edit("    metric: floor_area_m2", "    metric: [floor_area_m2]"),
    "list_as_zone.yaml": edit("    zones: [new_development, ecological]",
                              "    zones: [[new_development], ecological]"),
    # duplicate keys (the last would silently win)
    "duplicate_threshold.yaml": edit(RATIO, RATIO + "\n    threshold: 5"),
    "duplicate_top_key.yaml": BASE + "\nprofile: beijing-2019\n",
    # non-finite thresholds
    "nan_threshold.yaml": edit(RATIO, RATIO.replace("0.2", ".nan")),
    "inf_threshold.yaml": edit(AREA, AREA.replace("core: 50", "core: .inf")),
    # a staff ratio written as 1:N's N
    "staff_ratio_5.yaml": edit(RATIO, RATIO.replace("0.2", "5")),
    "staff_ratio_zero.yaml": edit(RATIO, RATIO.replace("0.2", "0")),
    # eligibility ranges outside what a ledger can hold
    "eligibility_age_600.yaml": edit('eligibility:\n  document: "000"',
                                     'eligibility:\n  age: [18, 600]\n  document: "000"'),
    "eligibility_risk_9.yaml": edit(AGE_AT, AGE_AT.replace("[0, 0]", "[0, 9]")),
    # GBK bytes: a valid profile decodes; a broken one still names the rule and field
    "gbk_valid.yaml": BASE.encode("gbk"),
    "gbk_bad_op.yaml": edit('    metric: barrier_free\n    op: ">="',
                            '    metric: barrier_free\n    op: "≥"').encode("gbk"),
}


def main() -> None:
    """Write every file of :data:`FILES`."""
    for name, content in FILES.items():
        path = HERE / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main()
