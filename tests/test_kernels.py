"""The split step without HOOMD: kernels and model against brute force, finite differences, strain."""

import numba
import numpy as np
import pytest
import tensorflow as tf
from systems import LJ_PARAMS, box_matrix, brute_force_lj, hoomd_lists, lattice_config
from test_step import R_CUT, TRICLINIC, VIRIAL_INDEX

from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.coupling.force_matching import Frame
from hoomd_mlx.plugin import kernels
from hoomd_mlx.plugin.split import LocalSplit, PairSplit
from hoomd_mlx.plugin.step import pack_postype

R_LIST = R_CUT + 0.4


def _lists(pos, types, box, storage, rows=None):
    """HOOMD-style lists of every pair within R_LIST: half (each pair once, j > i) or full storage."""
    pairs = Frame(pos, types, box, np.zeros_like(pos)).pairs(R_LIST)
    i, j = pairs.i[: pairs.count], pairs.j[: pairs.count]
    rows = len(pos) if rows is None else rows
    neighbors = [[] for _ in range(rows)]
    for a, b in zip(np.minimum(i, j), np.maximum(i, j), strict=True):
        if a < rows:
            neighbors[a].append(b)
        if storage == "full" and b < rows:
            neighbors[b].append(a)
    return hoomd_lists(neighbors)


def _arrays(pos, types, box):
    postype = pack_postype(pos, types)
    return postype, postype.view(np.int32)[:, kernels.TYPE_COLUMN], kernels.box_array(*box)


def _rcut2(cutoffs=None):
    table = np.full((2, 2), R_CUT)
    for (a, b), value in (cutoffs or {}).items():
        table[a, b] = table[b, a] = value
    return table**2


def _pair_split(pos, types, box, storage="half", dtype=tf.float64, cutoffs=None, virial=True, rows=None):
    model = LennardJones(LJ_PARAMS, ["A", "B"], dtype=dtype)
    split = PairSplit(model, dtype, False, _rcut2(cutoffs), R_CUT)
    rows = len(pos) if rows is None else rows
    split.rebuild(*_lists(pos, types, box, storage, rows), rows)
    postype, type_view, box_array = _arrays(pos, types, box)
    force, w = np.zeros((rows, 4)), np.zeros((rows, 6))
    assert split.evaluate(postype, type_view, rows, box_array, force, w, virial)
    return force, w, split


