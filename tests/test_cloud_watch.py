"""The worker watch behind the drill, on a real LocalCluster (no HOOMD): lifetimes and kills as events."""

import os
import signal
import time

import pytest
from distributed import Client, LocalCluster

from hoomd_mlx.campaign.backends.watch import WorkerWatch
from hoomd_mlx.campaign.driver.clock import ProgressClock
from hoomd_mlx.cloud.drill import DrillSettings
from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.errors import ConfigurationError


def _wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def cluster():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local,
        Client(local) as client,
    ):
        yield local, client


def test_watch_records_lost_and_censored_workers(cluster):
    local, client = cluster
    messages = []
    watch = WorkerWatch(client, messages.append, cluster=local, seconds_per_hour=1.0, poll=0.1).start()
    try:
        assert _wait_for(lambda: len(watch.workers) == 2, 30)
        victim = next(iter(watch.workers.values()))
        time.sleep(0.5)
        os.kill(victim.pid, signal.SIGKILL)  # a worker dying on its own, not by the drill
        assert _wait_for(lambda: any(m["event"] == "vm-lost" for _, m in messages), 30)
    finally:
        watch.stop()
    lost = [m for _, m in messages if m["event"] == "vm-lost"]
    assert len(lost) == 1
    assert lost[0]["worker"] == victim.address
    assert lost[0]["age_hours"] == pytest.approx(lost[0]["age_seconds"])
    assert lost[0]["age_seconds"] > 0.4
    assert not lost[0]["drill"]
    censored = [m for _, m in messages if m["event"] == "vm-censored"]
    assert victim.address not in {m["worker"] for m in censored}
    assert len(censored) >= 1  # the survivor (and the nanny's replacement, once seen)
    watch.stop()  # a second stop reports nothing more
    assert len([m for _, m in messages if m["event"] == "vm-censored"]) == len(censored)


def test_drill_kills_workers_at_model_ages_and_the_nanny_replaces_them(cluster):
    local, client = cluster
    short = PreemptionModel("exponential", {"scale": 1.0}, cap=1.5)  # every VM gone within 1.5 h
    messages = []
    drill = DrillSettings(short, seconds_per_hour=1.0, seed=3)
    watch = WorkerWatch(client, messages.append, cluster=local, drill=drill).start()
    try:
        assert _wait_for(lambda: watch.kills >= 3, 60)
    finally:
        watch.stop()
    kills = [m for _, m in messages if m["event"] == "vm-preempted"]
    assert len(kills) >= 3
    # killed at the cap at the latest, or as soon as seen: a worker is seen once it registers with the
    # scheduler (its process started earlier; under load that takes longer than the drill's ages)
    for m in kills:
        assert m["drill"]
        assert m["age_hours"] <= max(1.5, m["seen_at_age_seconds"]) + 0.5
    assert len({m["worker"] for m in kills}) == len(kills)  # each a different worker: replacements
    assert _wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 30)  # the cluster recovers


def test_drill_needs_the_local_cluster():
    with pytest.raises(ConfigurationError, match="cannot be used with --scheduler"):
        WorkerWatch(None, print, drill=DrillSettings(PreemptionModel("exponential", {"scale": 1.0})))
    with pytest.raises(ConfigurationError, match="must be > 0"):
        DrillSettings(PreemptionModel("exponential", {"scale": 1.0}), seconds_per_hour=0)


def test_progress_clock_says_what_a_preemption_cost():
    clock = ProgressClock()
    clock.observe(100.0, {"event": "started", "job": "a"})
    assert clock.lost("a", 103.0) == {"job": "a", "lost_seconds": 3.0, "checkpoint_step": None}
    clock.observe(104.0, {"event": "checkpoint", "job": "a", "step": 1000})
    clock.observe(106.0, {"event": "checkpoint", "job": "a", "step": 3000})  # 1000 steps/s
    lost = clock.lost("a", 106.5)
    assert lost["lost_seconds"] == pytest.approx(0.5)
    assert lost["checkpoint_step"] == 3000
    assert lost["steps_lost_estimate"] == 500
    clock.observe(110.0, {"event": "resumed", "job": "b", "step": 700})
    assert clock.lost("b", 111.0)["checkpoint_step"] == 700
