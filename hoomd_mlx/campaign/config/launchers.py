"""How a job of several MPI ranks starts: named launchers and command templates (``resources.launcher``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hoomd_mlx.settings import Converter

__all__ = ["LAUNCHERS", "Launcher", "check_launcher", "launcher_command"]

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


class Launcher(Converter):
    """``resources.launcher``: a name in `LAUNCHERS`, or a command template with ``{ranks}``."""

    expects = (
        f"{' or '.join(repr(k) for k in LAUNCHERS)}, or a command as a list of strings with '{{ranks}}' "
        "where the rank count goes, e.g. ['mpirun', '--oversubscribe', '-n', '{ranks}']"
    )

    def convert(self, value: Any) -> str | tuple[str, ...]:
        """The name, or the template as a tuple (see `Converter.convert`)."""
        if isinstance(value, str) and value in LAUNCHERS:
            return value
        if (
            not isinstance(value, str)
            and isinstance(value, Sequence)
            and value
            and all(isinstance(x, str) and x for x in value)
            and any("{ranks}" in x for x in value)
        ):
            return tuple(value)
        raise ValueError(value)

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return [3, "mpiexec-nowhere", ["mpirun", "-n", "4"]]


def check_launcher(launcher: Any) -> tuple[str, ...]:
    """The command template of ``launcher`` (a name in `LAUNCHERS` or a list of strings).

    Raises:
        ConfigurationError: Naming the value and what is expected.
    """
    value = Launcher()("resources.launcher", launcher)
    return LAUNCHERS[value] if isinstance(value, str) else value


def launcher_command(launcher: Any, ranks: int) -> tuple[str, ...]:
    """tuple[str, ...]: The launcher's command for ``ranks`` ranks (the job's command follows it)."""
    return tuple(x.replace("{ranks}", str(int(ranks))) for x in check_launcher(launcher))
