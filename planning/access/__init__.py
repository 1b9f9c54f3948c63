"""Street networks, travel-time matrices and township access.

What enters: a ``Dataset`` (townships, facilities) and optionally a street graph read from a
local OSM XML / GraphML file (:mod:`~planning.access.network`). What leaves: demand × supply
travel-time matrices (:class:`TravelTimeMatrix`, multi-source Dijkstra on a sparse graph or a
labelled straight-line fallback), isochrones, 2SFCA/E2SFCA indices
(:mod:`~planning.access.matrix`) and the per-township access summary
(:mod:`~planning.access.coverage`). Station capacity comes from the profile, never from here.
"""

from planning.access.matrix import (
    LUO_QI_ZONES,
    TravelTimeMatrix,
    access_index,
    coverage_share,
    enhanced_two_stage_fca,
    floating_catchment,
    gaussian_weights,
    isochrones,
    node_times,
    station_capacity,
    step_weights,
    straight_line_matrix,
    travel_time_matrix,
    travel_times,
    two_stage_fca,
)

__all__ = [
    "LUO_QI_ZONES", "TravelTimeMatrix", "access_index", "coverage_share",
    "enhanced_two_stage_fca", "floating_catchment", "gaussian_weights", "isochrones",
    "node_times", "station_capacity", "step_weights", "straight_line_matrix",
    "travel_time_matrix", "travel_times", "two_stage_fca",
]
