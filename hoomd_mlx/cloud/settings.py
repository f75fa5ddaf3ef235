"""The ``[cloud]`` table of a campaign spec: job length, scaling, machines and checkpoint costs.

Example::

    [cloud]
    job_hours = 16.0              # one job's runtime on reference_cores vCPUs [h]
    reference_cores = 1
    serial_fraction = 0.05        # Amdahl; or measured runtimes:
    # runtime_hours = { 1 = 16.0, 2 = 8.5, 4 = 4.6 }
    region = "us-central1"
    machine_types = []            # candidates (empty: every type in the price table)
    memory_gb = 0                 # least memory a job needs
    vms = 0                       # VMs of the campaign (0: resources.workers)
    preemptible = true
    model = "scispot"             # lifetime model: scispot | exponential | weibull | path.json
    checkpoint = "model"          # "model": the job's checkpoint intervals come from the model
                                  # "spec": resources.checkpoint_steps / checkpoint_seconds
    checkpoint_cost = 60          # writing one checkpoint [s]
    restore_cost = 30             # reading it back [s]
    boot = 90                     # a VM from request to running a job [s]
    prices = ""                   # price table (default: SciSpot's machine-rate.txt)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Converter, Flag, Int, Number, Settings, Text, Texts, setting

__all__ = ["CloudSettings"]

CHECKPOINT_SOURCES = ("spec", "model")


class _Runtimes(Converter):
    """``{ vCPUs = hours, ... }``: measured runtimes, each > 0."""

    expects = "{ vCPUs = hours, ... } with whole vCPU counts and hours > 0"

    def convert(self, value: Any) -> dict[int, float]:
        if not isinstance(value, Mapping):
            raise TypeError(value)
        out = {}
        for cores, hours in value.items():
            out[Int(minimum=1).convert(int(cores))] = Number(minimum=0.0, above=True).convert(hours)
        return out

    def refused(self) -> list[Any]:
        return [16.0, {"one": 2.0}, {"1": -1.0}]


@dataclass(frozen=True)
class CloudSettings(Settings):
    """The validated ``[cloud]`` table (times in seconds where named ``*_cost`` or ``boot``)."""

    TABLE: ClassVar[str] = "cloud"
    EXAMPLE: ClassVar[dict] = {"job_hours": 1.0}

    job_hours: float = setting(0.0, Number(minimum=0.0, above=True))
    reference_cores: int = setting(1, Int(minimum=1))
    serial_fraction: float = setting(0.05, Number(minimum=0.0, maximum=1.0))
    runtime_hours: Mapping[int, float] = setting(check=_Runtimes(), default_factory=dict)
    region: str = setting("us-central1", Text())
    machine_types: tuple[str, ...] = setting((), Texts())
    memory_gb: float = setting(0.0, Number(minimum=0.0))
    vms: int = setting(0, Int(minimum=0))
    preemptible: bool = setting(True, Flag())
    model: str = setting("scispot", Text())
    checkpoint: str = setting("spec", Choice(CHECKPOINT_SOURCES))
    checkpoint_cost: float = setting(60.0, Number(minimum=0.0))
    restore_cost: float = setting(30.0, Number(minimum=0.0))
    boot: float = setting(90.0, Number(minimum=0.0))
    prices: str = setting("", Text(empty=True))

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], base: Path | None = None, where: str | None = None
    ) -> CloudSettings:
        """Validate, naming the key at fault; relative paths are taken from ``base`` (the spec's folder)."""
        if isinstance(table, Mapping) and "job_hours" not in table and "runtime_hours" not in table:
            raise ConfigurationError(
                "cloud.job_hours is missing: give one job's runtime [h] on reference_cores vCPUs "
                "(or cloud.runtime_hours = { 1 = ..., 4 = ... })"
            )
        settings = super().from_mapping(table, where)
        changes: dict[str, Any] = {}
        if "job_hours" not in table:
            changes["job_hours"] = max(settings.runtime_hours.values())
        for name in ("model", "prices"):
            value = getattr(settings, name)
            if base is not None and value and (value.endswith(".json") or name == "prices"):
                path = Path(value)
                changes[name] = str(path if path.is_absolute() else (base / path).resolve())
        if changes:
            settings = replace(settings, **changes)
        return settings

    def check(self, where: str) -> None:
        """A model-made checkpoint interval needs the cost of a checkpoint."""
        if self.checkpoint == "model" and self.checkpoint_cost <= 0:
            raise ConfigurationError(f"{where}.checkpoint = 'model' needs {where}.checkpoint_cost > 0 [s]")

    @property
    def costs_hours(self) -> tuple[float, float, float]:
        """tuple[float, float, float]: Checkpoint, restore and boot times [h]."""
        return self.checkpoint_cost / 3600, self.restore_cost / 3600, self.boot / 3600
