"""The job subprocess: ``python -m hoomd_mlx.campaign.jobmain TASK.json``.

Locks the job directory (so an attempt orphaned by a lost worker and its
replacement never run at once), exits early if the job is already done, calls
the job function with a `JobContext`, runs the spec's analyses on
``trajectory.gsd`` and writes ``result.json`` atomically. Progress goes to
stdout as JSON lines. If the worker that started it dies, a watchdog sends it
SIGTERM, so it checkpoints and exits like a preempted job.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hoomd_mlx.campaign.checkpoint import CheckpointPolicy, JobContext
from hoomd_mlx.campaign.execute import RESULT_FILE, resolve_function

TRAJECTORY = "trajectory.gsd"


def _report(message: dict) -> None:
    """Progress to the worker (stdout); if the worker is gone, keep going silently."""
    try:
        print(json.dumps(message), flush=True)
    except (BrokenPipeError, ValueError):
        pass


def _watch_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                logging.getLogger(__name__).warning(
                    "worker process %d is gone; stopping at a checkpoint", parent
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, daemon=True).start()


def execute(task: dict, report: Callable[[dict], None] = _report) -> dict:
    """Run one job in this process; return and store (``result.json``) its outcome."""
    directory = Path(task["directory"])
    function = resolve_function(task["function"], tuple(task["search_path"]))
    job = JobContext(
        task["params"],
        directory,
        CheckpointPolicy(
            task["checkpoint_steps"], task["checkpoint_seconds"], tuple(task.get("checkpoint_schedule", ()))
        ),
        report=report,
    )
    job.settings = dict(task["settings"])
    start = time.monotonic()
    result = dict(function(task["params"], job) or {})
    trajectory = directory / TRAJECTORY
    if task["analyses"] and trajectory.exists():
        from hoomd_mlx.campaign.analysis import run_analyses  # freud only when needed

        arrays, summary = run_analyses(trajectory, tuple(task["analyses"]))
        job.save_array("analysis.npz", **arrays)
        result.update(summary)
    outcome = {"result": result, "runtime": time.monotonic() - start, "resumed_from": job.resumed_from}
    job.write_atomic(RESULT_FILE, json.dumps(outcome))
    return outcome


def main(task_file: str) -> int:
    """Run the job described in ``task_file``; the process exit status tells how it ended."""
    task = json.loads(Path(task_file).read_text())
    directory = Path(task["directory"])
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(directory / "job.log")],
    )
    logging.getLogger("gsd").setLevel(logging.WARNING)
    _watch_parent()
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / RESULT_FILE).exists():
            _report({"event": "already-done"})
            return 0
        execute(task)
        _report({"event": "finished"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
