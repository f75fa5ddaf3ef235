"""The demo: a Lennard-Jones fluid driven by `TensorFlowForce`, checked against HOOMD's own LJ.

Runs the same fluid twice from one starting state, once with ``hoomd.md.pair.LJ``
and once with the TensorFlow LJ model, shows progress, and writes to the output
directory a plot of both energy traces (``energy.png``) and a summary
(``summary.json``: steps/s of each, their ratio, the largest force difference).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hoomd_mlx.plugin import _compat

__all__ = ["lattice_frame", "lj_fluid", "native_lj", "nvt_integrator", "run_demo"]


def lattice_frame(n_side: int, density: float):
    """A ``gsd.hoomd.Frame`` of ``n_side**3`` type-``A`` particles on a cubic lattice at ``density``."""
    import gsd.hoomd

    n = n_side**3
    length = (n / density) ** (1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frame = gsd.hoomd.Frame()
    frame.particles.N = n
    frame.particles.position = (grid + 0.5) * (length / n_side) - length / 2
    frame.particles.typeid = np.zeros(n, dtype=np.int32)
    frame.particles.types = ["A"]
    frame.configuration.box = [length, length, length, 0, 0, 0]
    return frame


def lj_fluid(hoomd, n: int, rho: float = 0.8, kT: float = 1.5, seed: int = 1):
    """A ``hoomd.Simulation`` of about ``n`` particles on a cubic lattice at density ``rho``."""
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=seed)
    sim.create_state_from_snapshot(lattice_frame(max(2, round(n ** (1 / 3))), rho))
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=kT)
    return sim


def native_lj(hoomd, r_cut: float = 2.5, buffer: float = 0.4):
    """``hoomd.md.pair.LJ`` for one type ``A`` (epsilon = sigma = 1) on its own cell list."""
    lj = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=buffer), default_r_cut=r_cut)
    lj.params[("A", "A")] = {"epsilon": 1.0, "sigma": 1.0}
    return lj


def nvt_integrator(hoomd, force, kT: float, dt: float = 0.005):
    """An NVT (Bussi) integrator over all particles driven by ``force``."""
    thermostat = hoomd.md.methods.thermostats.Bussi(kT=kT)
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=thermostat)
    return hoomd.md.Integrator(dt=dt, forces=[force], methods=[method])


def _run(hoomd, snapshot, force, steps: int, kT: float, label: str, progress):
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
    sim.create_state_from_snapshot(snapshot)
    sim.operations.integrator = nvt_integrator(hoomd, force, kT)
    sim.run(0)
    energies, chunk = [], max(1, steps // 50)
    start = time.perf_counter()
    with progress(total=steps, desc=label, unit="step") as bar:
        for done in range(0, steps, chunk):
            sim.run(min(chunk, steps - done))
            energies.append((sim.timestep, force.energy / sim.state.N_particles))
            bar.update(min(chunk, steps - done))
    rate = steps / (time.perf_counter() - start)
    extra = {}
    if hasattr(force, "input_path"):  # read while the simulation still holds the force
        extra = {"input_path": force.input_path, "model_ms_per_step": 1e3 * force.model_time}
    return np.array(energies), rate, extra


def run_demo(output: Path, n: int = 2000, steps: int = 2000, rho: float = 0.8, kT: float = 1.5) -> dict:
    """Run the demo and write ``energy.png`` and ``summary.json`` into ``output``."""
    hoomd = _compat.import_hoomd()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    from hoomd_mlx.coupling import LennardJones
    from hoomd_mlx.plugin.force import TensorFlowForce

    output.mkdir(parents=True, exist_ok=True)
    melt = lj_fluid(hoomd, n, rho, kT)
    melt.operations.integrator = nvt_integrator(hoomd, native_lj(hoomd), kT)
    melt.run(200)
    snapshot = melt.state.get_snapshot()

    native = native_lj(hoomd)
    model = LennardJones({("A", "A"): {"epsilon": 1.0, "sigma": 1.0}}, ["A"])
    ours = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5)
    e_native, sps_native, _ = _run(hoomd, snapshot, native, steps, kT, "native LJ", tqdm)
    e_tf, sps_tf, tf_stats = _run(hoomd, snapshot, ours, steps, kT, "TensorFlow LJ", tqdm)

    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.plot(e_native[:, 0], e_native[:, 1], label=f"hoomd.md.pair.LJ ({sps_native:.0f} steps/s)")
    ax.plot(e_tf[:, 0], e_tf[:, 1], "--", label=f"TensorFlowForce ({sps_tf:.0f} steps/s)")
    ax.set_xlabel("timestep")
    ax.set_ylabel("potential energy per particle")
    ax.set_title(f"LJ fluid, N={snapshot.particles.N}, rho={rho}, kT={kT}")
    ax.legend()
    fig.savefig(output / "energy.png", dpi=120)
    summary = {
        "N": int(snapshot.particles.N),
        "steps": steps,
        "native_steps_per_s": sps_native,
        "tensorflow_steps_per_s": sps_tf,
        "ratio": sps_tf / sps_native,
        "mean_energy_per_particle": {
            "native": float(e_native[:, 1].mean()),
            "tensorflow": float(e_tf[:, 1].mean()),
        },
        **tf_stats,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
