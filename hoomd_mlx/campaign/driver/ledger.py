"""The campaign ledger: one SQLite file, the single source of truth of a campaign.

Only the driver writes it (workers report to the driver), so SQLite needs no
cross-host locking. Every change is one transaction; WAL journaling keeps it
consistent if the driver is killed at any moment.

Job states: ``pending`` -> ``running`` -> ``done`` | ``failed``; ``predicted``
for design points answered by a surrogate instead of a simulation.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoomd_mlx.campaign.events import Event

__all__ = ["STATES", "JobRecord", "Ledger"]

STATES = ("pending", "running", "done", "failed", "predicted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    params TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    preemptions INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    submitted REAL,
    started REAL,
    finished REAL,
    runtime REAL,
    checkpoint_step INTEGER,
    resumed_from INTEGER,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS events (
    time REAL NOT NULL,
    job TEXT,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS workers (
    slurm_job TEXT PRIMARY KEY,
    name TEXT,
    address TEXT,
    state TEXT,
    reason TEXT,
    cause TEXT,
    first_seen REAL,
    last_seen REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS surrogate_versions (version INTEGER PRIMARY KEY, time REAL, record TEXT);
"""


@dataclass(frozen=True)
class JobRecord:
    """One row of the ledger."""

    id: str
    params: dict
    state: str
    attempts: int
    failures: int
    preemptions: int
    worker: str | None
    submitted: float | None
    started: float | None
    finished: float | None
    runtime: float | None
    checkpoint_step: int | None
    resumed_from: int | None
    result: dict | None
    error: str | None


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return JobRecord(**data)


