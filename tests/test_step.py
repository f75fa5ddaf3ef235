"""The compiled step against brute force, finite differences and numerical stress."""

import numpy as np
import pytest
import tensorflow as tf
from systems import LJ_PARAMS, box_matrix, brute_force_lj, lattice_config, step_inputs

from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.plugin.step import make_step, minimum_image

R_CUT = 2.5
TRICLINIC = (0.2, -0.1, 0.15)
VIRIAL_INDEX = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]


def _lj(dtype=tf.float64):
    return LennardJones(LJ_PARAMS, ["A", "B"], dtype=dtype)


@pytest.mark.parametrize("tilts", [(0.0, 0.0, 0.0), TRICLINIC], ids=["cubic", "triclinic"])
def test_lj_step_matches_brute_force(rng, tilts):
    pos, types, box = lattice_config(rng, box_tilts=tilts)
    step = make_step(_lj(), many_body=False, jit_compile=False)
    fe, virial, finite = step(*step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4))
    forces, energy, w = brute_force_lj(pos, types, box, R_CUT)
    assert bool(finite)
    np.testing.assert_allclose(fe.numpy()[:, :3], forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fe.numpy()[:, 3], energy, rtol=1e-10, atol=1e-12)
    total = virial.numpy().sum(0)
    np.testing.assert_allclose(total, [w[a, b] for a, b in VIRIAL_INDEX], rtol=1e-10, atol=1e-10)


def test_xla_and_graph_agree(rng):
    pos, types, box = lattice_config(rng, box_tilts=TRICLINIC)
    inputs = step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4)
    plain = make_step(_lj(), many_body=False, jit_compile=False)(*inputs)
    xla = make_step(_lj(), many_body=False, jit_compile=True)(*inputs)
    for a, b in zip(plain[:2], xla[:2], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def _total_energy(step, pos, types, box):
    fe, _, _ = step(*step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4))
    return fe.numpy()[:, 3].sum()


def test_forces_are_minus_gradient_of_energy(rng):
    """Central finite differences of the total energy, particle by particle."""
    pos, types, box = lattice_config(rng, n_side=4, box_tilts=TRICLINIC)
    step = make_step(_lj(), many_body=False, jit_compile=False)
    fe, _, _ = step(*step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4))
    h = 1e-6
    for i in rng.choice(len(pos), 5, replace=False):
        for a in range(3):
            plus, minus = pos.copy(), pos.copy()
            plus[i, a] += h
            minus[i, a] -= h
            numeric = -(_total_energy(step, plus, types, box) - _total_energy(step, minus, types, box)) / (
                2 * h
            )
            assert fe.numpy()[i, a] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def test_virial_is_minus_strain_derivative(rng):
    """W_ab = -dU/d(eps_ab) under a homogeneous deformation of box and positions."""
    pos, types, box = lattice_config(rng, n_side=4, box_tilts=TRICLINIC)
    step = make_step(_lj(), many_body=False, jit_compile=False)
    _, virial, _ = step(*step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4))
    total = virial.numpy().sum(0)
    h = 1e-6

    def deformed_energy(a, b, e):
        strain = np.eye(3)
        strain[a, b] += e
        m = strain @ box_matrix(box)
        new_box = [m[0, 0], m[1, 1], m[2, 2], m[0, 1] / m[1, 1], m[0, 2] / m[2, 2], m[1, 2] / m[2, 2]]
        return _total_energy(step, pos @ strain.T, types, np.array(new_box))

    for k, (a, b) in enumerate(VIRIAL_INDEX):
        numeric = -(deformed_energy(a, b, h) - deformed_energy(a, b, -h)) / (2 * h)
        assert total[k] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def test_float32_model_runs_and_agrees(rng):
    pos, types, box = lattice_config(rng)
    inputs = step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4)
    f64 = make_step(_lj(), many_body=False, jit_compile=False)(*inputs)[0].numpy()
    f32 = make_step(_lj(tf.float32), many_body=False, dtype=tf.float32, jit_compile=False)
    f32 = f32(*inputs)[0].numpy()
    assert f32.dtype == np.float64
    # forces within 1e-5 of the largest force; energies to float32 precision
    np.testing.assert_allclose(f32[:, :3], f64[:, :3], rtol=0, atol=1e-5 * np.abs(f64[:, :3]).max())
    np.testing.assert_allclose(f32[:, 3], f64[:, 3], rtol=0, atol=1e-5 * np.abs(f64[:, 3]).max())


