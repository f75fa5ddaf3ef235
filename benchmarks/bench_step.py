"""The compiled force step alone (no HOOMD): layouts, dtypes and models, per neighbor entry.

Builds the two-type LJ mixture of ``bench_force.py`` (rho = 0.8, jittered simple
cubic lattice, neighbors within r_cut + buffer = 2.9 found with freud) and times
`hoomd_mlx.plugin.step.make_step` on it, XLA-compiled:

* layouts ``dense`` (neighbor table, contractions) and ``pairs`` (pair list, scatter);
* float64 and float32 models, with and without virials;
* ``LennardJones``, a ``PairMLP`` (hidden 32 x 32, 16 radial features) and the
  cheapest model with a gradient, ``|r|^2`` (what the step costs around any model):
  a cheap analytic model and a neural one show which layout each prefers;
* TensorFlow on 1 and 2 intra-op threads (each in its own process).

Usage::

    python3 benchmarks/bench_step.py                  # N = 4096
    python3 benchmarks/bench_step.py --sizes 512 32768

Writes ``benchmarks/results/step.json`` and prints a Markdown table: median
milliseconds per step over ``--repeats`` calls, with the 10th-90th percentile range,
and nanoseconds per neighbor-table entry.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).parent / "results" / "step.json"


def inputs(n: int):
    """Step arguments for the mixture of ``bench_force.py`` at about ``n`` particles."""
    import numpy as np
    import tensorflow as tf
    from bench_force import R_CUT, lattice_snapshot

    from hoomd_mlx.coupling.force_matching import Frame
    from hoomd_mlx.plugin.step import pack_postype
    from hoomd_mlx.plugin.table import NeighborTable

    frame = lattice_snapshot(n)
    pos = np.asarray(frame.particles.position, dtype=np.float64)
    types = np.asarray(frame.particles.typeid, dtype=np.int32)
    box = np.asarray(frame.configuration.box, dtype=np.float64)
    pairs = Frame(pos, types, box, np.zeros_like(pos)).pairs(R_CUT + 0.4)
    table = NeighborTable.from_pairs(pairs.i[: pairs.count], pairs.j[: pairs.count], len(pos))
    args = (
        tf.constant(pack_postype(pos, types)),
        tf.constant(box),
        tf.zeros([0], tf.float64),
        tf.constant(pairs.i),
        tf.constant(pairs.j),
        tf.constant(pairs.count, tf.int32),
        tf.constant(table.neighbors),
        tf.constant(table.counts),
        tf.fill([4], tf.constant(R_CUT**2, tf.float64)),
        tf.constant(2, tf.int32),
        tf.constant(R_CUT, tf.float64),
        tf.constant(len(pos), tf.int32),
    )
    return args, len(pos), table.rows * table.width, pairs.count


def model(kind: str, dtype: str):
    import tensorflow as tf
    from bench_force import PARAMS, R_CUT

    from hoomd_mlx.coupling import LennardJones, PairMLP

    if kind == "lj":
        return LennardJones(PARAMS, ["A", "B"], dtype=dtype)
    if kind == "r2":  # the cheapest model with a gradient: what the step costs around any model

        def r2(r_ij, type_i, type_j):
            return tf.reduce_sum(r_ij * r_ij, axis=1)

        return r2
    mlp = PairMLP(2, R_CUT, dtype=dtype)
    mlp.build()
    return mlp


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1 if args.tf_threads == 1 else 2)
    from hoomd_mlx.plugin.step import LAYOUTS, make_step

    for n in args.sizes:
        step_args, n_real, entries, n_pairs = inputs(n)
        for kind in args.models:
            for dtype in ("float64", "float32"):
                m = model(kind, dtype)
                for layout in LAYOUTS:
                    for virial in (True, False):
                        step = make_step(
                            m, many_body=False, dtype=tf.as_dtype(dtype), virial=virial, layout=layout
                        ).get_concrete_function()
                        for _ in range(3):
                            bool(step(*step_args)[2])
                        times = []
                        for _ in range(args.repeats):
                            start = time.perf_counter()
                            bool(step(*step_args)[2])
                            times.append(time.perf_counter() - start)
                        ms = 1e3 * np.asarray(times)
                        row = {
                            "N": n_real,
                            "model": kind,
                            "dtype": dtype,
                            "layout": layout,
                            "virial": virial,
                            "tf_threads": args.tf_threads,
                            "ms_median": float(np.median(ms)),
                            "ms_p10": float(np.percentile(ms, 10)),
                            "ms_p90": float(np.percentile(ms, 90)),
                            "table_entries": entries,
                            "pairs": n_pairs,
                        }
                        row["ns_per_table_entry"] = 1e6 * row["ms_median"] / entries
                        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4096])
    parser.add_argument("--models", nargs="*", default=["lj", "r2", "mlp"])
    parser.add_argument("--tf-threads", type=int, nargs="*", default=[2, 1])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.tf_threads = args.tf_threads[0]
        worker(args)
        return
    rows = []
    for threads in args.tf_threads:
        command = [sys.executable, __file__, "--worker", "--tf-threads", str(threads), "--repeats"]
        command += [str(args.repeats), "--sizes", *map(str, args.sizes), "--models", *args.models]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"rows": rows}, indent=2))
    print(
        "| N | model | dtype | layout | virials | TF threads | ms per step (p10-p90) | ns per table entry |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['N']} | {r['model']} | {r['dtype']} | {r['layout']} | {'yes' if r['virial'] else 'no'} | "
            f"{r['tf_threads']} | {r['ms_median']:.2f} ({r['ms_p10']:.2f}-{r['ms_p90']:.2f}) | "
            f"{r['ns_per_table_entry']:.1f} |"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
