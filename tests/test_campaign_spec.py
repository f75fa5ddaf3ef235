"""Campaign specs, design sampling and job identity (no HOOMD, no Dask)."""

import pickle
import textwrap
from pathlib import Path

import pytest

from hoomd_mlx.campaign.design import DesignSpace, job_id
from hoomd_mlx.campaign.execute import JobTask
from hoomd_mlx.campaign.spec import load_spec
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
    from hoomd_mlx.campaign.runner import Campaign

    campaign = Campaign(spec, tmp_path / "run")
    point = spec.design.sample()[0]
    task = campaign.task(job_id(point), point)
    assert pickle.loads(pickle.dumps(task)) == task
    assert isinstance(task, JobTask)
    from hoomd_mlx.campaign.execute import run_job

    assert pickle.loads(pickle.dumps(run_job)) is run_job
