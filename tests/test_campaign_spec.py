"""Campaign specs, design sampling and job identity (no HOOMD, no Dask)."""

import pickle
import textwrap
from pathlib import Path

import pytest

from hoomd_mlx.campaign.config.design import DesignSpace, job_id
from hoomd_mlx.campaign.config.spec import load_spec
from hoomd_mlx.campaign.job.contract import JobTask
from hoomd_mlx.errors import ConfigurationError

CAMPAIGNS = Path(__file__).parent.parent / "campaigns"

BASE = """
[design]
sampler = "grid"
[design.parameters]
density = { range = [0.5, 0.8], points = 4 }
kT = { values = [1.0, 1.5] }
[job]
function = "jobs_for_tests:run"
"""


def _spec(tmp_path, text):
    (tmp_path / "jobs_for_tests.py").write_text("def run(params, job):\n    return {}\n")
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(text))
    return load_spec(path)


def test_example_specs_load():
    for name in ("lj_fluid.toml", "lj_fluid_tf.toml"):
        spec = load_spec(CAMPAIGNS / name)
        assert len(spec.design.sample()) == 8


def test_every_campaign_spec_loads():
    """The specs shipped in campaigns/ parse, and the electrolyte ones have the published sizes."""
    sizes = {
        load_spec(path).source.name: len(load_spec(path).design.sample()) for path in CAMPAIGNS.glob("*.toml")
    }
    assert len(sizes) >= 6
    assert sizes["nanoconfinement.toml"] == 45
    assert sizes["nanoconfinement_full.toml"] == 162
    surrogate = load_spec(CAMPAIGNS / "nanoconfinement.toml").surrogate
    assert surrogate.error_scale == 2.0
    assert surrogate.stop_at_error_bars


def test_grid_sampling_and_identity(tmp_path):
    spec = _spec(tmp_path, BASE)
    points = spec.design.sample()
    assert len(points) == 8
    assert {p["kT"] for p in points} == {1.0, 1.5}
    ids = {job_id(p) for p in points}
    assert len(ids) == 8
    assert job_id({"kT": 1.0, "density": 0.5}) == job_id({"density": 0.5, "kT": 1.0})


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_random_samplers_are_seeded_and_in_range(sampler):
    table = {
        "sampler": sampler,
        "samples": 16,
        "seed": 3,
        "parameters": {"c": {"range": [0.1, 2.0]}, "Z": {"values": [4.0, 4.5, 5.0]}},
    }
    a = DesignSpace.from_mapping(table).sample()
    b = DesignSpace.from_mapping(table).sample()
    assert a == b
    assert len(a) == 16
    assert all(0.1 <= p["c"] <= 2.0 and p["Z"] in (4.0, 4.5, 5.0) for p in a)


def test_list_sampler():
    table = {"sampler": "list", "points": [{"a": 1}, {"a": 2}]}
    assert DesignSpace.from_mapping(table).sample() == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[job]", "[job]\nbogus = 1"), "job.bogus"),
        (("points = 4", "points = 4, step = 2"), "design.parameters.density.step"),
        (("range = [0.5, 0.8]", "range = [0.8, 0.5]"), "design.parameters.density.range"),
        (("values = [1.0, 1.5]", "values = []"), "design.parameters.kT.values"),
        (('"jobs_for_tests:run"', '"no_such_module:run"'), "no_such_module"),
        (('"jobs_for_tests:run"', '"jobs_for_tests:missing"'), "missing"),
        (('sampler = "grid"', 'sampler = "random"'), "design.sampler"),
        (("[design]", "[resources]\nworkers = 0\n[design]"), "resources.workers"),
        (("[design]", "[campaign]\ncompletion = 1.5\n[design]"), "campaign.completion"),
    ],
)
def test_bad_specs_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigurationError, match=message):
        _spec(tmp_path, BASE.replace(*change))


def test_job_task_pickles(tmp_path):
    spec = _spec(tmp_path, BASE)
    from hoomd_mlx.campaign.driver.runner import Campaign

    campaign = Campaign(spec, tmp_path / "run")
    point = spec.design.sample()[0]
    task = campaign.task(job_id(point), point)
    assert pickle.loads(pickle.dumps(task)) == task
    assert isinstance(task, JobTask)
    from hoomd_mlx.campaign.job.execute import run_job

    assert pickle.loads(pickle.dumps(run_job)) is run_job


