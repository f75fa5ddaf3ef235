"""Start Dask workers inside the Apptainer image on SLURM or PBS, then run a campaign on them.

    python3 containers/launch_hpc.py slurm campaigns/lj_fluid.toml --jobs 8 [--dir runs/lj]
    python3 containers/launch_hpc.py pbs SPEC --print-job-script       # inspect, submit nothing

The cluster settings come from ``containers/jobqueue.yaml`` (or your ~/.config/dask). The
driver runs here (a login or a long-walltime node) and is ``hoomd-mlx campaign run --scheduler``
against the new cluster; stop it any time and run this again: the campaign resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dask
import yaml

from hoomd_mlx.campaign.backends.cluster import run_on_cluster

HERE = Path(__file__).parent


def make_cluster(kind: str, config: Path = HERE / "jobqueue.yaml"):
    """A dask-jobqueue SLURMCluster or PBSCluster configured from ``config`` (no jobs submitted yet)."""
    import dask_jobqueue

    dask.config.update(dask.config.config, yaml.safe_load(config.read_text()), priority="new")
    factory = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    return factory()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["slurm", "pbs"])
    parser.add_argument("spec", help="campaign spec (TOML)")
    parser.add_argument("--jobs", type=int, default=4, help="batch jobs (one worker each)")
    parser.add_argument("--dir", help="campaign directory on the shared filesystem")
    parser.add_argument("--config", type=Path, default=HERE / "jobqueue.yaml")
    parser.add_argument("--print-job-script", action="store_true")
    args = parser.parse_args()
    cluster = make_cluster(args.kind, args.config)
    if args.print_job_script:
        print(cluster.job_script())
        cluster.close()
        return 0
    cluster.scale(jobs=args.jobs)
    return run_on_cluster(cluster, args.spec, args.dir)


if __name__ == "__main__":
    sys.exit(main())
