"""The [cloud] table of a spec, server choice, `hoomd-mlx cloud plan`, model-made checkpoint intervals."""

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hoomd_mlx.campaign.config.spec import load_spec
from hoomd_mlx.campaign.driver.runner import Campaign
from hoomd_mlx.campaign.job.checkpoint import CheckpointPolicy
from hoomd_mlx.cloud.lifetime import SCISPOT_PUBLISHED, PreemptionModel
from hoomd_mlx.cloud.plan import ModelCheckpoints, checkpoint_intervals
from hoomd_mlx.cloud.servers import Scaling, load_prices, server_options
from hoomd_mlx.cloud.settings import CloudSettings
from hoomd_mlx.errors import ConfigurationError

CAMPAIGNS = Path(__file__).parent.parent / "campaigns"
BATHTUB = PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=24.83)

PRICES = """Machine-type\tVirtual-CPUs\tMemory\tPrice (USD)\tPreemptible-price (USD)\tZONE
small-1\t1\t4GB\t$0.0500 \t$0.0100 \tlab
small-2\t2\t8GB\t$0.1000 \t$0.0200 \tlab
fast-8\t8\t8GB\t$0.3200 \t$0.0640 \tlab
other-1\t1\t4GB\t$0.0100 \t$0.0010 \telsewhere
"""

SPEC = """
[design]
sampler = "grid"
[design.parameters]
x = {{ values = [1, 2, 3, 4, 5, 6] }}
[job]
function = "jobs_for_tests:run"
[resources]
workers = 2
checkpoint_seconds = 30
[cloud]
{cloud}
"""


def _spec(tmp_path, cloud):
    (tmp_path / "jobs_for_tests.py").write_text("def run(params, job):\n    return {}\n")
    (tmp_path / "prices.txt").write_text(PRICES)
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(SPEC.format(cloud=textwrap.dedent(cloud))))
    return path


