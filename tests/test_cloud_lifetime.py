"""VM lifetime models: the SciSpot fit, normalisation, hazard, sampling, refits from a ledger."""

import json

import numpy as np
import pytest

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.cloud import data as cloud_data
from hoomd_mlx.cloud.lifetime import (
    FAMILIES,
    SCISPOT_PUBLISHED,
    PreemptionModel,
    fit_lifetimes,
    kaplan_meier,
    load_model,
    refit_from_events,
    scispot_model,
)
from hoomd_mlx.errors import ConfigurationError, HoomdMlxError, ModelFitError


def _scispot_data():
    try:
        return cloud_data.load_scispot_lifetimes()
    except FileNotFoundError as err:
        pytest.skip(f"SciSpot lifetimes not available: {err}")


@pytest.fixture(scope="module")
def fits():
    _scispot_data()
    return {family: scispot_model(family) for family in FAMILIES}


def test_scispot_fit_recovers_the_published_parameters(fits):
    model = fits["scispot"]
    p = model.params
    assert p["A"] == pytest.approx(0.41, abs=0.02)
    assert p["tau1"] == pytest.approx(0.95, abs=0.05)
    assert p["tau2"] == pytest.approx(0.77, abs=0.05)
    assert p["b"] == pytest.approx(24.5, abs=0.15)
    assert model.raw_cdf(24.0) == pytest.approx(0.64, abs=0.02)  # not a distribution as fitted
    # the bathtub fits far better than the baselines, on every measure
    for baseline in ("exponential", "weibull"):
        assert model.goodness["rmse"] < 0.5 * fits[baseline].goodness["rmse"]
        assert model.goodness["ks"] < fits[baseline].goodness["ks"]
        assert model.goodness["r2"] > fits[baseline].goodness["r2"]
    assert model.goodness["rmse"] < 0.06
    assert model.goodness["n"] == 717


def test_baselines_are_fitted_properly(fits):
    t, ecdf = _scispot_data()
    # least squares beats the maximum-likelihood start it came from, on the same criterion
    from scipy import stats

    shape, _, scale = stats.weibull_min.fit(t, floc=0)
    mle = np.sqrt(np.mean((stats.weibull_min.cdf(t, shape, 0, scale) - ecdf) ** 2))
    assert fits["weibull"].goodness["rmse_raw"] < mle
    exponential = fits["exponential"]
    assert np.allclose(exponential.hazard([0.5, 5.0, 20.0]), 1 / exponential.params["scale"])


@pytest.mark.parametrize("cap", [None, 24.0])
def test_normalised_distribution_reaches_one_at_the_cap(fits, cap):
    model = fits["scispot"] if cap is None else fits["scispot"].with_cap(cap)
    t = np.linspace(-1, 30, 20001)
    cdf = model.cdf(t)
    assert np.all(np.diff(cdf) >= 0)
    assert cdf[0] == 0
    assert model.cdf(model.end) == 1.0
    assert model.survival(model.end) == 0.0
    assert model.cdf(np.nextafter(model.end, 0)) + model.atom == pytest.approx(1.0, abs=1e-9)
    if cap is None:  # the fitted curve ends by itself, where it reaches 1
        assert model.end == pytest.approx(24.72, abs=0.02)
        assert model.atom < 1e-9
    else:  # the documented 24 h limit: what the curve leaves is an atom there
        assert model.end == 24.0
        assert model.atom == pytest.approx(1 - model.raw_cdf(24.0))
    # mean = integral of the survival function = mean of samples (the atom included)
    samples = model.sample(np.random.default_rng(5), 200_000)
    assert samples.max() <= model.end
    assert samples.mean() == pytest.approx(model.mean, rel=0.01)
    assert np.mean(samples == model.end) == pytest.approx(model.atom, abs=0.005)


def test_baselines_get_an_atom_at_the_longest_lifetime(fits):
    t, _ = _scispot_data()
    for family in ("exponential", "weibull"):
        model = fits[family]
        assert model.end == pytest.approx(t.max())
        assert model.atom == pytest.approx(1 - model.raw_cdf(t.max()))
        assert model.cdf(t.max()) == 1.0


