"""Many-body models in HOOMD: pair terms through ManyBodyInputs plus explicit position terms."""

import numpy as np
import pytest
import tensorflow as tf
from systems import LJ_PARAMS, lattice_config
from test_force_hoomd import R_CUT, TYPES, integrate, make_simulation, native_lj

from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.plugin import ManyBodyInputs

pytestmark = pytest.mark.hoomd

K_WALL = 0.7


class LJPlusHarmonicZ(tf.Module):
    """Per-particle energies: half of each LJ pair, plus 0.5 k z^2 (a field along z)."""

    def __init__(self):
        super().__init__()
        self.lj = LennardJones(LJ_PARAMS, TYPES)

    def __call__(self, inputs: ManyBodyInputs):
        t_i = tf.gather(inputs.types, inputs.pair_i)
        t_j = tf.gather(inputs.types, inputs.pair_j)
        e = tf.where(inputs.pair_mask, self.lj(inputs.r_ij, t_i, t_j), tf.zeros((), inputs.r_ij.dtype))
        n = tf.shape(inputs.positions)[0]
        per_particle = 0.5 * (
            tf.math.unsorted_segment_sum(e, inputs.pair_i, n)
            + tf.math.unsorted_segment_sum(e, inputs.pair_j, n)
        )
        return per_particle + 0.5 * K_WALL * inputs.positions[:, 2] ** 2


def _check_against_native_plus_field(hoomd, sim, native, ours):
    """Run one step with virials; ours must be native LJ plus the field 0.5 k z^2."""
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    sim.always_compute_pressure = True
    sim.run(1)
    position = sim.state.get_snapshot().particles.position
    z = position[:, 2]
    expected = native.forces.copy()
    expected[:, 2] -= K_WALL * z
    np.testing.assert_allclose(ours.forces, expected, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(ours.energies, native.energies + 0.5 * K_WALL * z**2, rtol=1e-10, atol=1e-12)
    virial = native.virials.sum(0)
    # explicit term W_ab = sum_i r_a F_b with F = (0, 0, -k z): the xz, yz and zz components
    virial[[2, 4, 5]] -= K_WALL * (position[:, [0, 1, 2]] * z[:, None]).sum(0)
    np.testing.assert_allclose(ours.virials.sum(0), virial, rtol=1e-10, atol=1e-9)


def test_many_body_matches_native_pair_plus_field(rng):
    import hoomd

    from hoomd_mlx import TensorFlowForce

    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = TensorFlowForce(
        LJPlusHarmonicZ(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT, kind="many-body"
    )
    _check_against_native_plus_field(hoomd, sim, native, ours)


def test_many_body_without_neighbor_list(rng):
    import hoomd

    from hoomd_mlx import TensorFlowForce

    def field(inputs):
        return 0.5 * K_WALL * inputs.positions[:, 2] ** 2 * inputs.charges

    pos, types, box = lattice_config(rng, n_side=4)
    sim = make_simulation(hoomd, pos, types, box)
    snap = sim.state.get_snapshot()
    snap.particles.charge[:] = np.where(snap.particles.typeid == 0, 1.0, -1.0)
    sim.state.set_snapshot(snap)
    ours = TensorFlowForce(field, kind="many-body")
    integrate(hoomd, sim, [ours])
    sim.run(1)
    snap = sim.state.get_snapshot()
    expected = -K_WALL * snap.particles.position[:, 2] * snap.particles.charge
    np.testing.assert_allclose(ours.forces[:, 2], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.forces[:, :2], 0.0)


class TableLJPlusHarmonicZ(tf.Module):
    """The same energies from the dense neighbor table (each pair from both rows, half each)."""

    def __init__(self):
        super().__init__()
        self.lj = LennardJones(LJ_PARAMS, TYPES)

    def __call__(self, inputs: ManyBodyInputs):
        rows, width = tf.unstack(tf.shape(inputs.neighbors))
        t_i = tf.repeat(inputs.types[:rows], width)
        t_j = tf.gather(inputs.types, tf.reshape(inputs.neighbors, [-1]))
        e = self.lj(tf.reshape(inputs.r_neighbors, [-1, 3]), t_i, t_j)
        e = tf.where(inputs.neighbor_mask, tf.reshape(e, [rows, width]), tf.zeros((), e.dtype))
        return 0.5 * tf.reduce_sum(e, axis=1) + 0.5 * K_WALL * inputs.positions[:, 2] ** 2


def test_many_body_on_the_neighbor_table_matches_native(rng):
    import hoomd

    from hoomd_mlx import TensorFlowForce

    pos, types, box = lattice_config(rng, n_side=6, box_tilts=(0.1, 0.0, -0.2))
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = TensorFlowForce(
        TableLJPlusHarmonicZ(), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT, kind="many-body"
    )
    _check_against_native_plus_field(hoomd, sim, native, ours)
    assert ours.layout == "many-body"


class LocalLJ(tf.Module):
    """LJ as a local model (kind="local"): half of each neighbor's pair energy on the row."""

    def __init__(self):
        super().__init__()
        self.lj = LennardJones(LJ_PARAMS, TYPES)

    def __call__(self, r, type_i, type_k, mask):
        rows, width = tf.shape(r)[0], tf.shape(r)[1]
        e = self.lj(tf.reshape(r, [-1, 3]), tf.repeat(type_i, width), tf.reshape(type_k, [-1]))
        return 0.5 * tf.reduce_sum(
            tf.where(mask, tf.reshape(e, [rows, width]), tf.zeros((), e.dtype)), axis=1
        )


@pytest.mark.parametrize("storage", ["half", "full"])
def test_local_model_on_the_split_step_matches_native(rng, storage):
    """A local model: the kernels build each row's neighbor table and add forces on rows and neighbors."""
    import hoomd

    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.plugin import _compat

    pos, types, box = lattice_config(rng, n_side=6, box_tilts=(0.1, 0.0, -0.2))
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    ours = TensorFlowForce(LocalLJ(), nlist=nlist, r_cut=R_CUT, kind="local")
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    _compat.set_nlist_storage(nlist, half=storage == "half")
    sim.always_compute_pressure = True
    sim.run(1)
    scale = np.abs(native.forces).max()
    np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-10, atol=1e-12)
    w_scale = np.abs(native.virials).max()
    np.testing.assert_allclose(ours.virials, native.virials, rtol=1e-10, atol=1e-10 * w_scale)
    assert ours.layout == "local"
    assert ours._engine.table_width % 8 == 0


def test_local_model_declaring_a_longer_range_is_refused(rng):
    import hoomd

    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.errors import ConfigurationError

    model = LocalLJ()
    model.cutoff = 3.0
    pos, types, box = lattice_config(rng, n_side=5)
    sim = make_simulation(hoomd, pos, types, box)
    ours = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT, kind="local")
    integrate(hoomd, sim, [ours])
    with pytest.raises(ConfigurationError, match=r"reach 3.0 \(its cutoff\)"):
        sim.run(0)
