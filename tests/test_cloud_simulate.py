"""The bag simulator: agreement with the analytic expectations, policies on the same streams, the bars."""

import numpy as np
import pytest

from hoomd_mlx.cloud.lifetime import SCISPOT_PUBLISHED, PreemptionModel, scispot_model
from hoomd_mlx.cloud.schedule import CheckpointTable, expected_runtime, young_daly_interval
from hoomd_mlx.cloud.servers import load_prices
from hoomd_mlx.cloud.simulate import (
    Bag,
    ModelPolicy,
    OnDemand,
    Periodic,
    compare_policies,
    confidence_interval,
    simulate_bag,
)
from hoomd_mlx.errors import ConfigurationError

BATHTUB = PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=24.83)


def _single_job_times(policy, work, c, boot, seeds):
    """Wall time of one job on one VM slot, preemptions and replacements included."""
    times = []
    for seed in seeds:
        run = simulate_bag(
            [work],
            policy,
            BATHTUB,
            vms=1,
            price=1.0,
            checkpoint_cost=c,
            restore_cost=0.0,
            boot=boot,
            seed=seed,
        )
        times.append(run.makespan - boot)  # the first VM's boot is not part of the job's expectation
    return times


@pytest.mark.parametrize("kind", ["none", "young-daly", "model"])
def test_simulated_runtime_matches_the_analytic_expectation(kind):
    work, c, r = 6.0, 0.05, 0.05  # restart = boot of the replacement (restore 0): the analytic setting
    period = young_daly_interval(c, BATHTUB.mean)
    if kind == "none":
        policy, analytic = Periodic(None), expected_runtime(BATHTUB, work, restart_cost=r)
    elif kind == "young-daly":
        policy = Periodic(period)
        analytic = expected_runtime(BATHTUB, work, interval=period, checkpoint_cost=c, restart_cost=r)
    else:  # c a multiple of the step: every age on the grid, the table's value exact for its policy
        table = CheckpointTable(BATHTUB, work, checkpoint_cost=c, restart_cost=r, step=0.05)
        policy, analytic = ModelPolicy(table), table.expected_time(work, 0.0)
    mean, half = confidence_interval(_single_job_times(policy, work, c, r, range(3000)), level=0.99)
    assert abs(mean - analytic) <= half
    assert half < 0.02 * analytic  # a confidence interval tight enough to mean something


def test_same_streams_same_vms():
    bag = Bag(jobs=24, vms=4)
    work = bag.work(7)
    assert np.array_equal(work, bag.work(7))
    assert not np.array_equal(work, bag.work(8))
    runs = [
        simulate_bag(
            work, p, BATHTUB, vms=4, price=1.0, checkpoint_cost=0.02, restore_cost=0.01, boot=0.02, seed=7
        )
        for p in (Periodic(0.5), Periodic(0.5))
    ]
    assert runs[0] == runs[1]  # deterministic per seed
    on_demand = simulate_bag(
        work,
        OnDemand(),
        BATHTUB,
        vms=4,
        price=1.0,
        checkpoint_cost=0.02,
        restore_cost=0.01,
        boot=0.02,
        seed=7,
    )
    assert on_demand.preemptions == 0
    assert on_demand.checkpoints == 0
    assert on_demand.vm_hours == pytest.approx(work.sum() + 4 * 0.02)  # the work and the boots, nothing else
    with pytest.raises(ConfigurationError, match="positive length"):
        simulate_bag(
            [1.0, 0.0], OnDemand(), BATHTUB, vms=1, price=1, checkpoint_cost=0, restore_cost=0, boot=0, seed=0
        )


@pytest.fixture(scope="module")
def comparison():
    """The default SciSpot-like bag (160 jobs of 2-6 h on 16 VMs), 20 seeds, on n1-highcpu-2 prices."""
    model = scispot_model()
    bag = Bag(jobs=160)
    table = CheckpointTable(
        model, bag.work_high, checkpoint_cost=bag.checkpoint_cost, restart_cost=bag.restart_cost
    )
    policies = [
        OnDemand(),
        Periodic(young_daly_interval(bag.checkpoint_cost, model.mean), "young-daly"),
        ModelPolicy(table),
    ]
    prices = {"on-demand": 0.0709, "young-daly": 0.015, "model": 0.015}
    return compare_policies(bag, model, policies, prices, seeds=range(20))


def _metric(run, metric):
    if metric == "overhead":
        return (run["checkpoint"] + run["lost"]) / run["useful"]
    return run[metric]


def test_optimal_schedule_beats_young_daly_on_the_same_streams(comparison):
    for metric in ("overhead", "cost"):
        ours = np.array([_metric(r, metric) for r in comparison["model"]["runs"]])
        theirs = np.array([_metric(r, metric) for r in comparison["young-daly"]["runs"]])
        mean, half = confidence_interval(ours - theirs)
        assert mean + half < 0, (metric, mean, half)  # better, beyond the paired confidence interval


def test_overhead_and_cost_bars(comparison):
    model = comparison["model"]
    # checkpoint + recompute overhead: bar 5 %, goal 3 %, upper confidence bound included
    assert model["overhead"]["mean"] + model["overhead"]["ci"] <= 0.03
    # against on-demand VMs of the same type, the bag costs the price ratio plus its overheads only
    ratio = 0.015 / 0.0709
    assert model["cost_ratio"]["mean"] + model["cost_ratio"]["ci"] <= ratio * 1.04
    assert comparison["young-daly"]["overhead"]["mean"] > model["overhead"]["mean"]
    # the campaign finishes within 10 % of the on-demand makespan despite the preemptions
    assert model["makespan"]["mean"] <= 1.1 * comparison["on-demand"]["makespan"]["mean"]


def test_server_choice_reaches_a_fifth_of_a_conventional_deployment():
    """Against on-demand n1-standard VMs (no server choice), the chosen preemptible type costs < 1/5."""
    try:
        machines = load_prices()
    except ConfigurationError as err:
        pytest.skip(f"SciSpot price table not available: {err}")
    from hoomd_mlx.cloud.servers import Scaling, server_options

    model = scispot_model()
    scaling = Scaling(8.0, serial_fraction=0.05)  # 4-12 core-hour jobs, mean 8
    kw = {"checkpoint_cost": 1 / 60, "restart_cost": 2 / 60, "region": "us-central1"}
    chosen = server_options(machines, scaling, model, **kw)[0]
    standard = server_options(machines, scaling, model, preemptible=False, names=["n1-standard-1"], **kw)[0]
    assert chosen.machine.name == "n1-highcpu-2"
    factor = chosen.runtime / scaling.job_hours  # jobs on the chosen type run this much shorter
    bag = Bag(jobs=160, work_low=4.0, work_high=12.0)
    fast = Bag(jobs=160, work_low=4.0 * factor, work_high=12.0 * factor)
    table = CheckpointTable(
        model, fast.work_high, checkpoint_cost=fast.checkpoint_cost, restart_cost=fast.restart_cost
    )
    ratios = []
    for seed in range(10):
        ours = simulate_bag(
            fast.work(seed), ModelPolicy(table), model, vms=16, price=chosen.price,
            checkpoint_cost=fast.checkpoint_cost, restore_cost=fast.restore_cost, boot=fast.boot, seed=seed,
        )  # fmt: skip
        conventional = simulate_bag(
            bag.work(seed), OnDemand(), model, vms=16, price=standard.price,
            checkpoint_cost=0, restore_cost=0, boot=bag.boot, seed=seed,
        )  # fmt: skip
        ratios.append(ours.cost / conventional.cost)
    mean, half = confidence_interval(ratios)
    assert mean + half <= 1 / 5
