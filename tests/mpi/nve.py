"""NVE with the TensorFlow LJ force on however many ranks this runs on; saves the total energy.

``python3 nve.py OUT.npz STEPS``: a two-type LJ liquid (N = 1000, smoothly cut off), velocity Verlet,
the total energy every 100 steps, saved on rank 0.
"""

import sys
import time

import hoomd
import numpy as np
import tensorflow as tf
from cases import PARAMS, R_CUT, frame

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones

TYPES = ["A", "B"]


class SmoothLJ(tf.Module):
    """LJ switched smoothly to zero between 0.8 r_cut and r_cut (HOOMD's XPLOR form).

    Forces are continuous at the cutoff, so the energy error of velocity Verlet stays a
    bounded fluctuation: what is left to compare between rank counts is the integration,
    not the random kicks of a truncated force.
    """

    def __init__(self):
        super().__init__()
        self.lj = LennardJones(PARAMS, TYPES)
        table = [[R_CUT[tuple(sorted((a, b)))] for b in TYPES] for a in TYPES]
        self.r_cut = tf.constant(np.ravel(table), tf.float64)

    def __call__(self, r_ij, type_i, type_j):
        rc = tf.gather(self.r_cut, type_i * len(TYPES) + type_j)
        ron = 0.8 * rc
        r2 = tf.reduce_sum(r_ij * r_ij, axis=1)
        switch = (rc**2 - r2) ** 2 * (rc**2 + 2 * r2 - 3 * ron**2) / (rc**2 - ron**2) ** 3
        switch = tf.where(r2 < ron**2, tf.ones_like(r2), tf.where(r2 < rc**2, switch, tf.zeros_like(r2)))
        return self.lj(r_ij, type_i, type_j) * switch


def main():
    out, steps = sys.argv[1], int(sys.argv[2])
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=3)
    ranks = sim.device.communicator.num_ranks
    sim.create_state_from_snapshot(
        frame(side=10, spacing=1.4), domain_decomposition=(2, 1, 1) if ranks == 2 else (None,) * 3
    )
    force = TensorFlowForce(SmoothLJ(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    nve = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All())
    sim.operations.integrator = hoomd.md.Integrator(dt=0.004, forces=[force], methods=[nve])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.0)
    thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
    sim.operations.computes.append(thermo)
    sim.run(0)
    energies = []
    start = time.perf_counter()
    for _ in range(steps // 100):
        sim.run(100)
        energies.append(thermo.kinetic_energy + thermo.potential_energy)
    seconds = time.perf_counter() - start
    if sim.device.communicator.rank == 0:
        np.savez(out, energy=np.asarray(energies), seconds=seconds, ranks=ranks, N=sim.state.N_particles)


if __name__ == "__main__":
    main()
