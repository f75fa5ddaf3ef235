"""How much of a design space a surrogate knows, and what its answers cost."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hoomd_mlx.campaign.config.spec import spec_from_mapping
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.cli import main
from hoomd_mlx.coupling.completion import (
    TWO_SIGMA,
    PointCalibration,
    design_completion,
    point_band,
    point_error,
    unit_samples,
)
from hoomd_mlx.errors import ConfigurationError

HERE = Path(__file__).parent
ROOT = HERE.parent


# -- the measure --------------------------------------------------------------------------


def test_point_calibration_covers_its_target_on_new_points():
    """Gaussian errors whose std is twice what the model says: the calibration finds the factor."""
    rng = np.random.default_rng(0)
    shape = (4000, 10)
    std = rng.uniform(0.5, 2.0, shape)
    truth = 2.0 * std * rng.standard_normal(shape)
    tolerance = np.full(shape, 3.0)
    fit = PointCalibration.fit(np.zeros(shape), std, truth, tolerance)
    assert fit.samples == 4000
    # new draws from the same law: the calibrated band holds at the promised rate
    fresh = 2.0 * std * rng.standard_normal(shape)
    within = point_error(0.0 * fresh, fresh, tolerance) <= fit.half_width(std, tolerance)
    assert within.mean() == pytest.approx(TWO_SIGMA, abs=0.015)
    # rms over 10 independent components concentrates: the factor is near 2 (the stds' own
    # error) times what a single normal's 95% quantile needs over 2 (about 1.1 / 2 ... 1.3 / 2)
    assert 1.0 < fit.scale < 1.6


def test_a_known_point_meets_its_tolerance_at_least_at_the_promised_rate():
    rng = np.random.default_rng(1)
    shape = (5000, 3)
    std = rng.uniform(0.05, 1.0, shape)
    truth = std * rng.standard_normal(shape)
    tolerance = np.ones(shape)
    calibration = PointCalibration.fit(np.zeros(shape), std, truth, tolerance)
    fresh = std * rng.standard_normal(shape)
    known = calibration.known(std, tolerance)
    assert 0.1 < known.mean() < 0.9  # the test means something
    meets = point_error(np.zeros(shape), fresh, tolerance) <= 1.0
    assert meets[known].mean() >= TWO_SIGMA - 0.01
    assert meets[~known].mean() < meets[known].mean()


def test_completion_of_a_space_with_a_known_corner():
    """Known where the first input is below 0.3: the completion is 0.3, its error small and honest."""
    samples = unit_samples(2, points=256, replicas=8, seed=3)
    result = design_completion(lambda u: u[:, 0] < 0.3, samples)
    assert result.share == pytest.approx(0.3, abs=0.01)
    assert 0 < result.error < 0.01
    assert result.points == 256
    assert result.replicas == 8


def test_a_tolerance_of_zero_is_refused():
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        point_band(np.ones((2, 2)), np.zeros((2, 2)))


def test_old_kernel_surrogate_files_get_their_point_calibration(tmp_path):
    """A KernelSurrogate saved before point calibrations existed loads with the same one computed."""
    from hoomd_mlx.coupling.kernel import KernelSurrogate

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 2))
    Y = np.column_stack([np.sin(3 * X[:, 0]) + X[:, 1] ** 2, X[:, 0] * X[:, 1]])
    model = KernelSurrogate(seed=0).fit(X, Y, error=np.full_like(Y, 0.05))
    assert model.point_calibration is not None
    path = model.save(tmp_path / "model")
    state = json.loads((path / "kernel_surrogate.json").read_text())
    del state["point_calibration"]
    (path / "kernel_surrogate.json").write_text(json.dumps(state))
    again = KernelSurrogate.load(path)
    assert again.point_calibration == model.point_calibration


# -- in a campaign --------------------------------------------------------------------------


def _raw(completion=None, model="kernel"):
    surrogate = {
        "model": model,
        "outputs": ["f", "g"],
        "tolerance": 0.05,
        "absolute_tolerance": 0.05,
        "retrain_every": 4,
        "target": 0.9,
    }
    if completion is not None:
        surrogate["completion"] = completion
    return {
        "campaign": {"name": "completion"},
        "design": {
            "sampler": "grid",
            "parameters": {"x": {"range": [0.0, 1.5], "points": 8}, "y": {"range": [0.0, 1.0], "points": 8}},
        },
        "job": {"function": "jobs_for_campaign_tests:smooth", "isolation": "inline"},
        "resources": {"workers": 2},
        "surrogate": surrogate,
        "report": {"completion_map": ["y", "x"]},
    }


def test_completion_is_recorded_shown_drawn_and_ends_the_campaign(tmp_path, capsys):
    spec = spec_from_mapping(_raw(completion=0.95), source=HERE / "learning.toml")
    counts = run_campaign(spec, tmp_path, progress=False)["counts"]
    assert counts["predicted"] > 0, counts
    with Ledger.in_directory(tmp_path) as ledger:
        versions = ledger.surrogate_versions()
    assert all(v["completion"] is not None and 0.0 <= v["completion"] <= 1.0 for v in versions)
    assert all(v["completion_error"] >= 0 and v["completion_points"] == 256 for v in versions)
    assert versions[-1]["completion"] >= 0.95  # the stop rule held when the campaign switched
    assert versions[-1]["validation_known_met"] <= versions[-1]["validation_known"]
    assert main(["campaign", "status", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "design space known:" in text
    assert "(stop at 0.95)" in text
    assert "cost on " in text
    assert "saved $" in text
    assert main(["campaign", "status", str(tmp_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["surrogate"]["completion"] == pytest.approx(versions[-1]["completion"])
    costs = status["costs"]
    assert costs["simulated"] == counts["done"]
    assert costs["predicted"] == counts["predicted"]
    assert costs["per_simulated_answer"] > 0
    assert main(["campaign", "report", str(tmp_path)]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "completion.png" in report
    assert "completion_map.png" in report
    assert "Cost per answer on" in report
    assert (tmp_path / "report" / "completion_map.png").stat().st_size > 10_000


def test_the_completion_stop_rule_holds_the_switch_back(tmp_path):
    """Two accurate retrains switch a campaign only once enough of its space is known."""
    from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
    from hoomd_mlx.campaign.driver.learner import CampaignLearner

    with Ledger.in_directory(tmp_path) as ledger:
        for wanted, completion, switched in ((None, 0.2, True), (0.9, 0.5, False), (0.9, 0.93, True)):
            settings = SurrogateSettings.from_mapping({"outputs": ["f"], "completion": wanted})
            learner = CampaignLearner(settings, ["x"], tmp_path, ledger)
            learner._streak, learner.completion = 2, completion
            assert learner.switched == switched, (wanted, completion)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"completion": 1.5}, r"surrogate.completion = 1.5; expected a number > 0 and <= 1"),
        ({"completion": 0.0}, r"surrogate.completion = 0.0; expected a number > 0 and <= 1"),
        (
            {"completion": 0.9, "tolerance": 0.0, "absolute_tolerance": 0.0},
            r"needs a tolerance to judge the bands against: give surrogate.errors",
        ),
    ],
)
def test_bad_completion_settings_are_refused_at_load(change, message):
    raw = _raw()
    raw["surrogate"].update(change)
    with pytest.raises(ConfigurationError, match=message):
        spec_from_mapping(raw, source=HERE / "learning.toml")


def test_a_completion_map_needs_two_design_parameters():
    raw = _raw()
    raw["report"] = {"completion_map": ["x", "z"]}
    with pytest.raises(
        ConfigurationError, match=r"report.completion_map = \['x', 'z'\]; expected two different"
    ):
        spec_from_mapping(raw, source=HERE / "learning.toml")


# -- cost per answer ------------------------------------------------------------------------


def test_cost_per_answer_on_demand_and_preemptible():
    from hoomd_mlx.cloud.answers import answer_costs
    from hoomd_mlx.cloud.settings import CloudSettings

    on_demand = CloudSettings(job_hours=1.0, preemptible=False, machine_types=("n1-standard-4",))
    costs = answer_costs(10, 36000.0, predicted=30, surrogate_seconds=36.0, settings=on_demand)
    assert costs.machine == "n1-standard-4"
    assert costs.overhead == 1.0
    assert costs.core_hour_price == pytest.approx(0.19 / 4)
    assert costs.simulated_cost == pytest.approx(10 * 0.19 / 4)
    assert costs.per_surrogate_answer == pytest.approx(0.01 * 0.19 / 4 / 30)
    assert costs.saved == pytest.approx(30 * 0.19 / 4 - 0.01 * 0.19 / 4)
    cheap = answer_costs(10, 36000.0, predicted=0, surrogate_seconds=0.0)
    assert cheap.preemptible
    assert cheap.overhead > 1.0
    assert cheap.core_hour_price < costs.core_hour_price
    with pytest.raises(ConfigurationError, match="no machine type in region 'us-central1' matches"):
        answer_costs(1, 1.0, 0, 0.0, CloudSettings(job_hours=1.0, machine_types=("n9-imaginary",)))


# -- a changed job against the surrogate ------------------------------------------------------


@pytest.fixture
def lj_campaign(tmp_path) -> Path:
    directory = tmp_path / "lj_surrogate"
    shutil.copytree(HERE / "fixtures" / "campaign_2026_12_03", directory)
    return directory


def test_check_refuses_what_it_cannot_run(lj_campaign, tmp_path, capsys):
    spec = str(ROOT / "campaigns" / "lj_fluid_surrogate.toml")
    assert main(["campaign", "check", str(lj_campaign), "--spec", spec, "--job", "no_such_module:run"]) == 2
    err = capsys.readouterr().err
    assert "--job no_such_module:run" in err
    assert "cannot be imported" in err
    assert main(["campaign", "check", str(lj_campaign)]) == 2  # the recorded spec path is gone
    assert "give it with --spec PATH" in capsys.readouterr().err
    empty = tmp_path / "plain"
    with Ledger.in_directory(empty):
        pass
    assert main(["campaign", "check", str(empty), "--spec", spec]) == 2
    assert "has no surrogate yet" in capsys.readouterr().err


@pytest.mark.hoomd
@pytest.mark.slow
def test_check_flags_a_changed_potential_and_passes_the_unchanged_one(lj_campaign, capsys):
    """LJ sigma 5% larger: outside the band at most points (exit 1); the same job: inside (exit 0)."""
    spec = str(ROOT / "campaigns" / "lj_fluid_surrogate.toml")
    common = ["campaign", "check", str(lj_campaign), "--spec", spec, "--points", "4", "--json"]
    assert main(common) == 0
    out = capsys.readouterr().out
    same = json.loads(out[out.index('{\n  "passed"') :])
    assert same["passed"]
    assert len(same["points"]) == 4
    assert all(p["band_half_width"] <= 1.0 for p in same["points"])  # chosen where it is confident
    with Ledger.in_directory(lj_campaign / "checks" / "001") as ledger:
        assert ledger.counts()["done"] == 4
    assert main([*common, "--set", "sigma=1.05"]) == 1
    out = capsys.readouterr().out
    changed = json.loads(out[out.index('{\n  "passed"') :])
    assert not changed["passed"]
    assert sum(not p["agree"] for p in changed["points"]) >= 3
    assert changed["settings"] == {"sigma": "1.05"}
