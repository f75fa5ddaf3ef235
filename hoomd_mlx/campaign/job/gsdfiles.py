"""Reading the GSD files a job wrote, telling a version mismatch from damage.

The gsd package raises ``RuntimeError`` for every file it cannot read. A job that
took each of them for corruption would lose work silently: a checkpoint written by
a newer gsd (or HOOMD-blue) than the one installed would be skipped and the job
restarted from step 0, and a readable trajectory moved aside. Here:

* a file layer or hoomd schema version the installed gsd does not read raises
  `GSDVersionError`, naming the file's versions and the installed gsd's;
* a file that is truly damaged (truncated mid-write, not a GSD file) is reported
  as damaged, so that the caller falls back -- loudly;
* an operating-system error (permissions, I/O) propagates: a file that cannot be
  read is not a file that is absent or corrupt.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hoomd_mlx.errors import HoomdMlxError

__all__ = ["GSDVersionError", "file_versions", "read_gsd"]

T = TypeVar("T")

_VERSION_MESSAGES = ("Unsupported GSD file version", "Incompatible hoomd schema version")
_DAMAGE_MESSAGES = ("Corrupt GSD file", "Not a GSD file", "GSD file is not a hoomd schema file")

_HEADER = struct.Struct("<QQQQQII")  # magic, index and namelist locations and sizes, schema, file layer
_MAGIC = 0x65DF65DF65DF65DF


class GSDVersionError(HoomdMlxError, RuntimeError):
    """A GSD file is intact but written in a version the installed gsd cannot read."""


def _version(packed: int) -> str:
    return f"{packed >> 16}.{packed & 0xFFFF}"


def file_versions(path: str | Path) -> tuple[str, str] | None:
    """(file layer, hoomd schema) versions in ``path``'s header, e.g. ``("2.1", "1.4")``; None if none."""
    with Path(path).open("rb") as f:
        head = f.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    magic, *_, schema, layer = _HEADER.unpack(head)
    if magic != _MAGIC:
        return None
    return _version(layer), _version(schema)


def _installed() -> str:
    """The installed gsd's version and the versions it writes, for error messages."""
    import gsd.hoomd
    import gsd.version

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.gsd"
        with gsd.hoomd.open(probe, "w") as traj:
            traj.append(gsd.hoomd.Frame())
        layer, schema = file_versions(probe) or ("?", "?")
    return f"gsd {gsd.version.version} (it writes file layer {layer}, hoomd schema {schema})"


def read_gsd(path: str | Path, read: Callable[[Any], T]) -> T | None:
    """``read(trajectory)`` on ``path`` opened with ``gsd.hoomd``; None when the file is damaged.

    Raises:
        GSDVersionError: The file is intact but the installed gsd cannot read its version.
        OSError: The file cannot be read at all (permissions, I/O errors, gone).
    """
    import gsd.hoomd

    try:
        with gsd.hoomd.open(path, "r") as traj:
            return read(traj)
    except RuntimeError as err:
        message = str(err)
        if any(text in message for text in _VERSION_MESSAGES):
            versions = file_versions(path)
            written = (
                f"GSD file layer {versions[0]}, hoomd schema {versions[1]}"
                if versions
                else "an unknown version"
            )
            raise GSDVersionError(
                f"{path} is written as {written}, which the installed {_installed()} cannot read "
                f"({message}). The file is kept as it is: install the gsd that matches the HOOMD-blue that "
                "wrote it (HOOMD-blue 7 needs gsd >= 5: pip install 'gsd>=5' or conda install 'gsd>=5') "
                "and run again"
            ) from err
        if any(text in message for text in _DAMAGE_MESSAGES):
            return None
        raise
    except (IndexError, KeyError, ValueError, struct.error):  # no frame, or a frame cut short
        return None
