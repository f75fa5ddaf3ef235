"""Running one job on a Dask worker: HOOMD in a subprocess, progress relayed to the driver.

`run_job` is what the driver submits. It starts ``python -m
hoomd_mlx.campaign.jobmain`` (a long simulation must not starve the worker's
event loop, and a crash must not take the worker down), relays the subprocess's
progress lines as Dask events (topic `EVENT_TOPIC`) and returns an outcome:

* ``{"status": "done", ...}`` -- the job finished (or had finished before);
* ``{"status": "error", ...}`` -- the job's own code failed (uses the retry budget);
* it raises `JobInterruptedError` when the job was stopped from outside (SIGTERM,
  killed): an infrastructure failure, not the job's fault.

A job of several MPI ranks (``task.ranks > 1``) starts ``python -m
hoomd_mlx.campaign.launcher`` instead, which runs ``jobmain`` on every rank under
``task.launcher`` (see that module for how the preemption notice reaches the ranks).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoomd_mlx.campaign.checkpoint import PREEMPTED_EXIT_CODE
from hoomd_mlx.errors import ConfigurationError

__all__ = ["EVENT_TOPIC", "RESULT_FILE", "JobInterruptedError", "JobTask", "resolve_function", "run_job"]

logger = logging.getLogger(__name__)

EVENT_TOPIC = "hoomd-mlx"
RESULT_FILE = "result.json"


class JobInterruptedError(RuntimeError):
    """The job was stopped from outside (preemption, a killed worker); it can resume."""


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job (plain data: it pickles)."""

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


def _emit(message: dict) -> None:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(EVENT_TOPIC, {**message, "worker": worker.address})


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
        json.dump(asdict(task), f)
        task_file = f.name
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*task.search_path, env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = str(task.threads)
    _emit({"event": "started", "job": task.job_id})
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    module = "hoomd_mlx.campaign.jobmain" if task.ranks <= 1 else "hoomd_mlx.campaign.launcher"
    preempted = False
    with subprocess.Popen(
        [sys.executable, "-m", module, task_file],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=directory,
    ) as proc:
        for line in proc.stdout:
            kind = _relay(task.job_id, line)
            if kind is None:
                tail.append(line.rstrip())
            preempted = preempted or kind == "preempted"
        code = proc.wait()
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
    from hoomd_mlx.campaign.jobmain import execute

    _emit({"event": "started", "job": task.job_id})
    try:
        outcome = execute(asdict(task), report=lambda message: _emit({**message, "job": task.job_id}))
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
    _emit({"event": "log", "text": line, "job": job_id})
    return None


def resolve_function(target: str, search_path: tuple[str, ...] = ()) -> Any:
    """Import ``module:function`` (``search_path`` first); errors name what is missing."""
    module_name, _, name = target.partition(":")
    for entry in reversed(search_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigurationError(
            f"job.function = {target!r}: module {module_name!r} cannot be imported ({err}); "
            f"put it next to the spec or on PYTHONPATH"
        ) from err
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigurationError(f"job.function = {target!r}: {module_name} has no function {name!r}")
    return function
