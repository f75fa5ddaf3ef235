"""What the process around the model costs: the same model step inside HOOMD's ``set_forces`` and outside it.

An earlier prototype measured an XLA LJ model with its gradient at 0.5-0.9 ms on 110k pairs
in a process of its own but 2.2 ms inside ``set_forces``, a ``tf.constant`` of one scalar at
0.22 ms there and ``.numpy()`` on the outputs at 0.44 ms. This script measures, in one
process running the LJ mixture of ``bench_force.py`` (N = 4096, float64, virials every
step, TensorFlow and numba on one thread):

* the split step's model call inside ``set_forces`` (the force's own timer) and the same
  call on the same buffers between runs, outside HOOMD;
* the same with Python's garbage collector disabled, and with every object frozen
  (``gc.freeze``);
* a ``tf.constant`` of one scalar and ``.numpy()`` of a (110000, 4) float64 tensor inside a
  custom force's ``set_forces`` and outside (also after touching 24 MB of other memory, as a
  step of HOOMD does: caches cold);
* minor page faults per step (an allocator that returns large blocks to the system
  faults them in again on every step).

Usage::

    python3 benchmarks/bench_handoff.py --repeats 3

Writes ``benchmarks/results/handoff.json`` and prints a Markdown table (mean ± standard
deviation over the repeats, each repeat a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "handoff.json"


def child() -> dict:
    import gc
    import resource
    import time

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import hoomd

    sys.path.insert(0, str(HERE))
    from bench_force import BUFFER, DT, KT, PARAMS, R_CUT, lattice_snapshot

    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.coupling import LennardJones

    class Probe(hoomd.md.force.Custom):
        """Times a scalar tf.constant and a .numpy() copy inside set_forces."""

        def __init__(self) -> None:
            super().__init__()
            self.constant, self.copy = [], []
            self.big = tf.zeros([110_000, 4], tf.float64)

        def set_forces(self, timestep: int) -> None:
            t0 = time.perf_counter()
            tf.constant(3, tf.int32)
            t1 = time.perf_counter()
            self.big.numpy()
            self.constant.append(t1 - t0)
            self.copy.append(time.perf_counter() - t1)

    force = TensorFlowForce(
        LennardJones(PARAMS, ["A", "B"]), nlist=hoomd.md.nlist.Cell(buffer=BUFFER), r_cut=R_CUT
    )
    probe = Probe()
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
    sim.create_state_from_snapshot(lattice_snapshot(4096))
    bussi = hoomd.md.methods.thermostats.Bussi(kT=KT)
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=bussi)
    sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=[force, probe], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=KT)
    sim.always_compute_pressure = True
    sim.run(100)
    split = force._engine.split

    def inside(steps: int = 300) -> tuple[float, float]:
        before, faults = force.timings, resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        sim.run(steps)
        after = force.timings
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
        return 1e3 * (after["model_seconds"] - before["model_seconds"]) / steps, faults

    def outside(calls: int = 300) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            split._step(*split._inputs)
        return 1e3 * (time.perf_counter() - start) / calls

    out = {"pairs": split.pairs, "capacity": split.capacity}
    out["model_inside_ms"], out["faults_per_step"] = inside()
    out["model_outside_ms"] = outside()
    gc.disable()
    out["model_inside_gc_off_ms"] = inside()[0]
    gc.enable()
    gc.freeze()
    out["model_inside_gc_frozen_ms"] = inside()[0]
    probe.constant.clear()
    probe.copy.clear()
    sim.run(300)
    out["constant_inside_us"] = 1e6 * sum(probe.constant) / len(probe.constant)
    out["numpy_copy_inside_ms"] = 1e3 * sum(probe.copy) / len(probe.copy)
    start = time.perf_counter()
    for _ in range(1000):
        tf.constant(3, tf.int32)
    out["constant_outside_us"] = 1e6 * (time.perf_counter() - start) / 1000
    cold = []
    for _ in range(100):  # outside HOOMD, after touching as much memory as a step of HOOMD does
        np.random.default_rng(0).random(3_000_000)
        start = time.perf_counter()
        tf.constant(3, tf.int32)
        cold.append(time.perf_counter() - start)
    out["constant_outside_cold_us"] = 1e6 * sum(cold) / len(cold)
    start = time.perf_counter()
    for _ in range(300):
        probe.big.numpy()
    out["numpy_copy_outside_ms"] = 1e3 * (time.perf_counter() - start) / 300
    return out


ROWS = [
    ("model + gradient inside set_forces, ms", "model_inside_ms"),
    ("the same call between runs, outside HOOMD, ms", "model_outside_ms"),
    ("inside, garbage collector off, ms", "model_inside_gc_off_ms"),
    ("inside, every object frozen (gc.freeze), ms", "model_inside_gc_frozen_ms"),
    ("tf.constant of one scalar inside set_forces, us", "constant_inside_us"),
    ("the same outside, us", "constant_outside_us"),
    ("the same outside, each after touching 24 MB of other memory, us", "constant_outside_cold_us"),
    (".numpy() of a (110000, 4) float64 tensor inside, ms", "numpy_copy_inside_ms"),
    ("the same outside, ms", "numpy_copy_outside_ms"),
    ("minor page faults per step", "faults_per_step"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT", json.dumps(child()))
        return
    import numpy as np

    env = dict(os.environ, NUMBA_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    runs = []
    for _ in range(args.repeats):
        out = subprocess.run(
            [sys.executable, __file__, "--child"], capture_output=True, text=True, env=env, check=True
        ).stdout
        runs.append(json.loads(out.split("RESULT", 1)[1]))
    Path(args.output).write_text(
        json.dumps({"setting": "bench_force.py mixture, N = 4096", "runs": runs}, indent=2)
    )
    print(f"pairs {runs[0]['pairs']}, buffer rows {runs[0]['capacity']}\n")
    print("| measured | mean ± sd |\n|---|---|")
    for label, key in ROWS:
        v = np.array([r[key] for r in runs])
        print(f"| {label} | {v.mean():.3g} ± {v.std(ddof=1) if len(v) > 1 else 0:.2g} |")


if __name__ == "__main__":
    main()
