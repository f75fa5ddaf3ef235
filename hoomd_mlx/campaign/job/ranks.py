"""The MPI ranks of one job: which rank does the file I/O, and how the ranks agree.

A job with ``[resources] ranks = R > 1`` runs as R processes under a launcher
(`hoomd_mlx.campaign.job.launcher`), HOOMD-blue decomposing the box between them. Every
rank runs the same job function; `JobContext` uses a `JobRanks` so that only rank 0
touches the job directory and every decision that ends or shapes a run (stop now,
checkpoint now, how many steps next) is the same on all ranks.

With one rank nothing here imports MPI, and every method is the identity.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.ranks import Ranks

__all__ = ["LAUNCHER_ENV", "NOTICE_SIGNAL", "JobRanks", "launcher_alive"]

NOTICE_SIGNAL = signal.SIGUSR1
"""signal.Signals: The preemption notice the launcher passes to the ranks of a multi-rank job.

OpenMPI's ``mpirun`` answers SIGTERM by killing its ranks about two seconds later
(``odls_base_sigkill_timeout``, 1 s by default), too soon for a checkpoint; it forwards
SIGUSR1 and leaves the ranks running (as ``srun`` does, by its manual).
"""

LAUNCHER_ENV = "HOOMD_MLX_LAUNCHER"
"""str: Environment variable naming the launcher process of a job's ranks, as ``host:pid``."""


class JobRanks(Ranks):
    """The ranks running one job: `hoomd_mlx.ranks.Ranks` with the job's own checks.

    The launcher started the world the spec asked for (`world`); HOOMD runs on it (`check`).
    """

    @classmethod
    def world(cls, expected: int = 1) -> JobRanks:
        """The ranks of this MPI world, checked to be ``expected`` (1: no MPI at all).

        Raises:
            ConfigurationError: mpi4py is missing, or the launcher started a different
                number of ranks (e.g. independent single-rank processes).
        """
        if expected <= 1:
            return cls()
        try:
            from mpi4py import MPI
        except ImportError as err:
            raise ConfigurationError(
                f"resources.ranks = {expected} needs mpi4py in the job's Python ({err}); "
                "pip install mpi4py (built against the MPI library HOOMD-blue uses)"
            ) from err
        ranks = cls(MPI.COMM_WORLD)
        if ranks.size != expected:
            raise ConfigurationError(
                f"resources.ranks = {expected}, but this process is one of {ranks.size} MPI ranks; "
                "resources.launcher must start the job as one MPI world of that many ranks "
                "(for srun, an MPI plugin may be needed: ['srun', '--mpi=pmix', '--ntasks', '{ranks}'])"
            )
        return ranks

    def check(self, sim: Any) -> None:
        """Check that HOOMD's simulation ``sim`` runs on exactly these ranks.

        Raises:
            ConfigurationError: It runs on a different number (partitions, a job started
                under a launcher without ``resources.ranks``).
        """
        hoomd_ranks = int(sim.device.communicator.num_ranks)
        if hoomd_ranks != self.size:
            raise ConfigurationError(
                f"the job's HOOMD simulation runs on {hoomd_ranks} MPI ranks but the job was started for "
                f"{self.size}; set resources.ranks = {hoomd_ranks} (and give the device no partitions)"
            )


def launcher_alive(value: str | None) -> bool:
    """bool: Whether the launcher named by ``value`` (``host:pid``, `LAUNCHER_ENV`) still runs.

    True when it cannot be checked from here (no value, another host).
    """
    if not value:
        return True
    host, _, pid_text = value.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True