def test_nan_from_model_sets_the_flag(rng):
    pos, types, box = lattice_config(rng)

    def bad(r, ti, tj):
        return tf.reduce_sum(r, 1) * np.nan

    _, _, finite = make_step(bad, many_body=False, jit_compile=False)(
        *step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4)
    )
    assert not bool(finite)


def test_minimum_image_wraps_into_box():
    box = tf.constant([10.0, 8.0, 6.0, 0.0, 0.0, 0.0], tf.float64)
    d = tf.constant([[9.0, -7.0, 3.5]], tf.float64)
    np.testing.assert_allclose(minimum_image(d, box).numpy(), [[-1.0, 1.0, -2.5]])


def test_step_without_virial_returns_none_and_same_forces(rng):
    pos, types, box = lattice_config(rng)
    inputs = step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4)
    with_w = make_step(_lj(), many_body=False, jit_compile=False)(*inputs)
    without = make_step(_lj(), many_body=False, jit_compile=False, virial=False)(*inputs)
    assert without[1].shape == (0, 6)
    np.testing.assert_array_equal(with_w[0].numpy(), without[0].numpy())


class _TableLJ(tf.Module):
    """A many-body model that reads only the dense neighbor table (a descriptor-style model)."""

    def __init__(self):
        super().__init__()
        self.lj = _lj()

    def __call__(self, inputs):
        rows, width = tf.unstack(tf.shape(inputs.neighbors))
        t_i = tf.repeat(inputs.types[:rows], width)
        t_j = tf.gather(inputs.types, tf.reshape(inputs.neighbors, [-1]))
        e = self.lj(tf.reshape(inputs.r_neighbors, [-1, 3]), t_i, t_j)
        e = tf.where(inputs.neighbor_mask, tf.reshape(e, [rows, width]), tf.zeros((), e.dtype))
        return 0.5 * tf.reduce_sum(e, axis=1) + 0.3 * inputs.positions[:, 0] ** 2


def test_many_body_on_the_neighbor_table_matches_brute_force(rng):
    """Forces through r_neighbors (row and column sides) and positions, virial included."""
    pos, types, box = lattice_config(rng)
    step = make_step(_TableLJ(), many_body=True, jit_compile=False)
    fe, virial, finite = step(*step_inputs(pos, types, box, R_CUT, r_list=R_CUT + 0.4))
    forces, energy, w = brute_force_lj(pos, types, box, R_CUT)
    forces[:, 0] -= 0.6 * pos[:, 0]
    energy += 0.3 * pos[:, 0] ** 2
    w[0, 0] -= 0.6 * np.sum(pos[:, 0] ** 2)  # W_ab = sum_i r_a F_b, with the field's F_x = -0.6 x
    assert bool(finite)
    np.testing.assert_allclose(fe.numpy()[:, :3], forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fe.numpy()[:, 3], energy, rtol=1e-10, atol=1e-12)
    total = virial.numpy().sum(0)
    np.testing.assert_allclose(total, [w[a, b] for a, b in VIRIAL_INDEX], rtol=1e-10, atol=1e-9)


def test_pair_mlp_computes_in_float64_when_asked():
    from hoomd_mlx.coupling import PairMLP

    mlp = PairMLP(2, R_CUT, dtype="float64")
    mlp.build()
    r = tf.constant([[1.0, 0.2, 0.0], [0.0, 1.5, 0.3]], tf.float64)
    t = tf.constant([0, 1], tf.int32)
    e = mlp(r, t, t[::-1])
    assert e.dtype == tf.float64
    assert all(w.dtype == tf.float64 for w in mlp.weights)
