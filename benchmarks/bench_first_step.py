"""What TensorFlowForce's first step costs: kernel compilation (numba) and XLA compilation, cold and warm.

Each measurement is a fresh process (as a campaign job is) running the LJ mixture of
``bench_force.py`` at N = 4096: the time of ``import hoomd_mlx`` (TensorFlow, numba),
of the first ``Simulation.run(0)`` (attach: the model checked, the kernels compiled or
loaded from numba's cache, the model compiled by XLA for the first pair bucket) and
of the next 10 steps, on one thread. *Cold*: an empty numba cache (``NUMBA_CACHE_DIR``
pointing at a new directory); *warm*: the same directory again, as every job after a
campaign's first finds it. XLA keeps no cache between processes, so its compilation is
paid in both.

Usage::

    python3 benchmarks/bench_first_step.py --repeats 3

Writes ``benchmarks/results/first_step.json`` and prints a Markdown table (mean ± standard
deviation over the repeats).
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
RESULTS = HERE / "results" / "first_step.json"

CHILD = """
import os, sys, time, json
start = time.perf_counter()
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import hoomd
from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones
imported = time.perf_counter()
sys.path.insert(0, {bench!r})
from bench_force import BUFFER, DT, KT, PARAMS, R_CUT, lattice_snapshot
sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
sim.create_state_from_snapshot(lattice_snapshot(4096))
model = LennardJones(PARAMS, ["A", "B"])
force = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=BUFFER), r_cut=R_CUT)
bussi = hoomd.md.methods.thermostats.Bussi(kT=KT)
method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=bussi)
sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=[force], methods=[method])
sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=KT)
built = time.perf_counter()
sim.run(0)
first = time.perf_counter()
sim.run(10)
ten = time.perf_counter()
sim.run(100)
steady = (time.perf_counter() - ten) / 100
print("RESULT", json.dumps({{"import_s": imported - start, "first_step_s": first - built,
      "next_10_steps_s": ten - first, "steady_step_s": steady}}))
"""


def run(cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(bench=str(HERE))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return json.loads(out.split("RESULT", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    import numpy as np

    runs = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            runs["cold"].append(run(cache))
            runs["warm"].append(run(cache))
    import hoomd
    import numba
    import tensorflow as tf

    report = {
        "setting": "bench_force.py LJ mixture, N = 4096, float64, one thread, fresh process each",
        "hoomd": hoomd.version.version,
        "tensorflow": tf.__version__,
        "numba": numba.__version__,
        "runs": runs,
    }
    Path(args.output).write_text(json.dumps(report, indent=2))
    print("| numba cache | import hoomd_mlx, s | first run(0), s | next 10 steps, s | then per step, ms |")
    print("|---|---|---|---|---|")
    for kind, rows in runs.items():

        def fmt(key: str, scale: float = 1.0, rows: list = rows) -> str:
            v = scale * np.array([r[key] for r in rows])
            return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}"

        print(
            f"| {kind} | {fmt('import_s')} | {fmt('first_step_s')} | {fmt('next_10_steps_s')} | "
            f"{fmt('steady_step_s', 1e3)} |"
        )


if __name__ == "__main__":
    main()
