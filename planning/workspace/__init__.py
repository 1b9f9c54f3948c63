"""The planning workspace: projects, dataset versions, ledger summaries, scenarios, audit log.

What enters: validated datasets, ledger *summaries* (township counts), siting results and
notes, each with the :class:`~planning.roles.Actor` acting. What leaves: the same, read back
from a real database (SQLite by default, PostgreSQL/PostGIS by URL), versioned so that a stale
writer is refused. Nothing patient-level is ever stored.
"""

from planning.workspace.datasets import dataset_versions, load_dataset, save_dataset
from planning.workspace.progress import (
    ProgressOptions,
    import_ledger,
    progress_table,
    snapshot_counts,
    snapshots,
)
from planning.workspace.scenarios import (
    Scenario,
    adopt_scenario,
    compare_scenarios,
    default_scenario_name,
    delete_scenario,
    duplicate_scenario,
    export_scenario,
    get_scenario,
    import_scenario,
    list_scenarios,
    rename_scenario,
    save_scenario,
)
from planning.workspace.store import (
    NotFoundError,
    Project,
    ScenarioExistsError,
    StaleWriteError,
    Workspace,
    database_url,
)

__all__ = [
    "NotFoundError",
    "ProgressOptions",
    "Project",
    "Scenario",
    "ScenarioExistsError",
    "StaleWriteError",
    "Workspace",
    "adopt_scenario",
    "compare_scenarios",
    "database_url",
    "dataset_versions",
    "default_scenario_name",
    "delete_scenario",
    "duplicate_scenario",
    "export_scenario",
    "get_scenario",
    "import_ledger",
    "import_scenario",
    "list_scenarios",
    "load_dataset",
    "progress_table",
    "rename_scenario",
    "save_dataset",
    "save_scenario",
    "snapshot_counts",
    "snapshots",
]
