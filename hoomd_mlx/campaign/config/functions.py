"""A job function named in a spec (``job.function = "module:function"``), imported with clear errors."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from hoomd_mlx.errors import ConfigurationError

__all__ = ["resolve_function"]


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
