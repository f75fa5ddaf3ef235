"""One confined-electrolyte state point, start to finish, inside a job directory.

`run_state_point` builds (or resumes) the simulation through a
`hoomd_mlx.campaign.job.checkpoint.JobContext`, equilibrates, samples the ions every
``sample_every`` steps of production into the job's ``trajectory.gsd``, and turns
the frames into density profiles: in the group's bins (``profiles.npz``,
``{p,n}_density_profile.dat``, ``profiles.png``) and in ``profile_bins`` equal bins
across the channel (the fixed-size vectors a surrogate learns).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from hoomd_mlx.electrolyte.profiles import DensityProfiles, channel_bins, group_bins, ion_z_samples
from hoomd_mlx.electrolyte.simulation import RunSettings, add_forces, add_integrator, build_state, ion_filter
from hoomd_mlx.electrolyte.system import Electrolyte
from hoomd_mlx.settings import Choice, Int, Number, Optional, Settings, setting

__all__ = ["ELECTROLYTE_KEYS", "ElectrolyteJobSettings", "run_state_point"]

logger = logging.getLogger(__name__)

ELECTROLYTE_KEYS = ("box_xy", "mesh", "bjerrum", "slab_factor", "walls")
"""Keys of ``[job.settings]`` passed to `Electrolyte` (the rest are run settings)."""

POINT_KEYS = ("Z", "c", "d", "a", "p", "n", "i")
RUN_KEYS = tuple(f.name for f in fields(RunSettings))


@dataclass(frozen=True)
class ElectrolyteJobSettings(Settings):
    """``[job.settings]`` of an electrolyte campaign: fixed state-point values, the system, the run.

    Any design value (``Z``, ``c``, ``d``, ``a``, ``p``, ``n``, ``i``) may be fixed here; the
    system keys are `ELECTROLYTE_KEYS`; the run keys are `RunSettings`'s (checked by it).
    Declared as the job function's settings (``run.settings``), so a spec is checked when it loads.
    """

    TABLE: ClassVar[str] = "job.settings"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = RUN_KEYS

    Z: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    c: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    d: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    a: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    p: int | None = setting(None, Optional(Int(minimum=1)))
    n: int | None = setting(None, Optional(Int(maximum=-1)))
    i: float | None = setting(None, Optional(Number(maximum=0.0)))
    box_xy: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    mesh: int | None = setting(None, Optional(Int(minimum=0)))
    bjerrum: float | None = setting(None, Optional(Number(minimum=0.0, above=True)))
    slab_factor: float | None = setting(None, Optional(Number(minimum=1.0, above=True)))
    walls: str | None = setting(None, Optional(Choice(("sheet", "mesh"))))
    profile_bins: int = setting(50, Int(minimum=2))

    @classmethod
    def from_mapping(cls, table: Any, where: str | None = None) -> ElectrolyteJobSettings:
        """Validate the electrolyte's keys here and the run keys by `RunSettings`."""
        settings = super().from_mapping(table, where)
        RunSettings.from_mapping({k: v for k, v in table.items() if k in RUN_KEYS}, where or cls.TABLE)
        return settings

    def given(self, keys: tuple[str, ...]) -> dict:
        """dict: The values of ``keys`` that the table gave."""
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


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

    table = dict(job.settings)
    settings = ElectrolyteJobSettings.from_mapping({"profile_bins": profile_bins, **table})
    profile_bins = settings.profile_bins
    point = {**settings.given(POINT_KEYS), **params}
    electrolyte = Electrolyte.from_params(point, **settings.given(ELECTROLYTE_KEYS))
    run = RunSettings.from_mapping({k: v for k, v in table.items() if k in RUN_KEYS})
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
