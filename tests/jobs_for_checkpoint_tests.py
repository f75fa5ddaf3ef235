"""HOOMD job functions that stop themselves at chosen moments (for the checkpoint tests' subprocesses)."""

import os
import signal
import time


def _lj(job, seed=5):
    import hoomd

    from hoomd_mlx.demo import lattice_frame

    def build(sim):
        sim.create_state_from_snapshot(lattice_frame(6, 0.7))
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.2)

    sim = job.simulation(build, seed=seed)
    lj = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4), default_r_cut=2.5)
    lj.params[("A", "A")] = {"epsilon": 1.0, "sigma": 1.0}
    method = hoomd.md.methods.ConstantVolume(
        filter=hoomd.filter.All(), thermostat=hoomd.md.methods.thermostats.Bussi(kT=1.2)
    )
    sim.operations.integrator = hoomd.md.Integrator(dt=0.005, forces=[lj], methods=[method])
    job.trajectory(sim, params_every(job))
    return sim


def params_every(job):
    return int(job.params.get("frame_every", 10))


def killed_after_checkpoint(params, job):
    """SIGKILL (no cleanup at all) right after the checkpoint at ``params["kill_at"]`` is recorded."""
    record = job.checkpoint

    def checkpoint_then_die(sim):
        path = record(sim)
        if sim.timestep >= params["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    job.checkpoint = checkpoint_then_die
    sim = _lj(job)
    job.run(sim, steps=params["steps"])
    return {}


def notice_outside_run(params, job):
    """Simulate with HOOMD's own run (not JobContext.run), then wait: the notice comes meanwhile."""
    sim = _lj(job)
    sim.run(params["steps"])
    (job.directory / "waiting").write_text(str(int(sim.timestep)))
    time.sleep(120)
    return {}
