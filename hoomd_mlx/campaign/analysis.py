"""Analyses of a finished job's trajectory, with freud (and numpy where freud has no 1-D tool).

Each analysis reads the frames of the job's ``trajectory.gsd`` (the last
``frames`` of them, all if 0) and returns ``(arrays, summary)``: arrays saved
to the job directory (``analysis.npz``, keys ``<kind>.<name>``), scalars merged
into the job's result in the ledger. The kinds, their settings and their curves are
registered in `hoomd_mlx.campaign.config.analyses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import freud
import numpy as np

from hoomd_mlx.campaign.config.analyses import ANALYSES
from hoomd_mlx.trajectory import block_error, unique_frames

__all__ = ["density_profile", "msd", "rdf", "run_analyses"]


def _frames(path: Path, count: int) -> list:
    frames = unique_frames(path)
    return frames[-count:] if count else frames


def _box(frame) -> freud.box.Box:
    return freud.box.Box.from_box(frame.configuration.box, dimensions=frame.configuration.dimensions)


def rdf(path: Path, bins: int = 100, r_max: float = 3.0, frames: int = 0) -> tuple[dict, dict]:
    """Radial distribution function averaged over frames (``freud.density.RDF``)."""
    calc = freud.density.RDF(bins=bins, r_max=r_max)
    for frame in _frames(path, frames):
        calc.compute(system=(_box(frame), frame.particles.position), reset=False)
    g = np.asarray(calc.rdf)
    centers = np.asarray(calc.bin_centers)
    peak = int(np.argmax(g))
    return {"r": centers, "g": g}, {"rdf_peak_height": float(g[peak]), "rdf_peak_r": float(centers[peak])}


def density_profile(
    path: Path, axis: str = "z", bins: int = 50, frames: int = 0, blocks: int = 5
) -> tuple[dict, dict]:
    """Number density per type along ``axis`` [1/length^3], with block-average error bars."""
    k = "xyz".index(axis)
    selected = _frames(path, frames)
    types = selected[0].particles.types
    box = selected[0].configuration.box
    length = box[k]
    area = np.prod([box[m] for m in range(3) if m != k])
    edges = np.linspace(-length / 2, length / 2, bins + 1)
    counts = np.zeros((len(selected), len(types), bins))
    for f, frame in enumerate(selected):
        for t in range(len(types)):
            coords = frame.particles.position[frame.particles.typeid == t, k]
            counts[f, t] = np.histogram(coords, bins=edges)[0]
    density = counts / (area * np.diff(edges))
    arrays = {
        "edges": edges,
        "centers": 0.5 * (edges[1:] + edges[:-1]),
        "density": density.mean(axis=0),
        "error": block_error(density, blocks) if len(selected) > 1 else np.zeros_like(density[0]),
        "types": np.array(types),
    }
    return arrays, {f"mean_density_{t}": float(arrays["density"][i].mean()) for i, t in enumerate(types)}


def msd(path: Path, frames: int = 0) -> tuple[dict, dict]:
    """Mean squared displacement from unwrapped positions (``freud.msd.MSD``, window mode)."""
    selected = _frames(path, frames)
    box = _box(selected[0])
    positions = np.stack([f.particles.position for f in selected])
    images = np.stack([f.particles.image for f in selected])
    calc = freud.msd.MSD(box=box, mode="window").compute(positions, images=images)
    values = np.asarray(calc.msd)
    steps = np.array([f.configuration.step for f in selected])
    lag = steps - steps[0]
    return {"lag_steps": lag, "msd": values}, {"msd_last": float(values[-1])}


def run_analyses(path: Path, analyses: tuple[Mapping[str, Any], ...]) -> tuple[dict[str, np.ndarray], dict]:
    """Run every analysis of a spec on ``path``; arrays prefixed by kind, summaries merged."""
    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    for settings in analyses:
        options = {k: v for k, v in settings.items() if k != "kind"}
        data, scalars = globals()[ANALYSES[settings["kind"]].function](path, **options)
        arrays.update({f"{settings['kind']}.{k}": v for k, v in data.items()})
        summary.update(scalars)
    return arrays, summary
