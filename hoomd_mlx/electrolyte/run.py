"""One confined-electrolyte state point, start to finish, inside a job directory.

`run_state_point` builds (or resumes) the simulation through a
`hoomd_mlx.campaign.checkpoint.JobContext`, equilibrates, samples the ions every
``sample_every`` steps of production into the job's ``trajectory.gsd``, and turns
the frames into density profiles: in the group's bins (``profiles.npz``,
``{p,n}_density_profile.dat``, ``profiles.png``) and in ``profile_bins`` equal bins
across the channel (the fixed-size vectors a surrogate learns).
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from typing import Any

import numpy as np

from hoomd_mlx.electrolyte.profiles import DensityProfiles, channel_bins, group_bins, ion_z_samples
from hoomd_mlx.electrolyte.simulation import RunSettings, add_forces, add_integrator, build_state, ion_filter
from hoomd_mlx.electrolyte.system import Electrolyte
from hoomd_mlx.errors import ConfigurationError

__all__ = ["ELECTROLYTE_KEYS", "run_state_point"]

logger = logging.getLogger(__name__)

ELECTROLYTE_KEYS = ("box_xy", "mesh", "bjerrum", "slab_factor", "walls")
"""Keys of ``[job.settings]`` passed to `Electrolyte` (the rest are run settings)."""

RUN_KEYS = tuple(f.name for f in fields(RunSettings))


def run_state_point(params: dict, job: Any, profile_bins: int = 50) -> dict:
    """Simulate one state point in ``job``'s directory; return its results.

    Args:
        params: Design point: Z, c, d, a [nm, M] and optionally p, n, i [C/m^2]
            (``job.settings`` may fill any of them, e.g. fixed ion sizes).
        job: The `JobContext`; ``job.settings`` holds `RunSettings` fields and the
            `ELECTROLYTE_KEYS`.
        profile_bins: Bins of the fixed-size profiles returned for surrogates.

    Returns:
        ``rho_pos``/``rho_neg`` (lists of ``profile_bins`` densities [M] from wall to
        wall) with ``*_err``, contact and mid-channel densities, the counts, the
        runtime and the speed.
    """
    import hoomd

    settings = dict(job.settings)
    known = {*RUN_KEYS, *ELECTROLYTE_KEYS, "Z", "c", "d", "a", "p", "n", "i", "profile_bins"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown job.settings {unknown} for the electrolyte; expected some of {sorted(known)}"
        )
    profile_bins = int(settings.get("profile_bins", profile_bins))
    point = {k: settings[k] for k in ("Z", "c", "d", "a", "p", "n", "i") if k in settings}
    point.update(params)
    electrolyte = Electrolyte.from_params(
        point, **{k: settings[k] for k in ELECTROLYTE_KEYS if k in settings}
    )
    run = RunSettings.from_mapping(settings)
    setup = electrolyte.setup()
    logger.info("state point %s: %s", point, setup.summary())

    sim = job.simulation(lambda s: build_state(s, setup, run), seed=run.seed)
    add_integrator(sim, run)
    add_forces(sim, setup, run)
    first_sample = run.equilibration_steps  # production starts here, on every attempt
    trigger = hoomd.trigger.And([hoomd.trigger.Periodic(run.sample_every), hoomd.trigger.After(first_sample)])
    writer = job.trajectory(sim, trigger, filter=ion_filter(hoomd))
    start, start_step = time.monotonic(), int(sim.timestep)
    job.run(sim, run.total_steps)
    seconds = time.monotonic() - start
    writer.flush()

    samples = ion_z_samples(job.path("trajectory.gsd"), setup)
    group = DensityProfiles.compute(samples, setup, group_bins(setup), blocks=run.blocks)
    job.save_array("profiles.npz", **group.as_arrays())
    group.write_group_format(job.directory)
    coarse = DensityProfiles.compute(samples, setup, channel_bins(setup, profile_bins), blocks=run.blocks)
    _plot(job.path("profiles.png"), group, point)

    middle = np.abs(group.z) <= 0.25 * electrolyte.Z
    steps = int(sim.timestep) - start_step
    return {
        "rho_pos": coarse.positive.tolist(),
        "rho_pos_err": coarse.positive_error.tolist(),
        "rho_neg": coarse.negative.tolist(),
        "rho_neg_err": coarse.negative_error.tolist(),
        "contact_pos": float(group.positive.max()),
        "contact_neg": float(group.negative.max()),
        "mid_pos": float(group.positive[middle].mean()),
        "mid_neg": float(group.negative[middle].mean()),
        "frames": group.frames,
        "ions": setup.n_ions,
        "seconds": seconds,
        "steps_per_second": steps / seconds if seconds > 0 else 0.0,
        "final_step": int(sim.timestep),
    }


def _plot(path, profiles: DensityProfiles, point: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for rho, err, label in (
        (profiles.positive, profiles.positive_error, "cations"),
        (profiles.negative, profiles.negative_error, "anions"),
    ):
        ax.errorbar(profiles.z, rho, yerr=err, label=label, lw=1, elinewidth=0.5)
    ax.set_xlabel("z [nm]")
    ax.set_ylabel("density [M]")
    ax.set_title(", ".join(f"{k}={v}" for k, v in point.items()), fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
