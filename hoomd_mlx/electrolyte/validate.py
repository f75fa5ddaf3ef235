"""Reproduce a published profile: simulate its state point, compare, plot.

Used by ``benchmarks/electrolyte_reference.py`` (the recorded comparison in
``docs/electrolyte.md``) and by the ``long`` tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hoomd_mlx.electrolyte.profiles import DensityProfiles, ion_z_samples
from hoomd_mlx.electrolyte.reference import ReferenceProfile, compare
from hoomd_mlx.electrolyte.system import Electrolyte

__all__ = ["plot_comparison", "reproduce"]


def reproduce(
    references: list[ReferenceProfile], directory: str | Path, box_xy: float | None = None, **settings
) -> tuple[list[dict], DensityProfiles]:
    """Simulate the state point shared by ``references`` once and compare with each.

    Args:
        references: Published profiles of one state point (same Z, c, d, a, p, n, i).
        directory: Job directory (resumed if it holds a checkpoint).
        box_xy: Lateral box [nm]; default the group's rule.
        **settings: `hoomd_mlx.electrolyte.simulation.RunSettings` fields.

    Returns:
        One record per reference (agreement at one and two combined error bars, the
        steps needed for our error bars to match the reference's, runtime), and our
        profiles in the first reference's bins.
    """
    from hoomd_mlx.campaign.job.checkpoint import JobContext
    from hoomd_mlx.electrolyte.run import run_state_point

    point = {k: references[0].params[k] for k in ("Z", "c", "d", "a", "p", "n", "i")}
    job = JobContext(point, directory)
    job.settings = dict(settings) | ({"box_xy": box_xy} if box_xy else {})
    start = time.monotonic()
    result = run_state_point(point, job)
    seconds = time.monotonic() - start
    setup = Electrolyte.from_params(point, **({"box_xy": box_xy} if box_xy else {})).setup()
    samples = ion_z_samples(job.path("trajectory.gsd"), setup)
    production = int(job.settings.get("production_steps", 20000))
    records, first = [], None
    for ref in references:
        blocks = int(settings.get("blocks", 10))
        ours = DensityProfiles.compute(samples, setup, ref.bins(setup), blocks=blocks)
        first = first or ours
        one, two = compare(ours, ref), compare(ours, ref, sigmas=2.0)
        ratio = one["error_ours"] / one["error_reference"]
        records.append(
            {
                "reference": ref.name,
                "state": point,
                "ions": result["ions"],
                "within_1": one["within"],
                "within_2": two["within"],
                "rms_z": one["rms_z"],
                "rms_z_inside": one["rms_z_inside"],
                "edge_shift_nm": one["edge_shift"],
                "error_ours": one["error_ours"],
                "error_reference": one["error_reference"],
                "production_steps": production,
                "steps_to_match_error": int(np.ceil(production * ratio**2)),
                "seconds": seconds,
                "steps_per_second": result["steps_per_second"],
            }
        )
    return records, first


def plot_comparison(path: str | Path, ours: DensityProfiles, references: list[ReferenceProfile]) -> None:
    """Cation and anion profiles, ours against the references, with error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, side, title in ((axes[0], "positive", "cations"), (axes[1], "negative", "anions")):
        for ref in references:
            rho, err = getattr(ref, side), getattr(ref, f"{side}_error")
            ax.errorbar(ref.z, rho, err, lw=0.8, elinewidth=0.5, label=ref.name)
        ax.errorbar(
            ours.z, getattr(ours, side), getattr(ours, f"{side}_error"), color="k", lw=1, elinewidth=0.5,
            label="hoomd-mlx (HOOMD-blue + TF slab correction)",
        )  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("z [nm]")
    axes[0].set_ylabel("density [M]")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
