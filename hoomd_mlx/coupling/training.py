r"""Force matching for local many-body models (`hoomd_mlx.plugin.contract.LocalModel`).

Frames -- positions, types, box, reference forces and, when known, energies and
virials -- come from a GSD trajectory with forces logged (`frames_from_gsd`), from
a running HOOMD simulation (`ReferenceFrame.from_simulation`) or from arrays. Each
frame's neighbor table is built once, by the same compiled kernel `TensorFlowForce`
runs (`hoomd_mlx.plugin.kernels.local_table`), and forces are predicted exactly as
the force computes them: :math:`\vec F_i = \sum_k \vec g_{ik} - \sum_{j: k(j) = i}
\vec g_{jk}` with :math:`\vec g = \partial E / \partial \vec r` by autodiff, so a
model trained here behaves identically inside HOOMD.

`LocalForceMatching.fit` minimises the force error relative to the reference's
spread (plus energies and virials when given), on a training split, with early
stopping on a validation split, reproducibly for a given seed, and saves its
learning curve (``history.json``, ``learning_curve.png``) and checkpoints that an
interrupted fit resumes from.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ConfigurationError, HoomdMlxError
from hoomd_mlx.plugin import kernels
from hoomd_mlx.plugin.step import pack_postype

__all__ = [
    "LocalForceMatching",
    "ReferenceFrame",
    "TrainingDataError",
    "check_frames",
    "frames_from_gsd",
    "local_table_of",
]

logger = logging.getLogger(__name__)

VIRIAL_INDEX = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


class TrainingDataError(HoomdMlxError, ValueError):
    """Training frames that cannot be learned from (empty, NaN, mismatched particles or types)."""


@dataclass(frozen=True)
class ReferenceFrame:
    r"""One configuration with its reference forces (and, when known, energy and virial).

    Attributes:
        positions: (N, 3) positions :math:`[\mathrm{length}]`.
        types: (N,) integer type ids.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]``.
        forces: (N, 3) reference forces :math:`[\mathrm{force}]`.
        energy: Total potential energy :math:`[\mathrm{energy}]` (NaN if unknown).
        virial: (6,) total virial ``xx, xy, xz, yy, yz, zz`` :math:`[\mathrm{energy}]` (NaN if unknown).
    """

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    forces: np.ndarray
    energy: float = math.nan
    virial: np.ndarray | None = None

    @classmethod
    def from_simulation(cls, simulation: Any, force: Any) -> ReferenceFrame:
        """The current state of ``simulation`` and ``force``'s forces, energy and virial (tag order).

        Collective under MPI; the arrays are complete on rank 0 only, as HOOMD gathers them.
        """
        snapshot = simulation.state.get_snapshot()
        box = simulation.state.box
        forces = force.forces
        virials = force.virials
        return cls(
            positions=np.array(snapshot.particles.position, dtype=np.float64),
            types=np.array(snapshot.particles.typeid, dtype=np.int32),
            box=np.array([box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz], dtype=np.float64),
            forces=np.array(forces, dtype=np.float64),
            energy=float(force.energy),
            virial=None if virials is None else np.asarray(virials, dtype=np.float64).sum(axis=0),
        )


def _logged(log: dict, suffix: str) -> np.ndarray | None:
    for key, value in log.items():
        if key.endswith(suffix):
            return np.asarray(value)
    return None


def frames_from_gsd(path: str | Path, force: str | None = None) -> list[ReferenceFrame]:
    """Frames of a GSD trajectory whose writer logged a force's per-particle ``forces``.

    Args:
        path: The trajectory (``hoomd.write.GSD`` with a logger holding
            ``force``'s ``forces`` -- and ``energy`` and ``virials`` when wanted).
        force: Part of the logged name that picks the force (e.g. ``"Tersoff"``) when
            several forces are logged; default: the only one.

    Raises:
        TrainingDataError: No frame, or no logged forces (naming the keys found).
    """
    import gsd.hoomd

    frames = []
    with gsd.hoomd.open(path, "r") as traj:
        for frame in traj:
            log = {k: v for k, v in frame.log.items() if force is None or force in k}
            found = [k for k in log if k.endswith("/forces")]
            if len(found) != 1:
                raise TrainingDataError(
                    f"{path} frame {frame.configuration.step}: expected one logged per-particle 'forces' "
                    f"{'matching ' + repr(force) + ' ' if force else ''}among {sorted(frame.log)}; log them "
                    "with logger.add(force, quantities=['forces', 'energy', 'virials']) on the GSD writer, "
                    "or pass force= to pick one"
                )
            prefix = found[0][: -len("forces")]
            energies = log.get(prefix + "energies")
            # per-particle quantities are logged under particles/, scalars without it
            energy = log.get(prefix.removeprefix("particles/") + "energy")
            virials = log.get(prefix + "virials")
            frames.append(
                ReferenceFrame(
                    positions=np.asarray(frame.particles.position, dtype=np.float64),
                    types=np.asarray(frame.particles.typeid, dtype=np.int32),
                    box=np.asarray(frame.configuration.box, dtype=np.float64),
                    forces=np.asarray(log[found[0]], dtype=np.float64).reshape(-1, 3),
                    energy=float(np.sum(energies))
                    if energies is not None
                    else (float(np.ravel(energy)[0]) if energy is not None else math.nan),
                    virial=None
                    if virials is None
                    else np.asarray(virials, dtype=np.float64).reshape(-1, 6).sum(0),
                )
            )
    if not frames:
        raise TrainingDataError(f"{path} holds no frames")
    return frames


def _box_widths(box: np.ndarray) -> np.ndarray:
    """The distances between a box's opposite faces (HOOMD's Lx, Ly, Lz, xy, xz, yz; 2D: two)."""
    lx, ly, lz, xy, xz, yz = (float(v) for v in box)
    if lz == 0:
        return np.array([lx * ly / math.hypot(ly, xy * ly), ly])
    a = np.array([[lx, 0, 0], [xy * ly, ly, 0], [xz * lz, yz * lz, lz]])
    volume = abs(np.linalg.det(a))
    return np.array([volume / np.linalg.norm(np.cross(a[j], a[k])) for j, k in ((1, 2), (2, 0), (0, 1))])


def check_frames(
    frames: Sequence[ReferenceFrame], n_types: int | None = None, cutoff: float | None = None
) -> None:
    """Raise `TrainingDataError` naming the problem and the fix, before anything is trained.

    Frames must be non-empty, finite, hold the same particles (count and types, in
    the same order), type ids below ``n_types``, and boxes at least twice ``cutoff``
    wide (a model's reach must fit the minimum image convention).
    """
    if len(frames) == 0:
        raise TrainingDataError("no training frames: record some (ReferenceFrame.from_simulation) first")
    first = frames[0]
    for k, frame in enumerate(frames):
        n = frame.positions.shape[0]
        if n == 0:
            raise TrainingDataError(f"frame {k} holds no particles")
        if frame.forces.shape != (n, 3):
            raise TrainingDataError(f"frame {k}: forces have shape {frame.forces.shape}, positions ({n}, 3)")
        for name in ("positions", "forces", "box"):
            values = getattr(frame, name)
            if not np.isfinite(values).all():
                bad = int(
                    np.flatnonzero((~np.isfinite(np.asarray(values).reshape(len(values), -1))).any(1))[0]
                )
                raise TrainingDataError(
                    f"frame {k}: {name} hold NaN or infinite values (first at row {bad}); drop the frame "
                    "or record it again from a stable simulation"
                )
        if n != first.positions.shape[0] or not np.array_equal(frame.types, first.types):
            raise TrainingDataError(
                f"frame {k} has {n} particles of types {np.bincount(frame.types).tolist()} but frame 0 has "
                f"{first.positions.shape[0]} of types {np.bincount(first.types).tolist()} (or in another "
                "order): "
                "train on frames of one system; fit separate sets or record them with the same particles"
            )
        if cutoff is not None and (widths := _box_widths(frame.box)).min() <= 2 * cutoff:
            raise TrainingDataError(
                f"frame {k}: the box is {widths.min():.6g} wide, not more than twice the model's cutoff "
                f"{cutoff:g}: the model would reach a particle's own images; record frames in a box wider "
                f"than {2 * cutoff:g} (replicate the system) or use a shorter cutoff"
            )
        if n_types is not None and frame.types.max() >= n_types:
            raise TrainingDataError(
                f"frame {k} has type id {int(frame.types.max())} but the model knows {n_types} types"
            )


def local_table_of(
    positions: np.ndarray, types: np.ndarray, box: np.ndarray, cutoff: float, width: int = 8
) -> tuple[np.ndarray, ...]:
    """One frame's neighbor table, as `TensorFlowForce` builds it: (r_ik, type_i, type_k, mask, index).

    Neighbors within ``cutoff`` are found with freud and laid out by
    `hoomd_mlx.plugin.kernels.local_table`; ``width`` only grows (multiples of 8).
    """
    import freud

    n = positions.shape[0]
    fbox = freud.box.Box(*box, is2D=box[2] == 0)
    query = freud.locality.AABBQuery(fbox, positions)
    nl = query.query(positions, {"r_max": cutoff, "exclude_ii": True}).toNeighborList()
    rows, cols = nl.query_point_indices.astype(np.int64), nl.point_indices.astype(np.int32)
    order = np.argsort(rows, kind="stable")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    columns = cols[order]
    postype = pack_postype(positions, types)
    type_view = postype.view(np.int32)[:, kernels.TYPE_COLUMN]
    rcut2 = np.full((int(types.max()) + 1,) * 2, cutoff**2)
    box9 = kernels.box_array(*box)
    while True:
        r = np.empty((n, width, 3))
        type_i, type_k = np.empty(n, np.int32), np.empty((n, width), np.int32)
        index, mask = np.empty((n, width), np.int32), np.empty((n, width), np.bool_)
        widest = kernels.local_table(
            postype, type_view, offsets, columns, n, rcut2, box9, cutoff, r, type_i, type_k, index, mask
        )
        if widest <= width:
            return r, type_i, type_k, mask, index
        width = int(math.ceil(widest / 8) * 8)


class _Stop:
    """SIGTERM while fitting: finish the epoch, checkpoint, return (installed in the main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class LocalForceMatching:
    r"""Trains a local many-body model so that its forces match recorded reference forces.

    Args:
        model: A trainable `LocalModel` with a ``cutoff`` (e.g. `DescriptorPotential`).
        learning_rate: Adam's initial learning rate (decays by 10x over ``decay_steps``).
        decay_steps: Optimizer steps over which the learning rate falls tenfold.
        energy_weight: Weight of the per-particle energy error in the loss (frames with energies).
        virial_weight: Weight of the per-particle virial error (frames with virials).
        seed: Seeds weight initialisation (when the model is not built yet), the split and
            the shuffling: the same seed and data give the same model.

    Example::

        fm = LocalForceMatching(DescriptorPotential(["Si"], cutoff=3.0), seed=1)
        history = fm.fit(frames, epochs=200, directory="training")
        fm.model.save("si.keras")
    """

    def __init__(
        self,
        model: keras.Model,
        learning_rate: float = 2e-3,
        decay_steps: int = 5000,
        energy_weight: float = 0.1,
        virial_weight: float = 0.0,
        seed: int = 0,
    ) -> None:
        cutoff = getattr(model, "cutoff", None)
        if cutoff is None:
            raise ConfigurationError("the model must declare its range as an attribute `cutoff` [length]")
        self.model = model
        self.cutoff = float(cutoff)
        self.seed = int(seed)
        self.energy_weight = float(energy_weight)
        self.virial_weight = float(virial_weight)
        keras.utils.set_random_seed(self.seed)
        if not model.built:
            model.build()
        schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps, 0.1)
        self.optimizer = keras.optimizers.Adam(schedule)
        self._dtype = tf.as_dtype(model.compute_dtype)
        self._train_step: Callable | None = None
        self._predict_step: Callable | None = None
        self.history: dict[str, list[float]] = {
            "epoch": [],
            "loss": [],
            "train_force_error": [],
            "val_force_error": [],
        }
        self.interrupted = False  # whether the last fit stopped on SIGTERM

    # -- data ---------------------------------------------------------------------------------

    def tables(self, frames: Sequence[ReferenceFrame]) -> dict[str, np.ndarray]:
        """Stacked per-frame tables and targets (same width K across frames), for `fit` and `evaluate`."""
        n_types = len(getattr(self.model, "types", [])) or None
        check_frames(frames, n_types, self.cutoff)
        built = [local_table_of(f.positions, f.types, f.box, self.cutoff) for f in frames]
        width = max(t[0].shape[1] for t in built)
        if any(t[0].shape[1] != width for t in built):
            built = [local_table_of(f.positions, f.types, f.box, self.cutoff, width) for f in frames]
        stack = {
            key: np.stack([t[k] for t in built])
            for k, key in enumerate(("r", "type_i", "type_k", "mask", "index"))
        }
        stack["forces"] = np.stack([f.forces for f in frames])
        stack["energy"] = np.array([f.energy for f in frames])
        stack["virial"] = np.stack([f.virial if f.virial is not None else np.full(6, np.nan) for f in frames])
        return stack

    # -- compiled steps -------------------------------------------------------------------------

    def _predict(self, r, type_i, type_k, mask, index):
        """Forces (B, N, 3), energies (B,) and virials (B, 6) of B frames of N particles."""
        frames, n, width = tf.shape(r)[0], tf.shape(r)[1], tf.shape(r)[2]
        flat_r = tf.reshape(r, [frames * n, width, 3])
        offsets = tf.repeat(tf.range(frames) * n, n)[:, None]
        flat_index = tf.reshape(index, [frames * n, width]) + offsets
        flat_mask = tf.reshape(mask, [frames * n, width])
        with tf.GradientTape() as tape:
            tape.watch(flat_r)
            e = self.model(
                flat_r, tf.reshape(type_i, [-1]), tf.reshape(type_k, [frames * n, width]), flat_mask
            )
        g = tape.gradient(e, flat_r) * tf.cast(flat_mask, r.dtype)[..., None]
        forces = tf.reduce_sum(g, axis=1) - tf.math.unsorted_segment_sum(
            tf.reshape(g, [-1, 3]), tf.reshape(flat_index, [-1]), frames * n
        )
        w = -tf.einsum("rka,rkb->rab", flat_r, g)
        w = tf.stack([w[:, a, b] for a, b in VIRIAL_INDEX], axis=-1)
        return (
            tf.reshape(forces, [frames, n, 3]),
            tf.reduce_sum(tf.reshape(e, [frames, n]), axis=1),
            tf.reduce_sum(tf.reshape(w, [frames, n, 6]), axis=1),
        )

    def _compile(self, scales: dict[str, float]) -> None:
        dtype = self._dtype
        model, optimizer = self.model, self.optimizer
        e_weight, w_weight = self.energy_weight, self.virial_weight
        f_var, e_var, w_var = (tf.constant(scales[k], dtype) for k in ("force", "energy", "virial"))

        def known_mean_square(predicted, reference, n):
            """Mean squared per-particle error over the frames whose reference is known (finite)."""
            known = tf.math.is_finite(reference)
            error = tf.where(known, (predicted - reference) / n, tf.zeros_like(predicted))
            return tf.reduce_sum(tf.square(error)) / tf.maximum(tf.reduce_sum(tf.cast(known, dtype)), 1.0)

        def loss_of(batch):
            forces, energy, virial = self._predict(
                batch["r"], batch["type_i"], batch["type_k"], batch["mask"], batch["index"]
            )
            n = tf.cast(tf.shape(forces)[1], dtype)
            loss = tf.reduce_mean(tf.square(forces - batch["forces"])) / f_var
            loss += e_weight * known_mean_square(energy, batch["energy"], n) / e_var
            loss += w_weight * known_mean_square(virial, batch["virial"], n) / w_var
            return loss

        def train(batch):
            with tf.GradientTape() as tape:
                loss = loss_of(batch)
            variables = model.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        def predict(batch):
            return self._predict(batch["r"], batch["type_i"], batch["type_k"], batch["mask"], batch["index"])[
                0
            ]

        self._train_step = tf.function(train, reduce_retracing=True)
        self._predict_step = tf.function(predict, reduce_retracing=True)

    def _batch(self, data: dict[str, np.ndarray], frames: np.ndarray) -> dict[str, tf.Tensor]:
        dtype = self._dtype
        out = {}
        for key, value in data.items():
            part = value[frames]
            if part.dtype.kind == "f":
                part = part.astype(dtype.as_numpy_dtype)
            out[key] = tf.constant(part)
        return out

    def force_error(
        self, data: dict[str, np.ndarray], frames: np.ndarray | None = None, batch: int = 8
    ) -> float:
        """float: Force RMSE over the frames, relative to the rms reference force."""
        frames = np.arange(len(data["forces"])) if frames is None else np.asarray(frames)
        if frames.size == 0:
            return math.nan
        if self._predict_step is None:
            self._compile({"force": 1.0, "energy": 1.0, "virial": 1.0})
        sq, ref = 0.0, 0.0
        for start in range(0, frames.size, batch):
            chunk = frames[start : start + batch]
            predicted = self._predict_step(self._batch(data, chunk)).numpy()
            sq += float(np.sum((predicted - data["forces"][chunk]) ** 2))
            ref += float(np.sum(data["forces"][chunk] ** 2))
        return math.sqrt(sq / max(ref, 1e-300))

    # -- fitting ------------------------------------------------------------------------------

    def fit(
        self,
        frames: Sequence[ReferenceFrame] | dict[str, np.ndarray],
        *,
        epochs: int = 200,
        batch_frames: int = 4,
        validation: float = 0.2,
        patience: int = 40,
        directory: str | Path | None = None,
        checkpoint_every: int = 10,
        progress: bool = False,
        fit_scaling: bool = True,
        validation_frames: Sequence[ReferenceFrame] | None = None,
        resume: bool = True,
    ) -> dict[str, list[float]]:
        """Train; return the learning curve (relative force errors per epoch).

        Args:
            frames: Reference frames (or `tables` of them).
            epochs: Most passes over the training frames.
            batch_frames: Frames per optimizer step.
            validation: Share of frames held out (at least one when there are two or more).
            patience: Stop after this many epochs without a better validation error; the
                best weights are restored.
            directory: Where the learning curve (``history.json``, ``learning_curve.png``)
                and checkpoints go; a fit interrupted by SIGTERM checkpoints at the end of its
                epoch and returns, and a fit started on the same directory resumes from it.
            checkpoint_every: Epochs between checkpoints (with ``directory``).
            progress: Show a progress bar (tqdm).
            fit_scaling: Set the model's input scaling from the training frames first (when
                it has `fit_scaling` and no checkpoint is resumed).
            resume: Resume from the checkpoint in ``directory`` if there is one (a caller that
                fits the same model again in one process passes False: it holds the state).
            validation_frames: A held-out set of its own (then ``frames`` are all trained on
                and ``validation`` is not used): a split that stays fixed while data grow.
        """
        rng = np.random.default_rng(self.seed)
        if validation_frames is not None:
            if isinstance(frames, dict) or not validation_frames:
                raise ConfigurationError("validation_frames needs frames (not tables) and at least one frame")
            data = self.tables(list(frames) + list(validation_frames))
            n_frames = len(data["forces"])
            train, val = np.arange(len(frames)), np.arange(len(frames), n_frames)
        else:
            data = frames if isinstance(frames, dict) else self.tables(frames)
            n_frames = len(data["forces"])
            order = rng.permutation(n_frames)
            held = min(max(1 if n_frames > 1 else 0, round(validation * n_frames)), n_frames - 1)
            val, train = np.sort(order[:held]), np.sort(order[held:])
        directory = Path(directory) if directory is not None else None
        manager = self._checkpoints(directory)
        start_epoch = len(self.history["epoch"])  # epochs this object has trained already
        if resume and manager is not None and manager.latest_checkpoint:
            self._ckpt.restore(manager.latest_checkpoint)
            saved = json.loads((directory / "history.json").read_text())
            self.history, start_epoch = saved["history"], int(saved["epoch"])
            if saved.get("scaling") is not None:
                self.model.scaling = saved["scaling"]
            logger.info("resumed training from epoch %d (%s)", start_epoch, manager.latest_checkpoint)
        elif fit_scaling and hasattr(self.model, "fit_scaling"):
            tables = [tuple(data[k][f] for k in ("r", "type_i", "type_k", "mask")) for f in train]
            energies = data["energy"][train]
            self.model.fit_scaling(tables, energies if np.isfinite(energies).all() else None)
        scales = self._scales(data, train)
        self._compile(scales)
        # the best of this call's epochs (a resumed or repeated fit may validate on other frames)
        best = (math.inf, [w.numpy() for w in self.model.weights])
        bar = _progress(progress, epochs, start_epoch)
        stale = 0
        with _Stop() as stop:
            for epoch in range(start_epoch, epochs):
                shuffled = rng.permutation(train)
                losses = [
                    float(self._train_step(self._batch(data, shuffled[k : k + batch_frames])))
                    for k in range(0, len(shuffled), batch_frames)
                ]
                val_error = self.force_error(data, val if val.size else train)
                self._record(epoch + 1, float(np.mean(losses)), self.force_error(data, train[:8]), val_error)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(val_force_error=f"{val_error:.4f}")
                if val_error < best[0]:
                    best, stale = (val_error, [w.numpy() for w in self.model.weights]), 0
                else:
                    stale += 1
                last = epoch + 1 == epochs or stale >= patience or stop.requested
                if manager is not None and ((epoch + 1) % checkpoint_every == 0 or last):
                    self._save(manager, directory, epoch + 1)
                if stop.requested:
                    logger.warning("SIGTERM: training stopped at epoch %d, checkpointed", epoch + 1)
                    break
                if stale >= patience:
                    break
        if bar is not None:
            bar.close()
        self.interrupted = stop.requested
        if not stop.requested:
            self.model.set_weights(best[1])
        if directory is not None:
            self.plot(directory / "learning_curve.png")
        return self.history

    def _scales(self, data: dict[str, np.ndarray], train: np.ndarray) -> dict[str, float]:
        """Loss scales: the mean squared reference force, for forces, per-particle energies and virials.

        Energies and virials are per particle, in [energy]; forces in [energy]/[length]: with the
        same scale, an energy error per particle weighs as a force error over a unit length. Scaling
        energies by their own spread instead would make the loss chase the small fluctuations of
        the total energy between frames.
        """
        scale = float(np.mean(data["forces"][train] ** 2)) or 1.0
        return {"force": scale, "energy": scale, "virial": scale}

    def _record(self, epoch: int, loss: float, train_error: float, val_error: float) -> None:
        for key, value in zip(self.history, (epoch, loss, train_error, val_error), strict=True):
            self.history[key].append(value)

    def _checkpoints(self, directory: Path | None) -> Any:
        if directory is None:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        self._ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        return tf.train.CheckpointManager(self._ckpt, str(directory / "checkpoints"), max_to_keep=2)

    def _save(self, manager: Any, directory: Path, epoch: int) -> None:
        manager.save(checkpoint_number=epoch)
        state = {"epoch": epoch, "history": self.history, "scaling": getattr(self.model, "scaling", None)}
        tmp = directory / "history.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, directory / "history.json")

    def plot(self, path: str | Path) -> Path:
        """Draw the learning curve (relative force error against epoch) to ``path``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        ax.semilogy(self.history["epoch"], self.history["train_force_error"], label="training frames")
        ax.semilogy(self.history["epoch"], self.history["val_force_error"], label="validation frames")
        ax.set_xlabel("epoch")
        ax.set_ylabel("force RMSE / rms force")
        ax.legend()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)


def _progress(show: bool, total: int, done: int) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="training", unit="epoch")
