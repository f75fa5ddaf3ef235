"""Running one job on a Dask worker: HOOMD in a subprocess, progress relayed to the driver.

`run_job` is what the driver submits. It starts ``python -m
hoomd_mlx.campaign.job.main`` (a long simulation must not starve the worker's
event loop, and a crash must not take the worker down), relays the subprocess's
progress lines as Dask events (topic `EVENT_TOPIC`) and returns an outcome:

* ``{"status": "done", ...}`` -- the job finished (or had finished before);
* ``{"status": "error", ...}`` -- the job's own code failed (uses the retry budget);
* it raises `JobInterruptedError` when the job was stopped from outside (SIGTERM,
  killed): an infrastructure failure, not the job's fault.

A job of several MPI ranks (``task.ranks > 1``) starts ``python -m
hoomd_mlx.campaign.job.launcher`` instead, which runs ``job.main`` on every rank under
``task.launcher`` (see that module for how the preemption notice reaches the ranks).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from hoomd_mlx.campaign.events import EVENT_TOPIC, Event
from hoomd_mlx.campaign.job.checkpoint import PREEMPTED_EXIT_CODE
from hoomd_mlx.campaign.job.contract import RESULT_FILE, JobTask, execute

__all__ = ["EVENT_TOPIC", "JobInterruptedError", "JobStopper", "run_job"]

logger = logging.getLogger(__name__)


class JobInterruptedError(RuntimeError):
    """The job was stopped from outside (preemption, a killed worker); it can resume."""


class JobStopper(WorkerPlugin):
    """Worker plugin: a closing worker first stops its running jobs at a checkpoint.

    A worker retiring at its ``--lifetime`` (before a batch job's walltime), or closed by
    the cluster, sends SIGTERM to its job subprocesses and waits up to ``grace`` seconds
    for them to checkpoint and exit; the scheduler has already handed their tasks to other
    workers, where they resume (the job directory's lock keeps the two apart).
    """

    name = "hoomd-mlx-job-stopper"

    def __init__(self, grace: float = 60.0) -> None:
        self.grace = grace
        self.running: dict[str, subprocess.Popen] = {}  # this worker's job subprocesses, by job id

    async def teardown(self, worker: Any) -> None:
        """Stop the running jobs (SIGTERM), wait for them."""
        running = [proc for proc in list(self.running.values()) if proc.poll() is None]
        for proc in running:
            logger.warning("worker closing: job subprocess %d stops at a checkpoint", proc.pid)
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(proc.poll() is None for proc in running) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)


def _worker() -> Any:
    """The Dask worker running this task, or None outside one."""
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _emit(message: dict) -> None:
    worker = _worker()
    if worker is not None:
        worker.log_event(EVENT_TOPIC, {**message, "worker": worker.address})


def _stopper() -> JobStopper | None:
    """This worker's `JobStopper` (it registers the job subprocesses to stop), if the driver installed it."""
    worker = _worker()
    plugin = getattr(worker, "plugins", {}).get(JobStopper.name) if worker is not None else None
    return plugin if isinstance(plugin, JobStopper) else None


def run_job(task: JobTask) -> dict:
    """Run ``task`` in a subprocess of this worker; return its outcome (see module docs)."""
    directory = Path(task.directory)
    directory.mkdir(parents=True, exist_ok=True)
    done = directory / RESULT_FILE
    if done.exists():  # finished before (a driver restart, a duplicate): never run twice
        return {"status": "done", **json.loads(done.read_text()), "repeated": True}
    if task.isolation == "inline":
        return _run_inline(task)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=directory, delete=False) as f:
        task_file = f.name
    task.write(task_file)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*task.search_path, env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = str(task.threads)
    _emit(Event.STARTED.message(job=task.job_id, slurm_job=os.environ.get("SLURM_JOB_ID")))
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    module = "hoomd_mlx.campaign.job.main" if task.ranks <= 1 else "hoomd_mlx.campaign.job.launcher"
    preempted = False
    with subprocess.Popen(
        [sys.executable, "-m", module, task_file],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=directory,
    ) as proc:
        registry = stopper.running if (stopper := _stopper()) is not None else {}
        registry[task.job_id] = proc
        for line in proc.stdout:
            kind = _relay(task.job_id, line)
            if kind is None:
                tail.append(line.rstrip())
            preempted = preempted or kind == Event.PREEMPTED
        code = proc.wait()
        registry.pop(task.job_id, None)
    os.unlink(task_file)
    if code == 0:
        outcome = json.loads(done.read_text())
        return {"status": "done", **outcome, "wall": time.monotonic() - start}
    # a launcher may report its own status for ranks that stopped on the notice (mpirun: 1)
    if code == PREEMPTED_EXIT_CODE or code < 0 or preempted:
        raise JobInterruptedError(
            f"job {task.job_id} stopped from outside (exit {code}); it resumes from its checkpoint"
        )
    return {"status": "error", "error": "\n".join(tail) or f"exit status {code}", "exit": code}


def _run_inline(task: JobTask) -> dict:
    """Run a light job in this worker thread (``job.isolation = "inline"``)."""
    _emit(Event.STARTED.message(job=task.job_id))
    try:
        outcome = execute(task, report=lambda message: _emit({**message, "job": task.job_id}))
    except Exception as err:
        return {"status": "error", "error": f"{type(err).__name__}: {err}"}
    return {"status": "done", **outcome}


def _relay(job_id: str, line: str) -> str | None:
    """Forward one output line to the driver; the event of a progress message, None for a log line."""
    line = line.strip()
    if not line:
        return ""
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        message = None
    if isinstance(message, dict) and "event" in message:
        _emit({**message, "job": job_id})
        return str(message["event"])
    _emit(Event.LOG.message(text=line, job=job_id))
    return None
