"""A discrete-event simulator of a bag of jobs on a cluster of (preemptible) VMs.

``vms`` VM slots run the bag; each VM runs one job at a time. A VM is billed from the
moment it is requested (it boots for ``boot`` hours) until it dies or is released; it is
released when no job is waiting. A preempted VM loses the running segment (the work since
the job's last checkpoint, and a checkpoint being written); the job goes back to the queue
and its slot requests a replacement. A job resuming from a checkpoint on another VM first
reads it back (``restore`` hours). Jobs are taken longest-remaining first.

Policies decide two things: how much work to run before the next checkpoint (`segment`),
and which waiting job a free VM of a given age takes -- or whether to drop the VM for a
fresh one (`choose`). Three are provided: `OnDemand` (no preemptions, no checkpoints),
`Periodic` (e.g. Young-Daly's period) and `ModelPolicy` (the optimal age-dependent schedule
of a `CheckpointTable`, and VM-age-aware placement).

Random streams: slot ``k``'s VMs draw their lifetimes, in order, from
``numpy.random.default_rng([seed, k])``, and the bag's job lengths come from their own
stream, so every policy sees the same VMs and jobs for a seed (common random numbers);
differences between policies are then measured per seed, with small confidence intervals.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.cloud.schedule import CheckpointTable
from hoomd_mlx.errors import ConfigurationError

__all__ = [
    "Bag",
    "BagRun",
    "ModelPolicy",
    "OnDemand",
    "Periodic",
    "Policy",
    "compare_policies",
    "confidence_interval",
    "simulate_bag",
]


class Policy(Protocol):
    """What the simulator asks a policy (times in [h])."""

    name: str
    preemptible: bool

    def segment(self, remaining: float, age: float) -> float | None:
        """Work to run before the next checkpoint (``>= remaining``: finish); None: replace the VM."""

    def choose(self, remaining: Sequence[float], age: float) -> int | None:
        """Index of the waiting job (longest first) a VM aged ``age`` takes; None: replace the VM."""


class OnDemand:
    """On-demand VMs: never preempted, so no checkpoints."""

    name = "on-demand"
    preemptible = False

    def segment(self, remaining: float, age: float) -> float | None:
        """float: All of it."""
        return remaining

    def choose(self, remaining: Sequence[float], age: float) -> int | None:
        """int: The longest waiting job."""
        return 0


class Periodic:
    """Preemptible VMs, a checkpoint every ``interval`` hours of work (Young-Daly's period, say).

    Args:
        interval: Work between checkpoints [h] (None: never checkpoint).
        name: Label in results.
    """

    preemptible = True

    def __init__(self, interval: float | None, name: str = "periodic") -> None:
        self.interval = interval
        self.name = name

    def segment(self, remaining: float, age: float) -> float | None:
        """float: The period, or the rest of the job."""
        return remaining if self.interval is None else min(self.interval, remaining)

    def choose(self, remaining: Sequence[float], age: float) -> int | None:
        """int: The longest waiting job, whatever the VM's age."""
        return 0


class ModelPolicy:
    """Preemptible VMs with the model's optimal schedule and VM-age-aware placement.

    A free VM takes the longest waiting job that the policy would run on a VM of its age; if
    none, the VM is dropped for a fresh one (near its 24 h end, say). Between segments the
    schedule may also move the job to a fresh VM.

    Args:
        table: The optimal policy (covering the longest job).
        age_aware: Whether placement looks at the VM's age (False: longest job first, and the
            schedule alone decides).
        name: Label in results.
    """

    preemptible = True

    def __init__(self, table: CheckpointTable, age_aware: bool = True, name: str = "model") -> None:
        self.table = table
        self.age_aware = age_aware
        self.name = name

    def segment(self, remaining: float, age: float) -> float | None:
        """The table's next segment at this remaining work and VM age (None: replace the VM)."""
        return self.table.segment(remaining, age)

    def choose(self, remaining: Sequence[float], age: float) -> int | None:
        """The longest job the policy keeps on this VM; None: replace the VM."""
        if not self.age_aware:
            return 0
        for i, work in enumerate(remaining):
            if self.table.segment(work, age) is not None:
                return i
        return None


@dataclass(frozen=True)
class BagRun:
    """The outcome of one simulated bag (times in [h], cost in [USD]).

    Attributes:
        cost: VM-hours times the price.
        makespan: When the last job finished.
        vm_hours: Billed VM time.
        useful: The bag's work.
        checkpoint: Time writing checkpoints that completed.
        lost: Time in segments cut by a preemption (work to redo, partial checkpoints, restores).
        restore: Time reading checkpoints back.
        preemptions: VMs that died under a job.
        replacements: VMs dropped by the policy for fresh ones.
        checkpoints: Checkpoints written.
    """

    cost: float
    makespan: float
    vm_hours: float
    useful: float
    checkpoint: float
    lost: float
    restore: float
    preemptions: int
    replacements: int
    checkpoints: int

    @property
    def overhead(self) -> float:
        """float: (checkpoint + lost) / useful: the checkpoint and recompute overhead."""
        return (self.checkpoint + self.lost) / self.useful

    @property
    def waste(self) -> float:
        """float: (billed - useful) / useful: every hour paid for that did no new work."""
        return (self.vm_hours - self.useful) / self.useful


def simulate_bag(
    work: Sequence[float],
    policy: Policy,
    model: PreemptionModel,
    *,
    vms: int,
    price: float,
    checkpoint_cost: float,
    restore_cost: float,
    boot: float,
    seed: int,
) -> BagRun:
    """Run a bag of jobs on ``vms`` VM slots under ``policy`` (see the module docs).

    Args:
        work: Each job's computation [h].
        policy: `OnDemand`, `Periodic`, `ModelPolicy` or anything with their methods.
        model: VM lifetimes (ignored for on-demand policies).
        vms: VM slots.
        price: USD per VM-hour.
        checkpoint_cost: Time to write a checkpoint [h].
        restore_cost: Time to read one back on another VM [h].
        boot: Time from requesting a VM to it running a job [h].
        seed: Selects the VM lifetime streams.

    Returns:
        BagRun: Cost, makespan and where the time went.
    """
    remaining = np.asarray(work, dtype=float).copy()
    if vms < 1 or len(remaining) == 0 or np.any(remaining <= 0):
        raise ConfigurationError("a bag needs >= 1 VM and jobs of positive length")
    streams = [np.random.default_rng([seed, k]) for k in range(vms)]
    # waiting jobs, longest remaining work first (a job's remaining work changes only while it runs)
    queue = sorted(range(len(remaining)), key=lambda j: -remaining[j])

    def requeue(job: int, front: bool = False) -> None:  # ``front``: ahead of equally long jobs
        (bisect.insort_left if front else bisect.insort_right)(queue, job, key=lambda j: -remaining[j])

    birth = np.zeros(vms)
    death = np.full(vms, math.inf)
    requested = np.zeros(vms)
    heap: list = []
    order = itertools.count()
    totals = dict.fromkeys(("vm_hours", "checkpoint", "lost", "restore", "makespan"), 0.0)
    counts = dict.fromkeys(("preemptions", "replacements", "checkpoints"), 0)

    def request(k: int, t: float) -> None:
        requested[k] = t
        heapq.heappush(heap, (t + boot, next(order), "ready", k, None))

    def release(k: int, t: float) -> None:
        totals["vm_hours"] += t - requested[k]

    def replace(k: int, t: float) -> None:
        counts["replacements"] += 1
        release(k, t)
        request(k, t)

    def start(k: int, job: int, t: float, restore: float = 0.0) -> None:
        """Run ``job``'s next segment on VM ``k`` (``restore``: reading its checkpoint first)."""
        x = policy.segment(float(remaining[job]), t - birth[k])
        if x is None:
            requeue(job, front=True)
            replace(k, t)
            return
        final = x >= remaining[job] - 1e-12
        done = min(x, float(remaining[job]))
        duration = restore + done + (0.0 if final else checkpoint_cost)
        if t + duration <= death[k]:
            heapq.heappush(heap, (t + duration, next(order), "end", k, (job, done, final, restore)))
        else:
            heapq.heappush(heap, (death[k], next(order), "death", k, (job, t)))

    def assign(k: int, t: float) -> None:
        if not queue:
            release(k, t)
            return
        pick = policy.choose(remaining[queue], t - birth[k])
        if pick is None:
            replace(k, t)
            return
        job = queue.pop(pick)
        start(k, job, t, restore_cost if remaining[job] < work[job] else 0.0)

    for k in range(min(vms, len(remaining))):
        request(k, 0.0)
    while heap:
        t, _, kind, k, payload = heapq.heappop(heap)
        if kind == "ready":
            birth[k] = t
            death[k] = t + float(model.ppf(streams[k].random())) if policy.preemptible else math.inf
            assign(k, t)
        elif kind == "end":
            job, done, final, restore = payload
            remaining[job] -= done
            totals["restore"] += restore
            if final:
                remaining[job] = 0.0
                totals["makespan"] = t
                assign(k, t)
            else:
                totals["checkpoint"] += checkpoint_cost
                counts["checkpoints"] += 1
                start(k, job, t)
        else:  # the VM died under a job
            job, began = payload
            totals["lost"] += t - began
            counts["preemptions"] += 1
            requeue(job)
            release(k, t)
            request(k, t)
    if np.any(remaining > 1e-9):
        raise RuntimeError("simulation ended with unfinished jobs")  # a bug, not a user error
    return BagRun(
        cost=totals["vm_hours"] * price,
        makespan=totals["makespan"],
        vm_hours=totals["vm_hours"],
        useful=float(np.sum(work)),
        checkpoint=totals["checkpoint"],
        lost=totals["lost"],
        restore=totals["restore"],
        **counts,
    )


@dataclass(frozen=True)
class Bag:
    """A bag of jobs and its VM cluster (times in [h]).

    Job lengths are uniform in ``[work_low, work_high]``, drawn per seed from their own stream.
    The defaults describe a SciSpot-like campaign: 64 MD jobs of 2-6 h each on 16 VMs, a
    checkpoint written in 1 min, read back in 30 s, VMs booting in 90 s.
    """

    jobs: int = 64
    work_low: float = 2.0
    work_high: float = 6.0
    vms: int = 16
    checkpoint_cost: float = 1.0 / 60
    restore_cost: float = 0.5 / 60
    boot: float = 1.5 / 60

    def work(self, seed: int) -> np.ndarray:
        """np.ndarray: (jobs,) job lengths [h] of the bag for ``seed``."""
        rng = np.random.default_rng([seed, 1_000_003])
        return rng.uniform(self.work_low, self.work_high, self.jobs)

    @property
    def restart_cost(self) -> float:
        """float: Boot plus restore [h]: the ``r`` of the checkpoint models."""
        return self.boot + self.restore_cost


def confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """tuple[float, float]: Mean and the half-width of its Student-t confidence interval."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), math.inf
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * stats.sem(x)
    return float(x.mean()), float(half)


def compare_policies(
    bag: Bag,
    model: PreemptionModel,
    policies: Sequence[Policy],
    prices: Mapping[str, float],
    *,
    seeds: Sequence[int] = range(20),
    baseline: str = "on-demand",
    progress: bool = False,
) -> dict:
    """Simulate every policy on the same streams for each seed; summarise with confidence intervals.

    Args:
        bag: The workload and costs.
        model: VM lifetimes.
        policies: The policies (names unique; one named ``baseline`` for cost ratios).
        prices: USD per VM-hour by policy name.
        seeds: One simulated bag per seed.
        baseline: The policy the cost ratios divide by.
        progress: Show a progress bar.

    Returns:
        dict: ``{name: {metric: {"mean", "ci"}}}`` for cost, makespan, overhead, waste,
        preemptions, replacements and checkpoints, plus ``cost_ratio`` (per-seed cost over the
        baseline's) and ``runs`` (per-seed `BagRun` dicts).
    """
    from tqdm import tqdm

    names = [p.name for p in policies]
    if len(set(names)) != len(names) or baseline not in names:
        raise ConfigurationError(f"policy names must be unique and include {baseline!r}; got {names}")
    runs: dict[str, list[BagRun]] = {name: [] for name in names}
    for seed in tqdm(list(seeds), desc="bag simulations", unit="seed", disable=not progress):
        work = bag.work(seed)
        for policy in policies:
            runs[policy.name].append(
                simulate_bag(
                    work,
                    policy,
                    model,
                    vms=bag.vms,
                    price=prices[policy.name],
                    checkpoint_cost=bag.checkpoint_cost,
                    restore_cost=bag.restore_cost,
                    boot=bag.boot,
                    seed=seed,
                )
            )
    summary: dict = {}
    base_cost = np.array([r.cost for r in runs[baseline]])
    for name, results in runs.items():
        metrics = {
            "cost": [r.cost for r in results],
            "makespan": [r.makespan for r in results],
            "overhead": [r.overhead for r in results],
            "waste": [r.waste for r in results],
            "preemptions": [r.preemptions for r in results],
            "replacements": [r.replacements for r in results],
            "checkpoints": [r.checkpoints for r in results],
            "cost_ratio": list(np.array([r.cost for r in results]) / base_cost),
        }
        summary[name] = {
            key: dict(zip(("mean", "ci"), confidence_interval(v), strict=True)) for key, v in metrics.items()
        }
        summary[name]["runs"] = [asdict(r) for r in results]
    return summary
