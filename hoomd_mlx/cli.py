"""The ``hoomd-mlx`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from hoomd_mlx.demo import run_demo

    summary = run_demo(Path(args.output), n=args.n, steps=args.steps)
    print(json.dumps(summary, indent=2))
    print(f"plot: {Path(args.output) / 'energy.png'}")
    return 0


def _campaign_run(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.config.spec import load_spec
    from hoomd_mlx.campaign.driver.runner import run_campaign, spec_summary

    spec = load_spec(args.spec)
    directory = Path(args.dir or Path("runs") / spec.name)
    if args.dry_run:
        print(json.dumps({**spec_summary(spec), "directory": str(directory)}, indent=2))
        return 0
    preempt = None
    if args.preempt:
        from hoomd_mlx.cloud.drill import DrillSettings
        from hoomd_mlx.cloud.lifetime import load_model

        preempt = DrillSettings(load_model(args.preempt), args.preempt_scale, args.preempt_seed)
    summary = run_campaign(
        spec,
        directory,
        workers=args.workers,
        scheduler=args.scheduler,
        announce=print,
        preempt=preempt,
        cluster=args.cluster,
    )
    print(json.dumps(summary["counts"]))
    print(f"status: hoomd-mlx campaign status {directory}; report: hoomd-mlx campaign report {directory}")
    return 0 if summary["counts"]["failed"] == 0 else 1


def _campaign_status(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.driver.status import campaign_status, format_status

    status = campaign_status(args.dir)
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def _campaign_report(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.report.build import write_report

    path = write_report(args.dir)
    print(f"report: {path} and {path.with_suffix('.html')} (one self-contained page)")
    return 0


def _campaign_check(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.driver.check import check_campaign, format_check
    from hoomd_mlx.errors import ConfigurationError

    settings = {}
    for item in args.set or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"--set takes KEY=VALUE pairs (job settings), got {item!r}")
        settings[name] = value
    result = check_campaign(
        args.dir,
        spec=args.spec,
        job=args.job,
        settings=settings,
        points=args.points,
        sigma=args.sigma,
        workers=args.workers,
        announce=print,
    )
    print(json.dumps(result, indent=2) if args.json else format_check(result))
    return 0 if result["passed"] else 1


def _campaign_export(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.driver.ledger import Ledger

    with Ledger.in_directory(args.dir) as ledger:
        print(f"wrote {ledger.export(args.output)}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.driver.learner import predict_point
    from hoomd_mlx.errors import ConfigurationError

    params = {}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"--params takes NAME=VALUE pairs, got {item!r}")
        params[name] = float(value)
    answer = predict_point(args.dir, params)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    for name, mean in answer["mean"].items():
        print(f"{name} = {mean:.6g} +- {answer['std'][name]:.2g}")
    version, accuracy = answer["surrogate_version"], answer["validation_accuracy"]
    per_point, per_run = answer["inference_seconds"] * 1e3, answer["mean_simulation_seconds"]
    print(
        f"surrogate v{version} (validation accuracy {accuracy:.3f}): {per_point:.2f} ms per point vs "
        f"{per_run:.1f} s per simulation ({answer['speedup']:.3g}x)"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from hoomd_mlx.coupling.descriptor import DescriptorPotential
    from hoomd_mlx.coupling.training import LocalForceMatching, frames_from_gsd

    frames = frames_from_gsd(args.trajectory, force=args.force)
    types = args.types
    if not types:
        import gsd.hoomd

        with gsd.hoomd.open(args.trajectory, "r") as traj:
            types = list(traj[0].particles.types)
    model = DescriptorPotential(types, cutoff=args.cutoff)
    fm = LocalForceMatching(model, seed=args.seed)
    directory = Path(args.output).with_suffix("")
    history = fm.fit(frames, epochs=args.epochs, directory=directory, progress=True)
    model.save(args.output)
    print(
        json.dumps(
            {
                "model": str(args.output),
                "frames": len(frames),
                "epochs": len(history["epoch"]),
                "val_force_error": min(history["val_force_error"]),
                "learning_curve": str(directory / "learning_curve.png"),
            },
            indent=2,
        )
    )
    return 0


def _cloud_plan(args: argparse.Namespace) -> int:
    from hoomd_mlx.campaign.config.spec import load_spec
    from hoomd_mlx.cloud.plan import format_plan, plan_campaign
    from hoomd_mlx.errors import ConfigurationError

    spec = load_spec(args.spec)
    if spec.cloud is None:
        raise ConfigurationError(f"{args.spec} has no [cloud] table; add one with job_hours = <hours>")
    vms = args.vms or spec.cloud.vms or spec.resources.workers
    jobs = len(spec.design.sample())
    big = min(jobs, 2000) * args.seeds > 50_000
    plan = plan_campaign(spec.cloud, jobs, vms=vms, seeds=args.seeds, progress=big)
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
    return 0


def _cloud_fit(args: argparse.Namespace) -> int:
    from hoomd_mlx.cloud.lifetime import FAMILIES, scispot_model

    models = {family: scispot_model(family, args.data) for family in FAMILIES}
    print(f"{'model':<12} {'parameters':<44} {'RMSE':>7} {'KS':>7} {'R^2':>7}")
    for family, model in models.items():
        params = ", ".join(f"{k}={v:.4g}" for k, v in model.params.items())
        fit = model.goodness or {}
        print(f"{family:<12} {params:<44} {fit['rmse']:7.4f} {fit['ks']:7.4f} {fit['r2']:7.4f}")
    if args.output:
        print(f"wrote {models[args.family].save(args.output)}")
    return 0


def _add_cloud(sub: argparse._SubParsersAction) -> None:
    cloud = sub.add_parser("cloud", help="preemptible VMs: lifetime models, checkpoints, servers, costs")
    verbs = cloud.add_subparsers(dest="verb", required=True)
    plan = verbs.add_parser("plan", help="machine type, checkpoint intervals, expected cost and makespan")
    plan.add_argument("spec", help="campaign spec (TOML) with a [cloud] table")
    plan.add_argument("--vms", type=int, help="VMs (default: cloud.vms, else resources.workers)")
    plan.add_argument("--seeds", type=int, default=20, help="simulated bags per policy (default 20)")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.set_defaults(func=_cloud_plan)
    fit = verbs.add_parser("fit", help="fit the lifetime models to SciSpot's VM lifetimes; goodness of fit")
    fit.add_argument("--data", help="lifetimes file (default: shared/data/scispot/All_data.txt)")
    fit.add_argument("--family", default="scispot", help="model written by --output (default scispot)")
    fit.add_argument("--output", help="write the fitted model as JSON (for --preempt or [cloud] model)")
    fit.set_defaults(func=_cloud_fit)


def _add_campaign(sub: argparse._SubParsersAction) -> None:
    campaign = sub.add_parser("campaign", help="run, watch and report campaigns of HOOMD jobs on Dask")
    verbs = campaign.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run or resume a campaign")
    run.add_argument("spec", help="campaign spec (TOML)")
    run.add_argument("--dir", help="campaign directory (default runs/<name>)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="workers, or most batch jobs (default: the spec's)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    run.add_argument(
        "--cluster",
        choices=["local", "slurm", "pbs"],
        help="where the workers run (default: the spec's [cluster] kind, else local); slurm: batch jobs",
    )
    run.add_argument("--dry-run", action="store_true", help="validate the spec and show the plan only")
    run.add_argument(
        "--preempt",
        metavar="MODEL",
        help="preemption drill: kill local workers at ages drawn from MODEL (scispot, or a model JSON)",
    )
    run.add_argument(
        "--preempt-scale",
        type=float,
        default=2.5,
        metavar="SECONDS",
        help="wall seconds per model hour in a drill (default 2.5: a 24 h VM lives a minute)",
    )
    run.add_argument("--preempt-seed", type=int, default=0, help="seed of the drill's lifetimes (default 0)")
    run.set_defaults(func=_campaign_run)
    status = verbs.add_parser("status", help="counts, running jobs, failures")
    status.add_argument("dir", help="campaign directory")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_campaign_status)
    report = verbs.add_parser("report", help="report.md with PNG plots, and report.html, in DIR/report/")
    report.add_argument("dir", help="campaign directory")
    report.set_defaults(func=_campaign_report)
    check = verbs.add_parser(
        "check", help="run changed job code where the surrogate is confident; exit 1 if outside its band"
    )
    check.add_argument("dir", help="campaign directory (with a surrogate)")
    check.add_argument("--job", help="the changed job function, module:function (default: the spec's)")
    check.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="job settings to change (TOML values)")
    check.add_argument("--spec", help="the campaign's spec (default: the path its ledger recorded)")
    check.add_argument("--points", type=int, default=4, help="design points to run (default 4)")
    check.add_argument("--sigma", type=float, default=2.0, help="agreement: rms z at most this (default 2)")
    check.add_argument("--workers", type=int, help="workers (default: at most the spec's)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=_campaign_check)
    export = verbs.add_parser("export", help="results to CSV or Parquet (by suffix)")
    export.add_argument("dir", help="campaign directory")
    export.add_argument("output", help="results.csv or results.parquet")
    export.set_defaults(func=_campaign_export)


def build_parser() -> argparse.ArgumentParser:
    """argparse.ArgumentParser: The ``hoomd-mlx`` parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="hoomd-mlx", description="HOOMD-blue + TensorFlow for MD campaigns")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-v, -vv)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="LJ fluid with TensorFlowForce vs HOOMD's LJ, with a plot")
    demo.add_argument("--n", type=int, default=2000, help="number of particles (default 2000)")
    demo.add_argument("--steps", type=int, default=2000, help="timesteps per run (default 2000)")
    demo.add_argument("--output", default="demo-output", help="output directory (default demo-output)")
    demo.set_defaults(func=_demo)
    _add_campaign(sub)
    _add_cloud(sub)
    predict = sub.add_parser("predict", help="a campaign's surrogate at any design point, with uncertainty")
    predict.add_argument("dir", help="campaign directory")
    predict.add_argument("--params", nargs="+", required=True, help="NAME=VALUE for every design parameter")
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.set_defaults(func=_predict)
    train = sub.add_parser("train", help="a many-body ML potential from a GSD trajectory with forces logged")
    train.add_argument("trajectory", help="GSD file whose writer logged a force's forces (and energy)")
    train.add_argument("--cutoff", type=float, required=True, help="the potential's range [length]")
    train.add_argument("--output", default="potential.keras", help="the trained model (one Keras file)")
    train.add_argument("--types", nargs="*", help="type names (default: the trajectory's)")
    train.add_argument("--force", help="part of the logged name picking the reference force")
    train.add_argument("--epochs", type=int, default=200)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hoomd-mlx``."""
    args = build_parser().parse_args(argv)
    if args.verbose < 2:  # Dask's and TensorFlow's own INFO lines (also in workers) only with -vv
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("distributed", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if args.verbose < 2 else level)
    from hoomd_mlx.errors import HoomdMlxError

    try:
        return args.func(args)
    except HoomdMlxError as err:
        print(f"hoomd-mlx: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
