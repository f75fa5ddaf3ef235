"""The many-body ML potential beside the field's reference, DeePMD-kit, on the same Tersoff frames.

Both learn the same ``se_e2_a`` form (embedding 25-50-100, 16 axis neurons, fitting
240-240-240, cutoff 3.0 A) from the same liquid-silicon frames (``bench_many_body.teacher_frames``:
216 atoms, 3500 K, HOOMD's Tersoff), each with the same budget of CPU time on one thread
(``--budget`` seconds of process CPU time, so a busy machine does not change the budget):

* this package: `LocalForceMatching` epochs until the budget is spent (learning rate
  1e-3 falling to about 3.5e-8 over the epochs the budget allows, as DeePMD's schedule);
* DeePMD-kit (TensorFlow backend, ``dp --tf train``, in its own Python ``--dp-python``):
  as many steps as its measured CPU time per step allows, its usual loss prefactors.

Recorded in ``benchmarks/results/deepmd_comparison.json``: the held-out relative force RMSE
of each, the CPU seconds each used, and the time per force evaluation at N = 512 and 4096
(DeePMD's ``DeepPot.eval`` per frame against one step of this package's force inside HOOMD,
which owns the neighbor list; one thread each).

Usage (DeePMD-kit in a virtual environment of its own)::

    python3 -m venv /opt/dpvenv && /opt/dpvenv/bin/pip install 'deepmd-kit[cpu]'
    python3 benchmarks/bench_deepmd.py --dp-python /opt/dpvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "campaigns"))
RESULTS = HERE / "results" / "deepmd_comparison.json"
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "DP_INTRA_OP_PARALLELISM_THREADS": "1",
    "DP_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
ARCH = {"embedding": (25, 50, 100), "axis_neurons": 16, "fitting": (240, 240, 240)}
START_LR, STOP_LR = 1e-3, 3.51e-8


def write_deepmd_system(frames, root: Path) -> None:
    """DeePMD's npy format (one set): coordinates shifted into [0, L), orthorhombic boxes."""
    import numpy as np

    (root / "set.000").mkdir(parents=True, exist_ok=True)
    n = len(frames[0].positions)
    (root / "type.raw").write_text("0\n" * n)
    (root / "type_map.raw").write_text("Si\n")
    np.save(root / "set.000" / "coord.npy", np.array([(f.positions + f.box[:3] / 2).ravel() for f in frames]))
    np.save(root / "set.000" / "box.npy", np.array([np.diag(f.box[:3]).ravel() for f in frames]))
    np.save(root / "set.000" / "force.npy", np.array([f.forces.ravel() for f in frames]))
    np.save(root / "set.000" / "energy.npy", np.array([f.energy for f in frames]))


