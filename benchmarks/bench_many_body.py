"""The many-body ML potential against its teacher, HOOMD's own Tersoff silicon (``campaigns/silicon.py``).

Steps, each recorded in ``benchmarks/results/many_body.json``:

1. **Teacher data**: liquid Si (216 atoms, 3500 K, Bussi NVT) with ``md.many_body.Tersoff``,
   frames every 20 steps after melting (``silicon.melt``: 2000 steps at 7000 K, 3000 at 3500 K);
   a test set from a later stretch of the same run.
2. **Training** (`LocalForceMatching`, seeds ``--seeds``): `DescriptorPotential` (the
   many-body model) and, for comparison, `PairMLP` (a pair potential, `ForceMatching`), each
   on the same frames; held-out relative force RMSE (force RMSE over the rms force).
3. **Structure**: NVT runs of teacher and learned models from the same melt; g(r) and the
   bond-angle distribution (first shell, r < 2.8 A), block averages (5 blocks); the share of
   bins where they agree within 2 combined standard errors.
4. **Energy conservation**: NVE from the same state, dt = 0.1 (1 fs), 5000 steps: the rms drift
   of the total energy per atom, teacher against learned.
5. **Speed**: steps/s of the learned model (`TensorFlowForce`, ``kind="local"``) against native
   Tersoff at N = 512, 4096, 32768 (diamond crystals melting at 3500 K), one thread each.
6. **Non-blocking**: the reference's steps/s with the trainer process running beside it, over
   its steps/s with the trainer paused, alternating stretches of an equilibrated liquid (HOOMD
   on one thread, the trainer's TensorFlow on one thread: this 2-core machine's two cores).
Usage::

    python3 benchmarks/bench_many_body.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "campaigns"))
RESULTS = HERE / "results" / "many_body.json"


def teacher_frames(hoomd, silicon, n_train: int, n_test: int, every: int = 20) -> tuple[list, list, list]:
    """(training frames, test frames, (positions, box) for the teacher's structure) from one Tersoff run."""
    from hoomd_mlx.coupling.training import ReferenceFrame

    force = silicon.tersoff(hoomd)
    sim = silicon.simulation(hoomd, force)
    silicon.melt(sim)
    frames = []
    for _ in range(n_train + n_test):
        sim.run(every)
        frames.append(ReferenceFrame.from_simulation(sim, force))
    return frames[:n_train], frames[n_train:], sim.state.get_snapshot()


def nvt_structure(hoomd, silicon, force, snapshot, steps: int, every: int) -> dict:
    sim = silicon.simulation(hoomd, force, frame=snapshot, seed=11)
    sim.run(1000)
    samples = []
    for _ in range(steps // every):
        sim.run(every)
        snap = sim.state.get_snapshot()
        samples.append((snap.particles.position.copy(), snap.configuration.box))
    return silicon.structure(samples)


def nve_drift(hoomd, silicon, force, snapshot, steps: int) -> float:
    """Rms deviation of the total energy per atom from its first value [eV], NVE after 500 steps of NVT."""
    import numpy as np

    sim = silicon.simulation(hoomd, force, frame=snapshot, seed=5, thermostat=False)
    thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
    sim.operations.computes.append(thermo)
    sim.run(0)
    energies = []
    for _ in range(steps // 50):
        sim.run(50)
        energies.append((thermo.kinetic_energy + thermo.potential_energy) / sim.state.N_particles)
    e = np.array(energies)
    return float(np.sqrt(np.mean((e - e[0]) ** 2)))


def learned_force(hoomd, model, kind: str, r_cut: float):
    from hoomd_mlx import TensorFlowForce

    return TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=r_cut, kind=kind)


def train_descriptor(frames, seed: int, epochs: int):
    from hoomd_mlx.coupling import DescriptorPotential, LocalForceMatching

    model = DescriptorPotential(["Si"], cutoff=3.0, embedding=(16, 32), fitting=(64, 64))
    fm = LocalForceMatching(model, seed=seed, learning_rate=3e-3, decay_steps=epochs * len(frames))
    start = time.perf_counter()
    fm.fit(frames, epochs=epochs, batch_frames=1, patience=epochs)
    return fm, time.perf_counter() - start


def train_pair(frames, seed: int, epochs: int):
    """A PairMLP fitted to the same forces (ForceMatching: one frame per optimizer step)."""
    import keras

    from hoomd_mlx.coupling import ForceMatching, Frame, PairMLP

    keras.utils.set_random_seed(seed)
    model = PairMLP(1, 3.0, sigma0=1.8, dtype="float64")
    model.build()
    fm = ForceMatching(model, r_cut=3.0, n_types=1)
    pair_frames = [Frame(f.positions, f.types, f.box, f.forces) for f in frames]
    start = time.perf_counter()
    fm.fit(pair_frames, epochs=epochs)
    return fm, time.perf_counter() - start


def pair_error(fm, frames) -> float:
    import numpy as np

    from hoomd_mlx.coupling import Frame

    sq = ref = 0.0
    for f in frames:
        predicted = fm.predict_forces(Frame(f.positions, f.types, f.box, f.forces))
        sq += float(np.sum((predicted - f.forces) ** 2))
        ref += float(np.sum(f.forces**2))
    return float(np.sqrt(sq / ref))


def speed(hoomd, silicon, model, sizes: list[int], steps_per_size: dict) -> list[dict]:
    rows = []
    for cells in sizes:
        frame = silicon.diamond_frame(cells)
        n = frame.particles.N
        steps = steps_per_size.get(n, 200)
        row = {"N": int(n), "steps": steps}
        for name in ("native", "learned"):
            force = silicon.tersoff(hoomd) if name == "native" else learned_force(hoomd, model, "local", 3.0)
            sim = silicon.simulation(hoomd, force, frame=frame)
            sim.run(max(10, steps // 5))
            start = time.perf_counter()
            sim.run(steps)
            row[f"{name}_steps_per_s"] = steps / (time.perf_counter() - start)
        row["ratio"] = row["learned_steps_per_s"] / row["native_steps_per_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def non_blocking(hoomd, silicon, directory: Path, steps: int, repeats: int) -> dict:
    """Steps/s of the Tersoff reference with a trainer process learning from it, over its steps/s alone.

    The liquid is equilibrated first (a melting crystal slows down as it densifies, which
    would confound the comparison); then timed stretches alternate: the trainer running
    (frames streamed every 50 steps, rounds of training on every frame so far) and the
    trainer paused (SIGSTOP, its stream detached).
    """
    import signal

    import numpy as np
    import psutil

    from hoomd_mlx.coupling.onthefly import FrameStream, Trainer

    force = silicon.tersoff(hoomd)
    sim = silicon.simulation(hoomd, force, frame=silicon.diamond_frame(4))
    silicon.melt(sim)
    config = {"types": ["Si"], "cutoff": 3.0, "embedding": (16, 32), "fitting": (64, 64)}
    trainer = Trainer(directory, config, min_frames=8, epochs_per_round=5).start()
    stream = FrameStream(force, trainer.frames)
    writer = hoomd.write.CustomWriter(action=stream.action, trigger=hoomd.trigger.Periodic(50))
    sim.operations.writers.append(writer)
    deadline = time.monotonic() + 300
    while not trainer.status() and time.monotonic() < deadline:  # until it really trains
        sim.run(200)
    process = psutil.Process(trainer._process.pid)
    alone, beside, trainer_cpu = [], [], []
    try:
        for _ in range(repeats):
            process.cpu_percent()
            start = time.perf_counter()
            sim.run(steps)
            beside.append(steps / (time.perf_counter() - start))
            trainer_cpu.append(process.cpu_percent())
            sim.operations.writers.remove(writer)
            os.kill(process.pid, signal.SIGSTOP)
            start = time.perf_counter()
            sim.run(steps)
            alone.append(steps / (time.perf_counter() - start))
            os.kill(process.pid, signal.SIGCONT)
            sim.operations.writers.append(writer)
    finally:
        os.kill(process.pid, signal.SIGCONT)
        status = trainer.status()
        trainer.stop()
    ratios = np.array(beside) / np.array(alone)
    return {
        "N": int(sim.state.N_particles),
        "steps_per_stretch": steps,
        "alone_steps_per_s": alone,
        "with_trainer_steps_per_s": beside,
        "ratio_mean": float(ratios.mean()),
        "ratio_std": float(ratios.std(ddof=1)) if len(ratios) > 1 else 0.0,
        "trainer_cpu_percent": trainer_cpu,
        "frames_sent": stream.sent,
        "frames_dropped": stream.dropped,
        "trainer_rounds": status.get("rounds", 0),
        "threads": "HOOMD 1 thread (no OpenMP in HOOMD's CPU build); trainer TensorFlow 1 intra-op thread",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-frames", type=int, default=160)
    parser.add_argument("--test-frames", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--pair-epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--structure-steps", type=int, default=20_000)
    parser.add_argument("--nve-steps", type=int, default=5000)
    parser.add_argument("--cells", type=int, nargs="*", default=[4, 8, 16], help="diamond cells per side")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="parts to skip: structure nve speed nonblocking"
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import hoomd
    import numpy as np
    import silicon

    report: dict = {"hoomd": hoomd.version.version, "tensorflow": tf.__version__, "setting": vars(args)}
    train, test, melt = teacher_frames(hoomd, silicon, args.train_frames, args.test_frames)
    report["rms_force"] = float(np.sqrt(np.mean([np.mean(f.forces**2) for f in test])))
    runs = []
    for seed in args.seeds:
        fm, seconds = train_descriptor(train, seed, args.epochs)
        test_tables = fm.tables(test)
        run = {"seed": seed, "train_seconds": seconds, "epochs": len(fm.history["epoch"])}
        run["test_force_error"] = fm.force_error(test_tables)
        pair, pair_seconds = train_pair(train, seed, args.pair_epochs)
        run["pair_test_force_error"] = pair_error(pair, test)
        run["pair_train_seconds"] = pair_seconds
        print(json.dumps(run), flush=True)
        runs.append((run, fm, pair))
    report["training"] = [r for r, _, _ in runs]
    best = min(runs, key=lambda r: r[0]["test_force_error"])
    model, pair_model = best[1].model, best[2].model
    model.save(HERE / "results" / "many_body_silicon.keras")
    fm_errors = [r["test_force_error"] for r, _, _ in runs]
    report["test_force_error_mean"], report["test_force_error_std"] = (
        float(np.mean(fm_errors)),
        float(np.std(fm_errors, ddof=1) if len(fm_errors) > 1 else 0.0),
    )

    if "structure" not in args.skip:
        teacher = nvt_structure(hoomd, silicon, silicon.tersoff(hoomd), melt, args.structure_steps, 100)
        learned = nvt_structure(
            hoomd, silicon, learned_force(hoomd, model, "local", 3.0), melt, args.structure_steps, 100
        )
        pair = nvt_structure(
            hoomd, silicon, learned_force(hoomd, pair_model, "pair", 3.0), melt, args.structure_steps, 100
        )
        report["structure"] = {
            name: {
                "rdf_within": silicon.within_error_bars(teacher, other, "rdf"),
                "adf_within": silicon.within_error_bars(teacher, other, "adf"),
            }
            for name, other in (("descriptor", learned), ("pair_mlp", pair))
        }
        report["structure_curves"] = {
            name: {k: np.asarray(v).tolist() for k, v in data.items()}
            for name, data in (("tersoff", teacher), ("descriptor", learned), ("pair_mlp", pair))
        }
        print(json.dumps(report["structure"]), flush=True)
        plot_structure(report["structure_curves"], HERE.parent / "docs" / "many_body_structure.png")

    if "nve" not in args.skip:
        report["nve"] = {
            "tersoff_rms_drift_per_atom": nve_drift(
                hoomd, silicon, silicon.tersoff(hoomd), melt, args.nve_steps
            ),
            "descriptor_rms_drift_per_atom": nve_drift(
                hoomd, silicon, learned_force(hoomd, model, "local", 3.0), melt, args.nve_steps
            ),
        }
        print(json.dumps(report["nve"]), flush=True)

    if "speed" not in args.skip:
        report["speed"] = speed(hoomd, silicon, model, args.cells, {512: 1000, 4096: 150, 32768: 20})

    if "nonblocking" not in args.skip:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            report["non_blocking"] = non_blocking(hoomd, silicon, Path(tmp), 3000, repeats=3)
        print(json.dumps(report["non_blocking"]), flush=True)

    Path(args.output).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "structure_curves"}, indent=2))


def plot_structure(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    labels = {
        "tersoff": "Tersoff (HOOMD, teacher)",
        "descriptor": "DescriptorPotential",
        "pair_mlp": "PairMLP",
    }
    for name, data in curves.items():
        left.errorbar(data["r"], data["rdf"], yerr=data["rdf_err"], label=labels[name], lw=1)
        right.errorbar(data["angle"], data["adf"], yerr=data["adf_err"], label=labels[name], lw=1)
    left.set_xlabel("r [A]")
    left.set_ylabel("g(r)")
    right.set_xlabel("bond angle j-i-k [degrees] (r < 2.8 A)")
    right.set_ylabel("probability density")
    left.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
