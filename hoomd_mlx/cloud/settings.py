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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hoomd_mlx.errors import ConfigurationError, check_keys

__all__ = ["CloudSettings"]

CHECKPOINT_SOURCES = ("spec", "model")


def _coerce(name: str, value: Any, kind: str) -> Any:
    expected = {"float": (int, float), "int": (int,), "str": (str,), "bool": (bool,)}[kind]
    if (isinstance(value, bool) and kind != "bool") or not isinstance(value, expected):
        raise ConfigurationError(f"cloud.{name} = {value!r}; expected a {kind}")
    return float(value) if kind == "float" else value


@dataclass(frozen=True)
class CloudSettings:
    """The validated ``[cloud]`` table (times in seconds where named ``*_cost`` or ``boot``)."""

    job_hours: float
    reference_cores: int = 1
    serial_fraction: float = 0.05
    runtime_hours: Mapping[int, float] = field(default_factory=dict)
    region: str = "us-central1"
    machine_types: tuple[str, ...] = ()
    memory_gb: float = 0.0
    vms: int = 0
    preemptible: bool = True
    model: str = "scispot"
    checkpoint: str = "spec"
    checkpoint_cost: float = 60.0
    restore_cost: float = 30.0
    boot: float = 90.0
    prices: str = ""

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], base: Path | None = None) -> CloudSettings:
        """Validate, naming the key at fault; relative paths are taken from ``base`` (the spec's folder)."""
        known = {f.name for f in fields(cls)}
        check_keys(table, known, "cloud.")
        if "job_hours" not in table and "runtime_hours" not in table:
            raise ConfigurationError(
                "cloud.job_hours is missing: give one job's runtime [h] on reference_cores vCPUs "
                "(or cloud.runtime_hours = { 1 = ..., 4 = ... })"
            )
        data = dict(table)
        try:
            measured = {int(k): float(v) for k, v in dict(data.get("runtime_hours", {})).items()}
        except (TypeError, ValueError) as err:
            raise ConfigurationError(
                f"cloud.runtime_hours = {data['runtime_hours']!r}; expected {{ vCPUs = hours, ... }}"
            ) from err
        data["runtime_hours"] = measured
        data.setdefault("job_hours", max(measured.values()) if measured else 0.0)
        data["machine_types"] = tuple(str(m) for m in data.get("machine_types", ()))
        for f in fields(cls):
            if f.name in data and f.type in ("float", "int", "str", "bool"):
                data[f.name] = _coerce(f.name, data[f.name], f.type)
        for name in ("model", "prices"):
            value = str(data.get(name, ""))
            if base is not None and value and (value.endswith(".json") or name == "prices"):
                path = Path(value)
                data[name] = str(path if path.is_absolute() else (base / path).resolve())
        settings = cls(**data)
        settings._check()
        return settings

    def _check(self) -> None:
        if not self.job_hours > 0 or any(v <= 0 for v in self.runtime_hours.values()):
            raise ConfigurationError(f"cloud.job_hours = {self.job_hours}; a job's runtime must be > 0 [h]")
        if self.reference_cores < 1 or self.vms < 0:
            raise ConfigurationError("cloud.reference_cores must be >= 1 and cloud.vms >= 0")
        if not 0 <= self.serial_fraction <= 1:
            raise ConfigurationError(f"cloud.serial_fraction = {self.serial_fraction}; expected a fraction")
        if self.checkpoint not in CHECKPOINT_SOURCES:
            raise ConfigurationError(
                f"cloud.checkpoint = {self.checkpoint!r}; expected one of {CHECKPOINT_SOURCES}"
            )
        for name in ("checkpoint_cost", "restore_cost", "boot", "memory_gb"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"cloud.{name} must be >= 0")
        if self.checkpoint == "model" and self.checkpoint_cost <= 0:
            raise ConfigurationError("cloud.checkpoint = 'model' needs cloud.checkpoint_cost > 0 [s]")

    @property
    def costs_hours(self) -> tuple[float, float, float]:
        """tuple[float, float, float]: Checkpoint, restore and boot times [h]."""
        return self.checkpoint_cost / 3600, self.restore_cost / 3600, self.boot / 3600
