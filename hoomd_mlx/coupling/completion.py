"""How much of a design space a surrogate knows: calibrated bands against a tolerance.

A design point is **known** when the surrogate's calibrated two-sigma band there lies within
the tolerance. For one output that is ``2 sigma <= tolerance``. For several outputs, or a
vector output such as a density profile, the band and the error are measured as root mean
squares over the components, each in units of its own tolerance:

* the point's error ``e(x) = rms_b |mean_b - truth_b| / tol_b`` (it *meets the tolerance*
  when ``e <= 1``: its profile is off by at most one tolerance in the rms over bins);
* the point's band ``u(x) = rms_b sigma_b / tol_b`` (``sigma``: the surrogate's calibrated
  standard deviation);
* a **point calibration** ``c`` makes ``e <= 2 c u`` hold for ``TWO_SIGMA`` (95.45%) of
  points the model did not train on (`PointCalibration`): a per-component calibration does
  not carry over to an rms over many correlated bins, so the point statement is calibrated
  as a whole;
* known: ``2 c u(x) <= 1``. A known point then meets its tolerance at least as often as the
  calibration promises (95.45%), because ``e <= 2 c u <= 1`` whenever the band holds.

The **completion** of a design space is the share of it that is known, estimated on
randomised quasi-random (scrambled Sobol) samples of the space: ``replicas`` independent
scramblings give the mean and its standard error (`design_completion`).

NumPy and SciPy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "TWO_SIGMA",
    "Completion",
    "PointCalibration",
    "design_completion",
    "nearest_rows",
    "point_band",
    "point_error",
    "unit_samples",
]

TWO_SIGMA = 0.9545
"""float: Coverage of +-2 standard deviations of a normal distribution."""


def _per_tolerance(values: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    values, tolerance = np.atleast_2d(values), np.atleast_2d(tolerance)
    if np.any(tolerance <= 0):
        raise ValueError("every tolerance must be > 0 (give the outputs error bars or a tolerance floor)")
    return np.sqrt(np.mean(np.square(values / tolerance), axis=1))


def point_error(mean: np.ndarray, truth: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """(S,) rms over outputs of ``|mean - truth| / tolerance``: 1 is one tolerance off."""
    return _per_tolerance(np.asarray(mean, np.float64) - np.asarray(truth, np.float64), tolerance)


def point_band(std: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """(S,) rms over outputs of ``std / tolerance`` (before the point calibration)."""
    return _per_tolerance(np.asarray(std, np.float64), tolerance)


@dataclass(frozen=True)
class PointCalibration:
    """The factor ``scale`` that makes ``point_error <= 2 scale point_band`` hold at ``target``.

    Attributes:
        scale: Multiplies the band (1: the per-output calibration carries over as it is).
        target: Wanted share of points within their band.
        samples: Points the calibration was measured on (out of fold, or held out).
    """

    scale: float = 1.0
    target: float = TWO_SIGMA
    samples: int = 0

    @classmethod
    def fit(
        cls,
        mean: np.ndarray,
        std: np.ndarray,
        truth: np.ndarray,
        tolerance: np.ndarray,
        target: float = TWO_SIGMA,
    ) -> PointCalibration:
        """Calibrate on points the model did not train on (their predictions and true values)."""
        error, band = point_error(mean, truth, tolerance), point_band(std, tolerance)
        exact = band <= 0
        covered_exactly = float(np.mean(exact & (error <= 0)))
        share = float(np.mean(~exact))
        if not share:
            return cls(1.0, target, len(error))
        wanted = float(np.clip((target - covered_exactly) / share, 0.0, 1.0))
        # split conformal prediction's order statistic, ceil((n + 1) q): a new point is within its
        # band with probability at least q when it is exchangeable with these (few points: wide bands)
        ratio = np.sort(error[~exact] / band[~exact])
        rank = min(len(ratio) - 1, math.ceil(wanted * (len(ratio) + 1)) - 1) if wanted > 0 else 0
        return cls(float(ratio[max(rank, 0)] / 2.0), target, len(error))

    def half_width(self, std: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
        """(S,) the calibrated two-sigma band in units of the tolerance (known: <= 1)."""
        return 2.0 * self.scale * point_band(std, tolerance)

    def known(self, std: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
        """(S,) bool: the calibrated band lies within the tolerance."""
        return self.half_width(std, tolerance) <= 1.0

    def to_dict(self) -> dict:
        """dict: JSON-able fields."""
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    """The known share of a design space.

    Attributes:
        share: Mean over the replicas of the known share of their samples.
        error: Standard error of ``share`` (the replicas' spread / sqrt(replicas)).
        points: Samples per replica.
        replicas: Independent scramblings.
    """

    share: float
    error: float
    points: int
    replicas: int

    def to_dict(self) -> dict:
        """dict: JSON-able fields."""
        return asdict(self)


def unit_samples(dims: int, points: int = 512, replicas: int = 8, seed: int = 0) -> np.ndarray:
    """(replicas, points, dims) scrambled Sobol samples of the unit cube (points: a power of 2)."""
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(max(points, 1))))
    rng = np.random.default_rng(seed)
    return np.stack([qmc.Sobol(d=dims, scramble=True, seed=rng).random_base2(m) for _ in range(replicas)])


def design_completion(known: Callable[[np.ndarray], np.ndarray], samples: np.ndarray) -> Completion:
    """The known share of a space: ``known`` maps (S, dims) unit-cube points to (S,) bools."""
    shares = np.array([np.mean(known(replica)) for replica in samples])
    spread = float(shares.std(ddof=1)) if len(shares) > 1 else float("nan")
    return Completion(float(shares.mean()), spread / math.sqrt(len(shares)), samples.shape[1], len(shares))


def nearest_rows(X_train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """(S,) index of the nearest training input to each row of ``X`` (inputs standardised).

    The error bar a simulation at a new point would have is taken from its nearest simulated
    neighbour.
    """
    from scipy.spatial import cKDTree

    X_train, X = np.atleast_2d(X_train), np.atleast_2d(X)
    mu, sd = X_train.mean(0), X_train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return cKDTree((X_train - mu) / sd).query((X - mu) / sd)[1]
