"""A surrogate learning inside a real Dask campaign (light inline jobs, no HOOMD)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hoomd_mlx.campaign.config.spec import spec_from_mapping
from hoomd_mlx.campaign.driver.learner import predict_point
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.campaign.report.build import write_report

HERE = Path(__file__).parent


def _spec():
    raw = {
        "campaign": {"name": "learning"},
        "design": {
            "sampler": "grid",
            "parameters": {"x": {"range": [0.0, 1.5], "points": 8}, "y": {"range": [0.0, 1.0], "points": 8}},
        },
        "job": {"function": "jobs_for_campaign_tests:smooth", "isolation": "inline"},
        "resources": {"workers": 2},
        "surrogate": {
            "outputs": ["f", "g"],
            "tolerance": 0.05,
            "absolute_tolerance": 0.05,
            "retrain_every": 4,
            "target": 0.9,
            "epochs": 1500,
            "update_epochs": 800,
        },
    }
    return spec_from_mapping(raw, source=HERE / "learning.toml")


def _cli_predict(directory):
    """``hoomd-mlx predict DIR --params x=0.7 y=0.4 --json``, as a user runs it."""
    command = [sys.executable, "-m", "hoomd_mlx.cli", "predict", str(directory)]
    command += ["--params", "x=0.7", "y=0.4", "--json"]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def test_surrogate_steers_and_ends_the_campaign(tmp_path):
    summary = run_campaign(_spec(), tmp_path, progress=False)
    counts = summary["counts"]
    assert counts["predicted"] > 0, counts  # the switch happened before the bag was done
    assert counts["done"] + counts["predicted"] == 64
    with Ledger.in_directory(tmp_path) as ledger:
        versions = ledger.surrogate_versions()
        assert len(versions) >= 2
        assert all(v["accuracy"] >= 0.9 for v in versions[-2:])
        # the smooth jobs report no error bars: only the floors count, and an exact surrogate scores 1
        assert all(v["ceiling"] == 1.0 for v in versions)
        assert (tmp_path / versions[-1]["path"] / "model.keras").exists()
        predicted = ledger.jobs("predicted")
        for job in predicted:  # answered with uncertainty, close to the truth
            x, y = job.params["x"], job.params["y"]
            assert abs(job.result["f"] - (np.sin(x) + y**2)) < 0.25
            assert job.result["f_std"] >= 0
    answer = predict_point(tmp_path, {"x": 0.7, "y": 0.4})
    assert abs(answer["mean"]["f"] - (np.sin(0.7) + 0.16)) < 0.2
    assert answer["inference_seconds"] > 0
    report = write_report(tmp_path)
    text = report.read_text()
    assert "answered by the surrogate" in text
    assert "(an exact surrogate: 1.000)" in text
    assert (report.parent / "learning_curve.png").exists()
    cli = _cli_predict(tmp_path)
    assert json.loads(cli.stdout)["mean"]["f"] == answer["mean"]["f"]


def test_profile_outputs_flatten_and_split_back():
    """Vector results (profiles) are laid end to end for the surrogate and split back for the ledger."""
    from hoomd_mlx.campaign.driver.learner import flatten_outputs, output_widths, split_outputs

    result = {"rho": [0.1, 0.5, 0.4], "rho_err": [0.01, 0.02, 0.03], "p": 2.0}
    outputs = ["rho", "p"]
    assert output_widths(result, outputs) == [3, 1]
    np.testing.assert_allclose(flatten_outputs(result, outputs), [0.1, 0.5, 0.4, 2.0])
    np.testing.assert_allclose(flatten_outputs(result, outputs, {"rho": "rho_err"}), [0.01, 0.02, 0.03, 0.0])
    back = split_outputs(flatten_outputs(result, outputs), outputs, [3, 1])
    assert back == {"rho": [0.1, 0.5, 0.4], "p": 2.0}


def test_surrogate_settings_name_the_bad_key():
    from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
    from hoomd_mlx.errors import ConfigurationError

    good = {"outputs": ["rho"], "error_scale": 2.0, "stop_at_error_bars": True}
    settings = SurrogateSettings.from_mapping(good)
    assert settings.error_scale == 2.0
    assert settings.stop_at_error_bars
    for bad, key in (
        ({"error_scale": 0.0}, "error_scale"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"stop_at_error_bars": "yes"}, "stop_at_error_bars"),
        ({"target": 1.5}, "target"),
    ):
        with pytest.raises(ConfigurationError, match=key):
            SurrogateSettings.from_mapping({**good, **bad})


def test_learner_warns_when_the_target_is_above_the_noise_ceiling(tmp_path, caplog):
    """Noisy profiles with one-error-bar agreement: no surrogate reaches 0.9, and the learner says so."""
    import logging

    from hoomd_mlx.campaign.config.design import job_id
    from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
    from hoomd_mlx.campaign.driver.learner import CampaignLearner

    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 12)
    points = {job_id({"x": float(x)}): {"x": float(x)} for x in np.linspace(0, 1, 24)}
    settings = {"outputs": ["rho"], "errors": {"rho": "rho_err"}, "retrain_every": 1, "target": 0.9}
    settings.update(members=2, epochs=50, update_epochs=10)
    ceilings = {}
    for scale in (1.0, 2.0):
        directory = tmp_path / f"scale{scale}"
        with Ledger.in_directory(directory) as ledger:
            ledger.add_jobs(points)
            for jid, p in points.items():
                rho = 1 + p["x"] * grid + 0.1 * rng.standard_normal(grid.size)
                ledger.mark_done(jid, {"rho": rho.tolist(), "rho_err": [0.1] * grid.size}, runtime=1.0)
            learner = CampaignLearner(
                SurrogateSettings.from_mapping({**settings, "error_scale": scale}), ["x"], directory, ledger
            )
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="hoomd_mlx.campaign.driver.learner"):
                record = learner.observe()
        ceilings[scale] = record["ceiling"]
        warned = any("above what an exact surrogate reaches" in r.message for r in caplog.records)
        assert warned == (scale == 1.0), caplog.records
    assert ceilings[1.0] == pytest.approx(0.6827, abs=1e-3)
    assert ceilings[2.0] == pytest.approx(0.9545, abs=1e-3)


def test_kernel_surrogate_steers_and_ends_the_campaign(tmp_path):
    """``model = "kernel"``: the campaign switches, and the stds it stores are the calibrated ones."""
    from hoomd_mlx.campaign.driver.learner import latest_surrogate

    raw = {
        "campaign": {"name": "learning-kernel"},
        "design": {
            "sampler": "grid",
            "parameters": {"x": {"range": [0.0, 1.5], "points": 8}, "y": {"range": [0.0, 1.0], "points": 8}},
        },
        "job": {"function": "jobs_for_campaign_tests:smooth", "isolation": "inline"},
        "resources": {"workers": 2},
        "surrogate": {
            "model": "kernel",
            "outputs": ["f", "g"],
            "tolerance": 0.05,
            "absolute_tolerance": 0.05,
            "retrain_every": 4,
            "target": 0.9,
        },
    }
    spec = spec_from_mapping(raw, source=HERE / "learning.toml")
    assert spec.surrogate.model == "kernel"
    summary = run_campaign(spec, tmp_path, progress=False)
    counts = summary["counts"]
    assert counts["predicted"] > 0, counts
    assert counts["done"] + counts["predicted"] == 64
    with Ledger.in_directory(tmp_path) as ledger:
        versions = ledger.surrogate_versions()
        predicted = ledger.jobs("predicted")
    assert len(versions) >= 2
    assert all(v["model"] == "kernel" for v in versions)
    assert all(v["accuracy"] >= 0.9 for v in versions[-2:])
    assert (tmp_path / versions[-1]["path"] / "kernel_surrogate.json").exists()
    model, record, parameters, _outputs, _ = latest_surrogate(tmp_path)
    assert type(model).__name__ == "KernelSurrogate"
    assert record["version"] == versions[-1]["version"]
    # the std recorded is the one the kernel model calibrated inside its training set
    assert record["std_scale"] == pytest.approx(model.std_scale)
    assert record["std_scale"] != 1.0
    X = np.array([[j.params[p] for p in parameters] for j in predicted])
    mean, std = model.predict(X)
    np.testing.assert_allclose(std, model.std_scale * model.members_predict(X).std(0))
    for job, m, sd in zip(predicted, mean, std, strict=True):
        assert job.result["surrogate_version"] == record["version"]
        assert job.result["f"] == pytest.approx(m[0])
        assert job.result["f_std"] == pytest.approx(sd[0])
        x, y = job.params["x"], job.params["y"]
        assert abs(job.result["f"] - (np.sin(x) + y**2)) < 0.25
    answer = predict_point(tmp_path, {"x": 0.7, "y": 0.4})
    assert abs(answer["mean"]["f"] - (np.sin(0.7) + 0.16)) < 0.2
    cli = _cli_predict(tmp_path)
    assert json.loads(cli.stdout)["mean"]["f"] == pytest.approx(answer["mean"]["f"])


def test_kernel_surrogate_predicts_channel_profiles_with_their_physics(tmp_path):
    """Cation/anion profiles over (Z, c, i): symmetric, non-negative, holding the state point's ions."""
    from hoomd_mlx.campaign.config.design import job_id
    from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
    from hoomd_mlx.campaign.driver.learner import CampaignLearner, latest_surrogate
    from hoomd_mlx.electrolyte.channel import ChannelProfiles

    bins = 12
    rng = np.random.default_rng(1)
    points = {}
    for Z in (4.0, 4.5, 5.0):
        for c in (0.2, 0.5, 0.8, 1.0):
            for i in (-0.01, -0.02):
                p = {"Z": Z, "c": c, "i": i}
                points[job_id(p)] = p
    exact = ChannelProfiles(bins=bins, grid_lengths=np.array([1.0]), grid_width=np.array([1.0 / bins]))
    u = (np.arange(bins) + 0.5) / bins
    bump = np.sin(np.pi * u) ** 0.5
    settings = SurrogateSettings.from_mapping(
        {
            "model": "kernel",
            "outputs": ["rho_pos", "rho_neg"],
            "errors": {"rho_pos": "rho_pos_err", "rho_neg": "rho_neg_err"},
            "tolerance": 0.1,
            "absolute_tolerance": 0.05,
            "error_scale": 2.0,
            "retrain_every": 1,
            "members": 4,
        }
    )
    with Ledger.in_directory(tmp_path) as ledger:
        ledger.add_jobs(points)
        finished = list(points.items())[:18]
        for jid, p in finished:
            X = np.array([[p["Z"], p["c"], p["i"]]])
            shape = np.concatenate([bump * (1 + 2 * abs(p["i"]) * np.cos(2 * np.pi * u)), bump])[None]
            shape = np.concatenate([shape[:, :bins][:, : bins // 2], shape[:, bins:][:, : bins // 2]], 1)
            rho = exact.profiles(shape, X)[0] * (1 + 0.01 * rng.standard_normal(2 * bins))
            err = [0.01] * bins
            ledger.mark_done(
                jid,
                {
                    "rho_pos": rho[:bins].tolist(),
                    "rho_neg": rho[bins:].tolist(),
                    "rho_pos_err": err,
                    "rho_neg_err": err,
                },
                runtime=1.0,
            )
        learner = CampaignLearner(settings, ["Z", "c", "i"], tmp_path, ledger)
        record = learner.observe()
        assert record is not None
        assert record["model"] == "kernel"
        channel = learner.surrogate.structure
        assert channel is not None
        assert channel.bins == bins
        assert learner.predict_remaining() == len(points) - len(finished)
        predicted = ledger.jobs("predicted")
    model = latest_surrogate(tmp_path)[0]
    assert model.structure is not None
    assert model.std_scale == pytest.approx(record["std_scale"])
    X = np.array([[j.params[k] for k in ("Z", "c", "i")] for j in predicted])
    mean, std = model.predict(X)
    profiles = np.array([j.result["rho_pos"] + j.result["rho_neg"] for j in predicted])
    stds = np.array([j.result["rho_pos_std"] + j.result["rho_neg_std"] for j in predicted])
    np.testing.assert_allclose(profiles, mean)
    np.testing.assert_allclose(stds, std)
    halves = profiles.reshape(len(X), 2, bins)
    np.testing.assert_allclose(halves, halves[:, :, ::-1])  # mirror-symmetric
    assert np.all(profiles >= 0)
    # ions per unit wall area [M nm]: c Z anions, c Z plus the walls' counter-ions cations
    np.testing.assert_allclose(halves.sum(2) * (X[:, :1] / bins), exact.counts(X))


def test_surrogate_model_must_be_keras_or_kernel():
    from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
    from hoomd_mlx.errors import ConfigurationError

    assert SurrogateSettings.from_mapping({"outputs": ["f"]}).model == "keras"
    with pytest.raises(
        ConfigurationError, match=r"surrogate\.model = 'gp'; expected one of \['keras', 'kernel'\]"
    ):
        SurrogateSettings.from_mapping({"outputs": ["f"], "model": "gp"})
    with pytest.raises(ConfigurationError, match=r"surrogate\.members = 2 with model = 'kernel'"):
        SurrogateSettings.from_mapping({"outputs": ["f"], "model": "kernel", "members": 2})
    raw = {
        "campaign": {"name": "bad-model"},
        "design": {"sampler": "grid", "parameters": {"x": {"range": [0.0, 1.0], "points": 4}}},
        "job": {"function": "jobs_for_campaign_tests:smooth", "isolation": "inline"},
        "surrogate": {"outputs": ["f"], "model": 3},
    }
    with pytest.raises(ConfigurationError, match=r"surrogate\.model"):
        spec_from_mapping(raw, source=HERE / "learning.toml")
