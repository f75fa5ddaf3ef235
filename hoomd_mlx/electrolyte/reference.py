"""The group's published profiles, and comparisons of this project's runs with them.

Two sources (``shared/data/nanoconfinement``, see `hoomd_mlx.shared_data.find_shared_data`):

- ``reference_runs/<code>_T<dt>_Z<Z>_p<p>_nminus<n>_c<c>_d<d>_a<a>_i<i>_S<steps>/`` with
  ``{p,n}_density_profile.dat`` (z [nm], density [M], error [M]), from the group's own
  code (``house``) and from LAMMPS;
- ``profiles.npz``: 120 profiles (Z = 4-5 nm, c = 0.1-2 M, charged walls) on 502
  points across the channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoomd_mlx.electrolyte.profiles import DensityProfiles, fraction_within
from hoomd_mlx.electrolyte.system import ElectrolyteSetup
from hoomd_mlx.shared_data import find_shared_data

__all__ = ["ReferenceProfile", "compare", "dataset_profile", "reference_runs"]

_NAME = re.compile(
    r"(?P<code>[a-z]+)_T(?P<dt>[\d.]+)_Z(?P<Z>[\d.]+)_p(?P<p>\d+)_nminus(?P<n>\d+)_c(?P<c>[\d.]+)"
    r"_d(?P<d>[\d.]+)_a(?P<a>[\d.]+)_i(?P<i>-?[\d.]+)_S(?P<steps>\d+)"
)


@dataclass(frozen=True)
class ReferenceProfile:
    """One published profile: its state point and its cation/anion densities with error bars.

    Attributes:
        name: The run's name.
        params: State point: Z, c, d, a [nm, M], p, n, i [C/m^2] (and code, dt, steps if known).
        z: (B,) bin centres [nm]; ``width`` the bin width [nm].
        positive, positive_error, negative, negative_error: (B,) densities and errors [M].
    """

    name: str
    params: dict
    z: np.ndarray
    width: float
    positive: np.ndarray
    positive_error: np.ndarray
    negative: np.ndarray
    negative_error: np.ndarray

    def bins(self, setup: ElectrolyteSetup) -> tuple[np.ndarray, np.ndarray]:
        """The reference's bins in ``setup``'s reduced units, ``(lower, upper)``."""
        centre = self.z / setup.sigma_nm
        half = 0.5 * self.width / setup.sigma_nm
        return centre - half, centre + half


def _run_from_directory(path: Path) -> ReferenceProfile:
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not a reference run name (<code>_T<dt>_Z<Z>_..._S<steps>)")
    g = match.groupdict()
    params = {k: float(g[k]) for k in ("Z", "c", "d", "a", "i", "dt")}
    params.update(p=int(g["p"]), n=-int(g["n"]), steps=int(g["steps"]), code=g["code"])
    pos = np.loadtxt(path / "p_density_profile.dat")
    neg = np.loadtxt(path / "n_density_profile.dat")
    width = params["Z"] / (len(pos) - 2)  # regular bins: all rows but the two contact bins
    return ReferenceProfile(path.name, params, pos[:, 0], width, pos[:, 1], pos[:, 2], neg[:, 1], neg[:, 2])


def reference_runs(directory: str | Path | None = None) -> list[ReferenceProfile]:
    """Every run under ``nanoconfinement/reference_runs`` (sorted by name)."""
    base = Path(directory) if directory else find_shared_data("nanoconfinement/reference_runs")
    return [_run_from_directory(p) for p in sorted(base.iterdir()) if p.is_dir()]


def dataset_profile(index: int, path: str | Path | None = None) -> ReferenceProfile:
    """Profile ``index`` of ``profiles.npz`` (its 502 points read as bins of their spacing)."""
    path = Path(path) if path else find_shared_data("nanoconfinement/profiles.npz")
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["param_names"]]
        values = data["params"][index]
        params = {k: float(v) for k, v in zip(names, values, strict=True)}
        params["p"], params["n"] = int(params["p"]), int(params["n"])
        z = data["z"][index]
        return ReferenceProfile(
            str(data["keys"][index]),
            params,
            z,
            float(z[1] - z[0]),
            data["rho_pos"][index],
            data["err_pos"][index],
            data["rho_neg"][index],
            data["err_neg"][index],
        )


def half_height_edges(z: np.ndarray, rho: np.ndarray) -> tuple[float, float]:
    """The contact edges of a profile across a channel.

    At each wall, where the density first reaches half of its highest value in that
    half of the channel (linear between bins).
    """
    middle = len(z) // 2
    left_half, right_half = rho[:middle], rho[middle:][::-1]
    edges = []
    for part, zs in ((left_half, z[:middle]), (right_half, z[middle:][::-1])):
        half = 0.5 * float(np.max(part))
        k = int(np.argmax(part >= half))
        edges.append(
            float(np.interp(half, [part[k - 1], part[k]], [zs[k - 1], zs[k]])) if k > 0 else float(zs[0])
        )
    return edges[0], edges[1]


def compare(ours: DensityProfiles, reference: ReferenceProfile, sigmas: float = 1.0) -> dict:
    """Agreement of our profiles with a reference in the same bins.

    Args:
        ours: Our profiles, computed in ``reference.bins``.
        reference: The published profiles.
        sigmas: Multiple of the combined error bar counted as agreement.

    Returns:
        ``within``: fraction of occupied bins (cations and anions together) where the
        two agree within ``sigmas`` combined error bars (``within_positive``,
        ``within_negative`` per species, ``within_all_bins`` counting the empty bins
        at the walls too); ``rms_z``: root mean square of the difference over the
        combined error bar (1 for statistically consistent profiles); ``rms_z_inside``:
        the same over the bins between the reference's contact edges, leaving out the
        one or two bins at each wall where the density climbs from zero to its contact
        value; ``edge_shift``: the largest distance between our contact edge and the
        reference's (both species, both walls; `half_height_edges`) [z units]; and the
        mean error bars of each side [M].
    """
    if len(ours.z) != len(reference.z):
        raise ValueError(
            f"profiles have {len(ours.z)} and {len(reference.z)} bins; compute ours in the reference's "
            "bins (ReferenceProfile.bins)"
        )
    sides = (
        (ours.positive, ours.positive_error, reference.positive, reference.positive_error),
        (ours.negative, ours.negative_error, reference.negative, reference.negative_error),
    )
    masks = [(a > 0) | (c > 0) for a, _, c, _ in sides]
    occupied = [fraction_within(*s, sigmas=sigmas) for s in sides]
    every = [fraction_within(*s, occupied_only=False, sigmas=sigmas) for s in sides]
    z = np.concatenate(
        [((a - c) / np.sqrt(b**2 + d**2 + 1e-300))[m] for (a, b, c, d), m in zip(sides, masks, strict=True)]
    )
    counts = [int(m.sum()) for m in masks]
    inside, shift = [], 0.0
    for (a, _, c, _), m in zip(sides, masks, strict=True):
        left, right = half_height_edges(reference.z, c)
        mine = half_height_edges(reference.z, a)
        shift = max(shift, abs(mine[0] - left), abs(mine[1] - right))
        inside.append(((reference.z >= left) & (reference.z <= right))[m])
    z_inside = z[np.concatenate(inside)]
    return {
        "sigmas": sigmas,
        "within": (occupied[0] * counts[0] + occupied[1] * counts[1]) / max(1, sum(counts)),
        "within_positive": occupied[0],
        "within_negative": occupied[1],
        "within_all_bins": 0.5 * (every[0] + every[1]),
        "rms_z": float(np.sqrt(np.mean(z**2))),
        "rms_z_inside": float(np.sqrt(np.mean(z_inside**2))),
        "edge_shift": shift,
        "error_ours": float(np.mean(np.concatenate([s[1][m] for s, m in zip(sides, masks, strict=True)]))),
        "error_reference": float(
            np.mean(np.concatenate([s[3][m] for s, m in zip(sides, masks, strict=True)]))
        ),
    }
