"""The confined electrolyte (charged sheet walls) on however many ranks this runs on.

``python3 electrolyte.py OUT.npz PRODUCTION_STEPS``: the forces of every force on the
starting configuration (the slab correction is the `TensorFlowForce`, whose energy
depends on the dipole of the whole system), then a short NVT run and its density
profiles, saved on rank 0 (``PRODUCTION_STEPS = 0``: the forces only).
"""

import sys
from pathlib import Path

import hoomd
import numpy as np

from hoomd_mlx.electrolyte import Electrolyte
from hoomd_mlx.electrolyte.profiles import DensityProfiles, group_bins, ion_z_samples
from hoomd_mlx.electrolyte.simulation import RunSettings, add_forces, add_integrator, build_state, ion_filter

STATE = {"Z": 3.0, "c": 0.5, "d": 0.474, "a": 0.627, "box_xy": 15.32, "i": -0.01}


def main():
    out, production = Path(sys.argv[1]), int(sys.argv[2])
    setup = Electrolyte(**STATE).setup()
    settings = RunSettings(
        equilibration_steps=1000, production_steps=max(production, 1000), grid="power-of-two"
    )
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=settings.seed)
    build_state(sim, setup, settings)
    add_integrator(sim, settings)
    forces = add_forces(sim, setup, settings)  # runs run(0)
    saved = {
        "ranks": sim.device.communicator.num_ranks,
        "domains": np.asarray(sim.state.domain_decomposition),
    }
    for name, force in zip(("wca", "walls", "ewald", "pppm", "slab"), forces, strict=True):
        f, e = force.forces, force.energy
        if sim.device.communicator.rank == 0:
            saved[f"{name}/forces"], saved[f"{name}/energy"] = f, e
    if production == 0:
        if sim.device.communicator.rank == 0:
            np.savez(out, **saved)
        return
    trajectory = out.with_suffix(".gsd")
    writer = hoomd.write.GSD(
        filename=str(trajectory),
        trigger=hoomd.trigger.And(
            [hoomd.trigger.Periodic(settings.sample_every), hoomd.trigger.After(settings.equilibration_steps)]
        ),
        filter=ion_filter(hoomd),
        mode="wb",
    )
    sim.operations.writers.append(writer)
    sim.run(settings.total_steps)
    writer.flush()
    if sim.device.communicator.rank == 0:
        samples = ion_z_samples(trajectory, setup)
        profiles = DensityProfiles.compute(samples, setup, group_bins(setup), blocks=settings.blocks)
        saved.update({f"profile/{k}": v for k, v in profiles.as_arrays().items()})
        saved["frames"] = profiles.frames
        np.savez(out, **saved)


if __name__ == "__main__":
    main()
