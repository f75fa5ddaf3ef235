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

Every table is a settings class (`hoomd_mlx.settings`), validated here before any job runs; a job
function that declares its settings class (``run.settings = MySettings``) has ``[job.settings]``
validated too. An optional ``[cluster]`` table (`hoomd_mlx.campaign.config.cluster.ClusterSettings`) runs the
workers as SLURM or PBS batch jobs. An optional ``[cloud]`` table (`hoomd_mlx.cloud.settings`)
describes the job for cost planning and can make the checkpoint interval come from the preemption model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hoomd_mlx.campaign.config.analyses import analysis_settings
from hoomd_mlx.campaign.config.cluster import ClusterSettings
from hoomd_mlx.campaign.config.design import DesignSpace
from hoomd_mlx.campaign.config.functions import resolve_function
from hoomd_mlx.campaign.config.launchers import Launcher
from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
from hoomd_mlx.cloud.settings import CloudSettings
from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import (
    Choice,
    Converter,
    Int,
    Number,
    Optional,
    Settings,
    Text,
    Texts,
    check_keys,
    setting,
)

__all__ = ["CampaignSpec", "CampaignTable", "JobSpec", "ReportSettings", "Resources", "load_spec"]

_TOP = {"campaign", "design", "job", "analysis", "resources", "cluster", "surrogate", "cloud", "report"}


class _Function(Converter):
    """``module:function``."""

    expects = "'module:function'"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(value)
        module, _, name = value.partition(":")
        if not module or not name:
            raise ValueError(value)
        return value

    def refused(self) -> list[Any]:
        return [5, "no_colon"]


class _AnyTable(Converter):
    """Any TOML table (its own settings class, when the job declares one, checks the values)."""

    expects = "a table ([job.settings])"

    def convert(self, value: Any) -> dict:
        if not isinstance(value, Mapping):
            raise TypeError(value)
        return dict(value)

    def refused(self) -> list[Any]:
        return ["a", 3]


@dataclass(frozen=True)
class CampaignTable(Settings):
    """``[campaign]``: its name and the share of the bag that ends it."""

    TABLE: ClassVar[str] = "campaign"
    name: str | None = setting(None, Optional(Text()))
    completion: float = setting(1.0, Number(minimum=0.0, maximum=1.0, above=True))


@dataclass(frozen=True)
class JobSpec(Settings):
    """The job: a ``module:function``, settings passed to it, and how it is isolated.

    ``isolation = "subprocess"`` (default) runs each job in a subprocess of its worker,
    as HOOMD jobs need; ``"inline"`` runs it in the worker's thread, for light jobs
    that do not run HOOMD (no SIGTERM checkpointing there). ``settings`` are checked by the
    job function's own settings class when it declares one (``function.settings``).
    """

    TABLE: ClassVar[str] = "job"
    EXAMPLE: ClassVar[dict] = {"function": "lj_fluid:run"}

    function: str = setting(check=_Function())
    settings: Mapping[str, Any] = setting(check=_AnyTable(), default_factory=dict)
    isolation: str = setting("subprocess", Choice(("subprocess", "inline")))


@dataclass(frozen=True)
class Resources(Settings):
    """Workers, threads, retry budget, checkpoint interval, and MPI ranks per job.

    ``ranks > 1`` runs each job as that many MPI ranks, started by ``launcher``: a name
    in `hoomd_mlx.campaign.job.launcher.LAUNCHERS` or a command template (a tuple of
    strings, ``{ranks}`` standing for the rank count). One rank uses no launcher.
    """

    TABLE: ClassVar[str] = "resources"
    workers: int = setting(2, Int(minimum=1))
    threads_per_worker: int = setting(1, Int(minimum=1))
    retries: int = setting(2, Int(minimum=0))
    checkpoint_steps: int = setting(0, Int(minimum=0))
    checkpoint_seconds: float = setting(60.0, Number(minimum=0.0))
    ranks: int = setting(1, Int(minimum=1))
    launcher: str | tuple[str, ...] = setting("mpirun", Launcher())


