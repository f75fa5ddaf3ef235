"""The on-the-fly trainer without HOOMD: frames in through its queue, weights out, SIGTERM, resume."""

import json
import time

import numpy as np
import pytest

from hoomd_mlx.coupling.onthefly import Trainer, TrainingError, read_status

pytestmark = pytest.mark.slow

CONFIG = {"types": ["A"], "cutoff": 2.5, "embedding": (4, 8), "fitting": (8,)}


def _record(rng, step):
    n, side = 64, 6.0
    positions = rng.uniform(-side / 2, side / 2, (n, 3))
    return {
        "step": step,
        "positions": positions,
        "types": np.zeros(n, dtype=np.int32),
        "box": np.array([side, side, side, 0.0, 0.0, 0.0]),
        "forces": -positions,  # any smooth field will do: this checks the plumbing
        "energy": float(0.5 * np.sum(positions**2)),
    }


def _wait(trainer, predicate, seconds=180):
    deadline = time.monotonic() + seconds
    while not predicate():
        trainer.check()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_trainer_publishes_whole_versions_checkpoints_on_sigterm_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    trainer = Trainer(tmp_path, CONFIG, min_frames=6, epochs_per_round=2).start()
    try:
        for step in range(10):
            trainer.frames.put(_record(rng, step))
        _wait(trainer, lambda: read_status(tmp_path).get("version", 0) >= 2)
    finally:
        trainer.stop()
    assert not trainer.alive
    status = read_status(tmp_path)
    assert status["frames"] == 10
    assert status["epochs"] == 2 * status["rounds"]
    assert len(list((tmp_path / "frames").glob("*.npz"))) == 10  # every frame received is kept
    with np.load(tmp_path / "weights.npz") as saved:
        assert len(saved.files) > 0
    checkpointed = json.loads((tmp_path / "fit" / "history.json").read_text())["epoch"]
    assert checkpointed >= status["epochs"]

    again = Trainer(tmp_path, CONFIG, min_frames=6, epochs_per_round=2).start()
    try:
        again.frames.put(_record(rng, 100))
        _wait(again, lambda: read_status(tmp_path)["frames"] == 11)  # the frames on disk and the new one
    finally:
        again.stop()
    resumed = read_status(tmp_path)
    assert resumed["version"] > status["version"]
    assert resumed["epochs"] >= checkpointed + 2  # continued from the checkpoint, not from epoch 0


def test_a_failing_trainer_is_reported_with_its_error_and_keeps_its_frames(tmp_path):
    rng = np.random.default_rng(1)
    trainer = Trainer(tmp_path, CONFIG, min_frames=2, epochs_per_round=1).start()
    small = _record(rng, 0) | {"box": np.array([4.0, 4.0, 4.0, 0, 0, 0])}  # narrower than 2 cutoffs
    try:
        for step in range(2):
            trainer.frames.put(small | {"step": step})
        _wait(trainer, lambda: not trainer.alive, seconds=120)
        with pytest.raises(TrainingError, match=r"not more than twice the model's cutoff 2.5.*resume"):
            trainer.check()
    finally:
        trainer.stop()
    assert len(list((tmp_path / "frames").glob("*.npz"))) == 2


def test_a_trainer_whose_reference_process_dies_checkpoints_and_exits(tmp_path):
    """SIGKILL the process that started the trainer: the trainer must not live on as an orphan."""
    import os
    import signal
    import subprocess
    import sys

    code = f"""
import time
import numpy as np
from hoomd_mlx.coupling.onthefly import Trainer
if __name__ == "__main__":
    trainer = Trainer({str(tmp_path)!r}, {CONFIG!r}, min_frames=2, epochs_per_round=1).start()
    print(trainer._process.pid, flush=True)
    time.sleep(600)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the trainer outlived the process that started it")
