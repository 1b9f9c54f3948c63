"""National runs on dask: every province or prefecture through the same engine.

What enters: a GeoParquet store of national layers (:mod:`~planning.batch.national`, real county
outlines with synthetic townships and facilities) and a profile. What leaves: per-partition
findings, access and siting outputs written atomically with done markers, and a national
summary workbook (:mod:`~planning.batch.runner`). :mod:`~planning.batch.partition` holds the
per-partition computation, free of dask.
"""

from planning.batch.partition import compute_partition
from planning.batch.runner import (
    COUNT_COLUMNS,
    OUTPUTS,
    BatchOptions,
    BatchResult,
    RunOptions,
    read_output,
    run_batch,
)

__all__ = ["COUNT_COLUMNS", "OUTPUTS", "BatchOptions", "BatchResult", "RunOptions",
           "compute_partition", "read_output", "run_batch"]
