"""Policy profiles as data: one YAML file per document, parsed into frozen rules.

A profile (``beijing-2018.yaml`` …) lists the documents it cites and its rules. Each rule names a
*metric* (a registered function in :mod:`planning.rules`), a comparison ``op`` and a threshold
(a number, a number per functional zone, or a number per milestone year). This module only reads
and checks profiles; :mod:`planning.rules` evaluates them. Every problem in a profile raises one
:class:`~planning.errors.ProfileError` naming the file, the rule id (in the message) and the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from planning.data.ledger import Eligibility
from planning.data.model import FACILITY_KINDS, SERVICES, ZONES
from planning.errors import ProfileError

#: Comparison operators a rule may use.
OPS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=")
#: Area scopes; a facility kind (``station`` = ``rehab_station``) or a list of kinds is a
#: facility scope.
AREA_SCOPES: tuple[str, ...] = ("township", "district", "city")

_RULE_KEYS = {
    "id", "title", "document", "clause", "quote", "scope", "metric", "op", "threshold",
    "threshold_by_zone", "targets", "milestone", "zones", "params", "note",
}
_TOP_KEYS = {"profile", "title", "jurisdiction", "documents", "eligibility", "params", "rules",
             "notes"}
_ELIG_KEYS = {"age", "risk_level", "disability_grade", "require_certificate", "document",
              "clause", "quote"}


@dataclass(frozen=True)
class Document:
    """A cited source document: short cite key (``"000"``), seed file name and title."""

    key: str
    file: str
    title: str


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

    @property
    def level(self) -> str:
        """``facility``, ``township``, ``district`` or ``city``."""
        return "facility" if self.kinds else self.scope

    @property
    def citation(self) -> str:
        """``"000 §二(三)12"``."""
        return f"{self.document.key} {self.clause}"

    @property
    def milestones(self) -> tuple[int, ...]:
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

    def rule(self, rule_id: str) -> Rule:
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
    """The YAML text of a packaged profile, e.g. to copy and edit."""
    path = _package_dir() / f"{name}.yaml"
    if not path.is_file():
        msg = f"unknown profile {name!r}; packaged profiles: {', '.join(list_profiles())}"
        raise ProfileError(msg, source=name)
    return path.read_text(encoding="utf-8")


def read_profile(name_or_path: str | Path, metrics: Mapping[str, Any]) -> Profile:
    """Read a packaged profile by name or a YAML file by path, and check it against ``metrics``."""
    text_path = Path(name_or_path)
    if isinstance(name_or_path, Path) or text_path.suffix in (".yaml", ".yml") or \
            text_path.is_file():
        if not text_path.is_file():
            msg = f"profile file not found: {text_path}"
            raise ProfileError(msg, source=str(text_path))
        text, source = text_path.read_text(encoding="utf-8"), str(text_path)
    else:
        text, source = profile_text(str(name_or_path)), f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"not valid YAML: {exc}"
        raise ProfileError(msg, source=source) from None
    return parse_profile(data, source=source, metrics=metrics)


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
        return float(value)

    def year(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1990 <= value <= 2100:
            self.fail(field, f"'{field}' must be a year such as 2025, got {value!r}")
        return int(value)

    def pair(self, value: Any, field: str) -> tuple[float, float] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            self.fail(field, f"'{field}' must be [low, high], got {value!r}")
        lo, hi = (self.number(v, field) for v in value)
        if lo > hi:
            self.fail(field, f"'{field}' low {lo:g} is above high {hi:g}")
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
        bad = [v for v in value if v not in choices]
        if bad:
            chk.fail(field, f"'{field}': unknown {kind[:-1]} {bad[0]!r}; expected one of "
                                  f"{', '.join(choices)}")
        return tuple(value)
    if kind == "number":
        return chk.number(value, field)
    if kind == "bool":
        if not isinstance(value, bool):
            chk.fail(field, f"'{field}' must be true or false, got {value!r}")
        return value
    if kind == "text":
        return chk.text(value, field)
    if kind == "named_targets":
        targets = chk.mapping(value, field)
        out = {}
        for hospital, spec in targets.items():
            if isinstance(spec, dict):
                chk.unknown_keys(spec, {"beds", "district"}, f"{field}.{hospital}")
                out[str(hospital)] = MappingProxyType({
                    "beds": chk.number(spec.get("beds"), f"{field}.{hospital}.beds"),
                    "district": chk.text(spec.get("district"), f"{field}.{hospital}.district",
                                         required=False) or None,
                })
            else:
                out[str(hospital)] = MappingProxyType(
                    {"beds": chk.number(spec, f"{field}.{hospital}"), "district": None})
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
    name = raw.get("metric")
    if name not in metrics:
        chk.fail("metric", f"unknown metric {name!r}; known: {', '.join(sorted(metrics))}")
    metric = metrics[name]
    scope, kinds = _parse_scope(chk, raw.get("scope"))
    level = "facility" if kinds else scope
    if level not in metric.levels:
        chk.fail("scope", f"metric '{name}' cannot be measured at scope '{scope}'; it "
                                f"works for {', '.join(metric.levels)}")
    op = raw.get("op")
    if op not in OPS:
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
            if z not in (*ZONES, "default"):
                chk.fail("threshold_by_zone", f"unknown zone {z!r}; expected "
                                                    f"{', '.join((*ZONES, 'default'))}")
            by_zone[z] = chk.number(v, f"threshold_by_zone.{z}")
        by_zone = MappingProxyType(by_zone)
    if raw.get("targets") is not None:
        targets = MappingProxyType({
            chk.year(y, "targets"): chk.number(v, f"targets.{y}")
            for y, v in chk.mapping(raw["targets"], "targets").items()})
    values = [threshold] if threshold is not None else []
    values += list((by_zone or {}).values()) + list((targets or {}).values())
    if metric.unit == "share" and any(not 0 <= v <= 1 for v in values):
        chk.fail(given[0], f"metric '{name}' is a share between 0 and 1; write 0.9 for "
                                 f"90 %, got {max(values):g}")
    raw_params = chk.mapping(raw.get("params") or {}, "params")
    params = {}
    for pname, pvalue in raw_params.items():
        if pname not in metric.params:
            allowed = ", ".join(metric.params) or "none"
            chk.fail(f"params.{pname}", f"metric '{name}' has no parameter '{pname}' "
                                              f"(allowed: {allowed})")
        params[pname] = _check_param(chk, pname, metric.params[pname], pvalue)
    if metric.threshold_from_params and "named_targets" not in params:
        chk.fail("params.named_targets", f"metric '{name}' needs params.named_targets")
    zones = raw.get("zones")
    if zones is not None:
        if not isinstance(zones, list) or any(z not in ZONES for z in zones):
            chk.fail("zones", f"'zones' must be a list of {', '.join(ZONES)}")
        zones = tuple(zones)
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
        note=chk.text(raw.get("note"), "note", required=False),
    )


def _parse_eligibility(chk: _Checker, raw: Any, documents: Mapping[str, Document]) -> Eligibility:
    chk.rid = None
    raw = chk.mapping(raw, "eligibility")
    chk.unknown_keys(raw, _ELIG_KEYS, "eligibility")
    doc = str(raw.get("document", ""))
    if doc not in documents:
        chk.fail("eligibility.document", f"eligibility document {doc!r} is not listed")
    req = raw.get("require_certificate", False)
    if not isinstance(req, bool):
        chk.fail("eligibility.require_certificate", "must be true or false")
    return Eligibility(
        require_home=True,
        age=chk.pair(raw.get("age"), "eligibility.age"),
        risk_level=chk.pair(raw.get("risk_level"), "eligibility.risk_level"),
        disability_grade=chk.pair(raw.get("disability_grade"), "eligibility.disability_grade"),
        require_certificate=req,
        citation=f"{doc} {chk.text(raw.get('clause'), 'eligibility.clause')}",
        quote=chk.text(raw.get("quote"), "eligibility.quote", required=False),
    )


def parse_profile(data: Any, *, source: str, metrics: Mapping[str, Any]) -> Profile:
    """Check a profile already loaded from YAML (a mapping) and build a :class:`Profile`.

    Raises
    ------
    ProfileError
        Naming ``source``, the rule id (in the message) and the field.
    """
    chk = _Checker(source)
    data = chk.mapping(data, "profile")
    chk.unknown_keys(data, _TOP_KEYS, "the profile")
    name = chk.text(data.get("profile"), "profile")
    title = chk.mapping(data.get("title"), "title")
    documents = {}
    for key, doc in chk.mapping(data.get("documents"), "documents").items():
        doc = chk.mapping(doc, f"documents.{key}")
        documents[str(key)] = Document(
            key=str(key), file=chk.text(doc.get("file"), f"documents.{key}.file"),
            title=chk.text(doc.get("title"), f"documents.{key}.title"))
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
        source=source,
        documents=MappingProxyType(documents),
        rules=tuple(rules),
        eligibility=_parse_eligibility(chk, elig, documents) if elig is not None else None,
        jurisdiction=str(data.get("jurisdiction") or ""),
        params=MappingProxyType(dict(chk.mapping(data.get("params") or {}, "params"))),
    )
