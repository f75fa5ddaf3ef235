"""A kernel-interpolation surrogate: anisotropic polyharmonic splines, chosen by cross-validation.

`KernelSurrogate` interpolates outputs over standardised inputs with a polyharmonic spline
(``scipy.interpolate.RBFInterpolator``) whose per-input length weights and kernel are chosen
by K-fold cross-validation *inside the training set*, scored with the metric the surrogate
is judged by (the within-error-bar accuracy when error bars are given). Uncertainty comes
from a jackknife ensemble, one member per fold, and is calibrated: the members' spread is
scaled so that two standard deviations cover ``coverage_target`` of out-of-fold residuals,
measured by a nested cross-validation that again never leaves the training set.

With ``structure=ChannelProfiles(...)`` it learns the *shapes* of confined-ion profiles and
returns profiles that are mirror-symmetric, non-negative and hold the ion counts of the
state point (see `hoomd_mlx.electrolyte.channel`).

NumPy and SciPy only.

Example::

    channel = ChannelProfiles.from_grids(data.X[:, 0], data.z)
    s = KernelSurrogate(structure=channel).fit(X, Y, error=E)
    mean, std = s.predict(X_new)      # std calibrated: mean +- 2 std covers ~95%
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.interpolate import RBFInterpolator

from hoomd_mlx.coupling.completion import PointCalibration
from hoomd_mlx.coupling.metrics import coverage, within_error_bar_accuracy

__all__ = ["KernelSurrogate"]

logger = logging.getLogger(__name__)

TWO_SIGMA = 0.9545
"""float: Coverage of +-2 standard deviations of a normal distribution."""


class OutputStructure(Protocol):
    """What a surrogate's outputs are made of: it learns the ``shapes`` and answers ``profiles``."""

    def shapes(self, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Outputs ``Y`` at inputs ``X`` -> what the surrogate learns."""

    def profiles(self, shapes: np.ndarray, X: np.ndarray) -> np.ndarray:
        """What the surrogate learned -> outputs at ``X``."""

    def to_dict(self) -> dict:
        """dict: JSON-able state (``type(self).from_dict`` rebuilds it)."""


def _structure_state(structure: OutputStructure | None) -> dict | None:
    if structure is None:
        return None
    kind = type(structure)
    return {"type": f"{kind.__module__}:{kind.__qualname__}", "state": structure.to_dict()}


# surrogates saved before the output structure was generic held the confined ions' profiles
_CHANNEL_PROFILES = "hoomd_mlx.electrolyte.channel:ChannelProfiles"


def _load_structure(state: dict) -> OutputStructure | None:
    if state.get("channel"):
        saved = {"type": _CHANNEL_PROFILES, "state": state["channel"]}
    else:
        saved = state.get("structure")
    if not saved:
        return None
    module, _, name = saved["type"].partition(":")
    return getattr(importlib.import_module(module), name).from_dict(saved["state"])


class KernelSurrogate:
    """Design parameters -> outputs by interpolation, with a calibrated jackknife uncertainty.

    Args:
        structure: What the outputs are made of (an `OutputStructure`, e.g. the confined ions'
            `hoomd_mlx.electrolyte.channel.ChannelProfiles`: symmetry, non-negativity, ion
            counts): the surrogate learns its ``shapes`` and answers its ``profiles``; None for
            plain outputs.
        nonnegative: Clip plain outputs at zero (with ``structure`` it decides).
        kernels: Kernels to choose from (``RBFInterpolator`` names).
        weight_grid: Values tried for each input's weight (multiplying the standardised input;
            a large weight makes that input matter more, as a short GP length scale would).
        passes: Coordinate-descent passes over the inputs when choosing the weights.
        folds: K of the K-fold cross-validation, and the number of ensemble members.
        coverage_target: Wanted coverage of ``mean +- 2 std`` (the calibration).
        seed: Seed of the fold assignment.
    """

    def __init__(
        self,
        structure: OutputStructure | None = None,
        nonnegative: bool = False,
        kernels: Sequence[str] = ("cubic", "thin_plate_spline"),
        weight_grid: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0),
        passes: int = 2,
        folds: int = 5,
        coverage_target: float = TWO_SIGMA,
        seed: int = 0,
    ) -> None:
        if folds < 3:
            raise ValueError(f"folds = {folds}: cross-validation and the ensemble need at least 3")
        self.structure = structure
        self.config = {
            "nonnegative": bool(nonnegative),
            "kernels": list(kernels),
            "weight_grid": [float(w) for w in weight_grid],
            "passes": int(passes),
            "folds": int(folds),
            "coverage_target": float(coverage_target),
            "seed": int(seed),
        }
        self.X = self.Y = self.error = None
        self.kernel: str | None = None
        self.weights: np.ndarray | None = None
        self.std_scale = 1.0
        self.cv_accuracy = float("nan")
        self.cv_coverage: dict[str, float] = {}
        self.point_calibration: PointCalibration | None = None
        self._full = None
        self._members: list = []

    # -- the pieces -------------------------------------------------------------------------

    def _targets(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return self.structure.shapes(Y, X) if self.structure is not None else Y

    def _outputs(self, X: np.ndarray, T: np.ndarray) -> np.ndarray:
        if self.structure is not None:
            return self.structure.profiles(T, X)
        return np.maximum(T, 0.0) if self.config["nonnegative"] else T

    def _interpolant(self, rows: np.ndarray, kernel: str, weights: np.ndarray):
        """A function X -> outputs, interpolating the training rows ``rows``."""
        X, T = self.X[rows], self._T[rows]
        mu, sd = X.mean(0), X.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        scaled = (X - mu) / sd * weights
        # the linear term needs the rows to span the inputs (not so when a fold leaves, say, one
        # value of an input): otherwise a constant one
        monomials = np.column_stack([np.ones(len(rows)), scaled])
        degree = 1 if np.linalg.matrix_rank(monomials) == X.shape[1] + 1 else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # degree 0 is below the kernels' minimum
            spline = RBFInterpolator(scaled, T, kernel=kernel, degree=degree)

        def predict(x: np.ndarray) -> np.ndarray:
            return self._outputs(x, spline((x - mu) / sd * weights))

        return predict

    def _folds(self, n: int) -> list[np.ndarray]:
        order = np.random.default_rng(self.config["seed"]).permutation(n)
        return [np.sort(f) for f in np.array_split(order, min(self.config["folds"], n))]

    def _score(self, pred: np.ndarray, rows: np.ndarray) -> float:
        if np.any(self.error[rows] > 0):
            return within_error_bar_accuracy(pred, self.Y[rows], self.error[rows])
        spread = self.Y.var(0)
        return -float(np.mean((pred - self.Y[rows]) ** 2 / np.where(spread > 0, spread, 1.0)))

    def _cv_score(self, kernel: str, weights: np.ndarray, folds: list[np.ndarray]) -> float:
        n = len(self.X)
        pred = np.empty_like(self.Y)
        for fold in folds:
            keep = np.setdiff1d(np.arange(n), fold)
            pred[fold] = self._interpolant(keep, kernel, weights)(self.X[fold])
        return self._score(pred, np.arange(n))

    def _choose(self, folds: list[np.ndarray]) -> tuple[str, np.ndarray, float]:
        """Kernel and input weights with the best cross-validated score (coordinate descent)."""
        dims = self.X.shape[1]
        cache: dict[tuple, float] = {}

        def score(kernel: str, weights: np.ndarray) -> float:
            key = (kernel, *np.round(weights, 6))
            if key not in cache:
                cache[key] = self._cv_score(kernel, weights, folds)
            return cache[key]

        best = (None, None, -np.inf)
        for kernel in self.config["kernels"]:
            weights = np.ones(dims)
            for _, dim in itertools.product(range(self.config["passes"]), range(dims)):
                trials = []
                for w in self.config["weight_grid"]:
                    trial = weights.copy()
                    trial[dim] = w
                    trials.append((score(kernel, trial), -abs(np.log(w)), w))
                weights[dim] = max(trials)[2]  # ties: the weight closest to 1
            value = score(kernel, weights)
            if value > best[2]:
                best = (kernel, weights.copy(), value)
        logger.info("kernel surrogate: %d settings tried by cross-validation", len(cache))
        return best

    def _calibrate(self, folds: list[np.ndarray]) -> None:
        """Scale the members' spread so that +-2 std covers ``coverage_target`` out of fold."""
        n = len(self.X)
        residual, spread = np.empty_like(self.Y), np.empty_like(self.Y)
        for k, fold in enumerate(folds):
            keep = np.setdiff1d(np.arange(n), fold)
            residual[fold] = self.Y[fold] - self._members[k](self.X[fold])  # the member without this fold
            inner = [
                self._interpolant(np.setdiff1d(keep, other), self.kernel, self.weights)(self.X[fold])
                for j, other in enumerate(folds)
                if j != k
            ]
            spread[fold] = np.std(inner, axis=0)
        exact = spread <= 0
        covered_exactly = float(np.mean(exact & (residual == 0)))
        share = float(np.mean(~exact))
        wanted = np.clip((self.config["coverage_target"] - covered_exactly) / max(share, 1e-12), 0.0, 1.0)
        ratio = np.abs(residual[~exact]) / spread[~exact]
        self.std_scale = float(np.quantile(ratio, wanted) / 2.0) if ratio.size else 1.0
        self.cv_coverage = {
            "1_sigma_raw": coverage(0, spread, residual, 1.0),
            "2_sigma_raw": coverage(0, spread, residual, 2.0),
            "1_sigma": coverage(0, self.std_scale * spread, residual, 1.0),
            "2_sigma": coverage(0, self.std_scale * spread, residual, 2.0),
        }
        # the whole point's band against its tolerance (the error bars it was fitted with),
        # calibrated out of fold too (`hoomd_mlx.coupling.completion`)
        self.point_calibration = None
        if np.all(self.error > 0):
            self.point_calibration = PointCalibration.fit(
                np.zeros_like(residual), self.std_scale * spread, residual, self.error
            )

    def _build(self, folds: list[np.ndarray]) -> None:
        rows = np.arange(len(self.X))
        self._full = self._interpolant(rows, self.kernel, self.weights)
        self._members = [
            self._interpolant(np.setdiff1d(rows, fold), self.kernel, self.weights) for fold in folds
        ]

    # -- training ---------------------------------------------------------------------------

    def fit(self, X: np.ndarray, Y: np.ndarray, error: np.ndarray | None = None) -> KernelSurrogate:
        """Choose kernel and weights by cross-validation, calibrate, build; returns self."""
        X, Y = np.atleast_2d(np.asarray(X, np.float64)), np.atleast_2d(np.asarray(Y, np.float64))
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        if len(X) < self.config["folds"] + X.shape[1] + 2:
            raise ValueError(
                f"{len(X)} samples are too few for {self.config['folds']}-fold cross-validation "
                f"over {X.shape[1]} inputs (need {self.config['folds'] + X.shape[1] + 2})"
            )
        self.X, self.Y = X, Y
        self.error = np.zeros_like(Y) if error is None else np.asarray(error, np.float64).reshape(Y.shape)
        self._T = self._targets(X, Y)
        folds = self._folds(len(X))
        self.kernel, self.weights, self.cv_accuracy = self._choose(folds)
        self._build(folds)
        self._calibrate(folds)
        logger.info(
            "kernel surrogate on %d samples: %s, weights %s, cross-validated score %.4f, std x %.3g",
            len(X),
            self.kernel,
            np.round(self.weights, 3).tolist(),
            self.cv_accuracy,
            self.std_scale,
        )
        return self

    def update(
        self, X_new: np.ndarray, Y_new: np.ndarray, error: np.ndarray | None = None
    ) -> KernelSurrogate:
        """Add samples and fit again (interpolation has no warm start worth having: fits take seconds)."""
        if self.X is None:
            return self.fit(X_new, Y_new, error)
        X_new = np.atleast_2d(np.asarray(X_new, np.float64))
        Y_new = np.atleast_2d(np.asarray(Y_new, np.float64))
        e_new = np.zeros_like(Y_new) if error is None else np.asarray(error, np.float64).reshape(Y_new.shape)
        return self.fit(
            np.concatenate([self.X, X_new]),
            np.concatenate([self.Y, Y_new]),
            np.concatenate([self.error, e_new]),
        )

    # -- using it ---------------------------------------------------------------------------

    def members_predict(self, X: np.ndarray) -> np.ndarray:
        """(M, S, D) predictions of the jackknife members (each left one fold out)."""
        if self._full is None:
            raise RuntimeError("call fit first: the surrogate has not been trained")
        X = np.atleast_2d(np.asarray(X, np.float64))
        return np.stack([m(X) for m in self._members])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std), each (S, D): the interpolant of all data and the calibrated member spread."""
        if self._full is None:
            raise RuntimeError("call fit first: the surrogate has not been trained")
        X = np.atleast_2d(np.asarray(X, np.float64))
        return self._full(X), self.std_scale * self.members_predict(X).std(0)

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Save to directory ``path`` (settings, the choices made, training data)."""
        if self._full is None:
            raise RuntimeError("call fit first: there is nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {
            "config": self.config,
            "structure": _structure_state(self.structure),
            "kernel": self.kernel,
            "weights": self.weights.tolist(),
            "std_scale": self.std_scale,
            "cv_accuracy": self.cv_accuracy,
            "cv_coverage": self.cv_coverage,
            "point_calibration": self.point_calibration.to_dict() if self.point_calibration else None,
        }
        (path / "kernel_surrogate.json").write_text(json.dumps(state))
        np.savez(path / "data.npz", X=self.X, Y=self.Y, error=self.error)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KernelSurrogate:
        """A surrogate saved with `save` (rebuilt from its data with the saved choices: no search)."""
        path = Path(path)
        state = json.loads((path / "kernel_surrogate.json").read_text())
        surrogate = cls(structure=_load_structure(state), **state["config"])
        with np.load(path / "data.npz") as data:
            surrogate.X, surrogate.Y, surrogate.error = data["X"], data["Y"], data["error"]
        surrogate._T = surrogate._targets(surrogate.X, surrogate.Y)
        surrogate.kernel, surrogate.weights = state["kernel"], np.asarray(state["weights"])
        surrogate.std_scale, surrogate.cv_accuracy = state["std_scale"], state["cv_accuracy"]
        surrogate.cv_coverage = state["cv_coverage"]
        folds = surrogate._folds(len(surrogate.X))
        surrogate._build(folds)
        if "point_calibration" not in state:  # saved before it existed: the same folds give it again
            surrogate._calibrate(folds)
        elif state["point_calibration"]:
            surrogate.point_calibration = PointCalibration(**state["point_calibration"])
        return surrogate
