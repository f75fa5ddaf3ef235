"""A small native-LJ job for the multi-rank campaign tests (HOOMD only, no TensorFlow).

Every rank runs it. ``settings["throttle"]`` [s] sleeps that long each step, so a job of
a few thousand steps lasts long enough to be interrupted mid-run. A resumed attempt saves
the state it resumed to (``resumed_<step>.npz``, gathered on rank 0) for the tests to
compare with the checkpoint's float64 copy.
"""

import time

import gsd.hoomd
import hoomd
import numpy as np


def _lattice(n_side, density):
    spacing = density ** (-1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frame = gsd.hoomd.Frame()
    frame.particles.N = n_side**3
    frame.particles.position = (grid + 0.5) * spacing - n_side * spacing / 2
    frame.particles.types = ["A"]
    frame.particles.typeid = np.zeros(n_side**3, dtype=int)
    frame.configuration.box = [n_side * spacing] * 3 + [0.0, 0.0, 0.0]
    return frame


class _Throttle(hoomd.custom.Action):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def act(self, timestep):
        time.sleep(self.seconds)


def lj(params, job):
    settings = {"n_side": 6, "steps": 2000, "throttle": 0.0, **job.settings}
    kT = float(params.get("kT", 1.2))

    def build(sim):
        sim.create_state_from_snapshot(_lattice(settings["n_side"], float(params.get("density", 0.7))))
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=kT)

    sim = job.simulation(build, seed=5)
    if job.resumed_from is not None:
        snapshot = sim.state.get_snapshot()  # collective: every rank calls, rank 0 holds the data
        if snapshot.communicator.rank == 0:
            job.save_array(
                f"resumed_{job.resumed_from}.npz",
                position=snapshot.particles.position,
                velocity=snapshot.particles.velocity,
                timestep=np.int64(sim.timestep),
            )
    lj_force = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4), default_r_cut=2.5)
    lj_force.params[("A", "A")] = {"epsilon": 1.0, "sigma": 1.0}
    method = hoomd.md.methods.ConstantVolume(
        filter=hoomd.filter.All(), thermostat=hoomd.md.methods.thermostats.Bussi(kT=kT)
    )
    sim.operations.integrator = hoomd.md.Integrator(dt=0.005, forces=[lj_force], methods=[method])
    thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
    sim.operations.computes.append(thermo)
    trajectory = job.trajectory(sim, settings["steps"] // 8)  # appended across attempts
    if settings["throttle"] > 0:
        throttle = hoomd.write.CustomWriter(action=_Throttle(settings["throttle"]), trigger=1)
        sim.operations.writers.append(throttle)
    job.run(sim, steps=settings["steps"])
    sim.run(0)  # the thermodynamic quantities of the final state
    trajectory.flush()
    return {
        "final_step": int(sim.timestep),
        "ranks": int(sim.device.communicator.num_ranks),
        "domains": int(np.prod(sim.state.domain_decomposition)),
        "potential_energy_per_particle": float(thermo.potential_energy) / sim.state.N_particles,
        "kinetic_temperature": float(thermo.kinetic_temperature),
    }