def test_hazard_is_a_bathtub_and_remaining_life_matches_samples(fits, rng):
    model = fits["scispot"]
    h = model.hazard([0.0, 1.0, 6.0, 12.0, 23.0, 24.5])
    assert h[0] > 0.3
    assert h[0] > h[1] > h[2]
    assert h[2] < 1e-2
    assert h[3] < h[4] < h[5]
    assert np.isinf(model.hazard(model.end))
    samples = model.sample(rng, 400_000)
    for age in (0.5, 5.0, 20.0, 24.0):
        alive = samples[samples > age]
        assert model.expected_remaining(age) == pytest.approx((alive - age).mean(), rel=0.02)
        assert model.survival(age) == pytest.approx(np.mean(samples > age), abs=0.003)


def test_model_json_round_trip_and_errors(tmp_path):
    model = PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=24.83)
    again = load_model(model.save(tmp_path / "model.json"))
    assert again.params == model.params
    assert again.end == model.end
    with pytest.raises(ConfigurationError, match="no such file") as info:
        load_model(tmp_path / "missing.json")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, HoomdMlxError)
    (tmp_path / "bad.json").write_text(json.dumps({"params": {}}))
    with pytest.raises(ConfigurationError, match="'family'"):
        load_model(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match="needs parameters"):
        PreemptionModel("weibull", {"shape": 1.0})
    with pytest.raises(ModelFitError, match="observed VM deaths") as info:
        fit_lifetimes([1.0, 2.0, 3.0])
    assert isinstance(info.value, RuntimeError)


def test_published_parameters_without_the_data(monkeypatch):
    def absent(relative):
        raise FileNotFoundError(relative)

    monkeypatch.setattr(cloud_data, "find_scispot_file", absent)
    model = scispot_model()
    assert model.params == SCISPOT_PUBLISHED
    assert model.goodness is None
    assert model.end < 24.83
    assert model.cdf(model.end) == 1.0
    with pytest.raises(FileNotFoundError):
        scispot_model("weibull")


def test_kaplan_meier_with_censoring():
    times, cdf = kaplan_meier([1, 2, 2, 3, 4], [True, True, False, True, False])
    assert times.tolist() == [1, 2, 3]
    assert np.allclose(cdf, [0.2, 0.4, 0.7])
    times, cdf = kaplan_meier([1, 1, 2, 3])  # ties, no censoring: i / n
    assert times.tolist() == [1, 2, 3]
    assert np.allclose(cdf, [0.5, 0.75, 1.0])


def test_refit_from_the_ledger_recovers_the_model(tmp_path):
    truth = PreemptionModel("scispot", {"A": 0.3, "tau1": 2.0, "tau2": 0.5, "b": 24.3}, cap=24.8)
    prior = PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=24.83)
    rng = np.random.default_rng(3)
    lifetimes = truth.sample(rng, 1500)
    censor = rng.uniform(0, 30, len(lifetimes))  # VMs still alive when the driver stopped
    with Ledger.in_directory(tmp_path) as ledger:
        for k, (life, stop) in enumerate(zip(lifetimes[:20], censor[:20], strict=True)):
            kind, age = ("vm-preempted", life) if life <= stop else ("vm-censored", stop)
            ledger.event(kind, None, {"worker": f"w{k}", "age_hours": float(age)})
        assert refit_from_events(ledger.events(), prior) is prior  # too few deaths: keep the prior
        for k, (life, stop) in enumerate(zip(lifetimes[20:], censor[20:], strict=True)):
            kind, age = ("vm-lost", life) if life <= stop else ("vm-censored", stop)
            ledger.event(kind, None, {"worker": f"v{k}", "age_hours": float(age)})
        ledger.event("preempted", "job", "worker lost")  # other events are ignored
        refit = refit_from_events(ledger.events(), prior)
    assert refit is not prior
    assert refit.goodness["censored"]
    assert refit.params["A"] == pytest.approx(0.3, abs=0.05)
    assert refit.params["tau1"] == pytest.approx(2.0, rel=0.3)
    assert refit.params["b"] == pytest.approx(24.3, abs=0.3)
    grid = np.linspace(0, 24, 100)
    assert np.max(np.abs(refit.cdf(grid) - truth.cdf(grid))) < 0.05
