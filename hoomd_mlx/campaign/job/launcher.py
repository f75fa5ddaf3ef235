"""Multi-rank jobs: the launcher command, and the process that stands between it and the worker.

``[resources] ranks = R > 1`` starts a job as ``python -m hoomd_mlx.campaign.job.launcher
TASK.json``. That process takes the place of the single-rank job subprocess (it is the
worker's child, in the worker's process group) and runs the launcher, e.g.::

    mpirun -n 2 --bind-to none python -m hoomd_mlx.campaign.job.main TASK.json

in a session of its own, so a SIGTERM meant for the worker's processes never reaches
``mpirun`` itself (which would kill the ranks about two seconds later, before they
could checkpoint). It turns SIGTERM -- and its parent, the worker, dying -- into
`NOTICE_SIGNAL` (SIGUSR1) for the launcher, which forwards that to every rank; the
ranks agree to stop, write one checkpoint and exit with the preempted status, which
this process passes on. If this process is killed, the ranks see the launcher's
parent gone (`LAUNCHER_ENV`) and stop the same way.

A SIGTERM that reaches ``mpirun`` directly all the same (a machine shutting down
signals every process) ends the ranks within about two seconds: the job resumes
from its last periodic checkpoint, as after a hard kill. OpenMPI's
``OMPI_MCA_odls_base_sigkill_timeout=N`` in the workers' environment gives the ranks
N seconds instead, at a price: ``mpirun`` then waits about 2N seconds after every
abnormal end (measurements in ``docs/campaigns.md``, "MPI jobs").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any

from hoomd_mlx.campaign.job.contract import JobTask
from hoomd_mlx.campaign.job.ranks import LAUNCHER_ENV, NOTICE_SIGNAL

__all__ = ["launch_environment"]

# What OpenMPI's runtime puts in the environment of a process it runs -- also of a "singleton",
# a process that merely imported an MPI build of HOOMD-blue. Inherited by a launcher, they make it
# fail without a word (``OMPI_MCA_ess=singleton``: mpirun exits 1): a worker or driver that imported
# HOOMD passes them on to its children.
_MPI_RUNTIME = ("OMPI_MCA_ess", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")
_MPI_RUNTIME_PREFIXES = (
    "PMIX_",
    "OMPI_COMM_WORLD_",
    "OMPI_APP_CTX_",
    "OMPI_MCA_ess",
    "OMPI_MCA_orte_",
    "OMPI_MCA_pmix",
    "OMPI_MCA_initial_wdir",
    "OMPI_MCA_shmem_RUNTIME_QUERY_hint",
    "OMPI_COMMAND",
    "OMPI_FILE_LOCATION",
    "OMPI_FIRST_RANKS",
    "OMPI_NUM_APP_CTX",
    "OMPI_UNIVERSE_SIZE",
    "ORTE_SCHIZO_DETECTION",
)


def launch_environment(environ: dict[str, str]) -> dict[str, str]:
    """dict: ``environ`` for the launcher: an MPI runtime it inherited removed, the launcher named.

    The user's settings (``OMPI_MCA_*`` parameters, ``OMPI_ALLOW_RUN_AS_ROOT``) stay.
    """
    env = dict(environ)
    if any(key in env for key in _MPI_RUNTIME):
        env = {k: v for k, v in env.items() if not k.startswith(_MPI_RUNTIME_PREFIXES)}
    env[LAUNCHER_ENV] = f"{socket.gethostname()}:{os.getpid()}"
    return env


def main(task_file: str) -> int:
    """Run the job in ``task_file`` on its ranks; the exit status is the launcher's."""
    command = list(JobTask.read(task_file).launcher)
    if shutil.which(command[0]) is None:
        print(
            f"resources.launcher: {command[0]!r} is not on PATH on {socket.gethostname()}; install it "
            "(OpenMPI: mpirun) on every worker host or set resources.launcher to one that is there",
            flush=True,
        )
        return 2
    command += [sys.executable, "-m", "hoomd_mlx.campaign.job.main", task_file]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        env=launch_environment(dict(os.environ)),
        start_new_session=True,
    )

    def notify(signum: int, frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(NOTICE_SIGNAL)

    for signum in (signal.SIGTERM, NOTICE_SIGNAL):
        signal.signal(signum, notify)
    parent, told = os.getppid(), False
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if not told and os.getppid() != parent:  # the worker is gone
                notify(NOTICE_SIGNAL, None)
                told = True
    if code < 0:  # killed by a signal: end the same way, so the worker sees it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
