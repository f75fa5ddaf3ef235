"""TensorFlowForce against native HOOMD-blue LJ, side by side in one process.

The setting a user runs: a two-type Lennard-Jones mixture (epsilon 1 / 0.8 / 1.2,
sigma 1 / 1.1 / 1.2 for AA / AB / BB, half the particles B), r_cut = 2.5, buffer
0.4, rho = 0.8, kT = 1.5, Bussi NVT, dt = 0.005, started from a jittered simple
cubic lattice. For each N, each model dtype and with or without virials every
step (``always_compute_pressure``, as NPT or per-step pressure logging need), it
times native ``hoomd.md.pair.LJ`` and the same LJ as a `TensorFlowForce`,
alternating native and TF runs ``--repeats`` times from the same start, and
reports steps/s (mean and standard deviation over the repeats) and the TF/native
ratio of each pair of runs. TF's step is split into HOOMD's own work (neighbor
list, integration: the rest of the step), the split step's parts -- taking the
pairs of a rebuilt list, the geometry kernel, the model with its gradient, the
accumulation kernel -- and the rest of ``set_forces`` (HOOMD's array accessors).

HOOMD-blue runs on one CPU thread per rank. TensorFlow (intra-op threads) and the
numba kernels run on the threads given by ``--tf-threads`` (each count in its own
process: TF fixes its thread pools at start-up), per rank; ``1`` is the per-core
comparison (every thread pool on one thread).

``--model mlp`` times a ``PairMLP`` (hidden 32 x 32, 16 radial features) through
TensorFlowForce instead of LJ; its native reference stays HOOMD's LJ (the ratio
then says what a neural pair potential costs against the cheapest native one).

``--ranks 1 2`` repeats everything under ``mpirun -n R`` (MPI domain decomposition,
HOOMD and TF on R ranks each): steps/s of both sides per rank count give the
TF/native ratio on R ranks and each side's strong-scaling efficiency.

Usage::

    python3 benchmarks/bench_force.py                      # the full table
    python3 benchmarks/bench_force.py --sizes 4096 --tf-threads 2 --repeats 2
    python3 benchmarks/bench_force.py --sizes 32768 --ranks 1 2 --tf-threads 1 \
        --dtypes float64 --output benchmarks/results/ranks.json

Writes ``benchmarks/results/force.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RHO, KT, R_CUT, BUFFER, DT = 0.8, 1.5, 2.5, 0.4, 0.005
PARAMS = {
    ("A", "A"): {"epsilon": 1.0, "sigma": 1.0},
    ("A", "B"): {"epsilon": 0.8, "sigma": 1.1},
    ("B", "B"): {"epsilon": 1.2, "sigma": 1.2},
}
RESULTS = Path(__file__).parent / "results" / "force.json"


def lattice_snapshot(n: int, seed: int = 1):
    """A jittered simple cubic lattice of ``n`` (a cube) particles at RHO, half of type B."""
    import gsd.hoomd
    import numpy as np

    rng = np.random.default_rng(seed)
    side = round(n ** (1 / 3))
    length = (side**3 / RHO) ** (1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid + 0.5) * (length / side) - length / 2 + rng.normal(0, 0.05, grid.shape)
    frame = gsd.hoomd.Frame()
    frame.particles.N = len(pos)
    frame.particles.position = pos
    frame.particles.typeid = rng.permutation(np.arange(len(pos)) % 2)
    frame.particles.types = ["A", "B"]
    frame.configuration.box = [length, length, length, 0, 0, 0]
    return frame


def native_force(hoomd):
    lj = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=BUFFER), default_r_cut=R_CUT)
    for pair, values in PARAMS.items():
        lj.params[pair] = values
    return lj


def tf_model(dtype: str, kind: str = "lj"):
    """The model timed: the mixture's LJ, or a PairMLP (hidden 32 x 32) of the same range."""
    from hoomd_mlx.coupling import LennardJones, PairMLP

    if kind == "mlp":
        mlp = PairMLP(2, R_CUT, hidden=(32, 32), dtype=dtype)
        mlp.build()
        return mlp
    return LennardJones(PARAMS, ["A", "B"], dtype=dtype)


