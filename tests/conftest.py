"""Shared fixtures and the HOOMD / GPU availability checks behind the markers."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _hoomd_status() -> tuple[bool, str]:
    try:
        hoomd = importlib.import_module("hoomd")
        importlib.import_module("hoomd.md")
    except ImportError as err:
        return False, (
            f"HOOMD-blue is not importable by this Python ({err}); install it from conda-forge "
            "(environment.yml) or build it from source to run the HOOMD tests"
        )
    return True, f"HOOMD-blue {hoomd.version.version}"


def _gpu_status() -> tuple[bool, str]:
    ok, reason = _hoomd_status()
    if not ok:
        return False, reason
    import hoomd
    import tensorflow as tf

    if not hoomd.version.gpu_enabled:
        return False, "this HOOMD-blue build has no GPU support"
    if not tf.config.list_physical_devices("GPU"):
        return False, "TensorFlow sees no GPU"
    try:
        importlib.import_module("cupy")
    except ImportError:
        return False, "CuPy is not installed (pip install hoomd-mlx[gpu])"
    return True, "GPU available"


def _mpi_status() -> tuple[bool, str]:
    ok, reason = _hoomd_status()
    if not ok:
        return False, reason
    import hoomd

    if not hoomd.version.mpi_enabled:
        return False, "this HOOMD-blue build has no MPI (hoomd.version.mpi_enabled is False)"
    if shutil.which("mpirun") is None:
        return False, "mpirun is not on PATH (install OpenMPI, e.g. apt-get install openmpi-bin)"
    try:
        importlib.import_module("mpi4py")
    except ImportError:
        return False, "mpi4py is not installed (pip install hoomd-mlx[mpi])"
    return True, "MPI available"


SLURM_SCRIPT = Path(__file__).parent / "slurm" / "cluster.sh"
_SLURM_STARTED_HERE = False


def _slurm_status() -> tuple[bool, str]:
    """Start the SLURM cluster of ``tests/slurm/cluster.sh`` unless it runs; clients get SLURM_CONF."""
    global _SLURM_STARTED_HERE
    ok, reason = _hoomd_status()
    if not ok:
        return False, reason
    directory = os.environ.get("HOOMD_MLX_SLURM_DIR", "/tmp/hoomd-mlx-slurm")
    conf = str(Path(directory) / "slurm.conf")
    was_up = shutil.which("sinfo") is not None and (
        subprocess.run(
            ["sinfo", "-h"], env={**os.environ, "SLURM_CONF": conf}, capture_output=True
        ).returncode
        == 0
        and Path(conf).exists()
    )
    try:
        started = subprocess.run(
            ["bash", str(SLURM_SCRIPT), "start"], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"the test SLURM cluster cannot be started ({err})"
    if started.returncode != 0:
        lines = (started.stderr or started.stdout).strip().splitlines()[-3:]
        return False, "the test SLURM cluster cannot be started: " + " / ".join(lines)
    os.environ["SLURM_CONF"] = conf
    _SLURM_STARTED_HERE = not was_up
    return True, "SLURM running"


MARKER_GROUPS = ("hoomd", "mpi", "slurm", "gpu", "browser", "slow")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Per marker group: how many tests ran and how many skipped (CI shows what was really exercised)."""
    counts = {group: {"ran": 0, "skipped": 0} for group in MARKER_GROUPS}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if outcome != "skipped" and report.when != "call":
                continue
            for group in MARKER_GROUPS:
                if group in report.keywords:
                    counts[group]["skipped" if outcome == "skipped" else "ran"] += 1
    terminalreporter.section("hoomd-mlx marker groups")
    terminalreporter.write_line(f"{HOOMD_REASON}")
    for group, c in counts.items():
        terminalreporter.write_line(f"{group:>8}: {c['ran']} ran, {c['skipped']} skipped")


def pytest_sessionfinish(session, exitstatus):
    if _SLURM_STARTED_HERE:  # stop only a cluster this session started
        subprocess.run(["bash", str(SLURM_SCRIPT), "stop"], capture_output=True, timeout=120, check=False)


HOOMD_OK, HOOMD_REASON = _hoomd_status()


def pytest_report_header(config):
    return f"hoomd-mlx: {HOOMD_REASON}"


def pytest_collection_modifyitems(config, items):
    gpu_ok, gpu_reason = (False, "") if not any("gpu" in i.keywords for i in items) else _gpu_status()
    mpi_ok, mpi_reason = (False, "") if not any("mpi" in i.keywords for i in items) else _mpi_status()
    slurm_ok, slurm_reason = (False, "") if not any("slurm" in i.keywords for i in items) else _slurm_status()
    for item in items:
        if "hoomd" in item.keywords and not HOOMD_OK:
            item.add_marker(pytest.mark.skip(reason=HOOMD_REASON))
        if "gpu" in item.keywords and not gpu_ok:
            item.add_marker(pytest.mark.skip(reason=gpu_reason))
        if "mpi" in item.keywords and not mpi_ok:
            item.add_marker(pytest.mark.skip(reason=mpi_reason))
        if "slurm" in item.keywords and not slurm_ok:
            item.add_marker(pytest.mark.skip(reason=slurm_reason))


@pytest.fixture
def rng():
    """A seeded numpy random generator."""
    return np.random.default_rng(20211)
