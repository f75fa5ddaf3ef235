"""TensorFlowForce against native HOOMD-blue LJ, side by side in one run.

Measures, for a Lennard-Jones fluid (rho = 0.8, kT = 1.5, r_cut = 2.5, buffer 0.4):

* steps/s of ``hoomd.md.pair.LJ`` and of the same LJ as a `TensorFlowForce`, and
  their ratio, at each N given;
* the hand-off of particle data into TensorFlow (zero-copy and staged) and the
  copy of results back, for N from 1k to 1M.

Usage::

    python3 benchmarks/bench_force.py                 # N = 4000 and 32000, hand-off 1k..1M
    python3 benchmarks/bench_force.py --sizes 4000 --steps 200 --handoff 1000 10000

Writes ``benchmarks/results/force.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hoomd
import numpy as np
import tensorflow as tf

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.demo import lj_fluid, nvt_integrator
from hoomd_mlx.plugin import _compat
from hoomd_mlx.plugin.buffers import AlignedStaging, TensorBridge, full_rows

RHO, KT, R_CUT, BUFFER = 0.8, 1.5, 2.5, 0.4


def native(nlist):
    lj = hoomd.md.pair.LJ(nlist=nlist, default_r_cut=R_CUT)
    lj.params[("A", "A")] = {"epsilon": 1.0, "sigma": 1.0}
    return lj


def tf_lj(nlist):
    model = LennardJones({("A", "A"): {"epsilon": 1.0, "sigma": 1.0}}, ["A"])
    return TensorFlowForce(model, nlist=nlist, r_cut=R_CUT)


def steps_per_second(sim: hoomd.Simulation, force, steps: int, warmup: int) -> float:
    """steps/s of ``sim`` driven by ``force`` (NVT), after ``warmup`` steps."""
    sim.operations.integrator = nvt_integrator(hoomd, force, KT)
    sim.run(warmup)
    start = time.perf_counter()
    sim.run(steps)
    return steps / (time.perf_counter() - start)


def speed(n: int, steps: int) -> dict:
    """Native and TF steps/s at size n, from the same melted starting state."""
    base = lj_fluid(hoomd, n, RHO, KT)
    steps_per_second(base, native(hoomd.md.nlist.Cell(buffer=BUFFER)), 0, 300)  # melt the lattice
    snapshot = base.state.get_snapshot()
    result = {"N": snapshot.particles.N}
    for name, factory in (("native", native), ("tensorflow", tf_lj)):
        sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=2)
        sim.create_state_from_snapshot(snapshot)
        force = factory(hoomd.md.nlist.Cell(buffer=BUFFER))
        result[f"{name}_steps_per_s"] = steps_per_second(sim, force, steps, warmup=50)
        if name == "tensorflow":
            result["tf_model_ms"] = 1e3 * force.model_time
            result["input_path"] = force.input_path
            result["pair_builds"] = force.pair_builds
    result["ratio"] = result["tensorflow_steps_per_s"] / result["native_steps_per_s"]
    return result


def handoff(n: int, repeats: int = 200) -> dict:
    """Microseconds to hand HOOMD's positions to TF (both paths) and to copy results back."""
    sim = lj_fluid(hoomd, n, RHO, KT)
    sim.operations.integrator = hoomd.md.Integrator(
        dt=0.005, forces=[hoomd.md.force.Constant(filter=hoomd.filter.All())]
    )
    sim.run(0)
    bridge = TensorBridge()
    staging = AlignedStaging()
    with sim.state.cpu_local_snapshot as snap:
        postype = full_rows(_compat.host_array(snap.particles.position), 4)
        aligned = postype.ctypes.data % 64 == 0
        timings = {}
        for label, fn in (("zero_copy_or_staged", bridge), ("staged", staging.stage)):
            fn(postype)
            start = time.perf_counter()
            for _ in range(repeats):
                fn(postype)
            timings[label] = 1e6 * (time.perf_counter() - start) / repeats
        if aligned:
            # the pure zero-copy import (what the bridge does on an aligned buffer)
            start = time.perf_counter()
            for _ in range(repeats):
                tf.experimental.dlpack.from_dlpack(postype.__dlpack__())
            timings["zero_copy"] = 1e6 * (time.perf_counter() - start) / repeats
        results = np.zeros_like(postype)
        start = time.perf_counter()
        for _ in range(repeats):
            np.copyto(results, postype)
        timings["copy_back"] = 1e6 * (time.perf_counter() - start) / repeats
    return {
        "N": sim.state.N_particles,
        "aligned": aligned,
        "path": bridge.last_path,
        **{f"{k}_us": v for k, v in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 32000])
    parser.add_argument("--steps", type=int, default=0, help="timed steps (default: 1000 at 4k, scaled by N)")
    parser.add_argument("--handoff", type=int, nargs="*", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "force.json"))
    args = parser.parse_args()

    speeds = []
    for n in args.sizes:
        steps = args.steps or max(100, int(1000 * 4000 / n))
        row = speed(n, steps)
        speeds.append(row)
        native_sps, tf_sps = row["native_steps_per_s"], row["tensorflow_steps_per_s"]
        print(
            f"N={row['N']:>7}: native {native_sps:8.1f} steps/s, TF {tf_sps:8.1f} steps/s, "
            f"ratio {row['ratio']:.2f} (model {row['tf_model_ms']:.2f} ms/step, {row['input_path']})",
            flush=True,
        )
    handoffs = []
    for n in args.handoff:
        row = handoff(n)
        handoffs.append(row)
        print(
            f"hand-off N={row['N']:>8}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in row.items() if k.endswith("_us"))
        )

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "hoomd": hoomd.version.version,
        "tensorflow": tf.__version__,
        "speed": speeds,
        "handoff": handoffs,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print("\n| N | native steps/s | TF steps/s | TF / native |\n|---|---|---|---|")
    for row in speeds:
        native_sps, tf_sps = row["native_steps_per_s"], row["tensorflow_steps_per_s"]
        print(f"| {row['N']} | {native_sps:.1f} | {tf_sps:.1f} | {row['ratio']:.2f} |")


if __name__ == "__main__":
    main()
