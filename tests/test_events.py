"""Campaign events are types: every kind one handler in the driver, an unknown kind refused loudly."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.session import Driver
from hoomd_mlx.campaign.events import Event, UnknownEventError

LEDGER_ONLY = {Event.FAILED, Event.RETRY, Event.WORKER_LOST}


@pytest.fixture
def driver(tmp_path):
    ledger = Ledger.in_directory(tmp_path)
    ledger.add_jobs({"j1": {"x": 1.0}})
    return Driver(SimpleNamespace(ledger=ledger), client=None, progress=None)


def test_every_sent_kind_has_one_handler(driver):
    assert set(driver.handlers) == set(Event) - LEDGER_ONLY


def test_an_unknown_kind_fails_loudly(driver):
    with pytest.raises(UnknownEventError, match=r"unknown campaign event 'chekpoint'"):
        Event.of({"event": "chekpoint", "job": "j1"})
    driver.events.put((time.time(), {"event": "chekpoint", "job": "j1", "step": 10}))
    with pytest.raises(UnknownEventError):
        driver.drain_events()
    with pytest.raises(ValueError, match="chekpoint"):
        driver.ledger.event("chekpoint", "j1")


def test_events_reach_the_ledger(driver):
    now = time.time()
    driver.ledger.mark_running("j1")
    for message in (
        Event.STARTED.message(job="j1", worker="tcp://w1"),
        Event.CHECKPOINT.message(job="j1", step=100, worker="tcp://w1"),
        Event.CHECKPOINT_DAMAGED.message(job="j1", file="checkpoint.gsd", why="truncated"),
        Event.STARTED.message(job="j1", worker="tcp://w2"),  # a lost worker: recorded as a preemption
        Event.FINISHED.message(job="j1"),
        Event.LOG.message(job="j1", text="hello"),
    ):
        driver.events.put((now, message))
    driver.drain_events()
    kinds = [e["kind"] for e in driver.ledger.events()]
    assert kinds == ["checkpoint-damaged", "preempted"]
    assert driver.ledger.job("j1").checkpoint_step == 100
