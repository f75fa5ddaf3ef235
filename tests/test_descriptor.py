"""The many-body ML potential without HOOMD: symmetry, smoothness, exact forces, saving, training input."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from systems import box_matrix, lattice_config
from test_kernels import _local
from test_step import TRICLINIC, VIRIAL_INDEX

from hoomd_mlx.coupling import DescriptorPotential, LocalForceMatching, ReferenceFrame
from hoomd_mlx.coupling.training import TrainingDataError, check_frames, local_table_of
from hoomd_mlx.errors import ConfigurationError

CUT = 2.5


def _model(dtype="float64", seed=3):
    keras.utils.set_random_seed(seed)
    model = DescriptorPotential(["A", "B"], cutoff=CUT, embedding=(8, 16), fitting=(16, 16), dtype=dtype)
    model.build()
    # weights large enough that the energy varies visibly with angles
    model.set_weights([w * 3 for w in model.get_weights()])
    return model


def _energy(model, pos, types, box):
    r, t_i, t_k, mask, _ = local_table_of(pos, types, box, CUT)
    return float(tf.reduce_sum(model(r, t_i, t_k, mask)))


def test_invariant_under_rotation_translation_and_neighbor_order(rng):
    model = _model()
    pos, types, box = lattice_config(rng, n_side=4)
    r, t_i, t_k, mask, _ = local_table_of(pos, types, box, CUT)
    e = model(r, t_i, t_k, mask).numpy()
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = model(r @ q.T, t_i, t_k, mask).numpy()
    order = rng.permutation(r.shape[1])
    shuffled = model(r[:, order], t_i, t_k[:, order], mask[:, order]).numpy()
    moved = _energy(model, pos + 0.37, types, box)
    np.testing.assert_allclose(rotated, e, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(shuffled, e, rtol=1e-10, atol=1e-12)
    assert moved == pytest.approx(e.sum(), rel=1e-10)


def test_it_holds_angles(rng):
    """Three particles, fixed distances: the energy changes with the angle (a pair potential's could not)."""
    model = _model()
    energies = []
    for angle in (60.0, 90.0, 120.0, 180.0):
        a = math.radians(angle)
        r = np.array([[[1.2, 0.0, 0.0], [1.2 * math.cos(a), 1.2 * math.sin(a), 0.0]]])
        energies.append(
            float(model(r, np.zeros(1, np.int32), np.zeros((1, 2), np.int32), np.ones((1, 2), bool))[0])
        )
    assert np.ptp(energies) > 1e-3 * np.abs(energies).max()


def test_energy_and_force_are_continuous_at_the_cutoff():
    model = _model()
    t_i, t_k, mask = np.zeros(1, np.int32), np.zeros((1, 1), np.int32), np.ones((1, 1), bool)
    empty = float(model(np.array([[[CUT, 0.0, 0.0]]]), t_i, t_k, ~mask)[0])
    for d in (CUT - 1e-6, CUT - 1e-3):
        r = tf.constant([[[d, 0.0, 0.0]]], tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(r)
            e = model(r, t_i, t_k, mask)
        force = tape.gradient(e, r).numpy()
        assert float(e[0]) == pytest.approx(empty, abs=1e-6 if d > CUT - 1e-5 else 1e-3)
        assert abs(force[0, 0, 0]) < (1e-6 if d > CUT - 1e-5 else 1e-2)


def test_forces_are_minus_gradient_and_virial_is_strain_derivative(rng):
    """Through the split step's kernels, as inside HOOMD: finite differences and an affine strain."""
    model = _model()
    pos, types, box = lattice_config(rng, n_side=4, box_tilts=TRICLINIC)
    force, w, _ = _local(pos, types, box, model)

    def total(p, b=box):
        return _local(p, types, b, model)[0][:, 3].sum()

    h = 1e-5
    for i in rng.choice(len(pos), 3, replace=False):
        for a in range(3):
            plus, minus = pos.copy(), pos.copy()
            plus[i, a] += h
            minus[i, a] -= h
            assert force[i, a] == pytest.approx(-(total(plus) - total(minus)) / (2 * h), rel=1e-5, abs=1e-6)
    m = box_matrix(box)
    for k, (a, b) in enumerate(VIRIAL_INDEX):
        values = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h
            n = strain @ m
            new_box = np.array(
                [n[0, 0], n[1, 1], n[2, 2], n[0, 1] / n[1, 1], n[0, 2] / n[2, 2], n[1, 2] / n[2, 2]]
            )
            values.append(total(pos @ strain.T, new_box))
        assert w.sum(0)[k] == pytest.approx(-(values[0] - values[1]) / (2 * h), rel=1e-5, abs=1e-6)


def test_one_keras_file_keeps_types_cutoff_and_scaling(rng, tmp_path):
    model = _model()
    pos, types, box = lattice_config(rng, n_side=4)
    r, t_i, t_k, mask, _ = local_table_of(pos, types, box, CUT)
    model.fit_scaling([(r, t_i, t_k, mask)], np.array([-3.0]))
    model.save(tmp_path / "potential.keras")
    loaded = keras.saving.load_model(tmp_path / "potential.keras")
    assert loaded.types == ["A", "B"]
    assert loaded.cutoff == CUT
    assert loaded.scaling == model.scaling
    np.testing.assert_allclose(
        loaded(r, t_i, t_k, mask).numpy(), model(r, t_i, t_k, mask).numpy(), rtol=1e-12
    )


def test_bad_settings_are_refused():
    with pytest.raises(ConfigurationError, match="cutoff_smooth"):
        DescriptorPotential(["A"], cutoff=2.0, cutoff_smooth=2.5)
    with pytest.raises(ConfigurationError, match="axis_neurons"):
        DescriptorPotential(["A"], cutoff=2.0, embedding=(4, 8), axis_neurons=9)


def _frames(rng, n=4, n_side=4):
    """Frames of one system (the same particles and types), random forces."""
    frames = []
    for _ in range(n):
        pos, types, box = lattice_config(rng, n_side=n_side)
        types = frames[0].types if frames else types
        frames.append(ReferenceFrame(pos, types, box, rng.normal(size=pos.shape), energy=-1.0))
    return frames


def test_bad_training_frames_are_named_and_nothing_trained_is_lost(rng):
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    fm = LocalForceMatching(model)
    frames = _frames(rng)
    with pytest.raises(TrainingDataError, match="no training frames"):
        fm.fit([], epochs=1)
    nan = frames[1].forces.copy()
    nan[5, 1] = np.nan
    with pytest.raises(TrainingDataError, match=r"frame 1: forces hold NaN .*first at row 5"):
        fm.fit(
            [frames[0], ReferenceFrame(frames[1].positions, frames[1].types, frames[1].box, nan)], epochs=1
        )
    other = _frames(rng, n=1, n_side=5)[0]
    with pytest.raises(TrainingDataError, match="frame 1 has 125 particles"):
        fm.fit([frames[0], other], epochs=1)
    with pytest.raises(TrainingDataError, match="type id 2 but the model knows 2 types"):
        check_frames(
            [ReferenceFrame(frames[0].positions, frames[0].types + 1, frames[0].box, frames[0].forces)], 2
        )
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_is_reproducible_and_resumes_from_its_checkpoint(rng, tmp_path):
    frames = _frames(rng, n=6)

    def trained(seed, directory, epochs):
        keras.utils.set_random_seed(seed)
        model = DescriptorPotential(["A", "B"], cutoff=CUT, embedding=(4, 8), fitting=(8,))
        fm = LocalForceMatching(model, seed=seed)
        fm.fit(frames, epochs=epochs, batch_frames=2, directory=directory)
        return fm

    a = trained(5, tmp_path / "a", 4)
    b = trained(5, tmp_path / "b", 4)
    for x, y in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert (tmp_path / "a" / "learning_curve.png").exists()
    assert len(a.history["val_force_error"]) == 4
    resumed = trained(5, tmp_path / "a", 6)  # starts at epoch 4 from the checkpoint
    assert resumed.history["epoch"] == [1, 2, 3, 4, 5, 6]


FIT_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from systems import lattice_config
from hoomd_mlx.coupling import DescriptorPotential, LocalForceMatching, ReferenceFrame
rng = np.random.default_rng(2)
frames = []
for _ in range(6):
    pos, types, box = lattice_config(rng, n_side=4)
    types = frames[0].types if frames else types
    frames.append(ReferenceFrame(pos, types, box, rng.normal(size=pos.shape)))
model = DescriptorPotential(["A", "B"], cutoff=2.5, embedding=(4, 8), fitting=(8,))
fm = LocalForceMatching(model, seed=1)
fm.fit(frames, epochs={epochs}, batch_frames=2, directory={directory!r}, checkpoint_every=1)
print("EPOCHS", len(fm.history["epoch"]))
"""


def test_sigterm_checkpoints_the_fit_and_it_resumes(tmp_path):
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    tests = str(Path(__file__).parent)
    directory = tmp_path / "fit"
    code = FIT_SCRIPT.format(tests=tests, epochs=100_000, directory=str(directory))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while not (directory / "history.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, output
    stopped = json.loads((directory / "history.json").read_text())["epoch"]
    assert stopped >= 1
    resumed = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT.format(tests=tests, epochs=stopped + 2, directory=str(directory))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"EPOCHS {stopped + 2}" in resumed
