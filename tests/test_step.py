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
    f32 = make_step(_lj(tf.float32), many_body=False, dtype=tf.float32, jit_compile=False)(*inputs)[0].numpy()
    assert f32.dtype == np.float64
    np.testing.assert_allclose(f32, f64, rtol=1e-3, atol=1e-3 * np.abs(f64).max())


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