class Ledger:
    """The SQLite ledger of a campaign directory.

    Args:
        path: The database file (``<campaign dir>/ledger.sqlite``).
    """

    FILENAME = "ledger.sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._in_transaction = False
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_directory(cls, directory: str | Path) -> Ledger:
        """Ledger: The ledger of a campaign directory (created if absent)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / cls.FILENAME)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (the driver) ----------------------------------------------------------

    def _write(self, sql: str, args: Iterable[Any] = ()) -> None:
        if self._in_transaction:
            self._db.execute(sql, tuple(args))
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(sql, tuple(args))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Ledger]:
        """Group several changes into one transaction (all or nothing)."""
        if self._in_transaction:
            yield self
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield self
            finally:
                self._in_transaction = False

    def event(self, kind: Event, job: str | None = None, detail: Any = None) -> None:
        """Append an event (preemption, retry, a damaged file, a VM's fate, ...) to the event log."""
        kind = Event(kind)  # refuses a kind that is not an Event
        self._write(
            "INSERT INTO events (time, job, kind, detail) VALUES (?, ?, ?, ?)",
            (time.time(), job, kind.value, json.dumps(detail) if detail is not None else None),
        )

    def add_jobs(self, jobs: Mapping[str, Mapping[str, Any]]) -> int:
        """Insert design points not yet in the ledger; return how many were new."""
        before = self.count()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO jobs (id, params) VALUES (?, ?)",
                [(jid, json.dumps(dict(p), sort_keys=True)) for jid, p in jobs.items()],
            )
        return self.count() - before

    def mark_running(self, job: str, worker: str | None = None) -> None:
        """A job was handed to the cluster."""
        now = time.time()
        self._write(
            "UPDATE jobs SET state='running', attempts=attempts+1, worker=?,"
            " submitted=COALESCE(submitted, ?), started=? WHERE id=?",
            (worker, now, now, job),
        )

    def mark_progress(
        self, job: str, *, worker: str | None = None, checkpoint_step: int | None = None
    ) -> None:
        """Record where a running job is (its worker, its last checkpoint)."""
        self._write(
            "UPDATE jobs SET worker=COALESCE(?, worker),"
            " checkpoint_step=COALESCE(?, checkpoint_step) WHERE id=?",
            (worker, checkpoint_step, job),
        )

    def mark_done(
        self, job: str, result: Mapping[str, Any], runtime: float, resumed_from: int | None = None
    ) -> None:
        """A job finished; store its result summary."""
        self._write(
            "UPDATE jobs SET state='done', finished=?, runtime=?, result=?, error=NULL,"
            " resumed_from=COALESCE(?, resumed_from) WHERE id=?",
            (time.time(), runtime, json.dumps(dict(result)), resumed_from, job),
        )

    def record_preemption(self, job: str, reason: str) -> None:
        """Count an infrastructure failure (worker lost) of a job; it resumes from its checkpoint."""
        self._write("UPDATE jobs SET preemptions=preemptions+1 WHERE id=?", (job,))
        self.event(Event.PREEMPTED, job, reason)

    def mark_preempted(self, job: str, reason: str) -> None:
        """The job's worker was lost: back to pending, counted apart from job failures."""
        self._write("UPDATE jobs SET state='pending' WHERE id=?", (job,))
        self.record_preemption(job, reason)

    def reset_job(self, job: str) -> None:
        """Back to pending (a submission cancelled because the campaign stopped early)."""
        self._write("UPDATE jobs SET state='pending' WHERE id=?", (job,))

    def mark_failed(self, job: str, error: str, *, final: bool) -> None:
        """The job's own code failed (counted in ``failures``); ``final`` when its retries are spent."""
        self._write(
            "UPDATE jobs SET state=?, error=?, failures=failures+1 WHERE id=?",
            ("failed" if final else "pending", error, job),
        )
        self.event(Event.FAILED if final else Event.RETRY, job, error)

    def mark_predicted(self, job: str, result: Mapping[str, Any]) -> None:
        """A design point answered by a surrogate instead of a simulation."""
        self._write("UPDATE jobs SET state='predicted', result=? WHERE id=?", (json.dumps(dict(result)), job))

    def reset_running(self) -> int:
        """Put jobs a dead driver left ``running`` back to ``pending``; return how many."""
        n = self.count("running")
        self._write("UPDATE jobs SET state='pending' WHERE state='running'")
        return n

    def record_worker(self, slurm_job: str, **fields: Any) -> None:
        """Record what is known of a worker's batch job (name, address, state, reason, cause)."""
        known = {"name", "address", "state", "reason", "cause"}
        values = {k: v for k, v in fields.items() if k in known and v is not None}
        now = time.time()
        self._write(
            "INSERT OR IGNORE INTO workers (slurm_job, first_seen, last_seen) VALUES (?, ?, ?)",
            (str(slurm_job), now, now),
        )
        if values:
            assignments = ", ".join(f"{k}=?" for k in values)
            self._write(
                f"UPDATE workers SET {assignments}, last_seen=? WHERE slurm_job=?",
                (*values.values(), now, str(slurm_job)),
            )

    def set_meta(self, key: str, value: Any) -> None:
        """Store a campaign-level value (the spec, the driver's start time, ...)."""
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def add_surrogate_version(self, record: Mapping[str, Any]) -> None:
        """Record a retrained surrogate (version, samples, validation accuracy, path, ...)."""
        self._write(
            "INSERT OR REPLACE INTO surrogate_versions (version, time, record) VALUES (?, ?, ?)",
            (int(record["version"]), time.time(), json.dumps(dict(record))),
        )

    # -- reading (driver, status, report) ----------------------------------------------

    def surrogate_versions(self) -> list[dict]:
        """list[dict]: Every recorded surrogate version, oldest first."""
        rows = self._db.execute("SELECT time, record FROM surrogate_versions ORDER BY version")
        return [{**json.loads(record), "time": t} for t, record in rows]

    def meta(self, key: str, default: Any = None) -> Any:
        """A campaign-level value stored with `set_meta`."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def count(self, state: str | None = None) -> int:
        """int: Jobs in ``state`` (all jobs when None)."""
        if state is None:
            return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state=?", (state,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """dict[str, int]: Number of jobs in each state (every state listed)."""
        counts = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = n
        return counts

    def jobs(self, state: str | None = None, limit: int | None = None) -> list[JobRecord]:
        """list[JobRecord]: Jobs (in ``state``), in insertion order."""
        sql = "SELECT * FROM jobs" + (" WHERE state=?" if state else "") + " ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_record(r) for r in self._db.execute(sql, (state,) if state else ())]

    def job(self, job: str) -> JobRecord:
        """JobRecord: One job by id (KeyError if unknown)."""
        row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job,)).fetchone()
        if row is None:
            raise KeyError(job)
        return _record(row)

    def attempts_histogram(self) -> dict[int, int]:
        """dict[int, int]: Number of jobs per number of attempts."""
        return {
            int(a): n for a, n in self._db.execute("SELECT attempts, COUNT(*) FROM jobs GROUP BY attempts")
        }

    def totals(self) -> dict[str, int]:
        """dict[str, int]: Lost workers and job-code failures summed over all jobs."""
        row = self._db.execute("SELECT COALESCE(SUM(preemptions), 0), COALESCE(SUM(failures), 0) FROM jobs")
        preemptions, failures = row.fetchone()
        return {"preemptions": int(preemptions), "job_failures": int(failures)}

    def runtime_total(self, state: str = "done") -> tuple[int, float]:
        """tuple[int, float]: How many jobs in ``state`` recorded a runtime, and its sum [s]."""
        row = self._db.execute(
            "SELECT COUNT(runtime), COALESCE(SUM(runtime), 0) FROM jobs WHERE state=?",
            (state,),
        ).fetchone()
        return int(row[0]), float(row[1])

    def workers(self) -> list[dict]:
        """list[dict]: The batch jobs of the campaign's workers (SLURM job id, state, cause), oldest first."""
        return [dict(r) for r in self._db.execute("SELECT * FROM workers ORDER BY first_seen, slurm_job")]

    def lost_workers(self) -> dict[str, int]:
        """dict[str, int]: Worker batch jobs that ended during the campaign, by cause (scancel, ...)."""
        rows = self._db.execute("SELECT cause, COUNT(*) FROM workers WHERE cause IS NOT NULL GROUP BY cause")
        return {str(cause): int(n) for cause, n in rows}

    def events(self, kind: str | None = None) -> list[dict]:
        """list[dict]: The event log (of one ``kind``)."""
        sql = "SELECT * FROM events" + (" WHERE kind=?" if kind else "") + " ORDER BY rowid"
        return [dict(r) for r in self._db.execute(sql, (kind,) if kind else ())]

    def export(self, path: str | Path) -> Path:
        """Write every job with its parameters and result columns to CSV or Parquet (by suffix)."""
        path = Path(path)
        rows = []
        for job in self.jobs():
            row = {
                "id": job.id,
                "state": job.state,
                "attempts": job.attempts,
                "preemptions": job.preemptions,
                "runtime": job.runtime,
                **{f"param.{k}": v for k, v in job.params.items()},
            }
            for key, value in (job.result or {}).items():
                if not isinstance(value, list | dict):
                    row[f"result.{key}"] = value
            rows.append(row)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        if path.suffix == ".parquet":
            import pandas as pd

            pd.DataFrame(rows, columns=columns).to_parquet(path)
        else:
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        return path
