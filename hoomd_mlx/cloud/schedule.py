r"""Expected running times and checkpoint schedules under an age-dependent preemption hazard.

The setting (times in hours): a job needs ``work`` hours of computation and starts on a VM
aged ``age``. A checkpoint costs ``c``; after a preemption the job loses the work since its
last checkpoint, waits ``r`` (a replacement VM boots and the checkpoint is read back) and
continues on a fresh VM (age 0). Without checkpoints it starts over.

For a segment of wall duration :math:`d` started at age :math:`a`, with :math:`S` the survival
function and :math:`L` the lifetime,

.. math::

    p = S(a+d)/S(a), \qquad
    E[(L-a)\,1\{L \le a+d\} \mid L > a] = \Big(\int_a^{a+d} S(u)\,du - d\,S(a+d)\Big)/S(a),

which is all `expected_runtime` (checkpoints at fixed points of the work, e.g. Young-Daly's
period :math:`\sqrt{2 c\,\mathrm{MTTF}}`) and `CheckpointTable` (the optimal schedule) need.

`CheckpointTable` is a dynamic programme on a grid of remaining work :math:`w` and VM age
:math:`a` (``step`` apart). Its value :math:`V(w, a)` is the expected time to finish:

.. math::

    V(w, a) = \min_x \; p\,[d_x + V(w - x, a + d_x)] + E[\text{time to a death in } d_x]
              + (1 - p)\,[r + V(w, 0)], \qquad d_x = x + c\,[x < w],

optionally against replacing the VM at once (:math:`r + V(w, 0)`). :math:`V(w, 0)` appears on
both sides; for each :math:`x` it is the fixed point of a contraction, solved in closed form.
Ages off the grid (when ``c`` is not a multiple of ``step``) are interpolated linearly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.errors import ConfigurationError

__all__ = [
    "CheckpointTable",
    "Schedule",
    "expected_runtime",
    "periodic_segments",
    "reuse_or_replace",
    "young_daly_interval",
]


def young_daly_interval(checkpoint_cost: float, mttf: float) -> float:
    r"""float: Young-Daly's checkpoint period :math:`\sqrt{2 c\,\mathrm{MTTF}}` [h]."""
    if checkpoint_cost <= 0 or mttf <= 0:
        raise ConfigurationError(
            f"Young-Daly needs a positive checkpoint cost and MTTF (got {checkpoint_cost}, {mttf})"
        )
    return math.sqrt(2.0 * checkpoint_cost * mttf)


def periodic_segments(work: float, interval: float | None) -> list[float]:
    """list[float]: ``work`` cut into segments of ``interval`` [h] (the last one shorter); None: one."""
    if interval is None or interval >= work:
        return [float(work)]
    k = math.ceil(work / interval - 1e-9)
    return [float(interval)] * (k - 1) + [float(work - (k - 1) * interval)]


