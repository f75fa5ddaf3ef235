"""150 steps beside native LJ through particle migrations and neighbor-list rebuilds.

``python3 dynamics.py OUT.npz KIND LAYOUT``: KIND ``pair`` (our LJ beside native LJ)
or ``many-body`` (native LJ keeps the liquid apart; our local-density and
global-dipole models add to it). Saved on rank 0, in tag order.
"""

import sys

import hoomd
import numpy as np
from cases import PARAMS, R_CUT, GlobalDipole, LocalDensity, frame, native_lj

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones


def main():
    out, kind, layout = sys.argv[1], sys.argv[2], sys.argv[3]
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=1)
    ranks = sim.device.communicator.num_ranks
    sim.create_state_from_snapshot(
        frame(side=14), domain_decomposition=(2, 1, 1) if ranks == 2 else (None,) * 3
    )
    native = native_lj(hoomd.md.nlist.Cell(buffer=0.4))
    if kind == "pair":
        model = LennardJones(PARAMS, ["A", "B"])
        ours = [TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT, layout=layout)]
    else:
        ours = [
            TensorFlowForce(LocalDensity(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.0, many_body=True),
            TensorFlowForce(GlobalDipole(), many_body=True),
        ]
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All())
    sim.operations.integrator = hoomd.md.Integrator(dt=0.002, forces=[native, *ours], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.5)
    sim.always_compute_pressure = True
    sim.run(150)
    saved = {"ranks": ranks, "domains": np.prod(sim.state.domain_decomposition)}
    for k, force in enumerate(ours):
        arrays = {"forces": force.forces, "energies": force.energies, "virials": force.virials}
        energy = force.energy  # reduced over ranks: every rank reads it
        if sim.device.communicator.rank == 0:
            saved.update({f"{k}/{key}": value for key, value in arrays.items()} | {f"{k}/energy": energy})
    native_arrays = {"forces": native.forces, "energies": native.energies, "virials": native.virials}
    native_energy, builds = native.energy, ours[0].pair_builds
    snapshot = sim.state.get_snapshot()
    if sim.device.communicator.rank == 0:
        saved.update({f"native/{key}": value for key, value in native_arrays.items()})
        np.savez(
            out, positions=snapshot.particles.position, native_energy=native_energy, builds=builds, **saved
        )


if __name__ == "__main__":
    main()
