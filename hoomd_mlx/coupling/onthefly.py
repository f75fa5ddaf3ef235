"""Learning a many-body potential while a reference simulation runs, without stopping it.

* `FrameStream` (a HOOMD writer action on the reference simulation) hands frames --
  positions, types, box, the reference force's forces, energy and virial -- to a
  queue without ever waiting: when the trainer is behind, a frame is dropped and
  counted, the simulation goes on.
* `Trainer` runs `LocalForceMatching` in a process of its own (another core, no
  shared interpreter lock): it keeps every frame it receives on disk, trains in
  rounds, publishes the weights after each round (written to a temporary name and
  renamed into place, with a version and the validation force error) and
  checkpoints; SIGTERM makes it checkpoint and exit, and a trainer started again on
  the same directory resumes.
* `WeightsFollower` (a HOOMD updater action on an ML-driven simulation) loads newly
  published weights at step boundaries, whole: a set is replaced by one rename, read
  in one piece and assigned between steps.
* `OnTheFly` runs the reference in chunks beside the trainer and applies the switch
  rule: once the validation force error falls below the tolerance, the learned model
  takes over (a `hoomd_mlx.TensorFlowForce` replaces the reference force in the
  same simulation); when and why is written to ``switch.json``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from hoomd_mlx.errors import ConfigurationError

__all__ = [
    "FrameStream",
    "OnTheFly",
    "Trainer",
    "TrainingError",
    "WeightsFollower",
    "publish_weights",
    "read_status",
]

logger = logging.getLogger(__name__)

STATUS = "status.json"
WEIGHTS = "weights.npz"
FRAMES = "frames"
ERROR = "error.json"


class TrainingError(RuntimeError):
    """The trainer process failed; its message and traceback are carried here."""


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_status(directory: str | Path) -> dict:
    """dict: The trainer's last published status (``{}`` before the first)."""
    path = Path(directory) / STATUS
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def publish_weights(directory: str | Path, weights: list[np.ndarray], status: dict) -> None:
    """Publish a whole weight set: written under a temporary name, renamed into place, then the status."""
    directory = Path(directory)
    tmp = directory / (WEIGHTS + ".tmp.npz")
    np.savez(tmp, *weights)
    os.replace(tmp, directory / WEIGHTS)
    _atomic_json(directory / STATUS, status)


class FrameStream:
    """A ``hoomd.custom.Action`` for the reference simulation: frames to a queue, never waiting.

    Args:
        force: The reference force (any HOOMD force: native, or an expensive TF model).
        frames: A queue (``multiprocessing``) the trainer reads.

    Attributes:
        sent (int): Frames handed over.
        dropped (int): Frames dropped because the queue was full (the trainer behind).

    Use as ``sim.operations.writers.append(hoomd.write.CustomWriter(action=stream,
    trigger=hoomd.trigger.Periodic(50)))``.
    """

    def __init__(self, force: Any, frames: Any) -> None:
        import hoomd

        class _Action(hoomd.custom.Action):
            def act(inner, timestep: int) -> None:  # noqa: N805  (the stream is the closure's self)
                self._send(inner._state, timestep)

        self.action = _Action()
        self.force = force
        self.frames = frames
        self.sent = 0
        self.dropped = 0

    def _send(self, state: Any, timestep: int) -> None:
        force = self.force
        if state._simulation.device.communicator.num_ranks > 1:
            record = self._gathered(state, timestep)  # collective: every rank takes part
            if record is None:
                return
        else:  # HOOMD's own arrays, in tag order: no whole snapshot per frame
            with state.cpu_local_snapshot as snap, force.cpu_local_force_arrays as arrays:
                order = np.argsort(np.asarray(snap.particles.tag))
                box = state.box
                record = {
                    "step": int(timestep),
                    "positions": np.array(snap.particles.position, dtype=np.float64)[order],
                    "types": np.array(snap.particles.typeid, dtype=np.int32)[order],
                    "box": np.array([box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz]),
                    "forces": np.array(arrays.force, dtype=np.float64)[order],
                }
            record["energy"] = float(force.energy)
        try:
            self.frames.put_nowait(record)
            self.sent += 1
        except queue.Full:
            self.dropped += 1

    def _gathered(self, state: Any, timestep: int) -> dict | None:
        """The frame gathered on rank 0 (None on the other ranks)."""
        snapshot = state.get_snapshot()
        forces, energy = self.force.forces, self.force.energy
        if snapshot.communicator.rank != 0:
            return None
        box = state.box
        return {
            "step": int(timestep),
            "positions": np.array(snapshot.particles.position, dtype=np.float64),
            "types": np.array(snapshot.particles.typeid, dtype=np.int32),
            "box": np.array([box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz]),
            "forces": np.array(forces, dtype=np.float64),
            "energy": float(energy),
        }


