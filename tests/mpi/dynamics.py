"""150 steps beside native LJ through particle migrations and neighbor-list rebuilds.

``python3 dynamics.py OUT.npz KIND LAYOUT``: KIND ``pair`` (our LJ beside native LJ)
or ``many-body`` (native LJ keeps the liquid apart; our local-density and
global-dipole models add to it). Saved on rank 0, in tag order.
"""

import sys

import hoomd
import numpy as np
from cases import PARAMS, R_CUT, GlobalDipole, LocalDensity, ThreeBody, frame, native_lj

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones


class PressureEvery(hoomd.custom.Action):
    """Reads the pressure (a collective) on the steps it is triggered: virials on those only."""

    flags = (hoomd.custom.Action.Flags.PRESSURE_TENSOR,)

    def __init__(self, thermo):
        self.thermo = thermo
        self.pressures = []

    def act(self, timestep):
        self.pressures.append(self.thermo.pressure)


def main():
    out, kind = sys.argv[1], sys.argv[2]
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=1)
    ranks = sim.device.communicator.num_ranks
    sim.create_state_from_snapshot(
        frame(side=14), domain_decomposition=(2, 1, 1) if ranks == 2 else (None,) * 3
    )
    native = native_lj(hoomd.md.nlist.Cell(buffer=0.4))
    if kind == "pair":
        model = LennardJones(PARAMS, ["A", "B"])
        ours = [TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)]
    elif kind == "local":
        ours = [TensorFlowForce(ThreeBody(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.0, kind="local")]
    else:
        ours = [
            TensorFlowForce(
                LocalDensity(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.0, kind="many-body"
            ),
            TensorFlowForce(GlobalDipole(), kind="many-body"),
        ]
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All())
    sim.operations.integrator = hoomd.md.Integrator(dt=0.002, forces=[native, *ours], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.5)
    if kind == "pair":
        sim.always_compute_pressure = True
    else:  # virials on some steps only: every rank must agree on the steps that exchange them
        thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
        sim.operations.computes.append(thermo)
        sim.operations.writers.append(
            hoomd.write.CustomWriter(action=PressureEvery(thermo), trigger=hoomd.trigger.Periodic(7))
        )
    sim.run(150)
    saved = {"ranks": ranks, "domains": np.prod(sim.state.domain_decomposition)}
    for k, force in enumerate(ours):
        arrays = {"forces": force.forces, "energies": force.energies, "virials": force.virials}
        energy = force.energy  # reduced over ranks: every rank reads it
        if sim.device.communicator.rank == 0:
            saved.update(
                {f"{k}/{key}": v for key, v in arrays.items() if v is not None} | {f"{k}/energy": energy}
            )
    native_arrays = {"forces": native.forces, "energies": native.energies, "virials": native.virials}
    native_energy, builds = native.energy, ours[0].pair_builds
    snapshot = sim.state.get_snapshot()
    if sim.device.communicator.rank == 0:
        saved.update({f"native/{key}": v for key, v in native_arrays.items() if v is not None})
        np.savez(
            out, positions=snapshot.particles.position, native_energy=native_energy, builds=builds, **saved
        )


if __name__ == "__main__":
    main()