@dataclass(frozen=True)
class ReportSettings(Settings):
    """``[report]``: the result keys ``campaign report`` shows (`hoomd_mlx.campaign.report.results`)."""

    TABLE: ClassVar[str] = "report"
    results: tuple[str, ...] | None = setting(None, Optional(Texts()))
    bookkeeping: tuple[str, ...] | None = setting(None, Optional(Texts()))
    # the two design parameters of the surrogate's completion map (default: the first two)
    completion_map: tuple[str, ...] | None = setting(None, Optional(Texts(nonempty=True)))

    def as_dict(self) -> dict[str, tuple[str, ...]]:
        """dict: The keys given (as the ledger records them)."""
        given = (
            ("results", self.results),
            ("bookkeeping", self.bookkeeping),
            ("completion_map", self.completion_map),
        )
        return {k: v for k, v in given if v is not None}


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


def _table(raw: Mapping[str, Any], key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{key} = {value!r}; expected a table ([{key}])")
    return dict(value)


def _analyses(items: Any) -> tuple[dict, ...]:
    if isinstance(items, Mapping):
        items = [items]
    if items is not None and not isinstance(items, list | tuple):
        raise ConfigurationError(f"analysis = {items!r}; expected [[analysis]] tables")
    return tuple(analysis_settings(item, f"analysis[{k}]") for k, item in enumerate(items or []))


def job_settings_class(function: Any) -> type[Settings] | None:
    """The settings class a job function declares (``function.settings``), or None."""
    declared = getattr(function, "settings", None)
    if declared is None:
        return None
    if not (isinstance(declared, type) and issubclass(declared, Settings)):
        raise ConfigurationError(
            f"{function.__module__}.{function.__qualname__}.settings = {declared!r}; expected a "
            "hoomd_mlx.settings.Settings subclass (the class that validates [job.settings])"
        )
    return declared


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


def _check_completion_map(spec: CampaignSpec) -> None:
    chosen = spec.report.get("completion_map")
    if chosen is None:
        return
    names = [p.name for p in spec.design.parameters] or sorted({k for p in spec.design.points for k in p})
    if len(chosen) != 2 or len(set(chosen)) != 2 or not set(chosen) <= set(names):
        raise ConfigurationError(
            f"report.completion_map = {list(chosen)}; expected two different design parameters of {names}"
        )


def spec_from_mapping(raw: Mapping[str, Any], source: Path | None = None) -> CampaignSpec:
    """Validate an already-parsed spec: every table, and the job's settings by the job's own class."""
    check_keys(raw, _TOP, "")
    campaign = CampaignTable.from_mapping(_table(raw, "campaign"))
    if "design" not in raw:
        raise ConfigurationError("the spec has no [design] table")
    if "function" not in _table(raw, "job"):
        raise ConfigurationError("job.function is missing; give 'module:function'")
    job = JobSpec.from_mapping(_table(raw, "job"))
    resources = Resources.from_mapping(_table(raw, "resources"))
    if resources.ranks > 1 and job.isolation == "inline":
        raise ConfigurationError(
            f"resources.ranks = {resources.ranks} with job.isolation = 'inline'; an inline job runs in "
            "the worker's thread, which cannot start MPI ranks: use job.isolation = 'subprocess' or ranks = 1"
        )
    spec = CampaignSpec(
        name=campaign.name or (source.stem if source else "campaign"),
        design=DesignSpace.from_mapping(_table(raw, "design")),
        job=job,
        analyses=_analyses(raw.get("analysis")),
        resources=resources,
        completion=campaign.completion,
        cluster=ClusterSettings.from_mapping(_table(raw, "cluster")),
        surrogate=SurrogateSettings.from_mapping(_table(raw, "surrogate")) if "surrogate" in raw else None,
        cloud=CloudSettings.from_mapping(_table(raw, "cloud"), source.parent if source else None)
        if "cloud" in raw
        else None,
        report=ReportSettings.from_mapping(_table(raw, "report")).as_dict(),
        source=source,
    )
    _check_completion_map(spec)
    function = resolve_function(spec.job.function, spec.search_path)  # fail now, not on a worker
    declared = job_settings_class(function)
    if declared is not None:
        declared.from_mapping(spec.job.settings, "job.settings")
    return spec
