"""Campaign specs: a TOML file validated into dataclasses, with errors that name the key.

Example (``campaigns/lj_fluid.toml``)::

    [campaign]
    name = "lj_fluid"
    completion = 1.0              # stop when this share of the bag is done

    [design]
    sampler = "grid"              # grid | lhs | sobol | list
    seed = 1
    [design.parameters]
    density = { range = [0.6, 0.85], points = 4 }
    kT = { values = [1.0, 1.5] }

    [job]
    function = "lj_fluid:run"     # module:function; modules next to the spec are importable
    [job.settings]                # passed to the job as job.settings
    steps = 4000

    [[analysis]]
    kind = "rdf"
    bins = 100
    r_max = 3.0

    [resources]
    workers = 2
    threads_per_worker = 1
    retries = 2                   # failures of the job's own code; lost workers do not count
    checkpoint_steps = 1000
    checkpoint_seconds = 0
    ranks = 1                     # MPI ranks per job; > 1 starts it under the launcher
    launcher = "mpirun"           # mpirun | srun | ["mpirun", "--oversubscribe", "-n", "{ranks}"]

    [report]                      # optional: what `campaign report` shows
    results = ["pressure"]        # exactly these results (default: every result but bookkeeping)
    bookkeeping = ["n_rebuilds"]  # more result keys to leave out of the plots and the table

An optional ``[cluster]`` table (`hoomd_mlx.campaign.cluster.ClusterSettings`) runs the
workers as SLURM or PBS batch jobs. An optional ``[cloud]`` table (`hoomd_mlx.cloud.settings`)
describes the job for cost planning and can make the checkpoint interval come from the preemption model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from hoomd_mlx.campaign.cluster import ClusterSettings
from hoomd_mlx.campaign.contract import resolve_function
from hoomd_mlx.campaign.design import DesignSpace
from hoomd_mlx.campaign.launcher import check_launcher
from hoomd_mlx.campaign.learning import SurrogateSettings
from hoomd_mlx.cloud.settings import CloudSettings
from hoomd_mlx.errors import (
    ConfigurationError,
    check_bool,
    check_int,
    check_keys,
    check_number,
    check_str,
    check_strings,
)

__all__ = ["ANALYSES", "CampaignSpec", "JobSpec", "Resources", "load_spec"]

ANALYSES = {
    "rdf": {"bins": 100, "r_max": 3.0, "frames": 0},
    "density_profile": {"axis": "z", "bins": 50, "frames": 0, "blocks": 5},
    "msd": {"frames": 0},
}
"""dict: The freud analyses a spec can ask for, with their settings' defaults."""

_TOP = {"campaign", "design", "job", "analysis", "resources", "cluster", "surrogate", "cloud", "report"}


@dataclass(frozen=True)
class JobSpec:
    """The job: a ``module:function``, settings passed to it, and how it is isolated.

    ``isolation = "subprocess"`` (default) runs each job in a subprocess of its worker,
    as HOOMD jobs need; ``"inline"`` runs it in the worker's thread, for light jobs
    that do not run HOOMD (no SIGTERM checkpointing there).
    """

    function: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    isolation: str = "subprocess"


@dataclass(frozen=True)
class Resources:
    """Workers, threads, retry budget, checkpoint interval, and MPI ranks per job.

    ``ranks > 1`` runs each job as that many MPI ranks, started by ``launcher``: a name
    in `hoomd_mlx.campaign.launcher.LAUNCHERS` or a command template (a tuple of
    strings, ``{ranks}`` standing for the rank count). One rank uses no launcher.
    """

    workers: int = 2
    threads_per_worker: int = 1
    retries: int = 2
    checkpoint_steps: int = 0
    checkpoint_seconds: float = 60.0
    ranks: int = 1
    launcher: str | tuple[str, ...] = "mpirun"


@dataclass(frozen=True)
class CampaignSpec:
    """A validated campaign spec."""

    name: str
    design: DesignSpace
    job: JobSpec
    analyses: tuple[Mapping[str, Any], ...] = ()
    resources: Resources = field(default_factory=Resources)
    completion: float = 1.0
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    surrogate: SurrogateSettings | None = None
    cloud: CloudSettings | None = None
    report: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: Path | None = None

    @property
    def search_path(self) -> tuple[str, ...]:
        """tuple[str, ...]: Directories added to ``sys.path`` to import the job function."""
        return (str(self.source.parent.resolve()),) if self.source else ()


def _resources(table: Mapping[str, Any]) -> Resources:
    known = {f for f in Resources.__dataclass_fields__}
    check_keys(table, known, "resources.")
    values: dict[str, Any] = {}
    for name, minimum in (("workers", 1), ("threads_per_worker", 1), ("retries", 0), ("checkpoint_steps", 0)):
        if name in table:
            values[name] = check_int(f"resources.{name}", table[name], minimum)
    if "checkpoint_seconds" in table:
        values["checkpoint_seconds"] = check_number(
            "resources.checkpoint_seconds", table["checkpoint_seconds"], 0
        )
    ranks = table.get("ranks", 1)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise ConfigurationError(
            f"resources.ranks = {ranks!r}; expected a whole number of MPI ranks per job, >= 1 (1: no MPI)"
        )
    values["ranks"] = ranks
    launcher = table.get("launcher", "mpirun")
    check_launcher(launcher)
    values["launcher"] = launcher if isinstance(launcher, str) else tuple(launcher)
    return Resources(**values)


