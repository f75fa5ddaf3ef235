"""LJ campaigns for the kill tests, and finding and killing one test's campaign processes, only those."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import psutil

CAMPAIGNS = Path(__file__).parent.parent / "campaigns"

LJ_SPEC = """\
[campaign]
name = "{name}"
[design]
sampler = "grid"
[design.parameters]
density = {{ values = [0.6, 0.7] }}
kT = {{ values = [1.0, 1.5] }}
[job]
function = "lj_fluid:run"
[job.settings]
n_side = 6
steps = {steps}
frame_every = 1000
[resources]
workers = 2
retries = 0
"""


def write_lj_campaign(directory, name, steps, extra=""):
    """Four small LJ jobs of ``steps`` steps (``extra``: more TOML); return the spec's path."""
    directory = Path(directory)
    shutil.copy(CAMPAIGNS / "lj_fluid.py", directory / "lj_fluid.py")
    spec = directory / f"{name}.toml"
    spec.write_text(LJ_SPEC.format(name=name, steps=steps) + extra)
    return spec


def wait_for(condition, timeout, poll=0.2):
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def job_processes(directory):
    """The job subprocesses (``hoomd_mlx.campaign.job.main``) working inside ``directory``.

    Other campaigns on the machine (a user's, another test's) are left alone.
    """
    root = str(Path(directory).resolve())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "hoomd_mlx.campaign.job.main" in cmd and any(arg.startswith(root) for arg in cmd):
            found.append(proc)
    return found


def kill_campaign(driver, directory):
    """SIGKILL a driver's process group and any of its jobs still running in ``directory``."""
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for job in job_processes(directory):
        job.kill()


def steps_logs(directory):
    """{job id: the entries of its ``steps.jsonl``} for every job of a campaign directory."""
    logs = {}
    for job_dir in (directory / "jobs").iterdir():
        path = job_dir / "steps.jsonl"
        logs[job_dir.name] = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return logs
