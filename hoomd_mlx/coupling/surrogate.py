"""Surrogates: design parameters -> simulation outputs, a Keras deep ensemble with uncertainty.

`Surrogate` keeps ``members`` networks with different random initialisations in
one Keras model whose weights carry a leading member axis, so the whole
ensemble trains in one compiled step. Input and output scaling are layers of
that model, so a saved surrogate predicts in the simulation's units.

Training can use the simulations' error bars through `soft_label_loss`: no
penalty while a prediction stays within half an error bar of the target.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hoomd_mlx.coupling.completion import PointCalibration
from hoomd_mlx.coupling.metrics import coverage, perfect_accuracy, within_error_bar_accuracy

# the metrics are re-exported from hoomd_mlx.coupling.metrics
__all__ = ["Surrogate", "perfect_accuracy", "soft_label_loss", "within_error_bar_accuracy"]

logger = logging.getLogger(__name__)


def soft_label_loss(pred: tf.Tensor, target: tf.Tensor, error: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Squared distance outside the band ``target +- error/2`` plus a small pull to the centre.

    All terms are divided by ``scale`` (the per-output spread of the training data) so
    every output counts alike.
    """
    distance = tf.abs(pred - target) / scale
    outside = tf.nn.relu(distance - 0.5 * error / scale)
    return tf.reduce_mean(tf.square(outside)) + 0.1 * tf.reduce_mean(tf.square(distance))


