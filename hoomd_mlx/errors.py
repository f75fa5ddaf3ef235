"""Errors raised by hoomd-mlx.

Every error derives from `HoomdMlxError` and from the built-in exception that
describes its kind, so ``except ValueError`` keeps working for callers that do
not know this package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class HoomdMlxError(Exception):
    """Base class of every error raised by hoomd-mlx."""


class HoomdNotFoundError(HoomdMlxError, ImportError):
    """HOOMD-blue is needed but cannot be imported."""


class ModelOutputError(HoomdMlxError, ValueError):
    """A model returned something that breaks the model contract."""


class NonFiniteForceError(HoomdMlxError, FloatingPointError):
    """A model produced NaN or infinite energies or forces during a step."""


class ConfigurationError(HoomdMlxError, ValueError):
    """A force or job was configured with inconsistent arguments."""


class GPUSupportError(HoomdMlxError, RuntimeError):
    """The GPU path was requested but a piece it needs is missing."""


class ModelFitError(HoomdMlxError, RuntimeError):
    """A statistical model could not be fitted to the data it was given."""


def check_keys(table: Mapping, known: Iterable[str], where: str) -> None:
    """Raise `ConfigurationError` naming the first key of ``table`` not in ``known``.

    ``where`` prefixes the key in the message (e.g. ``"surrogate."``; ``""`` at the top).
    """
    known = set(known)
    for key in table:
        if key not in known:
            raise ConfigurationError(f"unknown key {where}{key}; expected one of {sorted(known)}")


def check_int(key: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an int, else `ConfigurationError` naming ``key``, the value and what is expected."""
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ConfigurationError(f"{key} = {value!r}; expected a whole number{bound}")
    return value


def check_number(key: str, value: object, minimum: float | None = None, *, above: bool = False) -> float:
    """``value`` as a float (an int or a float; ``above``: strictly greater than ``minimum``)."""
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if ok and minimum is not None:
        ok = value > minimum if above else value >= minimum
    if not ok:
        bound = f" {'>' if above else '>='} {minimum:g}" if minimum is not None else ""
        raise ConfigurationError(f"{key} = {value!r}; expected a number{bound}")
    return float(value)


def check_str(key: str, value: object, choices: Iterable[str] | None = None) -> str:
    """``value`` as a non-empty str (one of ``choices`` when given)."""
    options = tuple(choices) if choices is not None else None
    if not isinstance(value, str) or not value or (options is not None and value not in options):
        expected = f"one of {list(options)}" if options is not None else "a non-empty string"
        raise ConfigurationError(f"{key} = {value!r}; expected {expected}")
    return value


def check_strings(key: str, value: object) -> tuple[str, ...]:
    """``value`` as a tuple of strings (a TOML list of strings)."""
    if (
        isinstance(value, str)
        or not isinstance(value, list | tuple)
        or not all(isinstance(x, str) for x in value)
    ):
        raise ConfigurationError(f"{key} = {value!r}; expected a list of strings")
    return tuple(value)


def check_bool(key: str, value: object) -> bool:
    """``value`` as a bool (TOML true or false)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{key} = {value!r}; expected true or false")
    return value
