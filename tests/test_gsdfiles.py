"""GSD files a job wrote: a version the installed gsd cannot read is an error, damage falls back loudly."""

import hashlib
import json
import logging
import struct

import gsd.hoomd
import numpy as np
import pytest

from hoomd_mlx.campaign.job.checkpoint import JobContext
from hoomd_mlx.campaign.job.gsdfiles import GSDVersionError, file_versions, read_gsd


def _write(path, step):
    frame = gsd.hoomd.Frame()
    frame.particles.N = 4
    frame.particles.position = np.zeros((4, 3))
    frame.configuration.box = [5, 5, 5, 0, 0, 0]
    frame.configuration.step = step
    with gsd.hoomd.open(path, "w") as traj:
        traj.append(frame)
    return path


def _with_versions(path, layer=None, schema=None):
    raw = bytearray(path.read_bytes())
    if schema is not None:
        struct.pack_into("<I", raw, 40, schema[0] << 16 | schema[1])
    if layer is not None:
        struct.pack_into("<I", raw, 44, layer[0] << 16 | layer[1])
    path.write_bytes(bytes(raw))
    return path


def _steps(traj):
    return [int(f.configuration.step) for f in traj]


def test_an_intact_file_reads(tmp_path):
    path = _write(tmp_path / "ok.gsd", 7)
    assert read_gsd(path, _steps) == [7]
    layer, schema = file_versions(path)
    assert layer.startswith("2.")
    assert schema


@pytest.mark.parametrize(
    ("layer", "schema", "named"), [((3, 0), None, "file layer 3.0"), (None, (9, 0), "schema 9.0")]
)
def test_a_version_the_installed_gsd_cannot_read_names_both(tmp_path, layer, schema, named):
    path = _with_versions(_write(tmp_path / "new.gsd", 7), layer, schema)
    with pytest.raises(GSDVersionError, match=named) as info:
        read_gsd(path, _steps)
    message = str(info.value)
    assert "installed gsd" in message
    assert "(it writes file layer 2." in message
    assert "gsd >= 5" in message
    assert path.exists()  # kept as it is


def test_damage_is_told_apart(tmp_path):
    path = _write(tmp_path / "cut.gsd", 7)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert read_gsd(path, _steps) is None
    (tmp_path / "text.gsd").write_text("not a gsd file at all")
    assert read_gsd(tmp_path / "text.gsd", _steps) is None


def test_a_file_that_cannot_be_read_is_not_taken_for_damage(tmp_path):
    (tmp_path / "dir.gsd").mkdir()  # any OSError (permissions, I/O) propagates; root reads through modes
    with pytest.raises(IsADirectoryError, match=r"dir\.gsd"):
        read_gsd(tmp_path / "dir.gsd", _steps)


def _checkpoints(tmp_path, newest, previous):
    manifest = {}
    for name, step in (("checkpoint.gsd", newest), ("checkpoint.prev.gsd", previous)):
        path = _write(tmp_path / name, step)
        manifest[name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "step": step}
    (tmp_path / "checkpoint.json").write_text(json.dumps(manifest))


def _job(tmp_path):
    events = []
    return JobContext({}, tmp_path, report=events.append), events


def _rehash(tmp_path, name):
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    manifest[name]["sha256"] = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    (tmp_path / "checkpoint.json").write_text(json.dumps(manifest))


def test_checkpoint_in_a_newer_version_stops_the_job_instead_of_restarting_it(tmp_path):
    _checkpoints(tmp_path, 300, 200)
    _with_versions(tmp_path / "checkpoint.gsd", layer=(3, 0))
    _rehash(tmp_path, "checkpoint.gsd")
    job, _ = _job(tmp_path)
    with pytest.raises(GSDVersionError, match=r"checkpoint\.gsd is written as GSD file layer 3\.0"):
        job.latest_checkpoint()


def test_damaged_checkpoint_falls_back_loudly(tmp_path, caplog):
    _checkpoints(tmp_path, 300, 200)
    path = tmp_path / "checkpoint.gsd"
    path.write_bytes(path.read_bytes()[:100])
    _rehash(tmp_path, "checkpoint.gsd")  # intact by checksum, damaged for gsd: cut before the write ended
    job, events = _job(tmp_path)
    with caplog.at_level(logging.ERROR):
        found, step = job.latest_checkpoint()
    assert (found.name, step) == ("checkpoint.prev.gsd", 200)
    assert any("checkpoint.gsd is damaged" in r.getMessage() for r in caplog.records)
    assert events == [{"event": "checkpoint-damaged", "file": "checkpoint.gsd", "why": events[0]["why"]}]


def test_unreadable_manifest_is_reported(tmp_path, caplog):
    _checkpoints(tmp_path, 300, 200)
    (tmp_path / "checkpoint.json").write_text("{ not json")
    job, events = _job(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert job.latest_checkpoint() is None
    assert events
    assert events[0]["file"] == "checkpoint.json"
