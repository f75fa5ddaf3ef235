"""The job subprocess: ``python -m hoomd_mlx.campaign.job.main TASK.json``.

Locks the job directory (so an attempt orphaned by a lost worker and its
replacement never run at once), exits early if the job is already done, calls
the job function with a `JobContext`, runs the spec's analyses on
``trajectory.gsd`` and writes ``result.json`` atomically. Progress goes to
stdout as JSON lines. If the worker that started it dies, a watchdog sends it
SIGTERM, so it checkpoints and exits like a preempted job.

SIGTERM is handled for the whole life of the process, not only while
`JobContext.run` simulates (where it means "checkpoint after this chunk"):
anywhere else it unwinds the job with `Preempted`, so files are closed and
trajectories flushed, and the exit status says "stopped from outside". HOOMD-blue
installed such a handler itself before 6.1; from 6.1 it installs none.

A job of several MPI ranks runs this module on every rank, under the launcher
(`hoomd_mlx.campaign.job.launcher`): rank 0 holds the lock, reports and writes files;
the watchdog of each rank also stops the job when the launcher's parent is gone.
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
from pathlib import Path

from hoomd_mlx.campaign.events import Event
from hoomd_mlx.campaign.job.checkpoint import PREEMPTED_EXIT_CODE, stop_outside_run
from hoomd_mlx.campaign.job.contract import RESULT_FILE, JobTask, execute
from hoomd_mlx.campaign.job.ranks import LAUNCHER_ENV, NOTICE_SIGNAL, JobRanks, launcher_alive

ORPHAN_GRACE = 300.0
"""float: Seconds a rank of a multi-rank job whose launcher is gone may take to stop by itself.

After that it exits at once (its peers may be gone), releasing the job directory's lock.
"""


def _report(message: dict) -> None:
    """Progress to the worker (stdout); if the worker is gone, keep going silently."""
    try:
        print(json.dumps(message), flush=True)
    except (OSError, ValueError):  # a broken pipe; EIO once mpirun is gone
        pass


def _watch_parent(multi_rank: bool = False) -> None:
    parent = os.getppid()
    launcher = os.environ.get(LAUNCHER_ENV) if multi_rank else None

    def watch() -> None:
        while os.getppid() == parent and launcher_alive(launcher):
            time.sleep(0.5)
        if not multi_rank:
            gone = f"worker process {parent}"
        elif os.getppid() != parent:
            gone = f"launcher command (process {parent})"
        else:
            gone = f"launcher process {launcher} (the worker's child)"
        logging.getLogger(__name__).warning("%s is gone; stopping at a checkpoint", gone)
        os.kill(os.getpid(), signal.SIGTERM)
        if multi_rank:  # a stop needs every rank: if the others are gone too, do not wait forever
            time.sleep(ORPHAN_GRACE)
            os._exit(PREEMPTED_EXIT_CODE)

    threading.Thread(target=watch, daemon=True).start()


def main(task_file: str) -> int:
    """Run the job described in ``task_file``; the process exit status tells how it ended."""
    task = JobTask.read(task_file)
    directory = Path(task.directory)
    ranks = JobRanks.world(task.ranks)
    rank = f" rank {ranks.rank}" if ranks.size > 1 else ""
    logging.basicConfig(
        level=logging.INFO if ranks.is_root else logging.WARNING,
        format=f"%(asctime)s{rank} %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(directory / "job.log")],
    )
    logging.getLogger("gsd").setLevel(logging.WARNING)
    for notice in (signal.SIGTERM,) if ranks.size == 1 else (signal.SIGTERM, NOTICE_SIGNAL):
        signal.signal(notice, stop_outside_run)
    _watch_parent(ranks.size > 1)
    with (directory / ".lock").open("w") as lock:
        if ranks.is_root:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if ranks.from_root(ranks.is_root and (directory / RESULT_FILE).exists()):
            if ranks.is_root:
                _report(Event.ALREADY_DONE.message())
            return 0
        execute(task, _report if ranks.is_root else lambda message: None, ranks)
        if ranks.is_root:
            _report(Event.FINISHED.message())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
