"""Job function of the Lennard-Jones fluid campaigns (``lj_fluid.toml``, ``lj_fluid_tf.toml``).

One job: N LJ particles at a density and temperature, NVT (Bussi), with the force
either HOOMD's own ``md.pair.LJ`` or the same LJ through ``hoomd_mlx.TensorFlowForce``
(``job.settings["force"] = "tensorflow"``). Outputs: mean pressure and potential energy
per particle over the production frames; the RDF comes from the spec's analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hoomd_mlx.settings import Choice, Int, Number, Settings, setting


@dataclass(frozen=True)
class LJFluidSettings(Settings):
    """``[job.settings]`` of the LJ fluid: system size, run length, sampling, which force."""

    TABLE: ClassVar[str] = "job.settings"
    n_side: int = setting(8, Int(minimum=2))  # particles: n_side^3
    steps: int = setting(4000, Int(minimum=1))
    frame_every: int = setting(200, Int(minimum=1))
    production_frames: int = setting(10, Int(minimum=1))
    force: str = setting("native", Choice(("native", "tensorflow")))
    sigma: float = setting(1.0, Number(minimum=0.0, above=True))  # the LJ diameter (a changed potential)


def _force(hoomd, kind: str, sigma: float = 1.0):
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    if kind == "tensorflow":
        from hoomd_mlx import TensorFlowForce
        from hoomd_mlx.coupling import LennardJones

        model = LennardJones({("A", "A"): {"epsilon": 1.0, "sigma": sigma}}, ["A"])
        return TensorFlowForce(model, nlist=nlist, r_cut=2.5 * sigma)
    lj = hoomd.md.pair.LJ(nlist=nlist, default_r_cut=2.5 * sigma)
    lj.params[("A", "A")] = {"epsilon": 1.0, "sigma": sigma}
    return lj


def run(params: dict, job) -> dict:
    """Run one state point; return its scalar results."""
    import hoomd

    from hoomd_mlx.demo import lattice_frame
    from hoomd_mlx.trajectory import unique_frames

    settings = vars(LJFluidSettings.from_mapping(job.settings))
    density, kT = float(params["density"]), float(params["kT"])

    def build(sim):
        sim.create_state_from_snapshot(lattice_frame(settings["n_side"], density))
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=kT)

    sim = job.simulation(build, seed=17)
    thermostat = hoomd.md.methods.thermostats.Bussi(kT=kT)
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=thermostat)
    sim.operations.integrator = hoomd.md.Integrator(
        dt=0.005, forces=[_force(hoomd, settings["force"], settings["sigma"])], methods=[method]
    )
    thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
    sim.operations.computes.append(thermo)
    logger = hoomd.logging.Logger(categories=["scalar"])
    logger.add(thermo, quantities=["pressure", "potential_energy"])
    job.trajectory(sim, settings["frame_every"], logger=logger)
    job.run(sim, steps=settings["steps"])
    sim.operations.writers[-1].flush()

    frames = unique_frames(job.path("trajectory.gsd"))[-settings["production_frames"] :]
    key = "md/compute/ThermodynamicQuantities/"
    pressure = np.array([f.log[key + "pressure"][0] for f in frames])
    energy = np.array([f.log[key + "potential_energy"][0] for f in frames]) / sim.state.N_particles
    return {
        "pressure": float(pressure.mean()),
        "pressure_err": float(pressure.std(ddof=1) / np.sqrt(len(pressure))),
        "potential_energy_per_particle": float(energy.mean()),
        "potential_energy_per_particle_err": float(energy.std(ddof=1) / np.sqrt(len(energy))),
        "final_step": int(sim.timestep),
    }


run.settings = LJFluidSettings  # [job.settings] is checked when the spec loads
