"""Force matching: a PairMLP learns LJ forces; the trained model runs inside HOOMD."""

import numpy as np
import pytest
import tensorflow as tf
from systems import LJ_PARAMS, lattice_config, step_inputs

from hoomd_mlx.coupling import ForceMatching, Frame, LennardJones, PairMLP
from hoomd_mlx.plugin.step import make_step

R_CUT = 2.5


def _lj_frames(rng, n_frames=3):
    step = make_step(LennardJones(LJ_PARAMS, ["A", "B"]), many_body=False, jit_compile=False)
    frames = []
    for _ in range(n_frames):
        pos, types, box = lattice_config(rng, n_side=5, spacing=1.15, jitter=0.05)
        types = np.zeros_like(types)
        forces = step(*step_inputs(pos, types, box, R_CUT))[0].numpy()[:, :3]
        frames.append(Frame(pos, types, box, forces))
    return frames


def test_force_matching_reduces_force_error(rng):
    keras_seed = 3
    tf.keras.utils.set_random_seed(keras_seed)
    frames = _lj_frames(rng)
    fm = ForceMatching(
        PairMLP(n_types=2, r_cut=R_CUT, sigma0=0.0), r_cut=R_CUT, n_types=2, learning_rate=5e-3
    )
    before = fm.force_rmse(frames)
    history = fm.fit(frames, epochs=150, log_every=0)
    after = fm.force_rmse(frames)
    assert after < 0.3 * before, f"force RMSE {before:.3g} -> {after:.3g}"
    assert history[-1] < history[0]


def test_pair_mlp_round_trips_through_keras_saving(tmp_path):
    import keras

    model = PairMLP(n_types=2, r_cut=R_CUT)
    r = tf.random.normal([7, 3]) + 1.5
    t = tf.constant([0, 1, 0, 1, 1, 0, 0])
    before = model(r, t, t).numpy()
    path = tmp_path / "pair.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(r, t, t).numpy(), before, rtol=1e-6)


@pytest.mark.hoomd
def test_trained_model_runs_in_hoomd(rng):
    """Record frames from a HOOMD LJ run, fit, and drive HOOMD with the learned model."""
    import hoomd
    from test_force_hoomd import integrate, make_simulation, native_lj

    from hoomd_mlx import TensorFlowForce

    tf.keras.utils.set_random_seed(5)
    pos, types, box = lattice_config(rng, n_side=6, spacing=1.2, jitter=0.05)
    types = np.zeros_like(types)
    sim = make_simulation(hoomd, pos, types, box)
    reference = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    integrate(hoomd, sim, [reference], kT=1.0)
    frames = []
    for _ in range(4):
        sim.run(50)
        frames.append(Frame.from_simulation(sim, reference))
    fm = ForceMatching(PairMLP(n_types=2, r_cut=R_CUT), r_cut=R_CUT, n_types=2, learning_rate=5e-3)
    before = fm.force_rmse(frames)
    fm.fit(frames, epochs=120, log_every=0)
    assert fm.force_rmse(frames) < 0.5 * before

    learned = TensorFlowForce(fm.model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    assert learned.dtype == tf.float32
    sim.operations.integrator.forces.clear()
    sim.operations.integrator.forces.append(learned)
    sim.run(50)
    assert np.isfinite(learned.forces).all()
    ref = fm.predict_forces(Frame.from_simulation(sim, learned))
    np.testing.assert_allclose(learned.forces, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
