"""The top process of a worker's batch job, between the batch script and the Dask worker.

Run as ``python -m hoomd_mlx.campaign.backends.workerjob -m distributed.cli.dask_worker ...``.

SLURM ends a batch job's leftover processes once its top process exits, and at
``scancel`` or the walltime it sends SIGTERM to every process of the job -- the Dask
worker dies at once, the job subprocesses it ran (`hoomd_mlx.campaign.job.main`) start
writing their checkpoint. This process runs the worker command as its child, becomes
the *subreaper* of everything below it (orphaned job subprocesses are reparented here,
so SLURM's process tracking keeps them in the job), and after the worker ends waits
until every descendant has exited -- at most `STOP_GRACE` seconds -- before it exits
with the worker's status. SLURM's own SIGKILL (``KillWait`` after the SIGTERM) still
bounds the whole.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

STOP_GRACE = 300.0
"""float: Seconds this process waits for the job subprocesses after the worker ended."""

_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_descendants(deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no children left
            return
        if pid == 0:
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    """Run ``python *argv`` (the Dask worker) and outlive its job subprocesses; its exit status."""
    _become_subreaper()
    proc = subprocess.Popen([sys.executable, *argv])

    # SLURM and PBS signal every process of the job: the worker got it too (a second SIGTERM would
    # make it quit before closing); elsewhere this process passes it on
    batch = "SLURM_JOB_ID" in os.environ or "PBS_JOBID" in os.environ

    def forward(signum: int, frame: object) -> None:
        if not batch and proc.poll() is None:
            proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = proc.wait()
    _reap_descendants(time.monotonic() + STOP_GRACE)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