FULL = (
    BASE
    + """
[campaign]
name = "typed"
[[analysis]]
kind = "rdf"
[resources]
workers = 2
[cluster]
kind = "slurm"
walltime = "00:30:00"
[surrogate]
outputs = ["y"]
[cloud]
job_hours = 1.0
"""
)


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("campaign", 'name = "typed"', "campaign.completion = 'all'; expected a number"),
        ("design", 'sampler = "grid"', "design.seed = 'one'; expected a whole number"),
        ("job", 'function = "jobs_for_tests:run"', "job.isolation = 3; expected one of"),
        ("analysis", 'kind = "rdf"', "analysis[0].bins = 'many'; expected a whole number >= 1"),
        ("resources", "workers = 2", "resources.threads_per_worker = 'two'; expected a whole number >= 1"),
        ("cluster", 'kind = "slurm"', "cluster.cores = '4'; expected a whole number >= 1"),
        ("surrogate", 'outputs = ["y"]', "surrogate.target = 'high'; expected a number"),
        ("cloud", "job_hours = 1.0", "cloud.vms = 'two'; expected a whole number >= 0"),
    ],
)
def test_a_wrong_type_in_any_table_names_the_key_and_what_is_expected(tmp_path, table, line, message):
    wrong = {
        "campaign": "completion = 'all'",
        "design": "seed = 'one'",
        "job": "isolation = 3",
        "analysis": "bins = 'many'",
        "resources": "threads_per_worker = 'two'",
        "cluster": "cores = '4'",
        "surrogate": "target = 'high'",
        "cloud": "vms = 'two'",
    }[table]
    text = FULL.replace(line, f"{line}\n{wrong}", 1)
    with pytest.raises(ConfigurationError) as err:
        _spec(tmp_path, text)
    assert message in str(err.value)


def test_dry_run_reports_a_wrong_type_without_a_traceback(tmp_path):
    import subprocess
    import sys

    _spec(tmp_path, BASE)
    (tmp_path / "spec.toml").write_text(BASE + '[resources]\nworkers = "two"\n')
    cli = [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "run", str(tmp_path / "spec.toml"), "--dry-run"]
    run = subprocess.run(cli, capture_output=True, text=True)
    assert run.returncode == 2
    assert "resources.workers = 'two'; expected a whole number >= 1" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('walltime = "soon"', "cluster.walltime = 'soon'; expected a SLURM time limit"),
        ('walltime = "00:01:00"\nlifetime_margin = 90', "leaves no time"),
        ("minimum = 3\nmaximum = 2", "expected minimum <= maximum"),
        ('partition = "debug"\nkind = "local"', "applies to batch jobs only"),
    ],
)
def test_cluster_table_is_checked(tmp_path, text, message):
    table = text if "kind" in text else f'kind = "slurm"\n{text}'
    with pytest.raises(ConfigurationError, match=message):
        _spec(tmp_path, BASE + f"[cluster]\n{table}\n")


def test_cluster_settings_make_the_worker_job_script(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from hoomd_mlx.campaign.backends.batch import batch_cluster, job_name

    spec = _spec(
        tmp_path,
        BASE
        + '[cluster]\nkind = "slurm"\npartition = "debug"\naccount = "proj"\nwalltime = "00:10:00"\n'
        + 'lifetime_margin = 60\nlifetime_stagger = 30\njob_extra_directives = ["--qos=high"]\n'
        + 'python = "apptainer exec img.sif python"\n',
    )
    assert spec.cluster.lifetime == 600 - 60 - 30
    cluster = batch_cluster(spec.cluster, workers=2, threads_per_worker=1, job_name=job_name("x", tmp_path))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p debug" in script
    assert "#SBATCH -A proj" in script
    assert "#SBATCH --qos=high" in script
    assert "#SBATCH -t 00:10:00" in script
    assert (
        "apptainer exec img.sif python -m hoomd_mlx.campaign.backends.workerjob "
        "-m distributed.cli.dask_worker" in script
    )
    assert "--lifetime 510s --lifetime-stagger 30s" in script


def test_job_stopper_pickles_and_a_task_round_trips_through_its_file(tmp_path):
    from hoomd_mlx.campaign.job.contract import JobTask as ContractTask
    from hoomd_mlx.campaign.job.execute import JobStopper

    stopper = pickle.loads(pickle.dumps(JobStopper(grace=5.0)))
    assert stopper.grace == 5.0
    assert stopper.name == JobStopper.name
    task = ContractTask(
        job_id="a",
        params={"x": 1.0},
        function="m:f",
        directory=str(tmp_path),
        analyses=({"kind": "rdf", "bins": 10},),
        search_path=("/somewhere",),
        launcher=("srun", "--ntasks", "2"),
    )
    assert JobTask is ContractTask
    assert ContractTask.read(task.write(tmp_path / "task.json")) == task
