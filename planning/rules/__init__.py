"""Policy profiles and the rule evaluator: a ``Dataset`` and a profile in, a findings table out.

What enters: a validated :class:`~planning.data.model.Dataset`, a policy profile (YAML in
``profiles/``: every policy number with its document, clause and quote) and optionally a
milestone year and city figures. What leaves: the tidy findings table (one row per rule ×
entity, ``pass``/``fail``/``not_assessable`` with the clause it cites), summaries, the milestone
view and headline indicators (:mod:`~planning.rules.indicators`). Python here holds no policy
number: thresholds, ratios and floor areas come from the loaded profile.
"""

from planning.rules.engine import (
    EXTRA_FIGURES,
    FINDING_COLUMNS,
    METRICS,
    Metric,
    Summary,
    eligible_counts,
    evaluate,
    evaluate_scope,
    filter_findings,
    list_profiles,
    load_profile,
    milestone_view,
    profile_text,
    summarise,
    township_drilldown,
    worst_status,
)

__all__ = [
    "EXTRA_FIGURES", "FINDING_COLUMNS", "METRICS", "Metric", "Summary", "eligible_counts",
    "evaluate", "evaluate_scope", "filter_findings",
    "list_profiles", "load_profile", "milestone_view", "profile_text",
    "summarise", "township_drilldown", "worst_status",
]
