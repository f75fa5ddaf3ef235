"""Learn a three-body potential from HOOMD's own Tersoff silicon while it runs, then simulate with it.

1. A reference simulation of liquid silicon runs with HOOMD's ``md.many_body.Tersoff``.
2. Frames with its forces stream to a trainer in a process of its own (`OnTheFly`): the
   reference never waits for training.
3. When the trainer's validation force error falls below the tolerance, the learned
   `DescriptorPotential` takes over the same simulation (``switch.json`` says when and why).
4. The learned model is saved as one Keras file and compared with Tersoff: g(r) and the
   bond-angle distribution (``learned_vs_tersoff.png``).

The same API on a user's own reference data: record frames from any HOOMD force
(`hoomd_mlx.coupling.ReferenceFrame.from_simulation`, or a GSD file with the force's forces
logged: ``hoomd-mlx train traj.gsd --cutoff R``) and fit with
`hoomd_mlx.coupling.LocalForceMatching`.

Run: ``python3 examples/learn_tersoff.py`` (a few minutes on 2 cores; output in ``tersoff-output/``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "campaigns"))

import hoomd
import matplotlib
import silicon

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hoomd_mlx.coupling import OnTheFly

OUT = Path("tersoff-output")


def sample(sim, steps: int, every: int) -> list:
    frames = []
    for _ in range(steps // every):
        sim.run(every)
        snap = sim.state.get_snapshot()
        frames.append((snap.particles.position.copy(), snap.configuration.box))
    return frames


def main() -> None:
    OUT.mkdir(exist_ok=True)
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    reference = silicon.tersoff(hoomd, nlist)
    sim = silicon.simulation(hoomd, reference)
    silicon.melt(sim)  # 2000 steps at 7000 K, 3000 at 3500 K
    teacher = sample(sim, 4000, 40)

    model = {"types": ["Si"], "cutoff": silicon.CUTOFF, "embedding": (16, 32), "fitting": (64, 64)}
    learning = OnTheFly(sim, reference, OUT / "training", model, every=25, tolerance=0.6, min_frames=40)
    switch = learning.run(steps=2_000_000, chunk=2000)  # ends at the switch
    print(json.dumps(switch, indent=2))
    if switch is None:
        raise SystemExit("the validation force error stayed above the tolerance: see training/status.json")
    learning.learned.model.save(OUT / "silicon.keras")
    sim.run(2000)
    learned = sample(sim, 4000, 40)

    a, b = silicon.structure(teacher), silicon.structure(learned)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    for data, label in ((a, "Tersoff (HOOMD)"), (b, "learned")):
        left.errorbar(data["r"], data["rdf"], yerr=data["rdf_err"], label=label)
        right.errorbar(data["angle"], data["adf"], yerr=data["adf_err"], label=label)
    left.set_xlabel("r [A]")
    left.set_ylabel("g(r)")
    right.set_xlabel("bond angle [degrees]")
    right.set_ylabel("distribution")
    left.legend()
    fig.savefig(OUT / "learned_vs_tersoff.png", dpi=120)
    print(
        f"g(r) within 2 error bars in {silicon.within_error_bars(a, b, 'rdf'):.0%} of bins, bond angles in "
        f"{silicon.within_error_bars(a, b, 'adf'):.0%}; plot: {OUT / 'learned_vs_tersoff.png'}"
    )


if __name__ == "__main__":
    main()
