"""Surrogate metrics: the published within-error-bar accuracy, its noise ceiling, and coverage.

NumPy and SciPy only (no TensorFlow), so campaign code and benchmarks can import them cheaply.
"""

from __future__ import annotations

import numpy as np

__all__ = ["coverage", "integrated_counts", "perfect_accuracy", "within_error_bar_accuracy"]


def within_error_bar_accuracy(pred: np.ndarray, truth: np.ndarray, error: np.ndarray) -> float:
    """The published surrogate metric (mean over bins of the within-error-bar fraction).

    For each output bin, the fraction of samples with ``|pred - truth| <= error``;
    then the mean over bins.

    Args:
        pred: (S, D) predictions.
        truth: (S, D) reference values.
        error: (S, D) error bars of the reference.
    """
    pred, truth, error = (np.asarray(a, dtype=np.float64) for a in (pred, truth, error))
    if not pred.shape == truth.shape == error.shape:
        raise ValueError(f"shapes differ: pred {pred.shape}, truth {truth.shape}, error {error.shape}")
    return float(np.mean(np.abs(pred - truth) <= error))  # every bin has S samples: mean of means


def perfect_accuracy(error: np.ndarray, noise: np.ndarray) -> float:
    """The within-error-bar accuracy that an exact surrogate would reach.

    A simulation's result scatters about the true value by its standard error
    ``noise``, so even the true value lies within ``error`` of it only with
    probability erf(error / (sqrt(2) noise)): 0.68 when ``error`` is one standard
    error, 0.95 at two. A target above this ceiling is never reached.

    Args:
        error: (S, D) error bars used by `within_error_bar_accuracy`.
        noise: (S, D) standard errors of the results (0 where exact).
    """
    from scipy.special import erf

    error, noise = (np.asarray(a, dtype=np.float64) for a in (error, noise))
    p = np.where(noise > 0, erf(error / (np.sqrt(2.0) * np.where(noise > 0, noise, 1.0))), 1.0)
    return float(p.mean())  # the mean over bins of per-bin fractions (all bins have S samples)


def coverage(mean: np.ndarray, std: np.ndarray, truth: np.ndarray, k: float = 2.0) -> float:
    """float: Fraction of (sample, output) pairs with ``|truth - mean| <= k std``.

    Outputs predicted exactly (std 0) count as covered only where the prediction is exact.
    A calibrated Gaussian uncertainty covers 0.683 at ``k = 1`` and 0.954 at ``k = 2``.
    """
    mean, std, truth = (np.asarray(a, dtype=np.float64) for a in (mean, std, truth))
    return float(np.mean(np.abs(truth - mean) <= k * std))


def integrated_counts(profiles: np.ndarray, bin_width: np.ndarray, species: int = 2) -> np.ndarray:
    """(S, species) integrals of density profiles laid end to end: sum(rho) * dz [density * length].

    Args:
        profiles: (S, species * bins) densities, one species after the other.
        bin_width: (S,) bin width of each profile.
        species: How many profiles are laid end to end in each row.
    """
    profiles = np.asarray(profiles, dtype=np.float64)
    parts = profiles.reshape(len(profiles), species, -1)
    return parts.sum(axis=2) * np.asarray(bin_width, dtype=np.float64)[:, None]