class Trainer:
    """Trains a `DescriptorPotential` on streamed frames in a process of its own.

    Args:
        directory: Where frames, checkpoints, published weights and the status live.
        model_config: `DescriptorPotential` arguments (types, cutoff, widths).
        min_frames: Frames to collect before the first round.
        epochs_per_round: Epochs of each round.
        max_frames: Most frames trained on in a round: a uniform sample (reservoir) of every
            training frame received, so rounds stay short however long the reference runs.
        validation: Share of frames held out for the validation error, chosen by timestep
            when a frame arrives, so the split stays fixed as data grow and after a restart
            (at most ``max_frames * validation`` of them are evaluated).
        seed: Seed of the fit.
        threads: TensorFlow threads of the trainer process.
        queue_size: Frames the queue holds before the stream drops new ones.
    """

    def __init__(
        self,
        directory: str | Path,
        model_config: dict,
        *,
        min_frames: int = 16,
        epochs_per_round: int = 20,
        max_frames: int = 128,
        validation: float = 0.25,
        seed: int = 0,
        threads: int = 1,
        queue_size: int = 64,
    ) -> None:
        if "types" not in model_config or "cutoff" not in model_config:
            raise ConfigurationError("model_config needs the model's types and cutoff")
        if not 0 < validation < 1:
            raise ConfigurationError(f"validation = {validation}; expected a share in (0, 1)")
        if max_frames < 2 or min_frames < 2:
            raise ConfigurationError(
                f"min_frames = {min_frames}, max_frames = {max_frames}: both must be at least 2 "
                "(a training frame and a validation frame)"
            )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings = {
            "model_config": dict(model_config),
            "min_frames": int(min_frames),
            "epochs_per_round": int(epochs_per_round),
            "max_frames": int(max_frames),
            "validation": float(validation),
            "seed": int(seed),
            "threads": int(threads),
            "parent": os.getpid(),  # the trainer stops when this process is gone
        }
        context = multiprocessing.get_context("spawn")  # TensorFlow in a fresh process
        self.frames = context.Queue(maxsize=queue_size)
        self._process = context.Process(
            target=_train_forever, args=(str(self.directory), self.settings, self.frames), daemon=True
        )

    def start(self) -> Trainer:
        """Start the trainer process."""
        (self.directory / ERROR).unlink(missing_ok=True)
        self._process.start()
        return self

    def stop(self, timeout: float = 120.0) -> None:
        """Ask the trainer to checkpoint and exit (SIGTERM), and wait for it."""
        if self._process.is_alive():
            os.kill(self._process.pid, signal.SIGTERM)
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()

    @property
    def alive(self) -> bool:
        """bool: Whether the trainer process runs."""
        return self._process.is_alive()

    def status(self) -> dict:
        """dict: The last published status (version, validation force error, frames, rounds)."""
        return read_status(self.directory)

    def check(self) -> None:
        """Raise `TrainingError` with the trainer's own error if its process failed."""
        if self._process.is_alive() or self._process.exitcode in (None, 0):
            return
        try:
            failure = json.loads((self.directory / ERROR).read_text())
        except FileNotFoundError:
            failure = {"error": f"exit code {self._process.exitcode}", "traceback": ""}
        raise TrainingError(
            f"the trainer process failed: {failure['error']} (frames, checkpoints and published "
            f"weights are kept in {self.directory}; fix the cause and start a Trainer there to resume)"
            f"\n{failure['traceback']}"
        )


def _frame_of(arrays: Any) -> Any:
    from hoomd_mlx.coupling.training import ReferenceFrame

    return ReferenceFrame(
        np.asarray(arrays["positions"]),
        np.asarray(arrays["types"]),
        np.asarray(arrays["box"]),
        np.asarray(arrays["forces"]),
        float(arrays["energy"]),
    )


def _load_frames(directory: Path) -> list:
    """Every frame kept on disk, as ``(step, frame)``, in step order."""
    frames = []
    for path in sorted((directory / FRAMES).glob("*.npz")):
        with np.load(path) as f:
            frames.append((int(f["step"]), _frame_of(f)))
    return frames


def _is_validation(step: int, share: float) -> bool:
    """Whether the frame of ``step`` is held out: a fixed hash of the step, the same after a restart."""
    return (step * 2654435761 % 2**32) / 2**32 < share


class _Pool:
    """Training and validation frames, each a uniform sample (reservoir) of at most its capacity."""

    def __init__(self, settings: dict) -> None:
        self.share = settings["validation"]
        self.capacity = {
            "train": settings["max_frames"],
            "validation": max(1, round(settings["max_frames"] * self.share)),
        }
        self.frames: dict[str, list] = {"train": [], "validation": []}
        self.seen = {"train": 0, "validation": 0}
        self.rng = np.random.default_rng(settings["seed"])

    def add(self, step: int, frame: Any) -> None:
        part = "validation" if _is_validation(step, self.share) else "train"
        self.seen[part] += 1
        kept = self.frames[part]
        if len(kept) < self.capacity[part]:
            kept.append(frame)
        else:
            slot = int(self.rng.integers(self.seen[part]))
            if slot < len(kept):
                kept[slot] = frame

    @property
    def received(self) -> int:
        return self.seen["train"] + self.seen["validation"]


