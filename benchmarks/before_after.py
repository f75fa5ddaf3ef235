"""TensorFlowForce steps/s at two revisions of this repository, in the setting of ``bench_force.py``.

Each revision is checked out into a temporary git worktree and timed in its own
process (PYTHONPATH pointing at that checkout), alternating revisions
``--repeats`` times so that drift of the machine's speed hits both alike. The
timed run is the TF half of ``bench_force.py``: the two-type LJ mixture from a
jittered lattice, Bussi NVT, float64, virials every step, default settings of
each revision's `TensorFlowForce` (before the split step: ``layout="auto"``, which
timed the dense table and the pair list on the first step and kept the faster).
``--model mlp`` times a ``PairMLP`` (hidden 32 x 32) instead of LJ; ``--threads 1``
puts TensorFlow and numba on one thread (per core), ``--threads 2`` on both cores.

Usage::

    python3 benchmarks/before_after.py --revs e219e1c HEAD --model mlp --threads 1

Writes ``benchmarks/results/before_after.json`` (``--append`` adds to it) and prints a
Markdown table (mean ± standard deviation of steps/s over the repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "before_after.json"

CHILD = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["NUMBA_NUM_THREADS"] = "{threads}"
sys.path.insert(0, {bench!r})
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads({threads})
tf.config.threading.set_inter_op_parallelism_threads(1 if {threads} == 1 else 2)
import hoomd
import hoomd_mlx
assert hoomd_mlx.__file__.startswith({tree!r}), hoomd_mlx.__file__  # the revision under test
from bench_force import BUFFER, DT, KT, PARAMS, R_CUT, lattice_snapshot
from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones, PairMLP

n, steps = {n}, {steps}
sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
sim.create_state_from_snapshot(lattice_snapshot(n))
if {model!r} == "mlp":
    model = PairMLP(2, R_CUT, hidden=(32, 32), dtype="float64")
    model.build()
else:
    model = LennardJones(PARAMS, ["A", "B"])
force = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=BUFFER), r_cut=R_CUT)
method = hoomd.md.methods.ConstantVolume(
    filter=hoomd.filter.All(), thermostat=hoomd.md.methods.thermostats.Bussi(kT=KT)
)
sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=[force], methods=[method])
sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=KT)
sim.always_compute_pressure = True
sim.run(max(5, steps // 5))
start = time.perf_counter()
sim.run(steps)
print("STEPS_PER_S", steps / (time.perf_counter() - start))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revs", nargs="*", default=["91349dd", "HEAD"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 4096, 32768])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=["lj", "mlp"], default="lj")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow (and numba) threads")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    repo = HERE.parent
    rows = []
    if args.append and Path(args.output).exists():
        rows = json.loads(Path(args.output).read_text())["rows"]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        for rev in args.revs:
            tree = Path(tmp) / rev.replace("/", "_")
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), rev], check=True
            )
            trees[rev] = tree
        try:
            for n in args.sizes:
                steps = max(10, int(400 * 4096 / n))
                runs = {rev: [] for rev in args.revs}
                for _ in range(args.repeats):
                    for rev, tree in trees.items():
                        code = CHILD.format(
                            bench=str(HERE),
                            tree=str(tree),
                            n=n,
                            steps=steps,
                            model=args.model,
                            threads=args.threads,
                        )
                        env = dict(os.environ, PYTHONPATH=str(tree))
                        out = subprocess.run(
                            [sys.executable, "-c", code],
                            check=True,
                            capture_output=True,
                            text=True,
                            env=env,
                            cwd=tree,  # not this checkout: "-c" puts the working directory first on sys.path
                        ).stdout
                        runs[rev].append(float(out.split("STEPS_PER_S")[-1]))
                for rev in args.revs:
                    commit = subprocess.run(
                        ["git", "-C", str(repo), "rev-parse", "--short", rev], capture_output=True, text=True
                    ).stdout.strip()
                    rows.append(
                        {
                            "N": n,
                            "rev": rev,
                            "commit": commit,
                            "model": args.model,
                            "threads": args.threads,
                            "steps": steps,
                            "tf_steps_per_s": runs[rev],
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(
                    ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False
                )
    import numpy as np

    Path(args.output).write_text(
        json.dumps({"setting": "bench_force.py mixture, f64, virials", "rows": rows}, indent=2)
    )
    print("\n| model | threads | N | revision | TF steps/s |\n|---|---|---|---|---|")
    for r in rows:
        v = np.asarray(r["tf_steps_per_s"])
        print(
            f"| {r.get('model', 'lj')} | {r.get('threads', 2)} | {r['N']} | {r['rev']} | "
            f"{v.mean():.1f} ± {v.std(ddof=1):.1f} |"
        )


if __name__ == "__main__":
    main()
