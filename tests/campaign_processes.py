"""Finding and killing the processes of one test's campaign, and only those."""

import os
import signal
import time
from pathlib import Path

import psutil


def wait_for(condition, timeout, poll=0.2):
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def job_processes(directory):
    """The job subprocesses (``hoomd_mlx.campaign.jobmain``) working inside ``directory``.

    Other campaigns on the machine (a user's, another test's) are left alone.
    """
    root = str(Path(directory).resolve())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "hoomd_mlx.campaign.jobmain" in cmd and any(arg.startswith(root) for arg in cmd):
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