def deepmd_input(train: Path, test: Path, steps: int, rcut_smth: float) -> dict:
    return {
        "model": {
            "type_map": ["Si"],
            "descriptor": {
                "type": "se_e2_a",
                "sel": [40],
                "rcut_smth": rcut_smth,
                "rcut": 3.0,
                "neuron": list(ARCH["embedding"]),
                "axis_neuron": ARCH["axis_neurons"],
                "seed": 1,
            },
            "fitting_net": {"neuron": list(ARCH["fitting"]), "resnet_dt": True, "seed": 1},
        },
        "learning_rate": {
            "type": "exp",
            "decay_steps": max(1, steps // 200),
            "start_lr": START_LR,
            "stop_lr": STOP_LR,
        },
        "loss": {
            "type": "ener",
            "start_pref_e": 0.02,
            "limit_pref_e": 1,
            "start_pref_f": 1000,
            "limit_pref_f": 1,
            "start_pref_v": 0,
            "limit_pref_v": 0,
        },
        "training": {
            "training_data": {"systems": [str(train)], "batch_size": 1},
            "validation_data": {"systems": [str(test)], "batch_size": 1, "numb_btch": 3},
            "numb_steps": steps,
            "seed": 10,
            "disp_file": "lcurve.out",
            "disp_freq": max(1, steps // 20),
            "save_freq": max(1, steps // 20),  # DeePMD saves at multiples of it: steps is one
        },
    }


def run_children(command: list[str], cwd: Path) -> float:
    """Run ``command`` on one thread; return the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=cwd, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True)
    if done.returncode != 0:
        (cwd / "failed.log").write_text(done.stdout + done.stderr)
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command)} failed in {cwd} (exit {done.returncode}):\n{tail}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


EVAL = r"""
import json, sys, time
import numpy as np
from deepmd.infer import DeepPot
model, data = sys.argv[1], sys.argv[2]
with open(sys.argv[3]) as f:
    sizes = json.load(f)
dp = DeepPot(model)
out = {}
coord = np.load(data + "/set.000/coord.npy"); box = np.load(data + "/set.000/box.npy")
force = np.load(data + "/set.000/force.npy")
n = coord.shape[1] // 3
_, f, _ = dp.eval(coord, box, [0] * n)
out["test_force_error"] = float(np.sqrt(np.sum((f.reshape(force.shape) - force) ** 2) / np.sum(force**2)))
for size, (positions, length, repeats) in sizes.items():
    c = np.asarray(positions).reshape(1, -1); b = np.diag([length] * 3).reshape(1, 9)
    dp.eval(c, b, [0] * (c.shape[1] // 3))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dp.eval(c, b, [0] * (c.shape[1] // 3))
        times.append(time.perf_counter() - start)
    out[size] = times
print(json.dumps(out))
"""


def deepmd(args, train, test, work: Path, sizes: dict) -> dict:
    """Train, freeze and evaluate DeePMD-kit with ``args.budget`` CPU seconds of training."""
    write_deepmd_system(train, work / "train")
    write_deepmd_system(test, work / "test")
    probe_steps = 200
    probe = work / "probe"
    probe.mkdir()
    config = deepmd_input(work / "train", work / "test", probe_steps, args.rcut_smth)
    (probe / "input.json").write_text(json.dumps(config))
    cpu = run_children([args.dp_python, "-m", "deepmd", "-b", "tf", "train", "input.json"], probe)
    steps = max(probe_steps, int(args.budget / (cpu / probe_steps)) // 20 * 20)
    run = work / "run"
    run.mkdir()
    (run / "input.json").write_text(
        json.dumps(deepmd_input(work / "train", work / "test", steps, args.rcut_smth))
    )
    print(json.dumps({"deepmd_probe_cpu_per_step": cpu / probe_steps, "deepmd_steps": steps}), flush=True)
    cpu = run_children([args.dp_python, "-m", "deepmd", "-b", "tf", "train", "input.json"], run)
    run_children([args.dp_python, "-m", "deepmd", "-b", "tf", "freeze", "-o", "frozen.pb"], run)
    (work / "sizes.json").write_text(json.dumps(sizes))
    result = subprocess.run(
        [args.dp_python, "-c", EVAL, str(run / "frozen.pb"), str(work / "test"), str(work / "sizes.json")],
        env={**os.environ, **ONE_THREAD},
        check=True,
        capture_output=True,
        text=True,
    )
    evaluated = json.loads(result.stdout.strip().splitlines()[-1])
    return {"steps": steps, "train_cpu_seconds": cpu, **evaluated}


def ours(args, train, test) -> tuple[dict, object]:
    """Train `DescriptorPotential` with ``args.budget`` CPU seconds (epochs until it is spent)."""
    from hoomd_mlx.coupling import DescriptorPotential, LocalForceMatching

    model = DescriptorPotential(["Si"], cutoff=3.0, cutoff_smooth=args.rcut_smth, **ARCH)
    probe = LocalForceMatching(DescriptorPotential(["Si"], cutoff=3.0, cutoff_smooth=args.rcut_smth, **ARCH))
    probe.fit(train, epochs=1, batch_frames=1, validation=0.0)  # compiles
    start = time.process_time()
    probe.fit(train, epochs=2, batch_frames=1, validation=0.0, resume=False)
    per_epoch = time.process_time() - start
    epochs = max(1, int(args.budget / per_epoch))
    decades = math.log10(START_LR / STOP_LR)
    fm = LocalForceMatching(
        model, seed=1, learning_rate=START_LR, decay_steps=max(1, int(epochs * len(train) / decades))
    )
    start = time.process_time()
    fm.fit(train, epochs=epochs, batch_frames=1, patience=epochs, validation=0.1, progress=True)
    cpu = time.process_time() - start
    return {
        "epochs": epochs,
        "steps": epochs * len(train),
        "train_cpu_seconds": cpu,
        "test_force_error": fm.force_error(fm.tables(test)),
    }, model


def step_times(hoomd, silicon, model, cells: list[int], repeats: int) -> dict:
    """Seconds per step of the learned force inside HOOMD (one thread), per N."""
    from bench_many_body import learned_force

    out = {}
    for c in cells:
        frame = silicon.diamond_frame(c)
        sim = silicon.simulation(hoomd, learned_force(hoomd, model, "local", 3.0), frame=frame)
        sim.run(5)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            sim.run(1)
            times.append(time.perf_counter() - start)
        out[str(frame.particles.N)] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dp-python", required=True, help="a Python with deepmd-kit (TensorFlow backend)")
    parser.add_argument("--budget", type=float, default=1200.0, help="CPU seconds of training for each")
    parser.add_argument("--train-frames", type=int, default=160)
    parser.add_argument("--test-frames", type=int, default=40)
    parser.add_argument(
        "--rcut-smth", type=float, default=2.7, help="where both switching functions start [A]"
    )
    parser.add_argument(
        "--cells", type=int, nargs="*", default=[4, 8], help="diamond cells per side (8 atoms each)"
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--work", help="keep DeePMD's files in this folder (default: a temporary one)")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import hoomd
    import numpy as np
    import silicon
    from bench_many_body import teacher_frames

    train, test, _ = teacher_frames(hoomd, silicon, args.train_frames, args.test_frames)
    sizes = {}
    for c in args.cells:
        frame = silicon.diamond_frame(c)
        length = float(frame.configuration.box[0])
        sizes[str(frame.particles.N)] = (
            (frame.particles.position + length / 2).ravel().tolist(),
            length,
            args.repeats,
        )
    report = {
        "hoomd": hoomd.version.version,
        "tensorflow": tf.__version__,
        "setting": {**vars(args), "architecture": ARCH},
        "threads": "one thread each: TensorFlow intra/inter-op 1, OMP 1; DeePMD's DP_* thread variables 1",
        "rms_force": float(np.sqrt(np.mean([np.mean(f.forces**2) for f in test]))),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report["deepmd"] = deepmd(args, train, test, work, sizes)
    print(json.dumps({k: v for k, v in report["deepmd"].items() if not k.isdigit()}), flush=True)
    report["hoomd_mlx"], model = ours(args, train, test)
    report["hoomd_mlx"].update(step_times(hoomd, silicon, model, args.cells, args.repeats))
    for side in ("deepmd", "hoomd_mlx"):
        for key in [k for k in report[side] if k.isdigit()]:
            times = np.asarray(report[side][key])
            report[side][f"seconds_per_evaluation_N{key}"] = {
                "mean": float(times.mean()),
                "std": float(times.std(ddof=1)),
            }
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {s: {k: v for k, v in report[s].items() if not k.isdigit()} for s in ("deepmd", "hoomd_mlx")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