def test_cloud_table_is_validated(tmp_path):
    spec = load_spec(_spec(tmp_path, 'job_hours = 4.0\nprices = "prices.txt"\nregion = "lab"'))
    assert spec.cloud.job_hours == 4.0
    assert spec.cloud.prices == str(tmp_path / "prices.txt")  # relative to the spec
    for bad, message in [
        ("job_hours = 4.0\nwhatever = 1", "unknown key cloud.whatever"),
        ("region = 'lab'", "cloud.job_hours is missing"),
        ("job_hours = -1.0", r"cloud.job_hours = -1.0; expected a number > 0"),
        ("job_hours = '4 h'", r"cloud.job_hours = '4 h'; expected a number > 0"),
        ("job_hours = 1.0\ncheckpoint = 'often'", "cloud.checkpoint = 'often'"),
        ("job_hours = 1.0\ncheckpoint = 'model'\ncheckpoint_cost = 0", "checkpoint_cost > 0"),
        ("runtime_hours = { one = 2.0 }", "cloud.runtime_hours"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_spec(_spec(tmp_path, bad))


def test_server_choice(tmp_path):
    (tmp_path / "prices.txt").write_text(PRICES)
    machines = load_prices(tmp_path / "prices.txt")
    assert [m.name for m in machines] == ["small-1", "small-2", "fast-8", "other-1"]
    kw = {"checkpoint_cost": 1 / 60, "restart_cost": 2 / 60, "region": "lab"}
    # a job that does not speed up: the smallest machine is cheapest, preemptible far cheaper
    serial = server_options(machines, Scaling(4.0, serial_fraction=1.0), BATHTUB, **kw)
    assert serial[0].machine.name == "small-1"
    assert serial[0].expected_time > serial[0].runtime == 4.0  # preemptions cost time
    on_demand = server_options(machines, Scaling(4.0, serial_fraction=1.0), BATHTUB, preemptible=False, **kw)
    assert on_demand[0].cost == pytest.approx(0.05 * 4.0)
    assert serial[0].cost < on_demand[0].cost / 4
    # the 8-vCPU machine is cheaper per vCPU: a perfectly parallel job goes there
    parallel = server_options(machines, Scaling(4.0, serial_fraction=0.0), BATHTUB, **kw)
    assert parallel[0].machine.name == "fast-8"
    assert parallel[0].runtime == pytest.approx(0.5)
    # measured runtimes: only those vCPU counts; memory and region filters
    measured = Scaling(4.0, measured={2: 1.0})
    assert [o.machine.name for o in server_options(machines, measured, BATHTUB, **kw)] == ["small-2"]
    assert all(
        o.machine.memory_gb >= 8 for o in server_options(machines, Scaling(4.0), BATHTUB, memory_gb=8, **kw)
    )
    with pytest.raises(ConfigurationError, match="no machine type matches region='moon'"):
        server_options(
            machines, Scaling(4.0), BATHTUB, checkpoint_cost=0.01, restart_cost=0.01, region="moon"
        )
    (tmp_path / "broken.txt").write_text(PRICES + "small-4\tfour\t8GB\t$1\t$1\tlab\n")
    with pytest.raises(ConfigurationError, match=r"broken\.txt:6"):
        load_prices(tmp_path / "broken.txt")


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hoomd_mlx.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_cloud_plan_cli(tmp_path):
    spec = _spec(
        tmp_path, 'job_hours = 8.0\nprices = "prices.txt"\nregion = "lab"\nvms = 3\nserial_fraction = 0.5'
    )
    out = _cli("cloud", "plan", str(spec), "--json", "--seeds", "8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["jobs"] == 6
    assert plan["vms"] == 3
    assert plan["machine"]["machine"] == "small-1"  # half serial: more vCPUs do not pay
    fresh = plan["schedule"]["fresh_vm"]["segments_hours"]
    assert sum(fresh) == pytest.approx(8.0)
    assert fresh[0] < fresh[-1]  # dense checkpoints while a fresh VM is likely to die
    sim = plan["simulated"]
    assert sim["model"]["cost"]["mean"] < sim["young-daly"]["cost"]["mean"] < sim["on-demand"]["cost"]["mean"]
    assert sim["model"]["cost_ratio"]["mean"] < 0.25
    text = _cli("cloud", "plan", str(spec), "--seeds", "8", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    for expected in (
        "machine type: small-1",
        "checkpoints on a fresh VM at work [h]: 0.",
        "Young-Daly",
        "model ",
    ):
        assert expected in text.stdout
    no_cloud = tmp_path / "plain.toml"
    no_cloud.write_text(spec.read_text().split("[cloud]")[0])
    failed = _cli("cloud", "plan", str(no_cloud), cwd=tmp_path)
    assert failed.returncode == 2
    assert "has no [cloud] table" in failed.stderr


def test_cloud_plan_of_the_example_campaign():
    try:
        load_prices()
    except ConfigurationError as err:
        pytest.skip(f"SciSpot price table not available: {err}")
    out = _cli("cloud", "plan", str(CAMPAIGNS / "lj_fluid_cloud.toml"), "--seeds", "5", cwd=CAMPAIGNS)
    assert out.returncode == 0, out.stderr
    assert "machine type: n1-highcpu-2" in out.stdout
    assert "32 jobs on 8 VMs" in out.stdout


def test_checkpoint_interval_comes_from_the_model(tmp_path):
    spec = load_spec(
        _spec(tmp_path, 'job_hours = 6.0\nprices = "prices.txt"\nregion = "lab"\ncheckpoint = "model"')
    )
    campaign = Campaign(spec, tmp_path / "run", seconds_per_hour=2.0)
    task = campaign.task("abc", {"x": 1})
    pickle.loads(pickle.dumps(task))
    assert task.checkpoint_seconds == 0
    assert task.checkpoint_steps == 0
    assert task.checkpoint_schedule[0] < task.checkpoint_schedule[-1]
    assert sum(task.checkpoint_schedule) == pytest.approx(6.0 * 2.0)  # the job's planned length, scaled
    # without checkpoint = "model" the spec's interval stands
    plain = load_spec(_spec(tmp_path, 'job_hours = 6.0\nprices = "prices.txt"\nregion = "lab"'))
    assert Campaign(plain, tmp_path / "run2").task("abc", {"x": 1}).checkpoint_seconds == 30
    # the policy walks the schedule, then repeats its last interval
    policy = CheckpointPolicy(schedule=(1.0, 2.0, 5.0))
    assert policy.due(0, 1.0, taken=0)
    assert not policy.due(0, 1.5, taken=1)
    assert policy.due(0, 2.0, taken=1)
    assert not policy.due(0, 4.0, taken=7)
    assert policy.due(0, 5.0, taken=7)


def test_model_checkpoints_refit_from_the_ledger(tmp_path):
    import numpy as np

    from hoomd_mlx.campaign.driver.ledger import Ledger

    settings = CloudSettings.from_mapping(
        {"job_hours": 6.0, "prices": "prices.txt", "region": "lab", "checkpoint": "model"}, base=tmp_path
    )
    (tmp_path / "prices.txt").write_text(PRICES)
    planner = ModelCheckpoints(settings, refresh=0.0)
    before = planner.intervals()
    assert before == checkpoint_intervals(settings, planner.model)
    # VMs that die young much more often than SciSpot's: checkpoints come sooner after the refit
    harsh = PreemptionModel("scispot", {"A": 0.8, "tau1": 1.0, "tau2": 0.5, "b": 24.3}, cap=24.8)
    with Ledger.in_directory(tmp_path / "run") as ledger:
        for k, age in enumerate(harsh.sample(np.random.default_rng(1), 400)):
            ledger.event("vm-lost", None, {"worker": f"w{k}", "age_hours": float(age)})
        after = planner.intervals(ledger)
    assert planner.model.params["A"] == pytest.approx(0.8, abs=0.05)
    assert after[0] < before[0]
