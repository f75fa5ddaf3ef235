"""What a user sees when a dependency or an argument is missing."""

import importlib

import pytest

from hoomd_mlx.errors import HoomdMlxError, HoomdNotFoundError
from hoomd_mlx.plugin import _compat


def test_missing_hoomd_says_how_to_install_it(monkeypatch):
    real = importlib.import_module

    def without_hoomd(name, *args):
        if name.split(".")[0] == "hoomd":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_hoomd)
    with pytest.raises(HoomdNotFoundError, match="conda-forge") as info:
        _compat.import_hoomd()
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, HoomdMlxError)
    assert "BUILDING.rst" in str(info.value)
