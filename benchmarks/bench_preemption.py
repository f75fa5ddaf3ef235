"""Preemptible VMs: the fitted lifetime models and the bag simulator's policies, with confidence intervals.

1. Fits SciSpot's bathtub model, an exponential and a Weibull to the 717 VM lifetimes
   (``shared/data/scispot/All_data.txt``) and reports their goodness of fit.
2. Checkpoint schedules of one job: expected times without checkpoints, with Young-Daly's
   period and with the optimal age-dependent schedule.
3. Simulates a SciSpot-like bag on 16 VMs for each seed, every policy on the same random
   streams: jobs of 4-12 core-hours (uniform) with an Amdahl serial fraction of 0.05, on the
   machine type the server choice picks (n1-highcpu-2, 2019 us-central1 prices), checkpoints
   of 1 min, restores of 30 s, VM boots of 90 s. Policies: on-demand (same type), preemptible
   with Young-Daly checkpoints, preemptible with the model's schedule and VM-age-aware
   placement (and without the placement), and a conventional deployment: on-demand
   n1-standard-1 (the cheapest general-purpose type), no server choice.
4. The same for other checkpoint costs.

    python3 benchmarks/bench_preemption.py [--seeds 30] [--jobs 160]

Writes ``benchmarks/results/preemption.json`` and ``docs/cloud_lifetimes.png``,
``docs/cloud_policies.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from hoomd_mlx.cloud.data import load_scispot_lifetimes
from hoomd_mlx.cloud.lifetime import FAMILIES, scispot_model
from hoomd_mlx.cloud.schedule import CheckpointTable, expected_runtime, young_daly_interval
from hoomd_mlx.cloud.servers import Scaling, load_prices, server_options
from hoomd_mlx.cloud.simulate import (
    Bag,
    BagRun,
    ModelPolicy,
    OnDemand,
    Periodic,
    compare_policies,
    confidence_interval,
    simulate_bag,
)

HERE = Path(__file__).parent
DOCS = HERE.parent / "docs"


def fits() -> dict:
    models = {family: scispot_model(family) for family in FAMILIES}
    out = {}
    for family, model in models.items():
        out[family] = {
            "params": model.params,
            "goodness": model.goodness,
            "end_hours": model.end,
            "atom": model.atom,
            "mean_hours": model.mean,
        }
    capped = models["scispot"].with_cap(24.0)
    out["scispot_cap24"] = {"end_hours": capped.end, "atom": capped.atom, "mean_hours": capped.mean}
    return out


def schedules(model, c: float, r: float) -> dict:
    table = CheckpointTable(model, 12.0, checkpoint_cost=c, restart_cost=r)
    period = young_daly_interval(c, model.mean)
    out = {"young_daly_interval_hours": period, "jobs": []}
    for work in (2.0, 6.0, 12.0):
        for age in (0.0, 6.0, 20.0):
            plan = table.schedule(work, age)
            out["jobs"].append(
                {
                    "work_hours": work,
                    "vm_age_hours": age,
                    "no_checkpoints": expected_runtime(model, work, age, restart_cost=r),
                    "young_daly": expected_runtime(
                        model, work, age, interval=period, checkpoint_cost=c, restart_cost=r
                    ),
                    "optimal": plan.expected_time,
                    "optimal_segments": list(plan.segments),
                    "replace": plan.replace,
                }
            )
    return out


def _stats(values) -> dict:
    mean, half = confidence_interval(values)
    return {"mean": mean, "ci": half}


def policies(model, seeds: range, jobs: int, checkpoint_cost: float = 1 / 60) -> dict:
    machines = load_prices()
    scaling = Scaling(8.0, serial_fraction=0.05)
    bag = Bag(jobs=jobs, work_low=4.0, work_high=12.0, vms=16, checkpoint_cost=checkpoint_cost)
    kw = {"checkpoint_cost": bag.checkpoint_cost, "restart_cost": bag.restart_cost, "region": "us-central1"}
    chosen = server_options(machines, scaling, model, **kw)[0]
    standard = server_options(machines, scaling, model, preemptible=False, names=["n1-standard-1"], **kw)[0]
    factor = chosen.runtime / scaling.job_hours
    fast = dataclasses.replace(bag, work_low=bag.work_low * factor, work_high=bag.work_high * factor)
    table = CheckpointTable(
        model, fast.work_high, checkpoint_cost=fast.checkpoint_cost, restart_cost=fast.restart_cost
    )
    period = young_daly_interval(fast.checkpoint_cost, model.mean)
    runs = [
        OnDemand(),
        Periodic(period, "young-daly"),
        ModelPolicy(table),
        ModelPolicy(table, age_aware=False, name="model-no-placement"),
    ]
    m = chosen.machine
    prices = {"on-demand": m.on_demand, "young-daly": m.preemptible, "model": m.preemptible}
    prices["model-no-placement"] = m.preemptible
    start = time.perf_counter()
    summary = compare_policies(fast, model, runs, prices, seeds=seeds, progress=True)
    conventional = [
        simulate_bag(
            bag.work(seed),
            OnDemand(),
            model,
            vms=bag.vms,
            price=standard.price,
            checkpoint_cost=0.0,
            restore_cost=0.0,
            boot=bag.boot,
            seed=seed,
        )
        for seed in seeds
    ]
    elapsed = time.perf_counter() - start
    conv_cost = np.array([r.cost for r in conventional])
    out = {
        "machine": m.name,
        "conventional_machine": standard.machine.name,
        "price_ratio_same_type": m.preemptible / m.on_demand,
        "jobs": jobs,
        "vms": bag.vms,
        "job_hours_on_machine": [fast.work_low, fast.work_high],
        "checkpoint_cost_hours": fast.checkpoint_cost,
        "restore_hours": fast.restore_cost,
        "boot_hours": fast.boot,
        "young_daly_interval_hours": period,
        "seeds": len(seeds),
        "simulation_seconds": elapsed,
        "policies": {},
    }
    for name, result in summary.items():
        cost = np.array([r["cost"] for r in result["runs"]])
        out["policies"][name] = {
            **{k: v for k, v in result.items() if k != "runs"},
            "cost_vs_conventional": _stats(cost / conv_cost),
        }
    out["policies"]["conventional"] = {
        "cost": _stats(conv_cost),
        "makespan": _stats([r.makespan for r in conventional]),
    }
    paired = {}
    for metric in ("cost", "overhead"):
        ours = np.array([_metric(r, metric) for r in summary["model"]["runs"]])
        theirs = np.array([_metric(r, metric) for r in summary["young-daly"]["runs"]])
        paired[metric] = _stats(ours - theirs)
    out["model_minus_young_daly"] = paired
    return out


def _metric(run: dict, metric: str) -> float:
    return BagRun(**run).overhead if metric == "overhead" else run[metric]


def plot_lifetimes(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, ecdf = load_scispot_lifetimes()
    models = {family: scispot_model(family) for family in FAMILIES}
    grid = np.linspace(0, 25, 2000)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.step(t, ecdf, where="post", color="k", lw=1.2, label="717 VMs (SciSpot, 2019)")
    for family, model in models.items():
        fit = model.goodness
        left.plot(grid, model.cdf(grid), label=f"{family} (RMSE {fit['rmse']:.3f}, KS {fit['ks']:.2f})")
    capped = models["scispot"].with_cap(24.0)
    left.plot(grid, capped.cdf(grid), "--", color="C0", lw=0.8, label="scispot, cap 24 h (atom 0.36)")
    left.set(xlabel="VM age [h]", ylabel="P(preempted by then)", title="Lifetime CDF: data and fits")
    left.legend(fontsize=8, loc="upper left")
    ages = np.linspace(0.01, 24.6, 2000)
    for family, model in models.items():
        right.semilogy(ages, model.hazard(ages), label=family)
    right.set(xlabel="VM age [h]", ylabel="hazard [1/h]", title="Preemption rate (bathtub)", ylim=(1e-4, 20))
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_policies(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["on-demand", "young-daly", "model"]
    policies_ = result["policies"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    panels = [
        ("cost_ratio", 1.0, "cost / on-demand (same type)"),
        ("overhead", 100.0, "checkpoint + recompute [% of work]"),
        ("makespan", 1.0, "makespan [h]"),
    ]
    for ax, (metric, scale, label) in zip(axes, panels, strict=True):
        means = [policies_[n][metric]["mean"] * scale for n in names]
        errors = [policies_[n][metric]["ci"] * scale for n in names]
        ax.bar(names, means, yerr=errors, capsize=4, color=["0.6", "C1", "C0"])
        ax.set_title(label, fontsize=10)
        for k, value in enumerate(means):
            ax.annotate(f"{value:.3g}", (k, value), ha="center", va="bottom", fontsize=8)
    axes[0].axhline(0.2, color="r", lw=0.8, ls="--")
    axes[1].axhline(5, color="r", lw=0.8, ls="--")
    axes[1].axhline(3, color="r", lw=0.8, ls=":")
    fig.suptitle(
        f"{result['jobs']} jobs on {result['vms']} {result['machine']} VMs, {result['seeds']} seeds "
        "(95% CI, same random streams)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=160)
    parser.add_argument("--output", default=str(HERE / "results" / "preemption.json"))
    args = parser.parse_args()
    model = scispot_model()
    seeds = range(args.seeds)
    report = {
        "fits": fits(),
        "schedules": schedules(model, 1 / 60, 2 / 60),
        "bag": policies(model, seeds, args.jobs),
        "checkpoint_cost_sensitivity": {},
    }
    for minutes in (0.5, 5.0):
        result = policies(model, seeds, args.jobs, checkpoint_cost=minutes / 60)
        report["checkpoint_cost_sensitivity"][f"{minutes:g} min"] = {
            name: {k: result["policies"][name][k] for k in ("overhead", "cost_ratio", "makespan")}
            for name in ("young-daly", "model")
        }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    plot_lifetimes(DOCS / "cloud_lifetimes.png")
    plot_policies(report["bag"], DOCS / "cloud_policies.png")
    for family, fit in report["fits"].items():
        if "goodness" in fit:
            g = fit["goodness"]
            params = ", ".join(f"{k}={v:.4g}" for k, v in fit["params"].items())
            print(f"{family:<12} {params:<44} RMSE {g['rmse']:.4f} KS {g['ks']:.4f} R2 {g['r2']:.4f}")
    bag = report["bag"]
    for name, result in bag["policies"].items():
        line = f"{name:<19} cost ${result['cost']['mean']:.2f} ± {result['cost']['ci']:.2f}"
        line += f"  makespan {result['makespan']['mean']:.1f} ± {result['makespan']['ci']:.1f} h"
        if "overhead" in result:
            line += (
                f"  overhead {100 * result['overhead']['mean']:.2f} ± {100 * result['overhead']['ci']:.2f} %"
            )
            line += f"  cost/on-demand {result['cost_ratio']['mean']:.4f} ± {result['cost_ratio']['ci']:.4f}"
            line += f"  cost/conventional {result['cost_vs_conventional']['mean']:.4f}"
        print(line)


if __name__ == "__main__":
    main()