def _receive(root: Path, frames_queue: Any, inbox: list, lock: Any, done: Any, parent: int) -> None:
    """The trainer's receiving thread: every frame from the queue to disk and the inbox, at once.

    It drains the queue while a round trains, so the stream drops a frame only when
    frames arrive faster than they can be written.
    """
    while not done.is_set():
        try:
            record = frames_queue.get(timeout=0.2)
        except queue.Empty:
            if os.getppid() != parent:  # the process that started the trainer is gone: stop
                done.set()
            continue
        except (EOFError, OSError, ValueError):  # the reference process is gone
            done.set()
            return
        path = root / FRAMES / f"{record['step']:012d}.npz"
        np.savez(path.with_suffix(".tmp.npz"), **record)  # kept for a restarted trainer
        os.replace(path.with_suffix(".tmp.npz"), path)
        with lock:
            inbox.append((int(record["step"]), _frame_of(record)))


def _epochs_checkpointed(fit_directory: Path) -> int:
    """Epochs recorded by the last checkpoint of a fit directory (0 without one)."""
    try:
        return int(json.loads((fit_directory / "history.json").read_text())["epoch"])
    except FileNotFoundError:
        return 0


def _train_forever(directory: str, settings: dict, frames_queue: Any) -> None:
    """The trainer process: `_train_rounds`, its failure written to ``error.json`` for the parent."""
    try:
        _train_rounds(directory, settings, frames_queue)
    except BaseException as error:
        import traceback

        _atomic_json(
            Path(directory) / ERROR,
            {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()},
        )
        raise


def _train_rounds(directory: str, settings: dict, frames_queue: Any) -> None:
    """Collect frames, train in rounds, publish, until SIGTERM."""
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hoomd_mlx.coupling.descriptor import DescriptorPotential
    from hoomd_mlx.coupling.training import LocalForceMatching

    root = Path(directory)
    (root / FRAMES).mkdir(exist_ok=True)
    pool = _Pool(settings)
    for step, frame in _load_frames(root):  # a restarted trainer keeps what it had received
        pool.add(step, frame)
    status = read_status(root)
    version, rounds = int(status.get("version", 0)), int(status.get("rounds", 0))
    inbox: list = []
    lock = threading.Lock()
    receiver = threading.Thread(
        target=_receive, args=(root, frames_queue, inbox, lock, stop, settings["parent"]), daemon=True
    )
    receiver.start()
    fm = None
    while not stop.is_set():
        with lock:
            for step, frame in inbox:
                pool.add(step, frame)
            inbox.clear()
        if pool.received < settings["min_frames"] or not all(pool.frames.values()):
            stop.wait(0.2)
            continue
        if fm is None:
            model = DescriptorPotential(**settings["model_config"])
            # a learning rate that stays up for continuous training; one frame per step (measured:
            # faster per second than four on small systems)
            fm = LocalForceMatching(
                model, seed=settings["seed"], learning_rate=3e-3, decay_steps=100 * settings["max_frames"]
            )
            trained = _epochs_checkpointed(root / "fit")  # a restarted trainer resumes there
            resume = True
        else:
            trained, resume = len(fm.history["epoch"]), False  # this process holds the state
        target = trained + settings["epochs_per_round"]
        fm.fit(
            pool.frames["train"],
            validation_frames=pool.frames["validation"],
            epochs=target,
            batch_frames=1,
            resume=resume,
            patience=10**9,
            directory=root / "fit",
            checkpoint_every=settings["epochs_per_round"],
            fit_scaling=rounds == 0,
        )
        if fm.interrupted:  # SIGTERM while fitting: checkpointed; publish nothing half-trained
            break
        rounds += 1
        version += 1
        fm.model.save(root / "model.keras.tmp.keras")
        os.replace(root / "model.keras.tmp.keras", root / "model.keras")
        publish_weights(
            root,
            [w.numpy() for w in fm.model.weights],
            {
                "version": version,
                "rounds": rounds,
                "frames": pool.received,
                "frames_trained_on": len(pool.frames["train"]),
                "epochs": len(fm.history["epoch"]),
                "val_force_error": fm.history["val_force_error"][-1],
                "time": time.time(),
            },
        )


