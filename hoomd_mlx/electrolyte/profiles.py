"""Ion density profiles across the channel, with block-average error bars, in molar units.

Bins are given as ``(lower, upper)`` edges in reduced units, so that overlapping
bins are allowed: the group's profiles add two "contact" bins centred on the
closest approach of a cation to each wall to their regular bins
(`group_bins`). Cation profiles include the counterions, as the group's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoomd_mlx.electrolyte.system import ElectrolyteSetup
from hoomd_mlx.trajectory import block_error, unique_frames

__all__ = ["DensityProfiles", "channel_bins", "fraction_within", "group_bins", "ion_z_samples"]


def group_bins(setup: ElectrolyteSetup, bin_width: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The group's bins: ``int(Z / bin_width)`` equal bins plus two contact bins, sorted by centre.

    Returns:
        ``(lower, upper)`` edges [sigma].
    """
    length = setup.channel
    count = int(length / bin_width)
    width = length / count
    lower = -length / 2 + width * np.arange(count)
    contact = length / 2 - setup.diameter["P"] / 2 - width / 2
    lower = np.sort(np.concatenate([lower, [-contact - width, contact]]))
    return lower, lower + width


def channel_bins(setup: ElectrolyteSetup, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` equal bins from wall to wall (the surrogate's fixed-size output) [sigma]."""
    edges = np.linspace(-setup.channel / 2, setup.channel / 2, count + 1)
    return edges[:-1], edges[1:]


def ion_z_samples(path: str | Path, setup: ElectrolyteSetup) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Z of cations (with counterions) and of anions in each frame of a trajectory, in step order."""
    positive, negative = [], []
    for frame in unique_frames(Path(path)):
        types = list(frame.particles.types)
        typeid = frame.particles.typeid
        z = frame.particles.position[:, 2].astype(np.float64)
        pos_ids = [types.index(t) for t in ("P", "C") if t in types]
        positive.append(z[np.isin(typeid, pos_ids)])
        negative.append(z[typeid == types.index("N")])
    return positive, negative


def _histogram(samples: list[np.ndarray], lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Counts per frame (F, B) in possibly overlapping bins."""
    counts = np.zeros((len(samples), len(lower)))
    for f, z in enumerate(samples):
        zs = np.sort(z)
        counts[f] = np.searchsorted(zs, upper, side="left") - np.searchsorted(zs, lower, side="left")
    return counts


@dataclass(frozen=True)
class DensityProfiles:
    """Cation and anion densities [M] in bins, with their standard errors [M].

    Attributes:
        z: (B,) bin centres [nm].
        positive: (B,) cation (with counterion) density [M].
        positive_error: (B,) its error bar [M].
        negative: (B,) anion density [M].
        negative_error: (B,) its error bar [M].
        frames: Frames averaged.
    """

    z: np.ndarray
    positive: np.ndarray
    positive_error: np.ndarray
    negative: np.ndarray
    negative_error: np.ndarray
    frames: int

    @classmethod
    def compute(
        cls,
        samples: tuple[list[np.ndarray], list[np.ndarray]],
        setup: ElectrolyteSetup,
        bins: tuple[np.ndarray, np.ndarray],
        blocks: int = 10,
    ) -> DensityProfiles:
        """Average the per-frame z samples of `ion_z_samples` into ``bins`` [sigma]."""
        lower, upper = (np.asarray(b, dtype=np.float64) for b in bins)
        if not samples[0]:
            raise ValueError("no frames to average; the trajectory is empty (did production run?)")
        volume = setup.box[0] * setup.box[1] * (upper - lower)
        out = []
        for per_frame in samples:
            density = setup.molar(_histogram(per_frame, lower, upper) / volume)
            error = block_error(density, blocks) if len(density) > 1 else np.zeros(len(lower))
            out += [density.mean(axis=0), error]
        z = 0.5 * (lower + upper) * setup.sigma_nm
        return cls(z, out[0], out[1], out[2], out[3], len(samples[0]))

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The profiles as named arrays (for ``np.savez``)."""
        return {
            "z": self.z,
            "rho_pos": self.positive,
            "err_pos": self.positive_error,
            "rho_neg": self.negative,
            "err_neg": self.negative_error,
        }

    def write_group_format(self, directory: str | Path) -> list[Path]:
        """Write ``p_density_profile.dat`` and ``n_density_profile.dat`` (z [nm], density [M], error [M])."""
        paths = []
        for name, rho, err in (
            ("p", self.positive, self.positive_error),
            ("n", self.negative, self.negative_error),
        ):
            path = Path(directory) / f"{name}_density_profile.dat"
            np.savetxt(path, np.column_stack([self.z, rho, err]), fmt="%.6g", delimiter="\t")
            paths.append(path)
        return paths


def fraction_within(
    rho: np.ndarray,
    err: np.ndarray,
    ref: np.ndarray,
    ref_err: np.ndarray,
    occupied_only: bool = True,
    sigmas: float = 1.0,
) -> float:
    r"""Fraction of bins where two profiles agree within ``sigmas`` combined error bars.

    For two correct profiles with standard errors as error bars, the expected
    fraction is 68% at one combined error bar and 95% at two.

    Args:
        rho: One profile.
        err: Its error bars.
        ref: The other profile.
        ref_err: Its error bars.
        occupied_only: Count only bins where either profile is non-zero (the
            empty bins next to the walls agree trivially).
        sigmas: Multiple of the combined error bar :math:`\sqrt{e_1^2 + e_2^2}`.
    """
    rho, err, ref, ref_err = (np.asarray(a, dtype=np.float64) for a in (rho, err, ref, ref_err))
    inside = np.abs(rho - ref) <= sigmas * np.sqrt(err**2 + ref_err**2)
    if occupied_only:
        mask = (rho > 0) | (ref > 0)
        return float(inside[mask].mean()) if mask.any() else 1.0
    return float(inside.mean())
