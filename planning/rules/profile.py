"""Policy profiles as data: one YAML file per document, parsed into frozen rules.

A profile (``beijing-2018.yaml`` …) lists the documents it cites and its rules. Each rule names a
*metric* (a registered function in :mod:`planning.rules`), a comparison ``op`` and a threshold
(a number, a number per functional zone, or a number per milestone year). This module only reads
and checks profiles; :mod:`planning.rules` evaluates them. Every problem in a profile raises one
:class:`~planning.errors.ProfileError` naming the file, the rule id (in the message) and the field.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from planning.data.ledger import LEDGER_SCHEMA, Criteria, Eligibility
from planning.data.model import FACILITY_KINDS, FACILITY_SCHEMA, SERVICES, ZONES
from planning.errors import InputError, ProfileError

#: Comparison operators a rule may use.
OPS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=")
#: Area scopes; a facility kind (``station`` = ``rehab_station``) or a list of kinds is a
#: facility scope.
AREA_SCOPES: tuple[str, ...] = ("township", "district", "city")

#: Limits checked before a profile file is parsed (profiles are a few kilobytes).
MAX_PROFILE_BYTES = 1_000_000
MAX_DEPTH = 20
MAX_ALIASES = 50
MAX_NODES = 100_000

_RULE_KEYS = {
    "id", "title", "document", "clause", "quote", "scope", "metric", "op", "threshold",
    "threshold_by_zone", "targets", "milestone", "zones", "params", "note", "applies_to",
    "any_of", "districts",
}
_ALT_KEYS = {"metric", "op", "threshold", "params", "label"}
_TOP_KEYS = {"profile", "title", "jurisdiction", "documents", "eligibility", "params", "rules",
             "notes", "not_checkable", "issued", "zone_source"}
_DOC_KEYS = {"file", "title", "cite", "note", "kind"}
_CRIT_KEYS = {"age", "risk_level", "disability_grade", "require_certificate", "diagnosis",
              "flags", "label"}
_ELIG_KEYS = {*_CRIT_KEYS, "document", "clause", "quote", "any_of", "conditions", "recorded"}
_NC_KEYS = {"document", "clause", "quote", "title", "why"}
#: Facility fields a rule's ``applies_to`` may test: ``field: value`` or ``field: [low, high]``.
APPLIES_TO_FIELDS: tuple[str, ...] = ("ownership", "grade", "psychiatric_ward",
                                      "psychiatric_clinic")


@dataclass(frozen=True)
class Document:
    """A cited document: short cite key (``"000"``), seed file name and title.

    A document that is not one of the seed files (e.g. a national plan a profile borrows a
    target from) has no ``file``; its ``cite`` text names it in every citation.
    """

    key: str
    file: str
    title: str
    cite: str = ""
    note: str = ""

    @property
    def external(self) -> bool:
        """Whether the document is not one of the seed files the profile is about."""
        return not self.file


@dataclass(frozen=True)
class Alternative:
    """One branch of a rule's ``any_of``: a metric, comparison and threshold."""

    metric: str
    op: str
    threshold: float
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    label: str = ""


@dataclass(frozen=True)
class NotCheckable:
    """A clause the tool cannot check from data (ledgers, mechanisms, duties …)."""

    document: Document
    clause: str
    quote: str
    title_zh: str
    title_en: str
    why_zh: str
    why_en: str

    @property
    def citation(self) -> str:
        """``"000 §二(二)10"``."""
        return f"{self.document.cite or self.document.key} {self.clause}"


@dataclass(frozen=True)
class Rule:
    """One checkable requirement of a document.

    Exactly one of ``threshold``, ``threshold_by_zone`` and ``targets`` is set, unless the metric
    supplies per-entity thresholds from ``params`` (e.g. ``named_facility_beds``).
    """

    id: str
    title_zh: str
    title_en: str
    document: Document
    clause: str
    quote: str
    scope: str
    kinds: tuple[str, ...]
    metric: str
    op: str
    threshold: float | None = None
    threshold_by_zone: Mapping[str, float] | None = None
    targets: Mapping[int, float] | None = None
    milestone: int | None = None
    zones: tuple[str, ...] | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""
    note_zh: str = ""
    applies_to: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    any_of: tuple[Alternative, ...] = ()
    districts: tuple[str, ...] | None = None

    @property
    def level(self) -> str:
        """``facility``, ``township``, ``district`` or ``city``."""
        return "facility" if self.kinds else self.scope

    @property
    def citation(self) -> str:
        """``"000 §二(三)12"`` (an external document is named by its ``cite`` text)."""
        return f"{self.document.cite or self.document.key} {self.clause}"

    @property
    def milestones(self) -> tuple[int, ...]:
        """Milestone years of the rule, ascending (empty without one)."""
        if self.targets:
            return tuple(sorted(self.targets))
        return (self.milestone,) if self.milestone is not None else ()


