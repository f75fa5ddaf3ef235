"""The campaign driver on a real Dask LocalCluster with light (inline) jobs: no HOOMD needed."""

from pathlib import Path

import pytest

from hoomd_mlx.campaign.backends.cluster import connect
from hoomd_mlx.campaign.config.spec import spec_from_mapping
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.campaign.report.build import write_report
from hoomd_mlx.errors import ConfigurationError

HERE = Path(__file__).parent


def _spec(function, n=8, completion=1.0, retries=1):
    raw = {
        "campaign": {"name": "inline", "completion": completion},
        "design": {"sampler": "grid", "parameters": {"x": {"values": list(range(n))}}},
        "job": {"function": f"jobs_for_campaign_tests:{function}", "isolation": "inline"},
        "resources": {"workers": 2, "retries": retries},
    }
    return spec_from_mapping(raw, source=HERE / "inline.toml")


def test_campaign_runs_reports_and_exports(tmp_path):
    summary = run_campaign(_spec("square"), tmp_path, progress=False)
    assert summary["counts"]["done"] == 8
    with Ledger.in_directory(tmp_path) as ledger:
        assert sorted(j.result["y"] for j in ledger.jobs()) == [x**2 for x in range(8)]
        csv_path = ledger.export(tmp_path / "results.csv")
        parquet_path = ledger.export(tmp_path / "results.parquet")
    import pandas as pd

    table = pd.read_parquet(parquet_path)
    assert sorted(table["result.y"]) == [x**2 for x in range(8)]
    assert csv_path.read_text().startswith("id,state")
    report = write_report(tmp_path)
    assert (report.parent / "result_y.png").stat().st_size > 1000
    assert (report.parent / "timings.png").exists()
    # a second run of the same campaign repeats nothing
    again = run_campaign(_spec("square"), tmp_path, progress=False)
    assert again["counts"]["done"] == 8
    with Ledger.in_directory(tmp_path) as ledger:
        assert all(j.attempts == 1 for j in ledger.jobs())


def test_job_failures_use_the_retry_budget(tmp_path):
    summary = run_campaign(_spec("flaky", retries=2), tmp_path, progress=False)
    assert summary["counts"] == {"pending": 0, "running": 0, "done": 7, "failed": 1, "predicted": 0}
    with Ledger.in_directory(tmp_path) as ledger:
        failed = ledger.jobs("failed")[0]
        assert failed.params == {"x": 3}
        assert (failed.attempts, failed.failures, failed.preemptions) == (3, 3, 0)
        assert "x = 3 is not allowed" in failed.error


def test_completion_fraction_stops_early(tmp_path):
    summary = run_campaign(_spec("square", n=40, completion=0.25), tmp_path, progress=False)
    counts = summary["counts"]
    assert counts["done"] >= 10
    assert counts["running"] == 0
    assert counts["done"] + counts["pending"] == 40


def test_unreachable_scheduler_is_named():
    with pytest.raises(ConfigurationError, match=r"tcp://127\.0\.0\.1:9"):
        connect(workers=1, scheduler="tcp://127.0.0.1:9", timeout=2)


def test_campaign_on_an_existing_scheduler(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster:
        summary = run_campaign(
            _spec("square", n=6), tmp_path, scheduler=cluster.scheduler_address, progress=False
        )
        assert summary["counts"]["done"] == 6
        assert len(cluster.scheduler.workers) == 1  # the campaign used this cluster, and left it running


def test_launch_recipe_drives_the_cli_against_its_cluster(tmp_path):
    import shutil

    from distributed import LocalCluster

    from hoomd_mlx.campaign.backends.cluster import run_on_cluster

    shutil.copy(HERE / "jobs_for_campaign_tests.py", tmp_path / "jobs_for_campaign_tests.py")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        "[design]\nsampler = 'list'\npoints = [{ x = 1 }, { x = 2 }, { x = 3 }]\n"
        "[job]\nfunction = 'jobs_for_campaign_tests:square'\nisolation = 'inline'\n"
    )
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    assert run_on_cluster(cluster, spec, tmp_path / "run") == 0
    assert cluster.status.name == "closed"
    with Ledger.in_directory(tmp_path / "run") as ledger:
        assert sorted(j.result["y"] for j in ledger.jobs("done")) == [1, 4, 9]