def tf_force(hoomd, dtype: str, kind: str = "lj"):
    from hoomd_mlx import TensorFlowForce

    return TensorFlowForce(tf_model(dtype, kind), nlist=hoomd.md.nlist.Cell(buffer=BUFFER), r_cut=R_CUT)


def timed_run(hoomd, frame, force, *, steps: int, warmup: int, virial: bool) -> dict:
    """steps/s of one simulation from ``frame`` driven by ``force`` (plus TF's split)."""
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
    sim.create_state_from_snapshot(frame)
    method = hoomd.md.methods.ConstantVolume(
        filter=hoomd.filter.All(), thermostat=hoomd.md.methods.thermostats.Bussi(kT=KT)
    )
    sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=[force], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=KT)
    sim.always_compute_pressure = virial
    sim.run(warmup)
    before = getattr(force, "timings", None)
    start = time.perf_counter()
    sim.run(steps)
    wall = time.perf_counter() - start
    row = {"steps_per_s": steps / wall, "ms_per_step": 1e3 * wall / steps}
    if before is not None:
        after = force.timings
        n = after["steps"] - before["steps"]

        def ms(key: str) -> float:
            return 1e3 * (after[key] - before[key]) / n

        model, geometry, accumulate = ms("model_seconds"), ms("geometry_seconds"), ms("accumulate_seconds")
        evaluate, table, nlist = ms("force_seconds"), ms("neighbor_seconds"), ms("nlist_seconds")
        row.update(
            model_ms=model,
            geometry_ms=geometry,
            accumulate_ms=accumulate,
            handoff_ms=evaluate - model - geometry - accumulate,
            table_ms=table,
            nlist_ms=nlist,
            hoomd_ms=row["ms_per_step"] - evaluate - table,
            layout=force.layout,
            input_path=force.input_path,
            virial_steps=after["virial_steps"] - before["virial_steps"],
        )
    return row


def nlist_cost(hoomd, frame, *, steps: int, warmup: int, half: bool) -> float:
    """ms per step that a second neighbor list (half or full storage) adds to a native LJ run.

    The list is updated every step by a custom force, as `TensorFlowForce` updates its own:
    this is HOOMD's share of the cost of the storage the force asks for.
    """
    from hoomd_mlx.plugin import _compat

    class UpdatesList(hoomd.md.force.Custom):
        def __init__(self, nlist):
            super().__init__()
            self.nlist = nlist

        def _attach_hook(self):
            self.nlist._attach(self._simulation)
            _compat.set_nlist_storage(self.nlist, half=half)
            self.nlist.r_cut[("A", "A")] = self.nlist.r_cut[("A", "B")] = self.nlist.r_cut[("B", "B")] = R_CUT
            super()._attach_hook()

        def set_forces(self, timestep):
            _compat.update_nlist(self.nlist, timestep)

    def ms(extra: bool) -> float:
        force = native_force(hoomd)
        sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
        sim.create_state_from_snapshot(frame)
        forces = [force, UpdatesList(hoomd.md.nlist.Cell(buffer=BUFFER))] if extra else [force]
        method = hoomd.md.methods.ConstantVolume(
            filter=hoomd.filter.All(), thermostat=hoomd.md.methods.thermostats.Bussi(kT=KT)
        )
        sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=forces, methods=[method])
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=KT)
        sim.run(warmup)
        start = time.perf_counter()
        sim.run(steps)
        return 1e3 * (time.perf_counter() - start) / steps

    return ms(True) - ms(False)


def steps_for(n: int, scale: float) -> int:
    return max(10, int(scale * 400 * 4096 / n))