def _table(raw: Mapping[str, Any], key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{key} = {value!r}; expected a table ([{key}])")
    return dict(value)


def _analyses(items: Any) -> tuple[dict, ...]:
    if isinstance(items, Mapping):
        items = [items]
    out = []
    if items is not None and not isinstance(items, list | tuple):
        raise ConfigurationError(f"analysis = {items!r}; expected [[analysis]] tables")
    for k, item in enumerate(items or []):
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"analysis[{k}] = {item!r}; expected a table ([[analysis]])")
        kind = item.get("kind")
        if kind not in ANALYSES:
            raise ConfigurationError(f"analysis[{k}].kind = {kind!r}; expected one of {sorted(ANALYSES)}")
        check_keys(item, {"kind", *ANALYSES[kind]}, f"analysis[{k}].")
        for key, default in ANALYSES[kind].items():
            if key in item and isinstance(default, int):
                check_int(f"analysis[{k}].{key}", item[key], 1 if key in ("bins", "blocks") else 0)
            elif key in item and isinstance(default, float):
                check_number(f"analysis[{k}].{key}", item[key], 0.0, above=True)
            elif key in item:
                check_str(f"analysis[{k}].{key}", item[key], ("x", "y", "z"))
        out.append({**ANALYSES[kind], **item})
    return tuple(out)


def _report(table: dict) -> dict[str, tuple[str, ...]]:
    """The ``[report]`` table (`hoomd_mlx.campaign.report_results`): lists of result keys."""
    check_keys(table, {"results", "bookkeeping"}, "report.")
    return {key: check_strings(f"report.{key}", value) for key, value in table.items()}


def _surrogate(table: dict) -> SurrogateSettings:
    """Check the scalar settings' types (by the defaults'), then let SurrogateSettings check the rest."""
    for f in fields(SurrogateSettings):
        if f.name not in table or f.default is MISSING:
            continue
        key, value = f"surrogate.{f.name}", table[f.name]
        if isinstance(f.default, bool):
            check_bool(key, value)
        elif isinstance(f.default, int):
            check_int(key, value)
        elif isinstance(f.default, float):
            check_number(key, value)
        elif isinstance(f.default, str):
            check_str(key, value)
    if "outputs" in table:
        check_strings("surrogate.outputs", table["outputs"])
    if "errors" in table and not isinstance(table["errors"], Mapping):
        raise ConfigurationError(
            f"surrogate.errors = {table['errors']!r}; expected a table (output = 'column')"
        )
    return SurrogateSettings.from_mapping(table)


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign spec (TOML).

    Raises:
        ConfigurationError: Naming the key at fault and what is expected.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigurationError(f"campaign spec {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"campaign spec {path} is not valid TOML: {err}") from err
    return spec_from_mapping(raw, source=path)


def spec_from_mapping(raw: Mapping[str, Any], source: Path | None = None) -> CampaignSpec:
    """Validate an already-parsed spec."""
    check_keys(raw, _TOP, "")
    campaign = _table(raw, "campaign")
    check_keys(campaign, {"name", "completion"}, "campaign.")
    if "name" in campaign:
        check_str("campaign.name", campaign["name"])
    completion = check_number("campaign.completion", campaign.get("completion", 1.0), 0.0, above=True)
    if not 0 < completion <= 1:
        raise ConfigurationError(f"campaign.completion = {completion}; expected a fraction in (0, 1]")
    if "design" not in raw:
        raise ConfigurationError("the spec has no [design] table")
    _table(raw, "design")
    job = _table(raw, "job")
    check_keys(job, {"function", "settings", "isolation"}, "job.")
    check_str("job.isolation", job.get("isolation", "subprocess"), ("subprocess", "inline"))
    if "function" not in job:
        raise ConfigurationError("job.function is missing; give 'module:function'")
    if not isinstance(job["function"], str) or ":" not in job["function"]:
        raise ConfigurationError(f"job.function = {job['function']!r}; expected 'module:function'")
    if not isinstance(job.get("settings", {}), Mapping):
        raise ConfigurationError(f"job.settings = {job['settings']!r}; expected a table ([job.settings])")
    resources = _resources(_table(raw, "resources"))
    cluster = ClusterSettings.from_mapping(_table(raw, "cluster"))
    if resources.ranks > 1 and job.get("isolation") == "inline":
        raise ConfigurationError(
            f"resources.ranks = {resources.ranks} with job.isolation = 'inline'; an inline job runs in "
            "the worker's thread, which cannot start MPI ranks: use job.isolation = 'subprocess' or ranks = 1"
        )
    spec = CampaignSpec(
        name=str(campaign.get("name", source.stem if source else "campaign")),
        design=DesignSpace.from_mapping(raw["design"]),
        job=JobSpec(
            function=job["function"],
            settings=dict(job.get("settings", {})),
            isolation=job.get("isolation", "subprocess"),
        ),
        analyses=_analyses(raw.get("analysis")),
        resources=resources,
        completion=completion,
        cluster=cluster,
        surrogate=_surrogate(_table(raw, "surrogate")) if "surrogate" in raw else None,
        cloud=CloudSettings.from_mapping(raw["cloud"], source.parent if source else None)
        if "cloud" in raw
        else None,
        report=_report(_table(raw, "report")),
        source=source,
    )
    resolve_function(spec.job.function, spec.search_path)  # fail now, not on a worker
    return spec
