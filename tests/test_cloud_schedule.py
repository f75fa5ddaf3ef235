"""Expected running times and checkpoint schedules: closed forms, optimality, Young-Daly."""

import math

import numpy as np
import pytest

from hoomd_mlx.cloud.lifetime import SCISPOT_PUBLISHED, PreemptionModel
from hoomd_mlx.cloud.schedule import (
    CheckpointTable,
    expected_runtime,
    periodic_segments,
    reuse_or_replace,
    young_daly_interval,
)
from hoomd_mlx.errors import ConfigurationError

BATHTUB = PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=24.83)
C, R = 1 / 60, 2 / 60  # checkpoint and restart costs [h]


def _exponential(mttf):
    return PreemptionModel("exponential", {"scale": mttf}, cap=1e4)  # the cap out of reach


@pytest.mark.parametrize(("work", "restart"), [(1.0, 0.0), (5.0, 0.1), (12.0, 0.5)])
def test_no_checkpoints_matches_the_exponential_closed_form(work, restart):
    # restarting from scratch under a constant hazard: E = (e^{work/M} - 1) (M + r)
    mttf = 10.0
    exact = (math.exp(work / mttf) - 1) * (mttf + restart)
    assert expected_runtime(_exponential(mttf), work, restart_cost=restart) == pytest.approx(exact, rel=1e-6)
    # with checkpoints every x: k independent segments of x + c
    x, c = work / 4, 0.05
    segment = (math.exp((x + c) / mttf) - 1) * (mttf + restart)
    last = (math.exp(x / mttf) - 1) * (mttf + restart)
    got = expected_runtime(_exponential(mttf), work, interval=x, checkpoint_cost=c, restart_cost=restart)
    assert got == pytest.approx(3 * segment + last, rel=1e-6)


def test_old_vm_and_the_cap():
    # a 4 h job on a VM aged 22 h cannot finish there without checkpoints; from 6 h it nearly always does
    assert expected_runtime(BATHTUB, 4.0, 6.0, restart_cost=R) == pytest.approx(4.0, abs=0.01)
    assert expected_runtime(BATHTUB, 4.0, 22.0, restart_cost=R) > 4.0 + 2.0
    assert expected_runtime(BATHTUB, 30.0, restart_cost=R) == math.inf  # longer than any VM lives
    assert math.isfinite(expected_runtime(BATHTUB, 30.0, interval=1.0, checkpoint_cost=C, restart_cost=R))


def test_dynamic_programme_reduces_to_the_exact_forms():
    # checkpoints so dear that the optimum is to never take one: the DP equals the closed form
    table = CheckpointTable(
        BATHTUB, 6.0, checkpoint_cost=100.0, restart_cost=R, step=0.05, allow_replace=False
    )
    for work in (1.0, 4.0, 6.0):
        for age in (0.0, 10.0, 21.0):
            exact = expected_runtime(BATHTUB, work, age, restart_cost=R)
            assert table.expected_time(work, age) == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("age", [0.0, 3.0, 20.0, 22.5])
def test_optimal_schedule_beats_periodic_ones(age):
    c = 0.05  # a multiple of the step: every age on the grid, the DP exact
    table = CheckpointTable(BATHTUB, 8.0, checkpoint_cost=c, restart_cost=R, step=0.05)
    period = young_daly_interval(c, BATHTUB.mean)
    for work in (2.0, 8.0):
        optimum = table.expected_time(work, age)
        for interval in (period / 4, period, 4 * period):
            periodic = expected_runtime(
                BATHTUB, work, age, interval=interval, checkpoint_cost=c, restart_cost=R
            )
            assert optimum <= periodic + 1e-9
        # the schedule the table hands out is a valid plan of the whole job
        plan = table.schedule(work, age)
        assert plan.replace or sum(plan.segments) == pytest.approx(work)


def test_constant_hazard_gives_young_daly():
    mttf, c = 10.0, 0.01
    table = CheckpointTable(
        _exponential(mttf), 4.0, checkpoint_cost=c, restart_cost=0.05, step=0.01, max_age=2.0
    )
    inner = np.array(table.schedule(4.0, 0.0).segments[1:-1])
    assert inner.mean() == pytest.approx(young_daly_interval(c, mttf), rel=0.1)  # sqrt(2 c M) = 0.447 h


def test_bathtub_schedule_follows_the_hazard():
    table = CheckpointTable(BATHTUB, 6.0, checkpoint_cost=C, restart_cost=R)
    fresh = table.schedule(6.0, 0.0).segments
    assert len(fresh) >= 4
    assert fresh[0] < 0.5
    assert fresh[0] < fresh[2] < fresh[-1]
    assert table.schedule(4.0, 6.0).segments == (4.0,)  # the quiet middle: no checkpoint needed
    late = table.schedule(4.0, 20.0).segments  # approaching the 24 h end: ever denser checkpoints
    assert len(late) > 3
    assert late[0] > late[1] > late[-1]
    assert table.schedule(4.0, 23.9).replace
    # reuse an old VM in its quiet middle, not one about to be reclaimed
    assert reuse_or_replace(table, 4.0, 8.0)["reuse"]
    decision = reuse_or_replace(table, 4.0, 23.5)
    assert not decision["reuse"]
    assert decision["expected_fresh"] < 4.0 * 1.1


def test_argument_errors():
    assert periodic_segments(1.0, 0.4) == pytest.approx([0.4, 0.4, 0.2])
    with pytest.raises(ConfigurationError, match="positive checkpoint cost"):
        young_daly_interval(0.0, 10.0)
    with pytest.raises(ConfigurationError, match="sum to"):
        expected_runtime(BATHTUB, 2.0, segments=[1.0, 0.5])
    table = CheckpointTable(BATHTUB, 2.0, checkpoint_cost=C, restart_cost=R)
    with pytest.raises(ConfigurationError, match="larger max_work"):
        table.expected_time(3.0)
    with pytest.raises(ConfigurationError, match="too fine"):
        CheckpointTable(BATHTUB, 100.0, checkpoint_cost=C, restart_cost=R, step=0.001)
