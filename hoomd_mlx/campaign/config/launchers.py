"""How a job of several MPI ranks starts: named launchers and command templates (``resources.launcher``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hoomd_mlx.errors import ConfigurationError

__all__ = ["LAUNCHERS", "check_launcher", "launcher_command"]

LAUNCHERS = {
    "mpirun": ("mpirun", "-n", "{ranks}", "--bind-to", "none"),
    "srun": ("srun", "--ntasks", "{ranks}"),
}
"""dict: Named launchers and their command templates (``{ranks}``: the job's rank count).

``mpirun`` binds no ranks to cores: concurrent jobs on one machine each start their own
``mpirun``, and each would otherwise bind its rank 0 to core 0, its rank 1 to core 1, ...

``srun`` names no MPI plugin (``--mpi``): it takes the site's ``MpiDefault``, set for the MPI
the site builds against (``pmix`` or ``pmi2``); forcing one would break the sites of the other.
Where ``MpiDefault=none``, set ``SLURM_MPI_TYPE=pmix`` in the workers' environment or use
``["srun", "--mpi=pmix", "--ntasks", "{ranks}"]`` (``docs/campaigns.md``, "MPI jobs").
"""


def check_launcher(launcher: Any) -> tuple[str, ...]:
    """The command template of ``launcher`` (a name in `LAUNCHERS` or a list of strings).

    Raises:
        ConfigurationError: Naming the value and what is expected.
    """
    if isinstance(launcher, str):
        if launcher in LAUNCHERS:
            return LAUNCHERS[launcher]
    elif (
        isinstance(launcher, Sequence)
        and launcher
        and all(isinstance(x, str) and x for x in launcher)
        and any("{ranks}" in x for x in launcher)
    ):
        return tuple(launcher)
    raise ConfigurationError(
        f"resources.launcher = {launcher!r}; expected {' or '.join(repr(k) for k in LAUNCHERS)}, or a "
        "command as a list of strings with '{ranks}' where the rank count goes, e.g. "
        "['mpirun', '--oversubscribe', '-n', '{ranks}']"
    )


def launcher_command(launcher: Any, ranks: int) -> tuple[str, ...]:
    """tuple[str, ...]: The launcher's command for ``ranks`` ranks (the job's command follows it)."""
    return tuple(x.replace("{ranks}", str(int(ranks))) for x in check_launcher(launcher))
