r"""A many-body ML potential: a smooth descriptor of each particle's neighbors and a fitting network.

`DescriptorPotential` is a local model (`hoomd_mlx.plugin.contract.LocalModel`,
``TensorFlowForce(..., kind="local")``) in the form of DeePMD-kit's ``se_e2_a``
descriptor (Zhang et al., NeurIPS 2018), type-aware, smooth at the cutoff:

.. math::

    s(r) = \frac{w(r)}{r}, \quad
    \tilde R_{ik} = s(r_{ik}) \left(1, \frac{x_{ik}}{r_{ik}}, \frac{y_{ik}}{r_{ik}},
        \frac{z_{ik}}{r_{ik}}\right) / \sigma_R, \quad
    G_{ik} = \mathcal{G}\left(s(r_{ik}) / \sigma_s, t_i, t_k\right) \in \mathbb{R}^{M},

    T_i = \frac{1}{n_c} \sum_k G_{ik}^{\top} \tilde R_{ik} \in \mathbb{R}^{M \times 4}, \quad
    D_i = T_i\, T_i^{<\top} \in \mathbb{R}^{M \times M_<}, \quad
    E_i = \mathcal{F}(D_i, t_i) + b_{t_i},

where :math:`w` switches from 1 at ``cutoff_smooth`` to 0 at ``cutoff`` with
continuous first and second derivatives (energies and forces are continuous at the
cutoff), :math:`\mathcal G` is an embedding network of the scaled radial weight and
learned type embeddings of the particle and its neighbor, :math:`T^<` the first
:math:`M_<` rows of :math:`T`, :math:`\mathcal F` a fitting network and :math:`b`
a per-type energy bias. :math:`D_i` is invariant under rotations, translations and
permutations of neighbors; the products of :math:`\tilde R` components carry the
angles between neighbors, which a pair potential cannot hold.

Everything the model needs to be used again travels in one Keras file
(``model.save("potential.keras")``): its type names, cutoff, and the input
scaling (:math:`\sigma_R`, :math:`\sigma_s`, :math:`n_c`, the energy biases)
fitted to the training data (`DescriptorPotential.fit_scaling`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ConfigurationError

__all__ = ["DescriptorPotential", "switch"]


def switch(r: tf.Tensor, r_on: float, r_off: float) -> tf.Tensor:
    r"""1 below ``r_on``, 0 beyond ``r_off``, :math:`u^3(-6u^2 + 15u - 10) + 1` between (C2)."""
    u = tf.clip_by_value((r - r_on) / (r_off - r_on), 0.0, 1.0)
    return u * u * u * (-6.0 * u * u + 15.0 * u - 10.0) + 1.0


@keras.saving.register_keras_serializable(package="hoomd_mlx")
class DescriptorPotential(keras.Model):
    r"""A descriptor-based many-body potential (DeePMD ``se_e2_a`` form), a `LocalModel`.

    Args:
        types: Particle type names, in HOOMD's type-id order (checked against the
            simulation's when the force attaches).
        cutoff: Range :math:`[\mathrm{length}]`: the force needs ``r_cut >= cutoff``.
        cutoff_smooth: Where the switching function starts :math:`[\mathrm{length}]`
            (default ``cutoff / 6``, as DeePMD-kit's small ``rcut_smth``: a switch that starts
            inside the first shell learned faster than one starting at ``0.8 * cutoff``, 0.36
            against 0.45 relative force error after the same 60 epochs on liquid Si).
        embedding: Widths of the embedding network's layers (the last is :math:`M`).
        axis_neurons: :math:`M_<`, the rows of :math:`T` in the second factor.
        fitting: Widths of the fitting network's hidden layers.
        type_embedding: Width of the learned type embeddings.
        scaling: Input scaling and energy biases (``fit_scaling`` sets them from data):
            ``{"r_std": float, "s_std": float, "neighbors": float, "energy_bias": [per type]}``.

    Call it as a `LocalModel`: ``model(r_ik, type_i, type_k, mask) -> (R,)`` energies.
    """

    def __init__(
        self,
        types: Sequence[str],
        cutoff: float,
        cutoff_smooth: float | None = None,
        embedding: Sequence[int] = (16, 32),
        axis_neurons: int = 8,
        fitting: Sequence[int] = (64, 64),
        type_embedding: int = 4,
        scaling: dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.types = [str(t) for t in types]
        if not self.types:
            raise ConfigurationError("DescriptorPotential needs at least one particle type name")
        self.cutoff = float(cutoff)
        self.cutoff_smooth = float(cutoff / 6.0 if cutoff_smooth is None else cutoff_smooth)
        if not 0 < self.cutoff_smooth < self.cutoff:
            raise ConfigurationError(
                f"cutoff_smooth = {self.cutoff_smooth} must lie between 0 and cutoff = {self.cutoff}"
            )
        self.embedding = tuple(int(w) for w in embedding)
        self.axis_neurons = int(axis_neurons)
        if not 0 < self.axis_neurons <= self.embedding[-1]:
            raise ConfigurationError(
                f"axis_neurons = {self.axis_neurons} must be between 1 and the embedding width "
                f"{self.embedding[-1]}"
            )
        self.fitting = tuple(int(w) for w in fitting)
        self.type_embedding = int(type_embedding)
        n_types = len(self.types)
        self.scaling = {"r_std": 1.0, "s_std": 1.0, "neighbors": 1.0, "energy_bias": [0.0] * n_types}
        self.scaling.update(scaling or {})
        policy = self.dtype_policy
        self.type_vectors = keras.layers.Embedding(n_types, self.type_embedding, dtype=policy)
        self.embed_layers = [keras.layers.Dense(w, activation="tanh", dtype=policy) for w in self.embedding]
        self.fit_layers = [keras.layers.Dense(w, activation="tanh", dtype=policy) for w in self.fitting]
        self.energy_out = keras.layers.Dense(1, dtype=policy)

    def build(self, input_shape=None):
        """Create every weight (the shapes do not depend on the input's)."""
        self.type_vectors.build((None,))
        width = 1 + 2 * self.type_embedding
        for layer in self.embed_layers:
            layer.build((None, width))
            width = layer.units
        width = self.embedding[-1] * self.axis_neurons + self.type_embedding
        for layer in self.fit_layers:
            layer.build((None, width))
            width = layer.units
        self.energy_out.build((None, width))
        super().build(input_shape)

    def descriptor_inputs(self, r_ik: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        r"""(s (R, K), R~ (R, K, 4)): the radial weights and environment matrix, zero off the mask."""
        dtype = self.compute_dtype
        r_ik = tf.cast(r_ik, dtype)
        r = tf.sqrt(tf.reduce_sum(r_ik * r_ik, axis=-1))
        safe = tf.where(mask, r, tf.ones_like(r))
        s = tf.where(mask, switch(safe, self.cutoff_smooth, self.cutoff) / safe, tf.zeros_like(r))
        env = tf.concat([s[..., None], (s / safe)[..., None] * r_ik], axis=-1)
        return s, env

    def call(self, r_ik, type_i, type_k, mask):
        """(R,) per-particle energies [energy] for each row's neighbors (a `LocalModel`)."""
        dtype = self.compute_dtype
        s, env = self.descriptor_inputs(r_ik, mask)
        scaling = self.scaling
        env = env / tf.constant(scaling["r_std"], dtype)
        t_i = self.type_vectors(type_i)  # (R, E)
        t_k = self.type_vectors(type_k)  # (R, K, E)
        width = tf.shape(t_k)[1]
        x = tf.concat(
            [
                (s / tf.constant(scaling["s_std"], dtype))[..., None],
                t_k,
                tf.repeat(t_i[:, None, :], width, axis=1),
            ],
            axis=-1,
        )
        for layer in self.embed_layers:
            x = layer(x)
        g = x * tf.cast(mask, dtype)[..., None]  # (R, K, M)
        t = tf.einsum("rkm,rkc->rmc", g, env) / tf.constant(scaling["neighbors"], dtype)
        d = tf.einsum("rmc,rnc->rmn", t, t[:, : self.axis_neurons, :])
        rows = tf.shape(d)[0]
        y = tf.concat([tf.reshape(d, [rows, self.embedding[-1] * self.axis_neurons]), t_i], axis=-1)
        for layer in self.fit_layers:
            y = layer(y)
        bias = tf.gather(tf.constant(scaling["energy_bias"], dtype), type_i)
        return self.energy_out(y)[:, 0] + bias

    def fit_scaling(self, tables: Sequence[tuple], energies: np.ndarray | None = None) -> None:
        r"""Set the input scaling (and per-type energy biases) from training tables.

        Args:
            tables: ``(r_ik, type_i, type_k, mask)`` per frame (numpy arrays).
            energies: (F,) total energies of the frames, if known: the biases are then the
                least-squares energy per particle of each type.
        """
        s_all, env_all, counts = [], [], []
        type_counts = []
        for r_ik, type_i, _, mask in tables:
            s, env = self.descriptor_inputs(tf.constant(r_ik, self.compute_dtype), tf.constant(mask))
            m = np.asarray(mask)
            s_all.append(s.numpy()[m])
            env_all.append(env.numpy()[m])
            counts.append(m.sum(axis=1))
            type_counts.append(np.bincount(np.asarray(type_i), minlength=len(self.types)))
        s_all, env_all = np.concatenate(s_all), np.concatenate(env_all)
        scaling = dict(self.scaling)
        scaling["s_std"] = float(np.sqrt(np.mean(s_all**2))) or 1.0
        scaling["r_std"] = float(np.sqrt(np.mean(env_all**2))) or 1.0
        scaling["neighbors"] = float(np.mean(np.concatenate(counts))) or 1.0
        if energies is not None:
            a = np.asarray(type_counts, dtype=np.float64)
            bias, *_ = np.linalg.lstsq(a, np.asarray(energies, dtype=np.float64), rcond=None)
            scaling["energy_bias"] = [float(b) for b in bias]
        self.scaling = scaling

    def get_config(self):
        """dict: Constructor arguments, scaling included, for Keras saving."""
        config = super().get_config()
        config.update(
            types=list(self.types),
            cutoff=self.cutoff,
            cutoff_smooth=self.cutoff_smooth,
            embedding=list(self.embedding),
            axis_neurons=self.axis_neurons,
            fitting=list(self.fitting),
            type_embedding=self.type_embedding,
            scaling=dict(self.scaling),
        )
        return config
