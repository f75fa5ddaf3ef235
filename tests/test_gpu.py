"""The GPU path: HOOMD's device arrays into TensorFlow on the GPU (needs a GPU stack)."""

import numpy as np
import pytest
from systems import LJ_PARAMS, lattice_config

from hoomd_mlx.coupling import LennardJones

pytestmark = [pytest.mark.hoomd, pytest.mark.gpu]


def test_gpu_force_matches_native_on_gpu(rng):
    import gsd.hoomd
    import hoomd

    from hoomd_mlx import TensorFlowForce

    pos, types, box = lattice_config(rng, n_side=8)
    frame = gsd.hoomd.Frame()
    frame.particles.N = len(pos)
    frame.particles.position = pos
    frame.particles.typeid = types
    frame.particles.types = ["A", "B"]
    frame.configuration.box = list(box)
    sim = hoomd.Simulation(device=hoomd.device.GPU(), seed=1)
    sim.create_state_from_snapshot(frame)
    native = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4), default_r_cut=2.5)
    for pair, params in LJ_PARAMS.items():
        native.params[pair] = params
    ours = TensorFlowForce(
        LennardJones(LJ_PARAMS, ["A", "B"]), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5
    )
    integrator = hoomd.md.Integrator(dt=0.002, forces=[native, ours])
    integrator.methods.append(hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All()))
    sim.operations.integrator = integrator
    sim.run(0)
    sim.always_compute_pressure = True
    sim.run(5)
    np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.virials.sum(0), native.virials.sum(0), rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-9, atol=1e-12)
    with sim.state.gpu_local_snapshot as snap:
        aligned = snap.particles.position.__cuda_array_interface__["data"][0] % 64 == 0
    assert ours.input_path == ("zero-copy" if aligned else "staged")