@pytest.mark.parametrize("storage", ["half", "full"])
@pytest.mark.parametrize("tilts", [(0.0, 0.0, 0.0), TRICLINIC], ids=["cubic", "triclinic"])
def test_pair_split_matches_brute_force(rng, tilts, storage):
    pos, types, box = lattice_config(rng, box_tilts=tilts)
    force, w, split = _pair_split(pos, types, box, storage)
    forces, energy, virial = brute_force_lj(pos, types, box, R_CUT)
    np.testing.assert_allclose(force[:, :3], forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(force[:, 3], energy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.sum(0), [virial[a, b] for a, b in VIRIAL_INDEX], rtol=1e-10, atol=1e-10)
    assert split.pairs <= split.capacity


def test_per_type_pair_cutoffs_and_buffer_growth(rng):
    """Pairs beyond their type pair's cutoff are left out; buffers grow and the step is redone."""
    pos, types, box = lattice_config(rng, n_side=7)
    cutoffs = {(0, 0): 2.5, (0, 1): 2.0, (1, 1): 1.6}
    force, _, split = _pair_split(pos, types, box, cutoffs=cutoffs)
    h, hinv = box_matrix(box), np.linalg.inv(box_matrix(box))
    expected = np.zeros((len(pos), 3))
    model = LennardJones(LJ_PARAMS, ["A", "B"])
    for i in range(len(pos)):
        d = pos - pos[i]
        d = (d @ hinv.T - np.round(d @ hinv.T)) @ h.T
        r = np.linalg.norm(d, axis=1)
        cut = np.array([[2.5, 2.0], [2.0, 1.6]])[types[i], types]
        for j in np.flatnonzero((r < cut) & (np.arange(len(pos)) != i)):
            dj = tf.constant(d[j : j + 1])
            with tf.GradientTape() as tape:
                tape.watch(dj)
                e = model(dj, tf.constant([types[i]]), tf.constant([types[j]]))
            expected[i] += tape.gradient(e, dj).numpy()[0]
    np.testing.assert_allclose(force[:, :3], expected, rtol=1e-10, atol=1e-10)
    assert split.capacity >= split.pairs > 256  # grown from its first, empty size


def test_ghost_partners_get_no_force(rng):
    """Rows are the first particles only (a rank's own); pairs with the rest count once, on the row."""
    pos, types, box = lattice_config(rng)
    rows = len(pos) // 2
    force, w, _ = _pair_split(pos, types, box, rows=rows)
    full, full_w, _ = _pair_split(pos, types, box)
    # a pair of two rows is added to both; a pair with a "ghost" only to the row, from the row's side
    np.testing.assert_allclose(force[:, :3], full[:rows, :3], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(force[:, 3], full[:rows, 3], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, full_w[:rows], rtol=1e-10, atol=1e-10)


def test_float32_split_within_1e5_of_largest_force(rng):
    pos, types, box = lattice_config(rng, box_tilts=TRICLINIC)
    f64, _, _ = _pair_split(pos, types, box)
    f32, _, _ = _pair_split(pos, types, box, dtype=tf.float32)
    scale = np.abs(f64[:, :3]).max()
    np.testing.assert_allclose(f32[:, :3], f64[:, :3], rtol=0, atol=1e-5 * scale)


def test_without_virial_leaves_it_untouched(rng):
    pos, types, box = lattice_config(rng)
    force, w, _ = _pair_split(pos, types, box, virial=False)
    with_w, _, _ = _pair_split(pos, types, box)
    assert not w.any()
    np.testing.assert_array_equal(force, with_w)


def test_nan_from_the_model_is_reported(rng):
    pos, types, box = lattice_config(rng)

    def bad(r, ti, tj):
        return tf.reduce_sum(r, 1) * np.nan

    split = PairSplit(bad, tf.float64, False, _rcut2(), R_CUT)
    split.rebuild(*_lists(pos, types, box, "half"), len(pos))
    postype, type_view, box_array = _arrays(pos, types, box)
    force, w = np.zeros((len(pos), 4)), np.zeros((len(pos), 6))
    assert not split.evaluate(postype, type_view, len(pos), box_array, force, w, True)


# -- local many-body models ---------------------------------------------------------------------


class TableLJ(tf.Module):
    """LJ as a local model: half of each neighbor's pair energy on the row."""

    def __init__(self, dtype=tf.float64):
        super().__init__()
        self.lj = LennardJones(LJ_PARAMS, ["A", "B"], dtype=dtype)

    def __call__(self, r, type_i, type_k, mask):
        rows, width = tf.shape(r)[0], tf.shape(r)[1]
        t_i = tf.repeat(type_i, width)
        e = self.lj(tf.reshape(r, [-1, 3]), t_i, tf.reshape(type_k, [-1]))
        e = tf.where(mask, tf.reshape(e, [rows, width]), tf.zeros((), e.dtype))
        return 0.5 * tf.reduce_sum(e, axis=1)


class Angular(tf.Module):
    """A three-body term: sum over neighbor pairs of f(r_ij) f(r_ik) (cos theta_jik + 1/3)^2."""

    cutoff = R_CUT

    def __call__(self, r, type_i, type_k, mask):
        norm = tf.sqrt(tf.reduce_sum(r * r, axis=-1))
        smooth = tf.where(mask, (1.0 - norm / R_CUT) ** 2, tf.zeros((), r.dtype))
        unit = r / norm[..., None]
        cos = tf.einsum("rkc,rlc->rkl", unit, unit)
        weight = (
            smooth[:, :, None] * smooth[:, None, :] * (1.0 + 0.5 * tf.cast(type_i, r.dtype))[:, None, None]
        )
        return tf.reduce_sum(weight * (cos + 1.0 / 3.0) ** 2, axis=[1, 2])


def _local(pos, types, box, model, storage="half", rows=None, everyone=False, virial=True):
    split = LocalSplit(model, tf.float64, False, _rcut2(), R_CUT, fixed_rows=rows is None)
    rows = len(pos) if rows is None else rows
    split.rebuild(*_lists(pos, types, box, storage, rows), rows, storage == "half")
    postype, type_view, box_array = _arrays(pos, types, box)
    force, w = np.zeros((rows, 4)), np.zeros((rows, 6))
    sent = []

    def send_home(rows_out):
        sent.append(rows_out.copy())

    ok = split.evaluate(
        postype, type_view, rows, box_array, force, w, virial, send_home if everyone else None
    )
    assert ok
    return force, w, (sent[0] if sent else None)


@pytest.mark.parametrize("storage", ["half", "full"])
def test_local_split_matches_brute_force(rng, storage):
    pos, types, box = lattice_config(rng, box_tilts=TRICLINIC)
    force, w, _ = _local(pos, types, box, TableLJ(), storage)
    forces, energy, virial = brute_force_lj(pos, types, box, R_CUT)
    np.testing.assert_allclose(force[:, :3], forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(force[:, 3], energy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.sum(0), [virial[a, b] for a, b in VIRIAL_INDEX], rtol=1e-10, atol=1e-10)


def _angular_energy(pos, types, box):
    return _local(pos, types, box, Angular())[0][:, 3].sum()


def test_local_forces_are_minus_gradient_of_energy(rng):
    pos, types, box = lattice_config(rng, n_side=4, box_tilts=TRICLINIC)
    force, _, _ = _local(pos, types, box, Angular())
    h = 1e-6
    for i in rng.choice(len(pos), 4, replace=False):
        for a in range(3):
            plus, minus = pos.copy(), pos.copy()
            plus[i, a] += h
            minus[i, a] -= h
            numeric = -(_angular_energy(plus, types, box) - _angular_energy(minus, types, box)) / (2 * h)
            assert force[i, a] == pytest.approx(numeric, rel=1e-6, abs=1e-7)


def test_local_virial_is_minus_strain_derivative(rng):
    """W = -dE/d(epsilon) under an affine strain of positions and box (any triclinic box)."""
    pos, types, box = lattice_config(rng, n_side=4, box_tilts=TRICLINIC)
    _, w, _ = _local(pos, types, box, Angular())
    total = w.sum(0)
    h = box_matrix(box)
    step = 1e-6
    for k, (a, b) in enumerate(VIRIAL_INDEX):
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * step  # symmetric virial: one off-diagonal element is enough
            new_h = strain @ h
            lx, ly, lz = new_h[0, 0], new_h[1, 1], new_h[2, 2]
            if abs(new_h[1, 0]) + abs(new_h[2, 0]) + abs(new_h[2, 1]) > 0:
                pytest.skip("lower-triangular strain leaves HOOMD's box convention")
            new_box = np.array([lx, ly, lz, new_h[0, 1] / ly, new_h[0, 2] / lz, new_h[1, 2] / lz])
            energies.append(_angular_energy(pos @ strain.T, types, new_box))
        assert total[k] == pytest.approx(-(energies[0] - energies[1]) / (2 * step), rel=1e-5, abs=1e-7)


def test_local_forces_on_ghosts_are_sent_home(rng):
    """With rows for the first particles only, every force on the others is handed to send_home."""
    pos, types, box = lattice_config(rng)
    rows = len(pos) // 2
    force, _, sent = _local(pos, types, box, Angular(), rows=rows, everyone=True)
    assert sent.shape == (len(pos), 10)
    assert np.abs(sent[rows:, :3]).max() > 0  # forces on ghosts, for their owners
    np.testing.assert_allclose(force[:, :4], sent[:rows, :4])
    # the whole system's forces: rows' own plus what the other half's rows would send
    assert np.abs(sent[:, :3].sum(0)).max() < 1e-9  # Newton's third law within the set


def test_threads_do_not_change_the_local_table(rng):
    """The table kernel runs its rows in parallel: the same result whatever numba's thread count."""
    pos, types, box = lattice_config(rng)
    before = numba.get_num_threads()
    results = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        results.append(_local(pos, types, box, Angular())[0])
    numba.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[-1])