@keras.saving.register_keras_serializable(package="hoomd_mlx")
class EnsembleDense(keras.layers.Layer):
    """A dense layer per ensemble member: (M, B, n_in) -> (M, B, units)."""

    def __init__(self, members: int, units: int, activation: str | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.members, self.units, self.seed = int(members), int(units), int(seed)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        n_in = int(input_shape[-1])
        init = keras.initializers.HeNormal(seed=self.seed)
        self.kernel = self.add_weight(shape=(self.members, n_in, self.units), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(self.members, 1, self.units), initializer="zeros", name="bias")

    def call(self, x):
        """(M, B, units) outputs."""
        return self.activation(tf.matmul(x, self.kernel) + self.bias)

    def get_config(self):
        """dict: Constructor arguments."""
        config = super().get_config()
        config.update(
            members=self.members,
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="hoomd_mlx")
class Affine(keras.layers.Layer):
    """``x * scale + shift`` with fixed per-feature constants (input or output scaling)."""

    def __init__(
        self, scale: Sequence[float], shift: Sequence[float], clip_min: float | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.scale_values = [float(v) for v in scale]
        self.shift_values = [float(v) for v in shift]
        self.clip_min = clip_min

    def call(self, x):
        """Scaled (and optionally clipped) values."""
        y = x * tf.constant(self.scale_values, x.dtype) + tf.constant(self.shift_values, x.dtype)
        return tf.maximum(y, self.clip_min) if self.clip_min is not None else y

    def get_config(self):
        """dict: Constructor arguments."""
        config = super().get_config()
        config.update(scale=self.scale_values, shift=self.shift_values, clip_min=self.clip_min)
        return config


@keras.saving.register_keras_serializable(package="hoomd_mlx")
class Members(keras.layers.Layer):
    """Repeat a (B, n) batch for M ensemble members: (M, B, n)."""

    def __init__(self, members: int, **kwargs):
        super().__init__(**kwargs)
        self.members = int(members)

    def call(self, x):
        """(M, B, n) copies."""
        return tf.tile(x[None], [self.members, 1, 1])

    def get_config(self):
        """dict: Constructor arguments."""
        return {**super().get_config(), "members": self.members}


def _ensemble_model(x, y, members, hidden, seed, nonnegative) -> keras.Model:
    x_mean, x_std = x.mean(0), x.std(0)
    x_std = np.where(x_std > 1e-9 * np.maximum(np.abs(x_mean), 1.0), x_std, 1.0)  # constant inputs
    y_mean, y_std = y.mean(0), y.std(0)
    # outputs that never vary (std 0 up to round-off) are predicted exactly: their mean
    y_std = np.where(y_std > 1e-9 * np.maximum(np.abs(y_mean), 1e-30), y_std, 0.0)
    inputs = keras.Input((x.shape[1],))
    h = Affine(1.0 / x_std, -x_mean / x_std)(inputs)
    h = Members(members)(h)
    for k, width in enumerate(hidden):
        h = EnsembleDense(members, width, activation="silu", seed=seed + 1000 * k)(h)
    h = EnsembleDense(members, y.shape[1], seed=seed + 999_999)(h)
    outputs = Affine(y_std, y_mean, clip_min=0.0 if nonnegative else None)(h)
    return keras.Model(inputs, outputs)


class Surrogate:
    """A deep-ensemble regression surrogate with mean and standard deviation.

    Args:
        members: Ensemble size (>= 5 for a usable uncertainty).
        hidden: Hidden-layer widths of each member.
        epochs: Full-batch training steps of `fit`.
        update_epochs: Steps of `update` (warm start from the current weights).
        learning_rate: Adam learning rate.
        nonnegative: Outputs are non-negative (densities): clip at zero.
        stop_at_error_bars: Stop training once every member fits the training data to
            within its error bars (mean squared ``(pred - target) / error`` at most 1,
            the discrepancy principle): fitting noisy results any closer fits their noise
            and predicts new points worse. Needs error bars.
        seed: Base seed; member ``k`` is initialised differently from member ``k+1``.

    Example::

        s = Surrogate().fit(X, Y, error=E)
        mean, std = s.predict(X_new)
        s.update(X_more, Y_more, error=E_more)
        s.save("surrogate"); s2 = Surrogate.load("surrogate")
    """

    def __init__(
        self,
        members: int = 5,
        hidden: Sequence[int] = (128, 128),
        epochs: int = 2000,
        update_epochs: int = 500,
        learning_rate: float = 3e-3,
        nonnegative: bool = False,
        stop_at_error_bars: bool = False,
        seed: int = 0,
    ) -> None:
        if members < 2:
            raise ValueError(f"members = {members}: an ensemble needs at least 2 (5 or more recommended)")
        self.config = {
            "members": int(members),
            "hidden": [int(h) for h in hidden],
            "epochs": int(epochs),
            "update_epochs": int(update_epochs),
            "learning_rate": float(learning_rate),
            "nonnegative": bool(nonnegative),
            "stop_at_error_bars": bool(stop_at_error_bars),
            "seed": int(seed),
        }
        self.model: keras.Model | None = None
        self.std_scale = 1.0  # the calibration: predicted std = std_scale * the members' spread
        self.point_calibration: PointCalibration | None = None  # whole points against a tolerance
        self._compiled: tuple | None = None  # (model, its compiled call) for fast predictions
        self.X = self.Y = self.error = None

    # -- training -------------------------------------------------------------------------

    def _train(self, steps: int) -> float:
        x = tf.constant(self.X, tf.float32)
        y = tf.constant(self.Y, tf.float32)
        err = tf.constant(self.error, tf.float32)
        spread = self.Y.std(0)
        scale = tf.constant(np.where(spread > 0, spread, 1.0), tf.float32)
        model = self.model
        optimizer = keras.optimizers.Adam(self.config["learning_rate"])
        variables = model.trainable_variables

        # the discrepancy principle: a member fits within the error bars once its mean
        # squared z is at most 1 (outputs without an error bar do not count)
        positive = self.error > 0
        stop = self.config["stop_at_error_bars"] and bool(positive.any())
        inverse_err = tf.constant(
            np.divide(1.0, self.error, out=np.zeros_like(self.error), where=positive), tf.float32
        )
        counted = float(np.count_nonzero(positive)) or 1.0

        @tf.function(jit_compile=True)
        def step():
            with tf.GradientTape() as tape:
                pred = model(x)
                loss = soft_label_loss(pred, y[None], err[None], scale)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            if not stop:  # resolved when traced: no check without the stop
                return loss, loss
            z = (pred - y[None]) * inverse_err[None]
            return loss, tf.reduce_max(tf.reduce_sum(tf.square(z), axis=[1, 2])) / counted

        loss = tf.constant(0.0)
        for k in range(steps):
            loss, worst = step()
            if stop and float(worst) <= 1.0:
                logger.info("surrogate within its error bars after %d steps: stopped", k + 1)
                break
        return float(loss)

    def fit(self, X: np.ndarray, Y: np.ndarray, error: np.ndarray | None = None) -> Surrogate:
        """Train from scratch on (X, Y) with optional error bars; returns self."""
        X, Y = np.atleast_2d(np.asarray(X, np.float64)), np.atleast_2d(np.asarray(Y, np.float64))
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        self.X, self.Y = X, Y
        self.error = np.zeros_like(Y) if error is None else np.asarray(error, np.float64).reshape(Y.shape)
        keras.utils.set_random_seed(self.config["seed"])
        c = self.config
        self.model = _ensemble_model(X, Y, c["members"], c["hidden"], c["seed"], c["nonnegative"])
        loss = self._train(c["epochs"])
        logger.info("surrogate fitted on %d samples (loss %.3g)", len(X), loss)
        return self

    def update(self, X_new: np.ndarray, Y_new: np.ndarray, error: np.ndarray | None = None) -> Surrogate:
        """Add samples and continue training from the current weights (no retrain from scratch)."""
        if self.model is None:
            return self.fit(X_new, Y_new, error)
        X_new = np.atleast_2d(np.asarray(X_new, np.float64))
        Y_new = np.atleast_2d(np.asarray(Y_new, np.float64))
        e_new = np.zeros_like(Y_new) if error is None else np.asarray(error, np.float64).reshape(Y_new.shape)
        self.X = np.concatenate([self.X, X_new])
        self.Y = np.concatenate([self.Y, Y_new])
        self.error = np.concatenate([self.error, e_new])
        loss = self._train(self.config["update_epochs"])
        logger.info("surrogate updated to %d samples (loss %.3g)", len(self.X), loss)
        return self

    # -- using it -------------------------------------------------------------------------

    def members_predict(self, X: np.ndarray) -> np.ndarray:
        """(M, S, D) predictions of every member."""
        if self.model is None:
            raise RuntimeError("call fit first: the surrogate has not been trained")
        if self._compiled is None or self._compiled[0] is not self.model:
            signature = [tf.TensorSpec([None, self.model.input_shape[-1]], tf.float32)]
            self._compiled = (self.model, tf.function(self.model, input_signature=signature))
        x = tf.constant(np.atleast_2d(np.asarray(X, np.float64)), tf.float32)
        return self._compiled[1](x).numpy().astype(np.float64)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) over the ensemble, each (S, D), in the outputs' units; std calibrated (`calibrate`)."""
        every = self.members_predict(X)
        return every.mean(0), self.std_scale * every.std(0)

    def calibrate(
        self, X: np.ndarray, Y: np.ndarray, target: float = 0.9545, tolerance: np.ndarray | None = None
    ) -> dict[str, float]:
        """Scale the ensemble's spread so that ``mean +- 2 std`` covers ``target`` of held-out (X, Y).

        Deep ensembles are usually over-confident: their members agree more than their error
        warrants. Use samples the surrogate was not trained on. Returns the coverage of
        +-1 and +-2 std before (``*_raw``) and after, on (X, Y) itself. With ``tolerance``
        (Y's shape, > 0), also the point calibration of `hoomd_mlx.coupling.completion`.
        """
        every = self.members_predict(X)
        mean, spread = every.mean(0), every.std(0)
        residual = np.asarray(Y, np.float64).reshape(mean.shape) - mean
        exact = spread <= 0
        covered_exactly = float(np.mean(exact & (np.abs(residual) <= 0)))
        share = float(np.mean(~exact))
        wanted = float(np.clip((target - covered_exactly) / max(share, 1e-12), 0.0, 1.0))
        ratio = np.abs(residual[~exact]) / spread[~exact]
        self.std_scale = float(np.quantile(ratio, wanted) / 2.0) if ratio.size else 1.0
        if tolerance is not None:
            self.point_calibration = PointCalibration.fit(mean, self.std_scale * spread, Y, tolerance, target)
        return {
            "std_scale": self.std_scale,
            "coverage_1_sigma_raw": coverage(mean, spread, Y, 1.0),
            "coverage_2_sigma_raw": coverage(mean, spread, Y, 2.0),
            "coverage_1_sigma": coverage(mean, self.std_scale * spread, Y, 1.0),
            "coverage_2_sigma": coverage(mean, self.std_scale * spread, Y, 2.0),
        }

    # -- files ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Save to directory ``path`` (Keras model, settings and training data)."""
        if self.model is None:
            raise RuntimeError("call fit first: there is nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(path / "model.keras")
        (path / "surrogate.json").write_text(json.dumps(self.config))
        point = self.point_calibration.to_dict() if self.point_calibration else None
        (path / "calibration.json").write_text(json.dumps({"std_scale": self.std_scale, "point": point}))
        np.savez(path / "data.npz", X=self.X, Y=self.Y, error=self.error)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """A surrogate saved with `save`."""
        path = Path(path)
        surrogate = cls(**json.loads((path / "surrogate.json").read_text()))
        surrogate.model = keras.saving.load_model(path / "model.keras")
        if (path / "calibration.json").exists():
            calibration = json.loads((path / "calibration.json").read_text())
            surrogate.std_scale = float(calibration["std_scale"])
            if calibration.get("point"):
                surrogate.point_calibration = PointCalibration(**calibration["point"])
        with np.load(path / "data.npz") as data:
            surrogate.X, surrogate.Y, surrogate.error = data["X"], data["Y"], data["error"]
        return surrogate
