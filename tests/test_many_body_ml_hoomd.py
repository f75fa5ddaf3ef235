"""The many-body ML potential in HOOMD: refusals at attach, whole weights per step, learning live."""

import json
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from hoomd_mlx.coupling import DescriptorPotential
from hoomd_mlx.coupling.onthefly import WeightsFollower, publish_weights
from hoomd_mlx.errors import ConfigurationError

pytestmark = pytest.mark.hoomd

sys.path.insert(0, str(Path(__file__).parent.parent / "campaigns"))


def _silicon(model, r_cut=3.0):
    import hoomd
    import silicon

    from hoomd_mlx import TensorFlowForce

    force = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=r_cut, kind="local")
    return silicon.simulation(hoomd, force, silicon.diamond_frame(2)), force


def _model(types=("Si",), cutoff=3.0):
    keras.utils.set_random_seed(1)
    model = DescriptorPotential(list(types), cutoff=cutoff, embedding=(4, 8), fitting=(8,))
    model.build()
    return model


def test_a_model_for_other_types_is_refused_naming_both():
    sim, _ = _silicon(_model(types=("C",)))
    with pytest.raises(ConfigurationError, match=r"made for particle types \['C'\].*simulation has \['Si'\]"):
        sim.run(0)


def test_a_model_reaching_beyond_r_cut_is_refused_naming_both():
    sim, _ = _silicon(_model(cutoff=3.0), r_cut=2.6)
    with pytest.raises(ConfigurationError, match=r"reach 3.0 \(its cutoff\) but r_cut\['Si', 'Si'\] = 2.6"):
        sim.run(0)


def test_published_weights_arrive_whole_at_step_boundaries(tmp_path):
    """A publisher writes weight sets as fast as it can; each step runs with one whole set."""
    import hoomd

    model = _model()
    sim, force = _silicon(model)
    follower = WeightsFollower(model, tmp_path)
    sim.operations.updaters.append(hoomd.update.CustomUpdater(action=follower.action, trigger=1))
    shapes = [w.shape for w in model.get_weights()]
    stop = threading.Event()

    def publish():
        version = 0
        while not stop.is_set():
            version += 1
            sets = [np.full(shape, 1e-3 * version) for shape in shapes]
            publish_weights(tmp_path, sets, {"version": version, "val_force_error": 1.0})

    seen = []

    class Check(hoomd.custom.Action):
        def act(self, timestep):
            values = {float(np.unique(w)[0]) for w in model.get_weights() if w.size}
            seen.append(values)

    sim.operations.writers.append(hoomd.write.CustomWriter(action=Check(), trigger=1))
    thread = threading.Thread(target=publish)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(follower.loads) < 5 and time.monotonic() < deadline:
            sim.run(5)
    finally:
        stop.set()
        thread.join()
    assert len(follower.loads) >= 5
    mixed = [s for s in seen[1:] if len(s) > 1]
    assert not mixed, "a step ran with weights from two sets"
    assert np.isfinite(force.forces).all()


@pytest.mark.slow
def test_learns_beside_the_reference_and_takes_over(tmp_path):
    """Frames stream to a trainer process; its weights take over the simulation by the switch rule."""
    import hoomd
    import silicon

    from hoomd_mlx.coupling import OnTheFly

    reference = silicon.tersoff(hoomd)
    sim = silicon.simulation(hoomd, reference, silicon.diamond_frame(2))
    sim.run(500)
    config = {"types": ["Si"], "cutoff": silicon.CUTOFF, "embedding": (8, 16), "fitting": (32, 32)}
    learning = OnTheFly(
        sim,
        reference,
        tmp_path,
        config,
        every=100,
        tolerance=0.9,  # the machinery, not the accuracy: the first rounds reach it
        min_frames=12,
        epochs_per_round=10,
        max_frames=48,
    )
    switch = learning.run(steps=2_000_000, chunk=1000)  # ends at the switch
    assert switch is not None, json.dumps(learning.trainer.status())
    assert switch["val_force_error"] < 0.9
    assert "validation force error" in switch["why"]
    assert json.loads((tmp_path / "switch.json").read_text()) == switch
    assert reference not in sim.operations.integrator.forces
    assert learning.learned in sim.operations.integrator.forces
    sim.run(200)  # the learned model drives now
    assert np.isfinite(learning.learned.forces).all()
    assert len(list((tmp_path / "frames").glob("*.npz"))) >= 12


def test_train_from_a_gsd_file_with_logged_forces(tmp_path):
    """`hoomd-mlx train`: a GSD trajectory whose writer logged Tersoff's forces -> one Keras file."""
    import subprocess

    import hoomd
    import silicon

    from hoomd_mlx.coupling.training import frames_from_gsd

    reference = silicon.tersoff(hoomd)
    sim = silicon.simulation(hoomd, reference, silicon.diamond_frame(2))
    logger = hoomd.logging.Logger(categories=["particle", "scalar"])
    logger.add(reference, quantities=["forces", "energy"])
    path = tmp_path / "traj.gsd"
    writer = hoomd.write.GSD(filename=path, trigger=50, mode="wb", filter=hoomd.filter.All(), logger=logger)
    sim.operations.writers.append(writer)
    sim.run(400)
    writer.flush()
    frames = frames_from_gsd(path)
    assert len(frames) == 8
    sim.run(0)
    assert np.array_equal(frames[-1].forces, reference.forces)  # the last frame is the current state
    assert frames[-1].energy == pytest.approx(reference.energy)
    output = tmp_path / "si.keras"
    done = subprocess.run(
        ["hoomd-mlx", "train", str(path), "--cutoff", "3.0", "--epochs", "3", "--output", str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["frames"] == 8
    assert summary["epochs"] == 3
    model = keras.saving.load_model(output)
    assert model.types == ["Si"]
    assert model.cutoff == 3.0
    assert (tmp_path / "si" / "learning_curve.png").stat().st_size > 0
