"""The job execution contract: what a worker is given (`JobTask`), how a job runs (`execute`), where it ends.

Both sides import this module and never each other: the worker side
(`hoomd_mlx.campaign.job.execute`, which starts the job subprocess) and the job
subprocess (`hoomd_mlx.campaign.job.main`, and each rank of a multi-rank job).
A task travels to the subprocess as a JSON file written by `JobTask.write` and read
by `JobTask.read`; a finished job leaves `RESULT_FILE` in its directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hoomd_mlx.campaign.config.functions import resolve_function
from hoomd_mlx.campaign.job.checkpoint import CheckpointPolicy, JobContext
from hoomd_mlx.campaign.job.ranks import JobRanks

__all__ = ["RESULT_FILE", "TRAJECTORY", "JobTask", "execute"]

RESULT_FILE = "result.json"
"""str: A finished job's outcome in its directory (``{"result", "runtime", "resumed_from"}``)."""

TRAJECTORY = "trajectory.gsd"
"""str: The trajectory the spec's analyses read."""


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job (plain data: it pickles and round-trips JSON)."""

    job_id: str
    params: dict
    function: str
    directory: str
    settings: dict = field(default_factory=dict)
    analyses: tuple = ()
    checkpoint_steps: int = 0
    checkpoint_seconds: float = 60.0
    checkpoint_schedule: tuple = ()
    search_path: tuple = ()
    threads: int = 1
    isolation: str = "subprocess"
    ranks: int = 1
    launcher: tuple = ()

    def write(self, path: str | Path) -> Path:
        """Write this task as JSON to ``path`` (for the job subprocess); return the path."""
        path = Path(path)
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: str | Path) -> JobTask:
        """JobTask: The task `write` stored in ``path`` (JSON lists back to tuples)."""
        data = json.loads(Path(path).read_text())
        for f in fields(cls):
            if isinstance(f.default, tuple) and f.name in data:
                data[f.name] = tuple(data[f.name])
        data["analyses"] = tuple(dict(a) for a in data.get("analyses", ()))
        return cls(**data)


def execute(task: JobTask, report: Callable[[dict], None], ranks: JobRanks | None = None) -> dict:
    """Run one job in this process; return and store (`RESULT_FILE`) its outcome.

    With several ``ranks`` every rank calls this; rank 0 runs the analyses and writes the result.
    """
    ranks = ranks or JobRanks()
    directory = Path(task.directory)
    function = resolve_function(task.function, tuple(task.search_path))
    policy = CheckpointPolicy(task.checkpoint_steps, task.checkpoint_seconds, tuple(task.checkpoint_schedule))
    job = JobContext(task.params, directory, policy, report=report, ranks=ranks)
    job.settings = dict(task.settings)
    start = time.monotonic()
    result = dict(function(task.params, job) or {})
    trajectory = directory / TRAJECTORY
    if task.analyses and ranks.is_root and trajectory.exists():
        from hoomd_mlx.campaign.analysis import run_analyses  # freud only when needed

        arrays, summary = run_analyses(trajectory, tuple(task.analyses))
        job.save_array("analysis.npz", **arrays)
        result.update(summary)
    outcome = {"result": result, "runtime": time.monotonic() - start, "resumed_from": job.resumed_from}
    job.write_atomic(RESULT_FILE, json.dumps(outcome))
    return outcome
