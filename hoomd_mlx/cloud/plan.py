"""``hoomd-mlx cloud plan``: machine type, checkpoint intervals, expected cost and makespan of a campaign.

The plan puts the pieces together for a spec's ``[cloud]`` table: the lifetime model, the
cheapest machine type for the job (`servers`), the optimal checkpoint schedule on a fresh VM
and on one in its quiet middle age (`schedule`), Young-Daly's period for comparison, and the
bag simulated on the campaign's VMs under three policies on the same random streams
(`simulate`): on-demand, preemptible with Young-Daly, preemptible with the model's schedule
and VM-age-aware placement. Bags beyond `MAX_SIMULATED_JOBS` are simulated as a scaled-down
bag with the same jobs per VM, and costs scaled up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from hoomd_mlx.cloud.lifetime import VM_DEATH_EVENTS, PreemptionModel, load_model, refit_from_events
from hoomd_mlx.cloud.schedule import CheckpointTable, young_daly_interval
from hoomd_mlx.cloud.servers import MachineType, Scaling, ServerOption, load_prices, server_options
from hoomd_mlx.cloud.settings import CloudSettings
from hoomd_mlx.cloud.simulate import Bag, ModelPolicy, OnDemand, Periodic, compare_policies

__all__ = [
    "MAX_SIMULATED_JOBS",
    "ModelCheckpoints",
    "checkpoint_intervals",
    "choose_server",
    "format_plan",
    "plan_campaign",
]

MAX_SIMULATED_JOBS = 2000
"""int: Largest bag simulated as is (larger ones are scaled down, keeping jobs per VM)."""

MIDDLE_AGE = 6.0
"""float: A VM age [h] in the bathtub's quiet middle, for the second schedule shown."""


def choose_server(
    settings: CloudSettings, model: PreemptionModel, machines: Sequence[MachineType] | None = None
) -> tuple[ServerOption, list[ServerOption], list[ServerOption]]:
    """The machine type for the campaign's jobs, and the preemptible and on-demand options ranked.

    Returns:
        tuple: (chosen option, preemptible options, on-demand options), cheapest first.
    """
    machines = list(machines) if machines is not None else load_prices(settings.prices or None)
    checkpoint, restore, boot = settings.costs_hours
    scaling = Scaling(
        settings.job_hours, settings.reference_cores, settings.serial_fraction, settings.runtime_hours
    )
    common = {
        "region": settings.region or None,
        "names": settings.machine_types,
        "memory_gb": settings.memory_gb,
        "checkpoint_cost": checkpoint,
        "restart_cost": boot + restore,
    }
    preemptible = server_options(machines, scaling, model, preemptible=True, **common)
    on_demand = server_options(machines, scaling, model, preemptible=False, **common)
    return (preemptible[0] if settings.preemptible else on_demand[0]), preemptible, on_demand


def checkpoint_intervals(
    settings: CloudSettings,
    model: PreemptionModel,
    *,
    seconds_per_hour: float = 3600.0,
    machines: Sequence[MachineType] | None = None,
) -> tuple[float, ...]:
    """The job's checkpoint intervals [s] from the model: the optimal schedule on a fresh VM.

    The intervals are the work between successive checkpoints; the last one repeats if the job
    runs longer than planned. A resumed attempt starts the schedule again (it is planned for a
    fresh VM, which is what a preempted job usually gets; on an older VM it checkpoints a
    little more often than needed). ``seconds_per_hour`` maps model hours to wall seconds (a
    preemption drill compresses time).
    """
    chosen, _, _ = choose_server(settings, model, machines)
    checkpoint, restore, boot = settings.costs_hours
    table = CheckpointTable(model, chosen.runtime, checkpoint_cost=checkpoint, restart_cost=boot + restore)
    plan = table.schedule(chosen.runtime, 0.0)
    return tuple(x * seconds_per_hour for x in plan.segments)


