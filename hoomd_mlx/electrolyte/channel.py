"""The physics of ion profiles between two identical charged walls, as an output map for surrogates.

A surrogate of the confined electrolyte predicts, for a state point (Z, c, i), the cation and
anion densities across the channel. Three properties of those outputs are known exactly:

- identical walls: each profile is mirror-symmetric about the centre of the channel;
- densities are non-negative;
- the number of ions in the channel is fixed by the state point: per unit wall area, the
  anions integrate to ``c Z`` (the salt) and the cations to ``c Z + 2 |i| / e`` (the salt
  plus the counter-ions that neutralise both walls' charge ``i``), in [M nm] when
  densities are in M.

`ChannelProfiles` turns profiles into *shapes* (the mirror-averaged half profile of each
species, divided by its ion count) and back. A model that predicts shapes and returns
``ChannelProfiles.profiles(shapes, X)`` respects all three by construction: the half is
mirrored, negative values are cut and each half is rescaled to its count.

NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["COUNTER_IONS_PER_CHARGE", "ChannelProfiles"]

_ELEMENTARY_CHARGE = 1.602176634e-19  # [C]
_AVOGADRO = 6.02214076e23  # [1/mol]
COUNTER_IONS_PER_CHARGE = 2 * 1e-18 / _ELEMENTARY_CHARGE / (_AVOGADRO * 1e-24)
"""float: Counter-ions of both walls per unit wall area, in [M nm] per [C/m^2] of surface charge (20.73)."""


@dataclass
class ChannelProfiles:
    """Cation and anion profiles of a 1:1 salt between two identical walls (inputs Z, c, i).

    Args:
        bins: Bins per profile, wall to wall (the outputs are cations then anions, ``2 * bins``).
        grid_lengths: Confinement lengths Z [nm] at which the bin width is known ...
        grid_width: ... and those bin widths [nm]; another Z gets the least-squares line through
            them. The published profiles have ``bins`` bins over slightly more than Z.
        columns: Positions of Z [nm], c [M] and i [C/m^2] in the surrogate's inputs.
    """

    bins: int
    grid_lengths: np.ndarray
    grid_width: np.ndarray
    columns: tuple[int, int, int] = (0, 1, 2)
    _line: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.grid_lengths = np.atleast_1d(np.asarray(self.grid_lengths, dtype=np.float64))
        self.grid_width = np.atleast_1d(np.asarray(self.grid_width, dtype=np.float64))
        if len(self.grid_lengths) > 1 and np.ptp(self.grid_lengths) > 0:
            self._line = np.polyfit(self.grid_lengths, self.grid_width, 1)
        else:  # one length only: proportional to Z
            self._line = np.array([self.grid_width[0] / self.grid_lengths[0], 0.0])

    @classmethod
    def from_grids(cls, Z: np.ndarray, z: np.ndarray, columns: tuple[int, int, int] = (0, 1, 2)):
        """From the bin centres ``z`` (S, bins) [nm] of profiles at confinement lengths ``Z`` (S,)."""
        z = np.asarray(z, dtype=np.float64)
        width = (z[:, -1] - z[:, 0]) / (z.shape[1] - 1)
        lengths, first = np.unique(np.round(np.asarray(Z, dtype=np.float64), 9), return_index=True)
        return cls(bins=z.shape[1], grid_lengths=lengths, grid_width=width[first], columns=columns)

    @property
    def half(self) -> int:
        """int: Bins in half a profile (the centre bin counts in both halves when ``bins`` is odd)."""
        return (self.bins + 1) // 2

    @property
    def shape_size(self) -> int:
        """int: Length of a shape vector (two species' half profiles)."""
        return 2 * self.half

    def bin_width(self, X: np.ndarray) -> np.ndarray:
        """(S,) bin width [nm] at each state point."""
        Z = np.asarray(X, dtype=np.float64)[:, self.columns[0]]
        width = np.polyval(self._line, Z)
        known = np.abs(Z[:, None] - self.grid_lengths[None]) < 1e-9
        return np.where(known.any(1), (known * self.grid_width).sum(1), width)

    def counts(self, X: np.ndarray) -> np.ndarray:
        """(S, 2) cations and anions per unit wall area [M nm] fixed by the state point."""
        X = np.asarray(X, dtype=np.float64)
        Z, c, i = (X[:, k] for k in self.columns)
        salt = c * Z
        counter = COUNTER_IONS_PER_CHARGE * np.abs(i)
        return np.stack([salt + np.where(i < 0, counter, 0.0), salt + np.where(i > 0, counter, 0.0)], 1)

    def _half_sums(self, X: np.ndarray) -> np.ndarray:
        """(S, 2) what each half profile sums to (bins, not integrals).

        Exact for an even number of bins; with an odd number the centre bin, in both halves,
        makes a relative error of about 1 / bins.
        """
        return 0.5 * self.counts(X) / self.bin_width(X)[:, None]

    def shapes(self, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(S, 2 * half) mirror-averaged half profiles divided by their ion counts (each sums to ~1)."""
        Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), 2, self.bins)
        half = 0.5 * (Y + Y[:, :, ::-1])[:, :, : self.half]
        return (half / self._half_sums(X)[:, :, None]).reshape(len(Y), -1)

    def profiles(self, shapes: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(S, 2 * bins) profiles from shapes: mirrored, non-negative, integrating to `counts`."""
        s = np.maximum(np.asarray(shapes, dtype=np.float64), 0.0).reshape(len(shapes), 2, self.half)
        total = s.sum(axis=2, keepdims=True)
        s = np.divide(s, total, out=np.full_like(s, 1.0 / self.half), where=total > 0)
        s = s * self._half_sums(X)[:, :, None]
        mirrored = s[:, :, ::-1][:, :, self.bins % 2 :]
        return np.concatenate([s, mirrored], axis=2).reshape(len(s), -1)

    def to_dict(self) -> dict:
        """dict: JSON-ready constructor arguments."""
        return {
            "bins": self.bins,
            "grid_lengths": self.grid_lengths.tolist(),
            "grid_width": self.grid_width.tolist(),
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ChannelProfiles:
        """The inverse of `to_dict`."""
        return cls(
            bins=int(data["bins"]),
            grid_lengths=np.asarray(data["grid_lengths"]),
            grid_width=np.asarray(data["grid_width"]),
            columns=tuple(data["columns"]),
        )