@dataclass(frozen=True)
class Profile:
    """A parsed policy profile."""

    name: str
    title_zh: str
    title_en: str
    source: str
    documents: Mapping[str, Document]
    rules: tuple[Rule, ...]
    eligibility: Eligibility | None = None
    jurisdiction: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    not_checkable: tuple[NotCheckable, ...] = ()
    issued: int | None = None
    zone_source: str = ""

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with id ``rule_id`` (KeyError if there is none)."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        msg = f"profile {self.name!r} has no rule {rule_id!r}"
        raise KeyError(msg)

    @property
    def milestones(self) -> tuple[int, ...]:
        """Milestone years of any rule, ascending."""
        return tuple(sorted({m for r in self.rules for m in r.milestones}))

    def _rule_of_metric(self, metric: str) -> Rule | None:
        return next((r for r in self.rules if r.metric == metric), None)

    @property
    def clients_per_staff(self) -> float | None:
        """Clients one service worker may serve, from the staff : client rule (1:5 -> 5.0).

        Station capacity everywhere (2SFCA supply, capacitated siting) is ``staff ×`` this
        number; ``None`` when the profile sets no staff : client ratio.
        """
        rule = self._rule_of_metric("staff_client_ratio")
        if rule is None or not rule.threshold:
            return None
        return 1.0 / float(rule.threshold)

    @property
    def min_floor_area_by_zone(self) -> Mapping[str, float] | None:
        """Minimum station floor area (m²) by functional zone, from the floor-area rule.

        A single threshold applies to every zone (key ``"*"``); ``None`` when the profile has no
        floor-area rule.
        """
        rule = self._rule_of_metric("floor_area_m2")
        if rule is None:
            return None
        if rule.threshold_by_zone:
            return MappingProxyType(dict(rule.threshold_by_zone))
        if rule.threshold is not None:
            return MappingProxyType({"*": float(rule.threshold)})
        return None

    @property
    def valid_years(self) -> tuple[int, int]:
        """Years a milestone ``year`` may take: from the document's issue year to 2100.

        Without an ``issued`` year, from ten years before the first milestone (or 1990).
        """
        if self.issued is not None:
            return (self.issued, 2100)
        return ((min(self.milestones) - 10) if self.milestones else 1990, 2100)

    def check_year(self, year: int | None) -> int | None:
        """Return ``year`` if the profile can evaluate it, else raise :class:`InputError`.

        Parameters
        ----------
        year : int, optional
            A milestone year (``None`` passes: every milestone is evaluated).

        Raises
        ------
        InputError
            ``field="year"``; the message names the profile's milestones.
        """
        if year is None:
            return None
        lo, hi = self.valid_years
        if isinstance(year, bool) or not isinstance(year, int) or not lo <= year <= hi:
            shown = ", ".join(map(str, self.milestones)) or "none"
            since = (f"the document dates from {self.issued}" if self.issued is not None
                     else f"years {lo}–{hi}")
            msg = (f"year {year!r} is outside profile {self.name!r} ({since}; milestones: "
                   f"{shown})")
            raise InputError(msg, source=self.source, field="year")
        return year

    @property
    def hash(self) -> str:
        """Content hash of the parsed profile, for caches that must see an edited profile."""
        return hashlib.sha1(repr(self).encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- packaged files

def _package_dir() -> Any:
    return resources.files("planning.rules") / "profiles"


def list_profiles() -> list[str]:
    """Names of the packaged profiles (``beijing-2018`` …), sorted."""
    return sorted(p.name[:-5] for p in _package_dir().iterdir() if p.name.endswith(".yaml"))


def profile_text(name: str) -> str:
    """Return the YAML text of a packaged profile, e.g. to copy and edit."""
    path = _package_dir() / f"{name}.yaml"
    if not path.is_file():
        msg = f"unknown profile {name!r}; packaged profiles: {', '.join(list_profiles())}"
        raise ProfileError(msg, source=name)
    return path.read_text(encoding="utf-8")


def read_profile(name_or_path: str | Path, metrics: Mapping[str, Any]) -> Profile:
    """Read a packaged profile by name or a YAML file by path, and check it against ``metrics``.

    The file is checked before it is parsed: at most :data:`MAX_PROFILE_BYTES`, decoded as
    UTF-8 or GBK/GB18030 (like the CSV reader), nesting at most :data:`MAX_DEPTH` deep, at most
    :data:`MAX_ALIASES` aliases and :data:`MAX_NODES` values once aliases are expanded, no
    duplicate keys and no list or mapping used as a key.

    Raises
    ------
    ProfileError
        Naming the file, the rule id or key path, and the field.
    """
    text_path = Path(name_or_path)
    if isinstance(name_or_path, Path) or text_path.suffix in (".yaml", ".yml") or \
            text_path.is_file():
        if not text_path.is_file():
            msg = f"profile file not found: {text_path}"
            raise ProfileError(msg, source=str(text_path))
        source = str(text_path)
        size = text_path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            msg = (f"the file is {size / 1e6:.1f} MB; a profile is at most "
                   f"{MAX_PROFILE_BYTES / 1e6:g} MB (packaged ones are ~10 kB)")
            raise ProfileError(msg, source=source)
        text = decode_profile(text_path.read_bytes(), source=source)
    else:
        text, source = profile_text(str(name_or_path)), f"{name_or_path}.yaml"
    return parse_profile(load_yaml(text, source=source), source=source, metrics=metrics)


def decode_profile(raw: bytes, *, source: str) -> str:
    """Decode profile bytes as UTF-8 (with or without BOM), else GBK/GB18030."""
    if len(raw) > MAX_PROFILE_BYTES:
        msg = f"the file is {len(raw) / 1e6:.1f} MB; a profile is at most " \
              f"{MAX_PROFILE_BYTES / 1e6:g} MB"
        raise ProfileError(msg, source=source)
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    msg = "could not decode the file (tried UTF-8 and GBK/GB18030)"  # pragma: no cover
    raise ProfileError(msg, source=source)  # pragma: no cover


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader refusing deep nesting and many aliases while composing the node tree."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self._source = source
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                line = self.peek_event().start_mark.line + 1
                msg = (f"more than {MAX_ALIASES} YAML aliases (*name), line {line}; write the "
                       "values out")
                raise ProfileError(msg, source=self._source, field=f"line {line}")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1
            msg = f"nested more than {MAX_DEPTH} levels deep at line {line}"
            raise ProfileError(msg, source=self._source, field=f"line {line}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag}>"


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Walk the node tree (aliases expanded): bounded size, scalar keys, no duplicate keys."""
    seen = 0
    stack: list[tuple[yaml.Node, str, str | None]] = [(root, "", None)]
    while stack:
        node, path, rid = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            msg = (f"more than {MAX_NODES:,} values once YAML aliases are expanded (near "
                   f"'{path or 'top'}'); a profile is small")
            raise ProfileError(msg, source=source, field=path or None)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, f"{path}[{i}]", rid) for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            rid = next((v.value for k, v in node.value if isinstance(k, yaml.ScalarNode)
                        and k.value == "id" and isinstance(v, yaml.ScalarNode)), rid)
            where = f"rule {rid!r}: " if rid else ""
            for k, v in node.value:
                name = _key_text(k)
                here = f"{path}.{name}" if path else name
                line = k.start_mark.line + 1
                if not isinstance(k, yaml.ScalarNode):
                    msg = (f"{where}a {'list' if isinstance(k, yaml.SequenceNode) else 'mapping'}"
                           f" is used as a key under '{path or 'top'}' (line {line}); keys are "
                           "text or numbers")
                    raise ProfileError(msg, source=source, field=path or "top")
                if name == "<<":
                    msg = f"{where}YAML merge keys ('<<') are not supported (line {line})"
                    raise ProfileError(msg, source=source, field=here)
                if name in keys:
                    msg = (f"{where}duplicate key '{name}' under '{path or 'top'}' (lines "
                           f"{keys[name]} and {line}); the second would silently replace the "
                           "first — keep one")
                    raise ProfileError(msg, source=source, field=here)
                keys[name] = line
                stack.append((v, here, rid))


def load_yaml(text: str, *, source: str) -> Any:
    """Parse profile YAML safely (limits as in :func:`read_profile`)."""
    if len(text) > MAX_PROFILE_BYTES:
        msg = f"the text is over {MAX_PROFILE_BYTES / 1e6:g} MB; a profile is a few kB"
        raise ProfileError(msg, source=source)
    loader = _LimitedLoader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        msg = f"not valid YAML: {exc}"
        raise ProfileError(msg, source=source) from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops this first
        msg = "nested too deeply"
        raise ProfileError(msg, source=source) from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- checking

class _Checker:
    """Raises ProfileError for one file; ``rid`` is the rule being checked (if any)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.rid: str | None = None

    def fail(self, field: str, why: str) -> NoReturn:
        who = f"rule {self.rid!r}: " if self.rid else ""
        msg = f"{who}{why}"
        raise ProfileError(msg, source=self.source, field=field)

    def mapping(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"'{field}' must be a mapping, got {type(value).__name__}")
        return value

    def text(self, value: Any, field: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"'{field}' must be non-empty text, got {value!r}")
        return value.strip()

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(field, f"'{field}' must be a number, got {value!r}")
        if not math.isfinite(value):
            self.fail(field, f"'{field}' must be a finite number, got {value!r}")
        return float(value)

    def choice(self, value: Any, choices: Any, field: str, what: str) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(field, f"unknown {what} {value!r}; expected one of "
                             f"{', '.join(map(str, choices))}")
        return value

    def flag(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"'{field}' must be true or false, got {value!r}")
        return value

    def texts(self, value: Any, field: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and v.strip() for v in value):
            self.fail(field, f"'{field}' must be a non-empty list of text, got {value!r}")
        return tuple(v.strip() for v in value)

    def year(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1990 <= value <= 2100:
            self.fail(field, f"'{field}' must be a year such as 2025, got {value!r}")
        return int(value)

    def pair(self, value: Any, field: str,
             limits: tuple[float, float] | None = None) -> tuple[float, float] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            self.fail(field, f"'{field}' must be [low, high], got {value!r}")
        lo, hi = (self.number(v, field) for v in value)
        if lo > hi:
            self.fail(field, f"'{field}' low {lo:g} is above high {hi:g}")
        if limits is not None and not limits[0] <= lo <= hi <= limits[1]:
            self.fail(field, f"'{field}' [{lo:g}, {hi:g}] is outside the possible range "
                             f"[{limits[0]:g}, {limits[1]:g}]")
        return (lo, hi)

    def unknown_keys(self, data: dict, allowed: set[str], where: str) -> None:
        extra = sorted(set(map(str, data)) - allowed)
        if extra:
            self.fail(extra[0], f"unknown key '{extra[0]}' in {where}; allowed: "
                                      f"{', '.join(sorted(allowed))}")


def _check_param(chk: _Checker, name: str, kind: str, value: Any) -> Any:
    field = f"params.{name}"
    if kind in ("kinds", "services"):
        choices = FACILITY_KINDS if kind == "kinds" else SERVICES
        if not isinstance(value, list) or not value:
            chk.fail(field, f"'{field}' must be a non-empty list")
        for v in value:
            chk.choice(v, choices, field, kind[:-1])
        return tuple(value)
    if kind == "number":
        return chk.number(value, field)
    if kind == "bool":
        return chk.flag(value, field)
    if kind == "text":
        return chk.text(value, field)
    if kind == "texts":
        return chk.texts(value, field)
    if kind == "where":
        return _parse_applies_to(chk, value, "facility") if value else MappingProxyType({})
    if kind == "stated_figures":
        out = {}
        for fig, spec in chk.mapping(value, field).items():
            spec = chk.mapping(spec, f"{field}.{fig}")
            chk.unknown_keys(spec, {"count", "per_100k"}, f"{field}.{fig}")
            out[str(fig)] = MappingProxyType({
                "count": chk.number(spec.get("count"), f"{field}.{fig}.count"),
                "per_100k": chk.number(spec.get("per_100k"), f"{field}.{fig}.per_100k")})
        if not out:
            chk.fail(field, f"'{field}' lists no figures")
        return MappingProxyType(out)
    if kind == "named_targets":
        targets = chk.mapping(value, field)
        out = {}
        for hospital, spec in targets.items():
            where = f"{field}.{hospital}"
            if isinstance(spec, dict):
                chk.unknown_keys(spec, {"beds", "district", "kinds", "where"}, where)
                out[str(hospital)] = MappingProxyType({
                    "beds": chk.number(spec.get("beds"), f"{where}.beds"),
                    "district": chk.text(spec.get("district"), f"{where}.district",
                                         required=False) or None,
                    "kinds": (_check_param(chk, "kinds", "kinds", spec["kinds"])
                              if spec.get("kinds") is not None else None),
                    "where": _parse_applies_to(chk, spec.get("where"), "facility"),
                })
            else:
                out[str(hospital)] = MappingProxyType(
                    {"beds": chk.number(spec, where), "district": None, "kinds": None,
                     "where": MappingProxyType({})})
        if not out:
            chk.fail(field, f"'{field}' lists no hospitals")
        return MappingProxyType(out)
    msg = f"unknown parameter kind {kind}"  # pragma: no cover - registry typo
    raise AssertionError(msg)


def _parse_scope(chk: _Checker, value: Any) -> tuple[str, tuple[str, ...]]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) for v in items):
        chk.fail("scope", f"'scope' must be text or a list of facility kinds, got {value!r}")
    if len(items) == 1 and items[0] in AREA_SCOPES:
        return items[0], ()
    kinds = tuple("rehab_station" if v == "station" else v for v in items)
    bad = [k for k in kinds if k not in FACILITY_KINDS]
    if bad:
        chk.fail("scope", f"unknown scope {bad[0]!r}; expected one of "
                                f"{', '.join((*AREA_SCOPES, 'station', *FACILITY_KINDS))}")
    return ",".join(items), kinds


def _check_bounds(chk: _Checker, metric: Any, values: list[float], field: str) -> None:
    lo, hi = metric.bounds
    bad = [v for v in values if not lo <= v <= hi]
    if not bad:
        return
    if metric.unit == "share":
        chk.fail(field, f"metric '{metric.name}' is a share between 0 and 1; write 0.9 for "
                        f"90 %, got {bad[0]:g}")
    if metric.unit == "ratio":
        chk.fail(field, f"metric '{metric.name}' is staff per client between {lo:g} and "
                        f"{hi:g}: write 1:5 as 0.2, got {bad[0]:g}")
    chk.fail(field, f"metric '{metric.name}' ({metric.unit or 'value'}) must lie in "
                    f"[{lo:g}, {hi:g}], got {bad[0]:g}")


def _parse_params(chk: _Checker, metric: Any, raw: Any, prefix: str = "") -> dict[str, Any]:
    params = {}
    for pname, pvalue in chk.mapping(raw or {}, f"{prefix}params").items():
        if not isinstance(pname, str) or pname not in metric.params:
            allowed = ", ".join(metric.params) or "none"
            chk.fail(f"{prefix}params.{pname}", f"metric '{metric.name}' has no parameter "
                                                f"'{pname}' (allowed: {allowed})")
        params[pname] = _check_param(chk, pname, metric.params[pname], pvalue)
    return params


def _parse_applies_to(chk: _Checker, raw: Any, level: str) -> Mapping[str, Any]:
    if raw is None:
        return MappingProxyType({})
    if level != "facility":
        chk.fail("applies_to", "'applies_to' filters facilities; this rule's scope is an area")
    out: dict[str, Any] = {}
    for name, want in chk.mapping(raw, "applies_to").items():
        fld = f"applies_to.{name}"
        chk.choice(name, APPLIES_TO_FIELDS, fld, "facility field")
        spec = FACILITY_SCHEMA.field(name)
        if isinstance(want, list):
            if spec.kind != "int":
                chk.fail(fld, f"'{fld}' takes one value, not a range")
            out[name] = chk.pair(want, fld, (spec.minimum, spec.maximum))
        elif spec.kind == "bool":
            out[name] = chk.flag(want, fld)
        elif spec.kind == "enum":
            out[name] = chk.choice(want, spec.choices, fld, name)
        else:
            out[name] = (chk.number(want, fld),) * 2
    return MappingProxyType(out)


def _parse_alternatives(chk: _Checker, raw: Any, level: str, metrics: Mapping[str, Any],
                        main: Alternative) -> tuple[Alternative, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        chk.fail("any_of", "'any_of' must be a non-empty list of {metric, op, threshold}")
    alts = [main]
    for i, alt in enumerate(raw):
        pre = f"any_of[{i}]."
        alt = chk.mapping(alt, f"any_of[{i}]")
        chk.unknown_keys(alt, _ALT_KEYS, f"any_of[{i}]")
        name = chk.choice(alt.get("metric"), metrics, f"{pre}metric", "metric")
        metric = metrics[name]
        if level not in metric.levels or metric.threshold_from_params:
            chk.fail(f"{pre}metric", f"metric '{name}' cannot be an alternative at scope "
                                     f"'{level}'")
        op = chk.choice(alt.get("op"), OPS, f"{pre}op", "op (quote it in YAML)")
        thr = chk.number(alt.get("threshold"), f"{pre}threshold")
        _check_bounds(chk, metric, [thr], f"{pre}threshold")
        alts.append(Alternative(name, op, thr,
                                MappingProxyType(_parse_params(chk, metric, alt.get("params"),
                                                               pre)),
                                chk.text(alt.get("label"), f"{pre}label", required=False)))
    return tuple(alts)


def _parse_rule(chk: _Checker, raw: Any, pos: int, documents: Mapping[str, Document],
                metrics: Mapping[str, Any]) -> Rule:
    chk.rid = None
    raw = chk.mapping(raw, f"rules[{pos}]")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.strip():
        chk.fail("id", f"rule number {pos + 1} has no 'id' (text)")
    chk.rid = rid = rid.strip()
    chk.unknown_keys(raw, _RULE_KEYS, "a rule")
    title = chk.mapping(raw.get("title"), "title")
    doc_key = str(raw.get("document", ""))
    if doc_key not in documents:
        chk.fail("document", f"'document' {doc_key!r} is not listed under 'documents' "
                                   f"({', '.join(documents)})")
    name = chk.choice(raw.get("metric"), metrics, "metric", "metric")
    metric = metrics[name]
    scope, kinds = _parse_scope(chk, raw.get("scope"))
    level = "facility" if kinds else scope
    if level not in metric.levels:
        chk.fail("scope", f"metric '{name}' cannot be measured at scope '{scope}'; it "
                                f"works for {', '.join(metric.levels)}")
    op = raw.get("op")
    if not isinstance(op, str) or op not in OPS:
        chk.fail("op", f"'op' must be one of {' '.join(OPS)} (quoted in YAML), got {op!r}")
    given = [k for k in ("threshold", "threshold_by_zone", "targets") if raw.get(k) is not None]
    if metric.threshold_from_params:
        if given:
            chk.fail(given[0], f"metric '{name}' takes its thresholds from params; "
                                     f"remove '{given[0]}'")
    elif len(given) != 1:
        why = "missing threshold" if not given else f"give only one of {', '.join(given)}"
        chk.fail("threshold", f"{why}: set exactly one of 'threshold', "
                                    "'threshold_by_zone' or 'targets'")
    threshold = by_zone = targets = None
    if raw.get("threshold") is not None:
        threshold = chk.number(raw["threshold"], "threshold")
    if raw.get("threshold_by_zone") is not None:
        if level == "city":
            chk.fail("threshold_by_zone", "a city-wide rule has no functional zone")
        by_zone = {}
        for z, v in chk.mapping(raw["threshold_by_zone"], "threshold_by_zone").items():
            chk.choice(z, (*ZONES, "default"), "threshold_by_zone", "zone")
            by_zone[z] = chk.number(v, f"threshold_by_zone.{z}")
        by_zone = MappingProxyType(by_zone)
    if raw.get("targets") is not None:
        targets = MappingProxyType({
            chk.year(y, "targets"): chk.number(v, f"targets.{y}")
            for y, v in chk.mapping(raw["targets"], "targets").items()})
    values = [threshold] if threshold is not None else []
    values += list((by_zone or {}).values()) + list((targets or {}).values())
    if given:
        _check_bounds(chk, metric, values, given[0])
    params = _parse_params(chk, metric, raw.get("params"))
    if metric.threshold_from_params and not any(
            metric.params.get(p) in ("named_targets", "stated_figures") for p in params):
        need = next(p for p, k in metric.params.items() if k in ("named_targets",
                                                                  "stated_figures"))
        chk.fail(f"params.{need}", f"metric '{name}' needs params.{need}")
    zones = raw.get("zones")
    if zones is not None:
        if not isinstance(zones, list) or not zones or any(
                not isinstance(z, str) or z not in ZONES for z in zones):
            chk.fail("zones", f"'zones' must be a list of {', '.join(ZONES)}")
        zones = tuple(zones)
    districts = raw.get("districts")
    if districts is not None:
        if level == "city":
            chk.fail("districts", "a city-wide rule cannot be limited to districts")
        districts = chk.texts(districts, "districts")
    note = raw.get("note")
    note_en, note_zh = "", ""
    if isinstance(note, dict):
        chk.unknown_keys(note, {"zh", "en"}, "note")
        note_zh = chk.text(note.get("zh"), "note.zh", required=False)
        note_en = chk.text(note.get("en"), "note.en", required=False)
    else:
        note_en = chk.text(note, "note", required=False)
    main = Alternative(name, op, threshold if threshold is not None else math.nan,
                       MappingProxyType(params))
    any_of = _parse_alternatives(chk, raw.get("any_of"), level, metrics, main)
    if any_of and (by_zone is not None or targets is not None):
        chk.fail("any_of", "'any_of' needs a single 'threshold' on the rule")
    return Rule(
        id=rid,
        title_zh=chk.text(title.get("zh"), "title.zh"),
        title_en=chk.text(title.get("en"), "title.en"),
        document=documents[doc_key],
        clause=chk.text(raw.get("clause"), "clause"),
        quote=chk.text(raw.get("quote"), "quote"),
        scope=scope, kinds=kinds, metric=name, op=op,
        threshold=threshold, threshold_by_zone=by_zone, targets=targets,
        milestone=(chk.year(raw["milestone"], "milestone")
                   if raw.get("milestone") is not None else None),
        zones=zones, params=MappingProxyType(params),
        note=note_en, note_zh=note_zh,
        applies_to=_parse_applies_to(chk, raw.get("applies_to"), level),
        any_of=any_of, districts=districts,
    )


def _ledger_limits(name: str) -> tuple[float, float]:
    f = LEDGER_SCHEMA.field(name)
    return (f.minimum, f.maximum)


def _parse_criteria(chk: _Checker, raw: Any, where: str) -> Criteria:
    raw = chk.mapping(raw, where)
    chk.unknown_keys(raw, _CRIT_KEYS, where)
    pre = f"{where}."
    req = raw.get("require_certificate", False)
    return Criteria(
        age=chk.pair(raw.get("age"), f"{pre}age", _ledger_limits("age")),
        risk_level=chk.pair(raw.get("risk_level"), f"{pre}risk_level",
                            _ledger_limits("risk_level")),
        disability_grade=chk.pair(raw.get("disability_grade"), f"{pre}disability_grade",
                                  _ledger_limits("disability_grade")),
        require_certificate=chk.flag(req, f"{pre}require_certificate"),
        diagnosis=(chk.texts(raw["diagnosis"], f"{pre}diagnosis")
                   if raw.get("diagnosis") is not None else ()),
        flags=chk.texts(raw["flags"], f"{pre}flags") if raw.get("flags") is not None else (),
        label=chk.text(raw.get("label"), f"{pre}label", required=False),
    )


def _parse_eligibility(chk: _Checker, raw: Any, documents: Mapping[str, Document]) -> Eligibility:
    chk.rid = None
    raw = chk.mapping(raw, "eligibility")
    chk.unknown_keys(raw, _ELIG_KEYS, "eligibility")
    doc = str(raw.get("document", ""))
    if doc not in documents:
        chk.fail("eligibility.document", f"eligibility document {doc!r} is not listed")
    base = _parse_criteria(chk, {k: v for k, v in raw.items() if k in _CRIT_KEYS},
                           "eligibility")
    any_of = raw.get("any_of")
    if any_of is not None and (not isinstance(any_of, list) or not any_of):
        chk.fail("eligibility.any_of", "'eligibility.any_of' must be a non-empty list")
    alternatives = tuple(_parse_criteria(chk, a, f"eligibility.any_of[{i}]")
                         for i, a in enumerate(any_of or []))
    conditions = []
    raw_cond = raw.get("conditions") or []
    if not isinstance(raw_cond, list):
        chk.fail("eligibility.conditions", "'eligibility.conditions' must be a list")
    for i, c in enumerate(raw_cond):
        where = f"eligibility.conditions[{i}]"
        c = chk.mapping(c, where)
        chk.unknown_keys(c, {"applies_to", "require"}, where)
        conditions.append((_parse_criteria(chk, c.get("applies_to"), f"{where}.applies_to"),
                           _parse_criteria(chk, c.get("require"), f"{where}.require")))
    recorded = []
    for i, r in enumerate(raw.get("recorded") or []):
        where = f"eligibility.recorded[{i}]"
        r = chk.mapping(r, where)
        chk.unknown_keys(r, {"key", "zh", "en"}, where)
        recorded.append((chk.text(r.get("key"), f"{where}.key"),
                         chk.text(r.get("zh"), f"{where}.zh"),
                         chk.text(r.get("en"), f"{where}.en")))
    return Eligibility(
        require_home=True,
        age=base.age, risk_level=base.risk_level, disability_grade=base.disability_grade,
        require_certificate=base.require_certificate,
        diagnosis=base.diagnosis, flags=base.flags,
        any_of=alternatives, conditions=tuple(conditions), recorded=tuple(recorded),
        citation=f"{doc} {chk.text(raw.get('clause'), 'eligibility.clause')}",
        quote=chk.text(raw.get("quote"), "eligibility.quote", required=False),
    )


def _parse_documents(chk: _Checker, raw: Any) -> dict[str, Document]:
    documents = {}
    for key, doc in chk.mapping(raw, "documents").items():
        where = f"documents.{key}"
        doc = chk.mapping(doc, where)
        chk.unknown_keys(doc, _DOC_KEYS, where)
        file = chk.text(doc.get("file"), f"{where}.file", required=False)
        cite = chk.text(doc.get("cite"), f"{where}.cite", required=False)
        if not file and not cite:
            chk.fail(f"{where}.file", f"'{where}' needs a seed 'file', or a 'cite' text for a "
                                      "document that is not a seed file")
        documents[str(key)] = Document(
            key=str(key), file=file, title=chk.text(doc.get("title"), f"{where}.title"),
            cite=cite, note=chk.text(doc.get("note"), f"{where}.note", required=False))
    if not documents:
        chk.fail("documents", "'documents' lists no document")
    return documents


def _parse_not_checkable(chk: _Checker, raw: Any,
                         documents: Mapping[str, Document]) -> tuple[NotCheckable, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        chk.fail("not_checkable", "'not_checkable' must be a list")
    out = []
    for i, item in enumerate(raw):
        where = f"not_checkable[{i}]"
        item = chk.mapping(item, where)
        chk.unknown_keys(item, _NC_KEYS, where)
        doc = str(item.get("document", ""))
        if doc not in documents:
            chk.fail(f"{where}.document", f"document {doc!r} is not listed under 'documents'")
        title = chk.mapping(item.get("title"), f"{where}.title")
        why = chk.mapping(item.get("why"), f"{where}.why")
        out.append(NotCheckable(
            document=documents[doc], clause=chk.text(item.get("clause"), f"{where}.clause"),
            quote=chk.text(item.get("quote"), f"{where}.quote"),
            title_zh=chk.text(title.get("zh"), f"{where}.title.zh"),
            title_en=chk.text(title.get("en"), f"{where}.title.en"),
            why_zh=chk.text(why.get("zh"), f"{where}.why.zh"),
            why_en=chk.text(why.get("en"), f"{where}.why.en")))
    return tuple(out)


def parse_profile(data: Any, *, source: str, metrics: Mapping[str, Any]) -> Profile:
    """Check a profile already loaded from YAML (a mapping) and build a :class:`Profile`.

    Raises
    ------
    ProfileError
        Naming ``source``, the rule id (in the message) and the field.
    """
    chk = _Checker(source)
    try:
        return _parse(chk, data, metrics)
    except ProfileError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape not foreseen
        chk.fail(chk.rid or "profile", f"unexpected value ({type(exc).__name__}: {exc})")


def _parse(chk: _Checker, data: Any, metrics: Mapping[str, Any]) -> Profile:
    data = chk.mapping(data, "profile")
    chk.unknown_keys(data, _TOP_KEYS, "the profile")
    name = chk.text(data.get("profile"), "profile")
    title = chk.mapping(data.get("title"), "title")
    documents = _parse_documents(chk, data.get("documents"))
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        chk.fail("rules", "'rules' must be a non-empty list")
    rules = [_parse_rule(chk, r, i, documents, metrics) for i, r in enumerate(raw_rules)]
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            chk.rid = r.id
            chk.fail("id", "duplicate rule id")
        seen.add(r.id)
    chk.rid = None
    elig = data.get("eligibility")
    return Profile(
        name=name,
        title_zh=chk.text(title.get("zh"), "title.zh"),
        title_en=chk.text(title.get("en"), "title.en"),
        source=chk.source,
        documents=MappingProxyType(documents),
        rules=tuple(rules),
        eligibility=_parse_eligibility(chk, elig, documents) if elig is not None else None,
        jurisdiction=chk.text(data.get("jurisdiction"), "jurisdiction", required=False),
        params=MappingProxyType(dict(chk.mapping(data.get("params") or {}, "params"))),
        not_checkable=_parse_not_checkable(chk, data.get("not_checkable"), documents),
        issued=chk.year(data["issued"], "issued") if data.get("issued") is not None else None,
        zone_source=chk.text(data.get("zone_source"), "zone_source", required=False),
    )
