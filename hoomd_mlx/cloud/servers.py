"""Server choice: the expected cost of a job on each machine type, on-demand or preemptible.

A job's runtime on ``n`` vCPUs comes from Amdahl's law, ``T(n) = T_ref (f + (1 - f) n_ref / n)``
with serial fraction ``f``, or from measured runtimes per vCPU count. On a
preemptible VM its expected wall time includes checkpoints, recomputation and restarts under
the lifetime model (optimal schedule, fresh VM: `CheckpointTable.expected_time`); on an
on-demand VM it is the runtime. Expected cost = hourly price x expected wall time.

Prices are SciSpot's 2019 table (``machine-rate.txt``: machine type, vCPUs, memory, on-demand
and preemptible USD per hour, region).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.cloud.schedule import CheckpointTable
from hoomd_mlx.errors import ConfigurationError

__all__ = ["MachineType", "Scaling", "ServerOption", "load_prices", "server_options"]


@dataclass(frozen=True)
class MachineType:
    """One row of the price table (prices in USD per hour)."""

    name: str
    vcpus: int
    memory_gb: float
    on_demand: float
    preemptible: float
    region: str

    def price(self, preemptible: bool) -> float:
        """float: USD per hour, preemptible or on-demand."""
        return self.preemptible if preemptible else self.on_demand


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text))


def load_prices(path: str | Path | None = None) -> list[MachineType]:
    """Read a price table like SciSpot's ``machine-rate.txt`` (tab-separated, a header line).

    Raises:
        ConfigurationError: The file is missing or a row does not parse (naming the line).
    """
    from hoomd_mlx.cloud.data import PRICES, find_scispot_file

    try:
        path = Path(path) if path else find_scispot_file(PRICES)
        lines = path.read_text().splitlines()
    except FileNotFoundError as err:
        raise ConfigurationError(f"price table not found ({err}); set [cloud] prices = 'path'") from err
    machines = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        try:
            name, vcpus, memory, on_demand, preemptible, region = (c.strip() for c in cells[:6])
            machines.append(
                MachineType(
                    name, int(vcpus), _number(memory), _number(on_demand), _number(preemptible), region
                )
            )
        except ValueError as err:
            raise ConfigurationError(
                f"{path}:{number}: expected six tab-separated columns (machine type, vCPUs, memory, "
                f"$on-demand, $preemptible, region), got {line!r}"
            ) from err
    return machines


@dataclass(frozen=True)
class ServerOption:
    """One machine type for a job: its runtime, expected wall time and cost."""

    machine: MachineType
    preemptible: bool
    runtime: float
    expected_time: float
    cost: float

    @property
    def price(self) -> float:
        """float: USD per hour."""
        return self.machine.price(self.preemptible)


@dataclass(frozen=True)
class Scaling:
    """How a job's runtime scales with vCPUs.

    Args:
        job_hours: Runtime on ``reference_cores`` vCPUs [h].
        reference_cores: vCPUs of that measurement.
        serial_fraction: Amdahl's serial fraction ``f``.
        measured: Runtimes [h] by vCPU count; when given, only those counts are candidates.
    """

    job_hours: float
    reference_cores: int = 1
    serial_fraction: float = 0.05
    measured: Mapping[int, float] = field(default_factory=dict)

    def runtime(self, cores: int) -> float | None:
        """Runtime on ``cores`` vCPUs [h]; None when not measured (table mode)."""
        if self.measured:
            return self.measured.get(int(cores))
        f, n_ref = self.serial_fraction, self.reference_cores
        return self.job_hours * (f + (1 - f) * n_ref / cores)


def server_options(
    machines: Sequence[MachineType],
    scaling: Scaling,
    model: PreemptionModel,
    *,
    checkpoint_cost: float,
    restart_cost: float,
    preemptible: bool = True,
    region: str | None = None,
    names: Sequence[str] = (),
    memory_gb: float = 0.0,
) -> list[ServerOption]:
    """Every eligible machine type for the job, cheapest expected cost first.

    Args:
        machines: The price table.
        scaling: The job's runtime per vCPU count.
        model: VM lifetimes (for preemptible VMs).
        checkpoint_cost: ``c`` [h].
        restart_cost: ``r`` [h].
        preemptible: Price preemptible VMs (with the model's overheads) or on-demand ones.
        region: Only this region (None: all).
        names: Only these machine types (empty: all).
        memory_gb: Only machines with at least this much memory.

    Raises:
        ConfigurationError: No machine type is eligible (naming the filters).
    """
    eligible = [
        m
        for m in machines
        if (region is None or m.region == region)
        and (not names or m.name in names)
        and m.memory_gb >= memory_gb
        and scaling.runtime(m.vcpus) is not None
    ]
    if not eligible:
        raise ConfigurationError(
            f"no machine type matches region={region!r}, machine_types={list(names)}, memory_gb>={memory_gb}"
            + (f" and the measured vCPU counts {sorted(scaling.measured)}" if scaling.measured else "")
        )
    runtimes = {m.vcpus: scaling.runtime(m.vcpus) for m in eligible}
    table = None
    if preemptible:
        table = CheckpointTable(
            model, max(runtimes.values()), checkpoint_cost=checkpoint_cost, restart_cost=restart_cost
        )
    options = []
    for m in eligible:
        runtime = runtimes[m.vcpus]
        expected = table.expected_time(runtime, 0.0) if table is not None else runtime
        if not math.isfinite(expected):
            continue
        options.append(ServerOption(m, preemptible, runtime, expected, m.price(preemptible) * expected))
    return sorted(options, key=lambda o: (o.cost, o.runtime))