def worker(args: argparse.Namespace) -> None:
    """Run every case at one TF thread count and print one JSON object per case."""
    import numba
    import tensorflow as tf

    numba.set_num_threads(min(args.tf_threads, numba.config.NUMBA_NUM_THREADS))
    tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1 if args.tf_threads == 1 else 2)
    import hoomd
    import numpy as np

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
    for n in args.sizes:
        frame = lattice_snapshot(n)
        steps = steps_for(n, args.scale)
        warmup = max(5, steps // 5)
        for virial in args.virial:
            native_runs, tf_runs = [], {d: [] for d in args.dtypes}
            for _ in range(args.repeats):
                native_runs.append(
                    timed_run(hoomd, frame, native_force(hoomd), steps=steps, warmup=warmup, virial=virial)
                )
                for dtype in args.dtypes:
                    force = tf_force(hoomd, dtype, args.model)
                    run = timed_run(hoomd, frame, force, steps=steps, warmup=warmup, virial=virial)
                    tf_runs[dtype].append(run)
            native_sps = np.array([r["steps_per_s"] for r in native_runs])
            list_cost = {}
            if args.tf_threads == 2 and virial and ranks == 1:  # HOOMD's own work: once per N
                for half in (True, False):
                    key = "half" if half else "full"
                    list_cost[key] = nlist_cost(hoomd, frame, steps=steps, warmup=warmup, half=half)
            for dtype, runs in tf_runs.items():
                tf_sps = np.array([r["steps_per_s"] for r in runs])
                ratios = tf_sps / native_sps
                case = {
                    "N": int(frame.particles.N),
                    "virial_every_step": virial,
                    "dtype": dtype,
                    "model": args.model,
                    "tf_threads": args.tf_threads,
                    "kernel_threads": args.tf_threads,
                    "hoomd_threads": 1,
                    "ranks": ranks,
                    "steps": steps,
                    "repeats": args.repeats,
                    "native_steps_per_s": [float(x) for x in native_sps],
                    "tf_steps_per_s": [float(x) for x in tf_sps],
                    "ratio": [float(x) for x in ratios],
                    "ratio_mean": float(ratios.mean()),
                    "ratio_std": float(ratios.std(ddof=1)) if len(ratios) > 1 else 0.0,
                    "layout": runs[-1]["layout"],
                    "input_path": runs[-1]["input_path"],
                    "virial_steps": runs[-1]["virial_steps"],
                }
                keys = (
                    "model_ms",
                    "geometry_ms",
                    "accumulate_ms",
                    "handoff_ms",
                    "table_ms",
                    "nlist_ms",
                    "hoomd_ms",
                )
                for key in keys:
                    case[key] = float(np.mean([r[key] for r in runs]))
                case["native_ms"] = float(np.mean([r["ms_per_step"] for r in native_runs]))
                if list_cost:
                    case["extra_nlist_ms"] = list_cost
                if rank == 0:
                    print(json.dumps(case), flush=True)


def _fmt(values: list[float]) -> str:
    import numpy as np

    values = np.asarray(values)
    spread = f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
    return f"{values.mean():.1f}{spread}"


def table(cases: list[dict]) -> str:
    lines = [
        "| model | N | ranks | virials | dtype | threads | native steps/s | TF steps/s | TF/native | "
        "per step, ms: HOOMD (of which its neighbor list) / pairs taken / geometry / model / "
        "accumulate / rest |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def order(c: dict) -> tuple:
        return (
            c.get("model", "lj"),
            c["N"],
            c.get("ranks", 1),
            not c["virial_every_step"],
            c["dtype"],
            -c["tf_threads"],
        )

    for c in sorted(cases, key=order):
        lines.append(
            f"| {c.get('model', 'lj')} | {c['N']} | {c.get('ranks', 1)} | "
            f"{'every step' if c['virial_every_step'] else 'none'} | {c['dtype']} | "
            f"{c['tf_threads']} | {_fmt(c['native_steps_per_s'])} | {_fmt(c['tf_steps_per_s'])} | "
            f"{c['ratio_mean']:.2f} ± {c['ratio_std']:.2f} | "
            f"{c['hoomd_ms']:.2f} ({c['nlist_ms']:.2f}) / {c['table_ms']:.2f} / {c['geometry_ms']:.2f} / "
            f"{c['model_ms']:.2f} / {c['accumulate_ms']:.2f} / {c['handoff_ms']:.2f} |"
        )
    return "\n".join(lines)


def scaling(cases: list[dict]) -> str:
    """Strong scaling of each side: steps/s on R ranks over R times steps/s on one."""
    lines = [
        "| N | virials | dtype | TF threads per rank | ranks | native efficiency | TF efficiency | "
        "TF/native on R ranks over on 1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {}
    for c in cases:
        by_key[(c["N"], c["virial_every_step"], c["dtype"], c["tf_threads"], c.get("ranks", 1))] = c
    for (n, virial, dtype, threads, ranks), c in sorted(by_key.items()):
        one = by_key.get((n, virial, dtype, threads, 1))
        if ranks == 1 or one is None:
            continue
        native = sum(c["native_steps_per_s"]) / len(c["native_steps_per_s"])
        native_1 = sum(one["native_steps_per_s"]) / len(one["native_steps_per_s"])
        ours = sum(c["tf_steps_per_s"]) / len(c["tf_steps_per_s"])
        ours_1 = sum(one["tf_steps_per_s"]) / len(one["tf_steps_per_s"])
        lines.append(
            f"| {n} | {'every step' if virial else 'none'} | {dtype} | {threads} | {ranks} | "
            f"{native / (ranks * native_1):.2f} | {ours / (ranks * ours_1):.2f} | "
            f"{c['ratio_mean'] / one['ratio_mean']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 4096, 32768])
    parser.add_argument("--dtypes", nargs="*", default=["float64", "float32"])
    parser.add_argument("--virial", type=int, nargs="*", default=[1, 0], help="1: every step, 0: none")
    parser.add_argument("--tf-threads", type=int, nargs="*", default=[2, 1])
    parser.add_argument("--ranks", type=int, nargs="*", default=[1], help="MPI ranks (mpirun -n R)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the timed steps")
    parser.add_argument("--model", choices=["lj", "mlp"], default="lj")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--append", action="store_true", help="add to the cases already in --output")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.virial = [bool(v) for v in args.virial]
    if args.worker:
        args.tf_threads = args.tf_threads[0]
        worker(args)
        return

    cases = []
    if args.append and Path(args.output).exists():
        cases = json.loads(Path(args.output).read_text())["cases"]
    runs = [(ranks, threads) for ranks in args.ranks for threads in args.tf_threads]
    for ranks, threads in runs:
        command = [sys.executable, __file__, "--worker", "--tf-threads", str(threads), "--sizes"]
        command += [str(n) for n in args.sizes] + ["--dtypes", *args.dtypes]
        command += ["--virial", *[str(int(v)) for v in args.virial], "--repeats", str(args.repeats)]
        command += ["--scale", str(args.scale), "--model", args.model]
        env = dict(os.environ)
        if ranks > 1:
            command = ["mpirun", "-n", str(ranks), "--bind-to", "core", *command]
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        print(f"# {ranks} rank(s), TF on {threads} thread(s) each: {' '.join(command)}", flush=True)
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
            for line in proc.stdout:
                if not line.startswith("{"):  # HOOMD's notices (domain decomposition, ...)
                    print(line.rstrip(), file=sys.stderr)
                    continue
                case = json.loads(line)
                cases.append(case)
                print(
                    f"N={case['N']:>6} ranks={ranks} virial={int(case['virial_every_step'])} {case['dtype']} "
                    f"TF threads {threads}: native {_fmt(case['native_steps_per_s'])}, "
                    f"TF {_fmt(case['tf_steps_per_s'])} steps/s, ratio {case['ratio_mean']:.2f} "
                    f"± {case['ratio_std']:.2f} ({case['model']})",
                    flush=True,
                )
        if proc.returncode:
            raise SystemExit(f"benchmark worker failed with exit code {proc.returncode}")

    import hoomd
    import tensorflow as tf

    costs = [c for c in cases if "extra_nlist_ms" in c and c["dtype"] == args.dtypes[0]]
    if costs:
        print("\n| N | a second neighbor list costs HOOMD, ms per step: half storage | full storage |")
        print("|---|---|---|")
        for c in costs:
            print(f"| {c['N']} | {c['extra_nlist_ms']['half']:.2f} | {c['extra_nlist_ms']['full']:.2f} |")

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "hoomd": hoomd.version.version,
        "tensorflow": tf.__version__,
        "numba": __import__("numba").__version__,
        "setting": {
            "params": {"-".join(k): v for k, v in PARAMS.items()},
            "rho": RHO,
            "kT": KT,
            "r_cut": R_CUT,
            "buffer": BUFFER,
            "dt": DT,
            "start": "jittered simple cubic lattice, half B",
            "thermostat": "Bussi",
        },
        "cases": cases,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print()
    print(table(cases))
    if any(c.get("ranks", 1) > 1 for c in cases):
        print()
        print(scaling(cases))


if __name__ == "__main__":
    main()