class ModelCheckpoints:
    """Checkpoint intervals for a campaign's jobs from the lifetime model, refitted as VMs die.

    The campaign asks `intervals` for each job it submits. Every ``refresh`` seconds at most,
    the VM lifetimes in the campaign's ledger (``vm-*`` events) are used to refit the model
    (`refit_from_events`: the prior is kept until enough deaths are recorded) and the
    schedule is recomputed.

    Args:
        settings: The ``[cloud]`` table.
        seconds_per_hour: Wall seconds per model hour.
        refresh: Seconds between looks at the ledger.
    """

    def __init__(
        self, settings: CloudSettings, seconds_per_hour: float = 3600.0, refresh: float = 60.0
    ) -> None:
        self.settings = settings
        self.seconds_per_hour = seconds_per_hour
        self.refresh = refresh
        self.model = load_model(settings.model)
        self._intervals: tuple[float, ...] = ()
        self._checked = -math.inf
        self._deaths = 0

    def intervals(self, ledger: Any = None) -> tuple[float, ...]:
        """tuple[float, ...]: The current schedule [s] (``ledger``: a campaign `Ledger` to refit from)."""
        now = time.monotonic()
        if ledger is not None and now - self._checked >= self.refresh:
            self._checked = now
            events = [e for e in ledger.events() if e["kind"].startswith("vm-")]
            deaths = sum(e["kind"] in VM_DEATH_EVENTS for e in events)
            if deaths > self._deaths:
                self._deaths = deaths
                refitted = refit_from_events(events, self.model)
                if refitted is not self.model:
                    self.model = refitted
                    self._intervals = ()
        if not self._intervals:
            self._intervals = checkpoint_intervals(
                self.settings, self.model, seconds_per_hour=self.seconds_per_hour
            )
        return self._intervals


def _option(option: ServerOption) -> dict:
    return {
        "machine": option.machine.name,
        "vcpus": option.machine.vcpus,
        "region": option.machine.region,
        "preemptible": option.preemptible,
        "price_per_hour": option.price,
        "runtime_hours": option.runtime,
        "expected_hours": option.expected_time,
        "expected_cost": option.cost,
    }


def plan_campaign(
    settings: CloudSettings,
    jobs: int,
    *,
    vms: int,
    seeds: int = 20,
    model: PreemptionModel | None = None,
    machines: Sequence[MachineType] | None = None,
    progress: bool = False,
) -> dict:
    """The plan of a campaign of ``jobs`` jobs on ``vms`` VMs (see the module docs).

    Returns:
        dict: JSON-able: the model, the chosen machine and the alternatives, the schedules,
        Young-Daly's period and the simulated cost and makespan per policy (mean and 95% CI).
    """
    model = model or load_model(settings.model)
    machines = list(machines) if machines is not None else load_prices(settings.prices or None)
    chosen, preemptible, on_demand = choose_server(settings, model, machines)
    checkpoint, restore, boot = settings.costs_hours
    runtime = chosen.runtime
    table = CheckpointTable(model, runtime, checkpoint_cost=checkpoint, restart_cost=boot + restore)
    scale = max(1.0, jobs / MAX_SIMULATED_JOBS)
    n_jobs = max(1, round(jobs / scale))
    n_vms = max(1, round(vms / scale))
    bag = Bag(
        jobs=n_jobs,
        work_low=runtime,
        work_high=runtime,
        vms=n_vms,
        checkpoint_cost=checkpoint,
        restore_cost=restore,
        boot=boot,
    )
    young_daly = young_daly_interval(checkpoint, model.mean) if checkpoint > 0 else None
    machine = chosen.machine
    policies = [OnDemand(), Periodic(young_daly, "young-daly"), ModelPolicy(table)]
    prices = {"on-demand": machine.on_demand, "young-daly": machine.preemptible, "model": machine.preemptible}
    summary = compare_policies(bag, model, policies, prices, seeds=range(seeds), progress=progress)
    simulated = {}
    for name, result in summary.items():
        simulated[name] = {
            "cost": {k: v * scale for k, v in result["cost"].items()},
            "makespan_hours": result["makespan"],
            "overhead": result["overhead"],
            "cost_ratio": result["cost_ratio"],
            "preemptions": {k: v * scale for k, v in result["preemptions"].items()},
        }
    schedules = {}
    for key, label, age in (
        ("fresh_vm", "a fresh VM", 0.0),
        ("middle_aged_vm", f"a VM aged {MIDDLE_AGE:g} h", MIDDLE_AGE),
    ):
        plan = table.schedule(runtime, age)
        schedules[key] = {
            "label": label,
            "age_hours": age,
            "segments_hours": list(plan.segments),
            "checkpoints_at_hours": [float(x) for x in plan.checkpoints],
            "expected_hours": plan.expected_time,
            "replace": plan.replace,
        }
    return {
        "jobs": jobs,
        "vms": vms,
        "model": {**model.to_dict(), "end_hours": model.end, "atom": model.atom, "mttf_hours": model.mean},
        "costs_seconds": {
            "checkpoint": settings.checkpoint_cost,
            "restore": settings.restore_cost,
            "boot": settings.boot,
        },
        "machine": _option(chosen),
        "alternatives": [_option(o) for o in (preemptible[:5] if settings.preemptible else on_demand[:5])],
        "cheapest_on_demand": _option(on_demand[0]),
        "schedule": schedules,
        "young_daly_interval_hours": young_daly,
        "simulated": simulated,
        "simulated_bag": {**asdict(bag), "seeds": seeds, "scaled_by": scale},
    }


