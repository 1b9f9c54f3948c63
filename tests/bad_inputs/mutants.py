"""Single-operator mutation testing of the rule comparator, privacy and the siting side rules.

``make mutants`` runs ``python tests/bad_inputs/mutants.py``. mutmut 3 and cosmic-ray both copy
or instrument the whole package and rerun the whole selected suite per mutant, which takes hours
on two cores; this runner does the same thing honestly for a few named functions, in one process:

1. parse the module, enumerate every mutation point in each target function (comparison
   operators swapped or flipped, ``+ - * /`` swapped, ``*`` dropped, ``& |`` and ``and or``
   swapped, ``not`` removed, numeric constants changed by one, ``True``/``False`` flipped);
2. for each point, compile the mutated function and swap its code object into the live function
   (``func.__code__``), so every caller — tests included — runs the mutant;
3. run the selected tests with ``pytest -x``; a failing test (or a hang past 120 s) kills the
   mutant; restore the original code.

The kill rate per module is printed; ``--min 0.9`` makes the exit status fail below 90 %.
Surviving mutants are listed with their line so a test (or an equivalence argument) can follow.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import signal
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KILLERS = "tests/test_mutation_killers.py"


@dataclass(frozen=True)
class Target:
    """Functions of one module to mutate and the tests that must catch the mutants."""

    module: str
    functions: tuple[str, ...]  # "func", "Class.method" or "Class.property"
    tests: tuple[str, ...]


TARGETS = (
    Target("planning.rules.engine", ("_compare", "_OPS"),
           (KILLERS + "::TestComparator",)),
    Target("planning.publish.privacy",
           ("_threshold", "suppression_mask", "suppress", "suppress_frame_for_export",
            "_is_hidden", "derived_columns", "public_units", "heat_points",
            "public_site_table"),
           (KILLERS + "::TestPrivacy", "tests/test_privacy.py",
            "tests/test_privacy_map_leak.py")),
    Target("planning.siting.base",
           ("SiteRules.k", "SiteRules.free_budget_cost", "SiteRules.side_rows", "make_rules",
            "_group_room"),
           (KILLERS + "::TestSideRules",)),
    Target("planning.access.matrix", ("station_capacity",), (KILLERS + "::TestCapacity",)),
)

_CMP_SWAP = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
             ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
             ast.In: [ast.NotIn], ast.NotIn: [ast.In], ast.Is: [ast.IsNot],
             ast.IsNot: [ast.Is]}
_BIN_SWAP = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult],
             ast.BitAnd: [ast.BitOr], ast.BitOr: [ast.BitAnd], ast.FloorDiv: [ast.Mult],
             ast.Mod: [ast.Mult]}


def mutations(tree: ast.AST) -> list[tuple[int, str]]:
    """Every mutation point of ``tree`` as (node position in ``ast.walk`` order, description)."""
    out = []
    skip = _annotation_nodes(tree)
    for pos, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue  # annotations are strings under `from __future__ import annotations`
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                for new in _CMP_SWAP.get(type(op), []):
                    out.append((pos, f"cmp:{k}:{new.__name__}"))
        elif isinstance(node, ast.BinOp):
            for new in _BIN_SWAP.get(type(node.op), []):
                out.append((pos, f"bin:{new.__name__}"))
            if isinstance(node.op, ast.Mult):
                out.append((pos, "drop:left"))
                out.append((pos, "drop:right"))
        elif isinstance(node, ast.BoolOp):
            out.append((pos, "bool:" + ("Or" if isinstance(node.op, ast.And) else "And")))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert):
            out.append((pos, "unary:drop"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            out.append((pos, "const"))
    return out


def _annotation_nodes(tree: ast.AST) -> set[int]:
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(n) for r in roots for n in ast.walk(r)}


def apply(tree: ast.AST, pos: int, what: str) -> ast.AST:
    """A mutated deep copy of ``tree`` (one mutation at node ``pos``)."""
    tree = copy.deepcopy(tree)
    nodes = list(ast.walk(tree))
    node = nodes[pos]
    kind, _, arg = what.partition(":")
    if kind == "cmp":
        k, name = arg.split(":")
        node.ops[int(k)] = getattr(ast, name)()
    elif kind == "bin":
        node.op = getattr(ast, arg)()
    elif kind == "drop":
        keep = node.left if arg == "right" else node.right
        _replace(tree, node, keep)
    elif kind == "bool":
        node.op = getattr(ast, arg)()
    elif kind == "unary":
        _replace(tree, node, node.operand)
    elif kind == "const":
        v = node.value
        node.value = (not v) if isinstance(v, bool) else (v + 1 if v != -1 else 0)
    return ast.fix_missing_locations(tree)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


def _resolve(module, dotted: str):
    """(owner, attribute name, live object) of ``func`` / ``Class.member``."""
    parts = dotted.split(".")
    owner = module
    for p in parts[:-1]:
        owner = getattr(owner, p)
    return owner, parts[-1], inspect.getattr_static(owner, parts[-1])


def _source_node(module, dotted: str) -> ast.AST:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    body = tree.body
    node = None
    for part in dotted.split("."):
        node = next(n for n in body if (isinstance(n, ast.FunctionDef | ast.ClassDef)
                                          and n.name == part)
                    or (isinstance(n, ast.Assign | ast.AnnAssign)
                        and part in _targets(n)))
        body = getattr(node, "body", [])
    return node


def _targets(node: ast.AST) -> set[str]:
    tgts = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {t.id for t in tgts if isinstance(t, ast.Name)}


class _Hang(Exception):
    pass


def _raise_hang(_sig, _frame):
    raise _Hang


def _run_tests(tests: tuple[str, ...], timeout: int) -> bool:
    """True if the tests fail (the mutant is killed)."""
    import pytest

    old = signal.signal(signal.SIGALRM, _raise_hang)
    signal.alarm(timeout)
    try:
        code = pytest.main(["-x", "-p", "no:cacheprovider", "-p", "no:terminal", "-o",
                            "addopts=", "-W", "ignore", "--hypothesis-seed=0",
                            *[str(ROOT / t) for t in tests]],
                           )
    except _Hang:
        return True
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code != 0


def _swap(module, dotted: str, mutated: ast.AST):
    """Install a mutated function or assignment; return a function undoing it."""
    owner, name, live = _resolve(module, dotted)
    if isinstance(mutated, ast.Assign | ast.AnnAssign):
        ns = dict(vars(module))
        exec(compile(ast.Module([mutated], []), module.__file__, "exec"), ns)
        original = getattr(owner, name)
        setattr(owner, name, ns[name])
        return lambda: setattr(owner, name, original)
    func = live.fget if isinstance(live, property) else live
    if isinstance(func, staticmethod | classmethod):
        func = func.__func__
    mutated = copy.deepcopy(mutated)
    mutated.decorator_list = []
    ns = dict(vars(module))
    exec(compile(ast.Module([mutated], []), module.__file__, "exec"), ns)
    new = ns[mutated.name]
    saved = (func.__code__, func.__defaults__, func.__kwdefaults__)
    func.__code__ = new.__code__
    func.__defaults__, func.__kwdefaults__ = new.__defaults__, new.__kwdefaults__

    def undo() -> None:
        func.__code__, func.__defaults__, func.__kwdefaults__ = saved
    return undo


def run(targets: tuple[Target, ...], *, timeout: int, limit: int | None) -> dict[str, dict]:
    """Mutate every target; return per module: total, killed, survivors."""
    sys.path.insert(0, str(ROOT / "tests"))
    report: dict[str, dict] = {}
    for t in targets:
        module = importlib.import_module(t.module)
        if _run_tests(t.tests, timeout * 5):
            msg = f"the tests of {t.module} fail without any mutation"
            raise SystemExit(msg)
        total = killed = 0
        survivors: list[str] = []
        for dotted in t.functions:
            node = _source_node(module, dotted)
            points = mutations(node)
            for pos, what in points[:limit]:
                mutated = apply(node, pos, what)
                try:
                    undo = _swap(module, dotted, mutated)
                except Exception:
                    continue
                try:
                    dead = _run_tests(t.tests, timeout)
                finally:
                    undo()
                total += 1
                killed += dead
                if not dead:
                    line = list(ast.walk(mutated))[pos]
                    lineno = getattr(line, "lineno", node.lineno)
                    text = textwrap.shorten(ast.unparse(line), 70) if hasattr(
                        line, "lineno") else ""
                    survivors.append(f"{dotted} line {lineno} {what}: {text}")
        report[t.module] = {"total": total, "killed": killed, "survivors": survivors}
        print(f"{t.module}: {killed}/{total} killed ({killed / max(total, 1):.0%})",
              flush=True)
    return report


def main() -> int:
    """Run the mutation test; print kill rates and survivors."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", help="only these modules")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per mutant")
    ap.add_argument("--limit", type=int, default=None, help="mutants per function (smoke)")
    ap.add_argument("--min", type=float, default=0.0, help="fail below this kill rate")
    args = ap.parse_args()
    targets = tuple(t for t in TARGETS if not args.module or t.module in args.module)
    start = time.perf_counter()
    report = run(targets, timeout=args.timeout, limit=args.limit)
    print(f"\n{'module':32} {'mutants':>8} {'killed':>7} {'rate':>6}")
    worst = 1.0
    for mod, r in report.items():
        rate = r["killed"] / max(r["total"], 1)
        worst = min(worst, rate)
        print(f"{mod:32} {r['total']:8} {r['killed']:7} {rate:6.1%}")
    for mod, r in report.items():
        for s in r["survivors"]:
            print(f"  survived: {mod} {s}")
    print(f"{time.perf_counter() - start:.0f} s")
    return 1 if worst < args.min else 0


if __name__ == "__main__":
    sys.exit(main())
