"""The deep-ensemble surrogate on the 120 published confined-electrolyte profiles (no HOOMD)."""

import numpy as np
import pytest
from scipy.interpolate import RBFInterpolator

from hoomd_mlx.coupling import (
    Surrogate,
    load_nanoconfinement_profiles,
    perfect_accuracy,
    within_error_bar_accuracy,
)


def test_within_error_bar_accuracy():
    truth = np.zeros((4, 2))
    error = np.full((4, 2), 0.1)
    pred = np.array([[0.05, 0.2], [0.0, 0.0], [-0.1, 0.3], [0.5, 0.0]])
    # bin 0: 3 of 4 within; bin 1: 2 of 4 within
    assert within_error_bar_accuracy(pred, truth, error) == pytest.approx((0.75 + 0.5) / 2)
    with pytest.raises(ValueError, match="shapes differ"):
        within_error_bar_accuracy(pred[:2], truth, error)


@pytest.fixture(scope="module")
def profiles():
    try:
        return load_nanoconfinement_profiles()
    except FileNotFoundError as err:
        pytest.skip(f"reference data not available: {err}")


@pytest.fixture(scope="module")
def split(profiles):
    order = np.random.default_rng(3).permutation(len(profiles.X))
    return order[:90], order[90:]


@pytest.fixture(scope="module")
def fitted(profiles, split):
    train, _ = split
    return Surrogate(nonnegative=True, seed=0).fit(
        profiles.X[train], profiles.Y[train], profiles.error[train]
    )


def test_loader(profiles):
    assert profiles.X.shape == (120, 3)
    assert profiles.Y.shape == profiles.error.shape == (120, 1004)
    assert set(np.unique(profiles.X[:, 0])) == {4.0, 4.2, 4.4, 4.6, 4.8, 5.0}


def test_surrogate_beats_interpolation(profiles, split, fitted):
    """Within-error-bar accuracy on the held-out quarter, against cubic RBF interpolation."""
    train, test = split
    mean, std = fitted.predict(profiles.X[test])
    ours = within_error_bar_accuracy(mean, profiles.Y[test], profiles.error[test])
    mu, sigma = profiles.X[train].mean(0), profiles.X[train].std(0)
    rbf = RBFInterpolator((profiles.X[train] - mu) / sigma, profiles.Y[train], kernel="cubic")
    baseline = within_error_bar_accuracy(
        np.maximum(rbf((profiles.X[test] - mu) / sigma), 0), profiles.Y[test], profiles.error[test]
    )
    assert ours >= 0.97, f"surrogate {ours:.4f}"
    assert ours > baseline, f"surrogate {ours:.4f} vs RBF {baseline:.4f}"
    assert std.shape == mean.shape
    assert (std >= 0).all()
    assert std.mean() > 0


def test_uncertainty_grows_outside_the_data(profiles, fitted):
    inside = fitted.predict(profiles.X[:10])[1].mean()
    far = profiles.X[:10] * np.array([2.0, 3.0, 4.0])  # far outside Z, c, i of the data
    assert fitted.predict(far)[1].mean() > 2 * inside


def test_save_load_round_trip(tmp_path, profiles, fitted):
    fitted.save(tmp_path / "s")
    loaded = Surrogate.load(tmp_path / "s")
    a = fitted.members_predict(profiles.X[:7])
    np.testing.assert_array_equal(loaded.members_predict(profiles.X[:7]), a)
    np.testing.assert_array_equal(loaded.X, fitted.X)


def test_update_learns_without_forgetting(profiles, split):
    train, test = split
    first, later = train[:60], train[60:]
    X, Y, E = profiles.X, profiles.Y, profiles.error
    s = Surrogate(nonnegative=True, seed=1).fit(X[first], Y[first], E[first])
    old_val = within_error_bar_accuracy(s.predict(X[test])[0], Y[test], E[test])
    new_before = within_error_bar_accuracy(s.predict(X[later])[0], Y[later], E[later])
    s.update(X[later], Y[later], E[later])
    assert len(s.X) == 90
    old_after = within_error_bar_accuracy(s.predict(X[test])[0], Y[test], E[test])
    new_after = within_error_bar_accuracy(s.predict(X[later])[0], Y[later], E[later])
    assert new_after > new_before  # it learned the new samples
    assert old_after >= old_val - 0.01  # and did not forget


def test_perfect_accuracy_is_the_noise_ceiling():
    """An exact prediction against noisy results scores what `perfect_accuracy` says."""
    rng = np.random.default_rng(3)
    mean = rng.uniform(0.5, 2.0, size=(4000, 6))
    noise = rng.uniform(0.01, 0.2, size=mean.shape)
    truth = mean + noise * rng.standard_normal(mean.shape)
    for scale, expected in ((1.0, 0.6827), (2.0, 0.9545)):
        assert perfect_accuracy(scale * noise, noise) == pytest.approx(expected, abs=1e-4)
        measured = within_error_bar_accuracy(mean, truth, scale * noise)
        assert measured == pytest.approx(expected, abs=0.01)
    # floors above the noise raise the ceiling; exact results (no noise) put it at 1
    assert perfect_accuracy(np.maximum(noise, 0.1), noise) > 0.6827 + 0.05
    assert perfect_accuracy(noise, np.zeros_like(noise)) == 1.0


def test_stopping_at_the_error_bars_keeps_noise_out():
    """Noisy results: a fit stopped at its error bars predicts the truth better than one fit to the noise."""
    rng = np.random.default_rng(5)
    grid = np.linspace(0.0, 1.0, 30)

    def truth(x):  # smooth profiles over 30 bins, set by two parameters
        return 1.0 + x[:, :1] * np.sin(np.pi * grid) + 0.5 * x[:, 1:] * grid

    X = rng.uniform(0, 1, size=(60, 2))
    noise = 0.1
    Y = truth(X) + noise * rng.standard_normal((60, grid.size))
    E = np.full_like(Y, noise)
    train, test = slice(0, 16), slice(16, None)
    errors = {}
    for stop in (False, True):
        s = Surrogate(members=4, epochs=1500, stop_at_error_bars=stop, seed=0)
        s.fit(X[train], Y[train], E[train])
        errors[stop] = np.sqrt(np.mean((s.predict(X[test])[0] - truth(X[test])) ** 2))
        if stop:  # it stopped where the training residuals reach the error bars, not far below
            z = (s.members_predict(X[train]) - Y[train][None]) / noise
            assert np.mean(z**2, axis=(1, 2)).max() <= 1.0
            assert np.mean(z**2) > 0.3
    assert errors[True] < 0.8 * errors[False], errors
    assert errors[True] < noise, errors  # closer to the truth than a single noisy result