def _terms(model: PreemptionModel, age: np.ndarray, duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Survival probability of a segment and the expected time to a death inside it (per alive VM)."""
    s_age = model.survival(age)
    s_end = model.survival(age + duration)
    inside = model.integrated_survival(age + duration) - model.integrated_survival(age) - duration * s_end
    alive = s_age > 0
    safe = np.where(alive, s_age, 1.0)
    return np.where(alive, s_end / safe, 0.0), np.where(alive, inside / safe, 0.0)


def expected_runtime(
    model: PreemptionModel,
    work: float,
    age: float = 0.0,
    *,
    interval: float | None = None,
    segments: Sequence[float] | None = None,
    checkpoint_cost: float = 0.0,
    restart_cost: float = 0.0,
) -> float:
    """Expected wall time [h] of a job with checkpoints at fixed points of its work (exact).

    Args:
        model: VM lifetimes.
        work: Computation the job needs [h].
        age: Age of the VM it starts on [h].
        interval: Checkpoint every ``interval`` hours of work (None: never); or
        segments: The work between checkpoints [h] (summing to ``work``; no checkpoint after
            the last). After a preemption the job resumes at its last checkpoint on a fresh VM
            and keeps the same checkpoint points.
        checkpoint_cost: ``c`` [h].
        restart_cost: ``r`` [h].

    Returns:
        float: The expectation; ``inf`` when some segment cannot finish even on a fresh VM
        (e.g. no checkpoints and ``work`` beyond the cap).
    """
    parts = list(segments) if segments is not None else periodic_segments(work, interval)
    if segments is not None and not math.isclose(sum(parts), work, rel_tol=1e-9, abs_tol=1e-12):
        raise ConfigurationError(f"segments sum to {sum(parts)} h, not the job's {work} h")
    k = len(parts)
    durations = np.array([x + checkpoint_cost for x in parts[:-1]] + [parts[-1]], dtype=float)
    starts = np.concatenate([[0.0], np.cumsum(durations)])  # wall offsets of the segments (no failure)
    after = np.zeros(k + 1)  # after[j]: expected rest at segment i + 1 on a VM that was fresh at segment j
    initial = 0.0  # the same on the job's first VM
    for i in range(k - 1, -1, -1):
        d = durations[i]
        p0, l0 = _terms(model, np.array(0.0), np.array(d))
        if p0 <= 0:
            return math.inf
        fresh = (p0 * (d + after[i]) + l0 + (1 - p0) * restart_cost) / p0
        restart = restart_cost + fresh
        p, lost = _terms(model, starts[i] - starts[:i], np.full(i, d))
        here = p * (d + after[:i]) + lost + (1 - p) * restart
        p1, l1 = _terms(model, np.array(age + starts[i]), np.array(d))
        initial = float(p1 * (d + initial) + l1 + (1 - p1) * restart)
        after = np.append(here, fresh)
    return float(initial)


@dataclass(frozen=True)
class Schedule:
    """A checkpoint plan for one job on one VM, as followed while the VM lives.

    Attributes:
        work: Computation of the job [h].
        age: Age of the VM at the start [h].
        segments: Work between checkpoints [h]; the job ends after the last (no checkpoint).
        expected_time: Expected wall time to finish, preemptions included [h].
        replace: True when starting on a fresh VM is better than this one.
    """

    work: float
    age: float
    segments: tuple[float, ...]
    expected_time: float
    replace: bool = False

    @property
    def checkpoints(self) -> np.ndarray:
        """np.ndarray: (n,) work done at each checkpoint [h]."""
        return np.cumsum(self.segments[:-1])


class CheckpointTable:
    """The optimal checkpoint policy for every remaining work and VM age (dynamic programming).

    Args:
        model: VM lifetimes.
        max_work: Longest job the table covers [h].
        checkpoint_cost: ``c`` [h].
        restart_cost: ``r`` [h] (replacement VM boot + reading the checkpoint).
        step: Grid spacing of work and age [h] (default: ``max_work / 240``, at least 0.05 h).
        allow_replace: Whether the policy may drop an old VM for a fresh one between segments.
        max_age: Oldest VM age on the grid [h] (default: the model's end, at most 48 h); older
            VMs count as this old (exact for a constant hazard).

    Attributes:
        value (np.ndarray): (n_work + 1, n_age) expected time to finish [h].
        action (np.ndarray): (n_work + 1, n_age) work units to run before the next checkpoint
            (the rest of the job when equal to the row's work; 0: replace the VM).
    """

    def __init__(
        self,
        model: PreemptionModel,
        max_work: float,
        *,
        checkpoint_cost: float,
        restart_cost: float,
        step: float | None = None,
        allow_replace: bool = True,
        max_age: float | None = None,
    ) -> None:
        if max_work <= 0 or checkpoint_cost < 0 or restart_cost < 0:
            raise ConfigurationError(
                f"max_work must be > 0 and costs >= 0 [h] (got {max_work}, {checkpoint_cost}, {restart_cost})"
            )
        self.model = model
        self.step = float(step or max(0.05, max_work / 240))
        self.checkpoint_cost = float(checkpoint_cost)
        self.restart_cost = float(restart_cost)
        self.allow_replace = allow_replace
        self.max_age = min(model.end, float(max_age or 48.0))
        self.n_work = max(1, math.ceil(max_work / self.step - 1e-9))
        self.n_age = n_age = math.ceil(self.max_age / self.step) + 1
        size = n_age * self.n_work * min(self.n_work, n_age)
        if size > 2e9:
            raise ConfigurationError(
                f"a checkpoint table of {self.n_work} work x {n_age} age steps is too fine to solve; "
                f"use a larger step than {self.step:g} h (or a smaller max_work / max_age)"
            )
        self._solve()

    def _solve(self) -> None:
        model, h, c, r, n_age = self.model, self.step, self.checkpoint_cost, self.restart_cost, self.n_age
        capped = model.end <= self.max_age  # past the grid a VM is dead; otherwise it is as old as the grid
        max_x = n_age if capped else self.n_work  # a segment outliving any VM never ends with a checkpoint
        shift = math.floor(c / h + 1e-9)
        frac = c / h - shift
        width = n_age + self.n_work + shift + 2
        grid = np.arange(width) * h
        s0, is0 = model.survival(grid), model.integrated_survival(grid)
        sc, isc = model.survival(grid + c), model.integrated_survival(grid + c)
        ages = np.arange(n_age)
        alive = s0[:n_age] > 0
        s_age = np.where(alive, s0[:n_age], 1.0)[:, None]
        value = np.zeros((self.n_work + 1, width))
        action = np.zeros((self.n_work + 1, n_age), dtype=np.int64)
        for w in range(1, self.n_work + 1):
            x = np.arange(1, min(w - 1, max_x) + 1)  # segments that end with a checkpoint
            idx = ages[:, None] + x[None, :]
            d = x * h + c
            p = sc[idx] / s_age
            lost = (isc[idx] - is0[:n_age, None] - d * sc[idx]) / s_age
            rows = (w - x)[None, :]
            cont = (1 - frac) * value[rows, idx + shift] + frac * value[rows, idx + shift + 1]
            run = p * (d + cont) + lost
            fin = ages + w  # the final segment: no checkpoint
            p_fin = s0[fin] / s_age[:, 0]
            run_fin = p_fin * w * h + (is0[fin] - is0[:n_age] - w * h * s0[fin]) / s_age[:, 0]
            p_all = np.concatenate([p, p_fin[:, None]], axis=1)
            run_all = np.concatenate([run, run_fin[:, None]], axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                fixed = np.where(p_all[0] > 0, (run_all[0] + (1 - p_all[0]) * r) / p_all[0], np.inf)
            fresh = float(np.min(fixed))
            if not np.isfinite(fresh):
                raise ConfigurationError(f"no checkpoint schedule finishes {w * h:.2f} h of work")
            restart = r + fresh
            q = run_all + (1 - p_all) * restart
            best = np.argmin(q, axis=1)
            row = q[ages, best]
            choice = np.where(best < len(x), best + 1, w)
            if self.allow_replace:
                swap = row > restart
                row = np.where(swap, restart, row)
                choice = np.where(swap, 0, choice)
            row = np.where(alive, row, restart)
            choice = np.where(alive, choice, 0)
            value[w, :n_age] = row
            value[w, n_age:] = restart if capped else row[-1]
            action[w] = choice
        self.value = value[:, :n_age]
        self.action = action
        self.ages = np.arange(n_age) * h

    # -- queries -----------------------------------------------------------------------

    def _units(self, work: float) -> int:
        units = math.ceil(work / self.step - 1e-9)
        if units > self.n_work:
            raise ConfigurationError(
                f"{work:.3f} h of work is beyond this table ({self.n_work * self.step:.3f} h); "
                "build it with a larger max_work"
            )
        return max(units, 0)

    def _age_index(self, age: float) -> int:
        return int(min(round(age / self.step), len(self.ages) - 1))

    def expected_time(self, work: float, age: float = 0.0) -> float:
        """float: Expected wall time [h] to finish ``work`` from a VM aged ``age``, policy followed."""
        units = self._units(work)
        if units == 0:
            return 0.0
        return float(np.interp(age, self.ages, self.value[units]))

    def segment(self, work: float, age: float) -> float | None:
        """Work [h] before the next checkpoint (``>= work``: finish without one); None: replace the VM."""
        units = self._units(work)
        x = int(self.action[units, self._age_index(age)])
        if x == 0:
            return None
        return float(work) if x >= units else x * self.step

    def schedule(self, work: float, age: float = 0.0) -> Schedule:
        """Schedule: The checkpoints of ``work`` started at ``age``, while the VM lives."""
        expected = self.expected_time(work, age)
        if self.segment(work, age) is None:
            return Schedule(work, age, (), expected, replace=True)
        parts, left, now = [], float(work), float(age)
        while left > 1e-12:
            x = self.segment(left, now)
            if x is None:  # the policy leaves this VM part-way: the rest runs on a fresh one
                now = 0.0
                continue
            x = min(x, left)
            parts.append(x)
            left -= x
            now += x + (self.checkpoint_cost if left > 1e-12 else 0.0)
        return Schedule(float(work), float(age), tuple(parts), expected)


def reuse_or_replace(table: CheckpointTable, work: float, age: float) -> dict:
    """Whether to run ``work`` on a VM aged ``age`` or start a fresh VM (both with optimal checkpoints).

    Returns:
        dict: ``reuse`` (bool), ``expected_reuse`` and ``expected_fresh`` [h] (the latter includes
        the restart cost: booting the fresh VM).
    """
    fresh = table.restart_cost + table.expected_time(work, 0.0)
    reuse_value = table.expected_time(work, age)
    if table.allow_replace and table._units(work) and table.segment(work, age) is None:
        reuse = False  # the policy itself leaves this VM
    else:
        reuse = reuse_value <= fresh
    return {"reuse": bool(reuse), "expected_reuse": reuse_value, "expected_fresh": fresh}
