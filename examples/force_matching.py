"""Force matching: learn a pair potential from a running HOOMD simulation, then simulate with it.

1. Run an LJ fluid with HOOMD's own ``md.pair.LJ`` and record frames (positions + forces).
2. Fit a ``PairMLP`` (Keras) so that its autodiff forces match the recorded ones.
3. Drive HOOMD with the learned model through ``TensorFlowForce``.
4. Plot the learned pair energy against LJ: ``force-matching.png``.

    python3 examples/force_matching.py [--frames 8] [--epochs 300]
"""

from __future__ import annotations

import argparse
import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import ForceMatching, Frame, PairMLP
from hoomd_mlx.demo import lj_fluid, native_lj, nvt_integrator
from hoomd_mlx.plugin import _compat

R_CUT, KT = 2.5, 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--output", default="force-matching.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    hoomd = _compat.import_hoomd()
    tf.keras.utils.set_random_seed(1)

    sim = lj_fluid(hoomd, 500, rho=0.8, kT=KT)
    reference = native_lj(hoomd, r_cut=R_CUT)
    sim.operations.integrator = nvt_integrator(hoomd, reference, KT)
    sim.run(500)
    frames = []
    for _ in range(args.frames):
        sim.run(100)
        frames.append(Frame.from_simulation(sim, reference))

    fm = ForceMatching(PairMLP(n_types=1, r_cut=R_CUT), r_cut=R_CUT, n_types=1)
    print(f"force RMSE before training: {fm.force_rmse(frames):.3f}")
    fm.fit(frames, epochs=args.epochs, log_every=50)
    print(f"force RMSE after training:  {fm.force_rmse(frames):.3f}")

    learned = TensorFlowForce(fm.model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    sim.operations.integrator = nvt_integrator(hoomd, learned, KT)
    sim.run(1000)
    per_particle = learned.energy / sim.state.N_particles
    print(f"1000 steps with the learned potential: energy per particle {per_particle:.3f}")

    r = np.linspace(0.9, R_CUT, 200)
    vectors = tf.constant(np.stack([r, 0 * r, 0 * r], 1), tf.float32)
    types = tf.zeros(len(r), tf.int32)
    lj = 4 * (r**-12 - r**-6)
    learned_e = fm.model(vectors, types, types).numpy()
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    ax.plot(r, lj, label="LJ (reference)")
    ax.plot(r, learned_e - learned_e[-1] + lj[-1], "--", label="PairMLP (force-matched)")
    ax.set_ylim(-1.5, 2)
    ax.set_xlabel("r")
    ax.set_ylabel("pair energy")
    ax.legend()
    fig.savefig(args.output, dpi=120)
    print(f"plot: {args.output}")


if __name__ == "__main__":
    main()