class WeightsFollower:
    """A ``hoomd.custom.Action`` for an ML-driven simulation: new published weights, whole, between steps.

    Args:
        model: The model the simulation's `TensorFlowForce` runs (same architecture).
        directory: The trainer's directory.

    Attributes:
        version (int): The version of the weights in use (0: none loaded yet).
        loads (list[tuple[int, int]]): ``(timestep, version)`` of every load.

    Use as ``sim.operations.updaters.append(hoomd.update.CustomUpdater(action=follower.action,
    trigger=hoomd.trigger.Periodic(10)))``. The compiled step reads the model's variables, so
    new values take effect at the next step without recompiling.
    """

    def __init__(self, model: Any, directory: str | Path) -> None:
        import hoomd

        class _Action(hoomd.custom.Action):
            def act(inner, timestep: int) -> None:  # noqa: N805
                self.update(timestep)

        self.action = _Action()
        self.model = model
        self.directory = Path(directory)
        self.version = 0
        self.loads: list[tuple[int, int]] = []

    def update(self, timestep: int = -1) -> bool:
        """Load the newest published weights if they are newer; return whether they were."""
        status = read_status(self.directory)
        version = int(status.get("version", 0))
        if version <= self.version:
            return False
        with np.load(self.directory / WEIGHTS) as saved:  # one file, replaced whole by one rename
            weights = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        self.model.set_weights(weights)
        self.version = version
        self.loads.append((int(timestep), version))
        return True


class OnTheFly:
    """Learn from a running reference simulation; hand over to the learned model by the switch rule.

    Args:
        simulation: The reference simulation (its integrator holds ``reference``).
        reference: The reference force.
        directory: The trainer's directory (frames, checkpoints, weights, ``switch.json``).
        model_config: `DescriptorPotential` arguments (types, cutoff, widths).
        every: Steps between frames sent to the trainer.
        tolerance: Relative validation force error below which the learned model takes over.
        trainer_options: Further `Trainer` arguments.
    """

    def __init__(
        self,
        simulation: Any,
        reference: Any,
        directory: str | Path,
        model_config: dict,
        *,
        every: int = 50,
        tolerance: float = 0.05,
        **trainer_options: Any,
    ) -> None:
        if not 0 < tolerance < 1:
            raise ConfigurationError(f"tolerance = {tolerance}; expected a relative force error in (0, 1)")
        self.simulation = simulation
        self.reference = reference
        self.directory = Path(directory)
        self.model_config = dict(model_config)
        self.every = int(every)
        self.tolerance = float(tolerance)
        self.trainer = Trainer(self.directory, self.model_config, **trainer_options)
        self.stream = FrameStream(reference, self.trainer.frames)
        self.switch: dict | None = None
        self.learned: Any = None

    def run(self, steps: int, chunk: int = 500) -> dict | None:
        """Run the reference up to ``steps`` steps beside the trainer; switch when the rule says so.

        Returns:
            The switch record (also in ``switch.json``), or None if the rule was not met.
        """
        import hoomd

        writer = hoomd.write.CustomWriter(
            action=self.stream.action, trigger=hoomd.trigger.Periodic(self.every)
        )
        self.simulation.operations.writers.append(writer)
        self.trainer.start()
        started, done = time.monotonic(), 0
        try:
            while done < steps and self.switch is None:
                n = min(chunk, steps - done)
                self.simulation.run(n)
                done += n
                self.trainer.check()
                status = self.trainer.status()
                error = status.get("val_force_error")
                if error is not None and error < self.tolerance:
                    self._switch(status, time.monotonic() - started)
        finally:
            self.simulation.operations.writers.remove(writer)
            self.trainer.stop()
        return self.switch

    def _switch(self, status: dict, seconds: float) -> None:
        import keras

        from hoomd_mlx import TensorFlowForce

        model = keras.saving.load_model(self.directory / "model.keras")
        WeightsFollower(model, self.directory).update()  # the newest whole set
        nlist = getattr(self.reference, "nlist", None)
        if nlist is None:
            raise ConfigurationError(
                "the reference force has no neighbor list to share with the learned model"
            )
        learned = TensorFlowForce(model, nlist=nlist, r_cut=model.cutoff, kind="local")
        forces = self.simulation.operations.integrator.forces
        forces.remove(self.reference)
        forces.append(learned)
        self.learned = learned
        self.switch = {
            "step": int(self.simulation.timestep),
            "why": f"validation force error {status['val_force_error']:.4g} < tolerance {self.tolerance:g}",
            "val_force_error": status["val_force_error"],
            "tolerance": self.tolerance,
            "weights_version": status["version"],
            "frames_received": status["frames"],
            "frames_trained_on": status["frames_trained_on"],
            "frames_sent": self.stream.sent,
            "frames_dropped": self.stream.dropped,
            "wall_seconds": seconds,
        }
        _atomic_json(self.directory / "switch.json", self.switch)
        logger.info("the learned model takes over at step %d: %s", self.switch["step"], self.switch["why"])
