"""Built-in pair models for `hoomd_mlx.TensorFlowForce`.

Each model follows `hoomd_mlx.plugin.contract.PairModel`: ``model(r_ij, type_i,
type_j) -> e_ij``. Parameters are given per unordered type pair, as in HOOMD
(``params[("A", "B")] = dict(epsilon=..., sigma=...)``), and stored as (T*T,)
tables indexed by ``type_i * T + type_j``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ConfigurationError

__all__ = ["WCA", "LennardJones", "PairMLP"]

WCA_CUTOFF = 2.0 ** (1.0 / 6.0)


def _pair_table(
    params: Mapping[tuple[str, str], Mapping[str, float]], types: Sequence[str], key: str
) -> np.ndarray:
    n = len(types)
    table = np.full((n, n), np.nan)
    for (a, b), values in params.items():
        for name in (a, b):
            if name not in types:
                raise ConfigurationError(f"type {name!r} in params is not one of the types {list(types)}")
        if key not in values:
            raise ConfigurationError(f"params[({a!r}, {b!r})] has no {key!r}; give {key}=...")
        ia, ib = types.index(a), types.index(b)
        table[ia, ib] = table[ib, ia] = float(values[key])
    missing = [(types[i], types[j]) for i in range(n) for j in range(i, n) if np.isnan(table[i, j])]
    if missing:
        raise ConfigurationError(f"params is missing type pairs {missing}; give every pair of {list(types)}")
    return table.ravel()


class LennardJones(tf.Module):
    r"""Lennard-Jones pair energy :math:`4\varepsilon[(\sigma/r)^{12} - (\sigma/r)^6]`.

    The same function as ``hoomd.md.pair.LJ``.

    Args:
        params: ``{("A", "B"): {"epsilon": ..., "sigma": ...}}`` for every type pair.
        types: Particle type names in HOOMD's type-id order.
        r_cut: Cutoff per type pair or one number; needed for ``mode="shift"``.
        mode: ``"none"`` or ``"shift"`` (energy shifted to zero at ``r_cut``, as
            HOOMD's ``mode="shift"``).
        dtype: Compute dtype.
    """

    def __init__(
        self,
        params: Mapping[tuple[str, str], Mapping[str, float]],
        types: Sequence[str],
        *,
        r_cut: float | Mapping[tuple[str, str], float] | None = None,
        mode: str = "none",
        dtype: str | tf.DType = tf.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if mode not in ("none", "shift"):
            raise ConfigurationError(f"mode must be 'none' or 'shift', got {mode!r}")
        types = list(types)
        self.types = types
        self.dtype = tf.as_dtype(dtype)
        self._n_types = len(types)
        epsilon = _pair_table(params, types, "epsilon")
        sigma = _pair_table(params, types, "sigma")
        shift = np.zeros_like(epsilon)
        if mode == "shift":
            if r_cut is None:
                raise ConfigurationError("mode='shift' needs r_cut")
            rc = self._cutoff_table(r_cut, types)
            s6 = (sigma / rc) ** 6
            shift = 4.0 * epsilon * (s6 * s6 - s6)
        self.epsilon = tf.constant(epsilon, self.dtype)
        self.sigma2 = tf.constant(sigma**2, self.dtype)
        self.shift = tf.constant(shift, self.dtype)

    @staticmethod
    def _cutoff_table(r_cut: float | Mapping[tuple[str, str], float], types: list[str]) -> np.ndarray:
        if isinstance(r_cut, Mapping):
            return _pair_table({k: {"r_cut": v} for k, v in r_cut.items()}, types, "r_cut")
        return np.full(len(types) ** 2, float(r_cut))

    def __call__(self, r_ij: tf.Tensor, type_i: tf.Tensor, type_j: tf.Tensor) -> tf.Tensor:
        """(P,) pair energies [energy] for (P, 3) displacements [length]."""
        k = type_i * self._n_types + type_j
        r2 = tf.reduce_sum(r_ij * r_ij, axis=1)
        s2 = tf.gather(self.sigma2, k) / r2
        s6 = s2 * s2 * s2
        return 4.0 * tf.gather(self.epsilon, k) * (s6 * s6 - s6) - tf.gather(self.shift, k)


class WCA(LennardJones):
    r"""Weeks-Chandler-Andersen: LJ cut at :math:`2^{1/6}\sigma` and shifted up by :math:`\varepsilon`.

    Use `r_cut` as the force's cutoff:
    ``TensorFlowForce(wca, nlist=..., r_cut=wca.r_cut)``.
    """

    def __init__(
        self,
        params: Mapping[tuple[str, str], Mapping[str, float]],
        types: Sequence[str],
        *,
        dtype: str | tf.DType = tf.float64,
        name: str | None = None,
    ) -> None:
        types = list(types)
        sigma = _pair_table(params, types, "sigma").reshape(len(types), len(types))
        self.r_cut = {
            (a, b): WCA_CUTOFF * float(sigma[i, j]) for i, a in enumerate(types) for j, b in enumerate(types)
        }
        super().__init__(params, types, r_cut=self.r_cut, mode="shift", dtype=dtype, name=name)


@keras.saving.register_keras_serializable(package="hoomd_mlx")
class PairMLP(keras.Model):
    r"""A trainable pair potential: an MLP on radial features and type embeddings.

    :math:`e_{ij} = f_c(r)\, \mathrm{MLP}([\phi(r), t_i + t_j])` with Gaussian
    radial basis features :math:`\phi`, a learned embedding :math:`t` per type
    (summed, so the energy is symmetric in i and j), and the smooth cutoff
    :math:`f_c(r) = (1 - (r/r_c)^2)^2` that takes energy and force to zero at
    ``r_cut``. A short-range repulsion :math:`(\sigma_0/r)^{12}` keeps particles
    apart where the training data has no samples.

    Args:
        n_types: Number of particle types.
        r_cut: Cutoff :math:`[\mathrm{length}]`.
        hidden: Widths of the hidden layers.
        n_basis: Number of radial basis functions.
        embedding: Type-embedding width.
        sigma0: Core-repulsion length :math:`[\mathrm{length}]` (0 disables it).
    """

    def __init__(
        self,
        n_types: int,
        r_cut: float,
        hidden: Sequence[int] = (32, 32),
        n_basis: int = 16,
        embedding: int = 8,
        sigma0: float = 0.8,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.n_types = int(n_types)
        self.r_cut = float(r_cut)
        self.hidden = tuple(int(h) for h in hidden)
        self.n_basis = int(n_basis)
        self.embedding_width = int(embedding)
        self.sigma0 = float(sigma0)
        policy = self.dtype_policy  # sublayers compute in the model's dtype (float64 too)
        self.embed = keras.layers.Embedding(self.n_types, self.embedding_width, dtype=policy)
        self.layers_ = [keras.layers.Dense(h, activation="silu", dtype=policy) for h in self.hidden]
        self.out = keras.layers.Dense(1, dtype=policy)
        self.centers = np.linspace(0.0, self.r_cut, self.n_basis)
        self.width = self.r_cut / self.n_basis

    def build(self, input_shape=None):
        """Create every weight (the shapes do not depend on the input's)."""
        self.embed.build((None,))
        width = self.n_basis + self.embedding_width
        for layer in self.layers_:
            layer.build((None, width))
            width = layer.units
        self.out.build((None, width))
        super().build(input_shape)

    def call(self, r_ij, type_i, type_j):
        """(P,) pair energies for (P, 3) displacements."""
        dtype = self.compute_dtype
        r_ij = tf.cast(r_ij, dtype)
        r = tf.sqrt(tf.reduce_sum(r_ij * r_ij, axis=1))
        centers = tf.constant(self.centers, dtype)
        phi = tf.exp(-(((r[:, None] - centers[None, :]) / self.width) ** 2))
        x = tf.concat([phi, self.embed(type_i) + self.embed(type_j)], axis=1)
        for layer in self.layers_:
            x = layer(x)
        e = self.out(x)[:, 0]
        cutoff = tf.square(1.0 - tf.square(tf.minimum(r / self.r_cut, 1.0)))
        repulsion = (self.sigma0 / r) ** 12 if self.sigma0 > 0 else 0.0
        return cutoff * (e + repulsion)

    def get_config(self):
        """dict: Constructor arguments, for Keras saving."""
        config = super().get_config()
        config.update(
            n_types=self.n_types,
            r_cut=self.r_cut,
            hidden=list(self.hidden),
            n_basis=self.n_basis,
            embedding=self.embedding_width,
            sigma0=self.sigma0,
        )
        return config