def _pm(stat: dict, digits: int = 2) -> str:
    half = stat["ci"]
    return (
        f"{stat['mean']:.{digits}f} ± {half:.{digits}f}"
        if math.isfinite(half)
        else f"{stat['mean']:.{digits}f}"
    )


def format_plan(plan: dict) -> str:
    """str: The plan as text for the terminal."""
    m, model = plan["machine"], plan["model"]
    params = ", ".join(f"{k} = {v:.3g}" for k, v in model["params"].items())
    lines = [
        f"lifetime model: {model['family']} ({params}); VMs gone by {model['end_hours']:.2f} h "
        f"(atom {model['atom']:.3f}), MTTF {model['mttf_hours']:.2f} h",
        f"machine type: {m['machine']} ({m['vcpus']} vCPUs, {m['region']}, "
        f"{'preemptible' if m['preemptible'] else 'on-demand'} ${m['price_per_hour']:.4f}/h): "
        f"a job runs {m['runtime_hours']:.2f} h, expected {m['expected_hours']:.2f} h with preemptions, "
        f"${m['expected_cost']:.4f} per job",
        "alternatives: "
        + "; ".join(f"{o['machine']} ${o['expected_cost']:.4f}" for o in plan["alternatives"][1:4]),
    ]
    for sched in plan["schedule"].values():
        if sched["replace"]:
            lines.append(f"checkpoints on {sched['label']}: start on a fresh VM instead")
            continue
        at = ", ".join(f"{x:.2f}" for x in sched["checkpoints_at_hours"]) or "none"
        lines.append(
            f"checkpoints on {sched['label']} at work [h]: {at} (expected {sched['expected_hours']:.2f} h)"
        )
    if plan["young_daly_interval_hours"] is not None:
        lines.append(f"Young-Daly would checkpoint every {plan['young_daly_interval_hours']:.2f} h")
    bag = plan["simulated_bag"]
    lines.append(
        f"campaign: {plan['jobs']} jobs on {plan['vms']} VMs "
        f"({bag['seeds']} simulated bags; mean ± 95% CI{', scaled' if bag['scaled_by'] > 1 else ''}):"
    )
    for name, sim in plan["simulated"].items():
        lines.append(
            f"  {name:<11} cost ${_pm(sim['cost'])}  makespan {_pm(sim['makespan_hours'])} h  "
            f"overhead {100 * sim['overhead']['mean']:.1f}%  cost/on-demand {_pm(sim['cost_ratio'], 3)}"
        )
    return "\n".join(lines)
