"""Reproduce the group's confined-electrolyte profiles with HOOMD-blue; record agreement and runtime.

Runs the two reference state points (Z = 3 nm, 0.5 M, uncharged and -0.01 C/m^2 walls;
compared with every in-house and LAMMPS run of them) and a few of the 120 profiles of
``profiles.npz``. Writes ``benchmarks/results/electrolyte_reference.json`` and the plots
``docs/electrolyte_*.png`` that ``docs/electrolyte.md`` shows.

    python3 benchmarks/electrolyte_reference.py [--production 20000] [--dataset 3]
"""

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path

from hoomd_mlx.electrolyte.reference import dataset_profile, reference_runs
from hoomd_mlx.electrolyte.validate import plot_comparison, reproduce

ROOT = Path(__file__).resolve().parents[1]
# profiles.npz rows: (Z=4.0, c=0.5, i=-0.01), (Z=5.0, c=1.0, i=-0.02), (Z=4.4, c=0.25, i=-0.015)
DATASET = [(4.0, 0.5, -0.01), (5.0, 1.0, -0.02), (4.4, 0.25, -0.015)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--production", type=int, default=20000, help="production steps (dt = 0.005)")
    parser.add_argument("--dataset", type=int, default=len(DATASET), help="how many profiles.npz points")
    parser.add_argument("--work", default="/tmp/hoomd-mlx-electrolyte", help="job directories")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = Path(args.work)
    records = []
    by_state = defaultdict(list)
    for ref in reference_runs():
        by_state[ref.params["i"]].append(ref)
    for i, refs in sorted(by_state.items()):
        out, ours = reproduce(refs, work / f"reference_i{i}", box_xy=15.32, production_steps=args.production)
        records += out
        plot_comparison(ROOT / "docs" / f"electrolyte_reference_i{i}.png", ours, refs)
        logging.info("%s", json.dumps(out, indent=1))
    import numpy as np

    data = np.load(ROOT.parent / "shared/data/nanoconfinement/profiles.npz")
    params = data["params"]
    for Z, c, i in DATASET[: args.dataset]:
        index = int(np.where((params[:, 0] == Z) & (params[:, 5] == c) & (params[:, 6] == i))[0][0])
        ref = dataset_profile(index)
        out, ours = reproduce([ref], work / f"dataset_{index}", production_steps=args.production)
        records += out
        plot_comparison(ROOT / "docs" / f"electrolyte_dataset_Z{Z}_c{c}_i{i}.png", ours, [ref])
        logging.info("%s", json.dumps(out, indent=1))
    path = ROOT / "benchmarks" / "results" / "electrolyte_reference.json"
    path.write_text(json.dumps({"production_steps": args.production, "records": records}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
