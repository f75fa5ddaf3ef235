"""Run a campaign on preemptible cloud VMs whose Dask workers run the hoomd-mlx Docker image.

    pip install "dask-cloudprovider[gcp]"   # or [aws]
    python3 containers/launch_cloud.py gcp campaigns/lj_fluid.toml --workers 8 --image REGISTRY/hoomd-mlx:cpu
    python3 containers/launch_cloud.py aws SPEC --workers 8 --image ...

GCP workers are preemptible (Spot) VMs; AWS workers are EC2 Spot instances. Lost VMs are
recorded as preemptions in the ledger; jobs resume from their checkpoints on other workers.
The campaign directory must be on storage every VM mounts (Filestore/EFS, or a bucket via
gcsfuse/s3fs) -- pass it with --dir.
"""

from __future__ import annotations

import argparse
import sys

from hoomd_mlx.campaign.backends.cluster import run_on_cluster


def make_cluster(provider: str, workers: int, image: str, machine: str | None):
    """A dask-cloudprovider cluster of preemptible/spot VMs running ``image``."""
    if provider == "gcp":
        from dask_cloudprovider.gcp import GCPCluster

        return GCPCluster(
            n_workers=workers,
            docker_image=image,
            machine_type=machine or "n1-standard-4",
            preemptible=True,
            worker_command="hoomd-mlx-entrypoint worker",
        )
    from dask_cloudprovider.aws import EC2Cluster

    return EC2Cluster(
        n_workers=workers,
        docker_image=image,
        instance_type=machine or "c5.xlarge",
        worker_options={"nthreads": 1},
        instance_market_options={"MarketType": "spot"},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=["gcp", "aws"])
    parser.add_argument("spec")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--image", required=True, help="the hoomd-mlx Docker image, in a registry the VMs reach"
    )
    parser.add_argument("--machine", help="machine type (default n1-standard-4 / c5.xlarge)")
    parser.add_argument("--dir", help="campaign directory on shared storage")
    args = parser.parse_args()
    cluster = make_cluster(args.provider, args.workers, args.image, args.machine)
    return run_on_cluster(cluster, args.spec, args.dir)


if __name__ == "__main__":
    sys.exit(main())
