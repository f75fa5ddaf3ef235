"""One way to declare and validate a table of settings, as HOOMD's ``ParameterDict`` does it.

A settings class is a frozen dataclass deriving from `Settings`; each field is declared once
with `setting`, its default and its converter (type and range)::

    @dataclass(frozen=True)
    class Resources(Settings):
        TABLE: ClassVar[str] = "resources"
        workers: int = setting(2, Int(minimum=1))

``Resources.from_mapping(table)`` checks the keys, converts every value and runs the class's
own cross-field checks (`Settings.check`), raising `ConfigurationError` with the table, key,
value and what is expected (``resources.workers = '5'; expected a whole number >= 1``). A
campaign spec validates every table this way when it loads, the job's ``[job.settings]``
included when the job function declares its settings class (``run.settings = MySettings``).

Each converter also knows values it must refuse (`Converter.refused`), so one test tries a
wrong type and an out-of-range value for every field of every settings class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from hoomd_mlx.errors import ConfigurationError

__all__ = [
    "Choice",
    "Converter",
    "Flag",
    "Int",
    "Number",
    "Optional",
    "Settings",
    "Table",
    "Text",
    "Texts",
    "Walltime",
    "check_keys",
    "setting",
]


def check_keys(table: Mapping, known: Iterable[str], where: str) -> None:
    """Raise `ConfigurationError` naming the first key of ``table`` not in ``known``.

    ``where`` prefixes the key in the message (e.g. ``"surrogate."``; ``""`` at the top).
    """
    known = set(known)
    for key in table:
        if key not in known:
            raise ConfigurationError(f"unknown key {where}{key}; expected one of {sorted(known)}")


class Converter:
    """Checks and converts one value; ``expects`` says what it accepts."""

    expects = "a value"

    def convert(self, value: Any) -> Any:
        """The converted value; raise ValueError or TypeError when it is not acceptable."""
        raise NotImplementedError

    def __call__(self, key: str, value: Any) -> Any:
        """``value`` converted, or `ConfigurationError` naming ``key``, the value and what is expected."""
        try:
            return self.convert(value)
        except (TypeError, ValueError) as err:
            raise ConfigurationError(f"{key} = {value!r}; expected {self.expects}") from err

    def refused(self) -> list[Any]:
        """Values this converter must refuse: a wrong type, and an out-of-range value where it has a range."""
        return [object()]


def _bounds(minimum, maximum, above: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if above else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    return (" " + " and ".join(parts)) if parts else ""


@dataclass(frozen=True)
class Int(Converter):
    """A whole number (TOML integer; not a bool, not a float) within ``[minimum, maximum]``."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return "a whole number" + _bounds(self.minimum, self.maximum, False)

    def convert(self, value: Any) -> int:
        """The converted value (see `Converter.convert`)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(value)
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ValueError(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        out: list[Any] = ["5", 2.5, True]
        if self.minimum is not None:
            out.append(self.minimum - 1)
        if self.maximum is not None:
            out.append(self.maximum + 1)
        return out


@dataclass(frozen=True)
class Number(Converter):
    """A finite number within the bounds (``above``: strictly above ``minimum``)."""

    minimum: float | None = None
    maximum: float | None = None
    above: bool = False

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return "a number" + _bounds(self.minimum, self.maximum, self.above)

    def convert(self, value: Any) -> float:
        """The converted value (see `Converter.convert`)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(value)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(value)
        low = self.minimum
        if low is not None and (value <= low if self.above else value < low):
            raise ValueError(value)
        if self.maximum is not None and value > self.maximum:
            raise ValueError(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        out: list[Any] = ["0.5", False, math.nan]
        if self.minimum is not None:
            out.append(self.minimum if self.above else self.minimum - 1)
        if self.maximum is not None:
            out.append(self.maximum + 1)
        return out


@dataclass(frozen=True)
class Text(Converter):
    """A string, non-empty unless ``empty``."""

    empty: bool = False

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return "a string" if self.empty else "a non-empty string"

    def convert(self, value: Any) -> str:
        """The converted value (see `Converter.convert`)."""
        if not isinstance(value, str):
            raise TypeError(value)
        if not value and not self.empty:
            raise ValueError(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return [5] if self.empty else [5, ""]


@dataclass(frozen=True)
class Choice(Converter):
    """One of ``choices`` (strings)."""

    choices: tuple[str, ...]

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return f"one of {list(self.choices)}"

    def convert(self, value: Any) -> str:
        """The converted value (see `Converter.convert`)."""
        if not isinstance(value, str):
            raise TypeError(value)
        if value not in self.choices:
            raise ValueError(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return [1, "no-such-choice"]


@dataclass(frozen=True)
class Flag(Converter):
    """TOML true or false."""

    expects = "true or false"

    def convert(self, value: Any) -> bool:
        """The converted value (see `Converter.convert`)."""
        if not isinstance(value, bool):
            raise TypeError(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return ["yes", 1]


@dataclass(frozen=True)
class Texts(Converter):
    """A list of strings (a tuple); ``nonempty``: at least one."""

    nonempty: bool = False

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return "a non-empty list of strings" if self.nonempty else "a list of strings"

    def convert(self, value: Any) -> tuple[str, ...]:
        """The converted value (see `Converter.convert`)."""
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError(value)
        if not all(isinstance(x, str) and x for x in value):
            raise TypeError(value)
        if self.nonempty and not value:
            raise ValueError(value)
        return tuple(value)

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return ["a", [1]] + ([[]] if self.nonempty else [])


@dataclass(frozen=True)
class Table(Converter):
    """A TOML table whose keys and values are converted by ``key`` and ``value`` (a dict)."""

    key: Callable[[Any], Any] = str
    value: Converter = field(default_factory=Text)
    expects: str = "a table of strings"  # type: ignore[assignment]

    def convert(self, value: Any) -> dict:
        """The converted value (see `Converter.convert`)."""
        if not isinstance(value, Mapping):
            raise TypeError(value)
        return {self.key(k): self.value.convert(v) for k, v in value.items()}

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return ["a", {"x": object()}]


@dataclass(frozen=True)
class Optional(Converter):
    """``inner``'s values, or None (left out of the table)."""

    inner: Converter

    @property
    def expects(self) -> str:
        """str: What the converter accepts."""
        return self.inner.expects

    def convert(self, value: Any) -> Any:
        """The converted value (see `Converter.convert`)."""
        return None if value is None else self.inner.convert(value)

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return self.inner.refused()


_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


@dataclass(frozen=True)
class Walltime(Converter):
    """A SLURM time limit (``"M"``, ``"M:S"``, ``"H:M:S"``, ``"D-H[:M[:S]]"``), kept as the string."""

    expects = "a SLURM time limit longer than zero, such as '04:00:00'"

    @staticmethod
    def seconds(value: str) -> float:
        """float: The limit in seconds."""
        match = _WALLTIME.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(value)
        days, a, b, c = match.groups()
        if days is not None:  # D-H, D-H:M, D-H:M:S
            seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
        elif c is not None:  # H:M:S
            seconds = int(a) * 3600 + int(b) * 60 + int(c)
        elif b is not None:  # M:S
            seconds = int(a) * 60 + int(b)
        else:  # M
            seconds = int(a) * 60
        if seconds <= 0:
            raise ValueError(value)
        return float(seconds)

    def convert(self, value: Any) -> str:
        """The converted value (see `Converter.convert`)."""
        self.seconds(value)
        return value

    def refused(self) -> list[Any]:
        """Values to refuse (see `Converter.refused`)."""
        return [4, "four hours", "0:00"]


def setting(default: Any = MISSING, check: Converter | None = None, **kwargs: Any) -> Any:
    """A dataclass field of a `Settings` class: its default and its converter."""
    if isinstance(default, list | dict | set):
        raise TypeError("give a tuple (or a default_factory) for a mutable default")
    if "default_factory" in kwargs:
        return field(metadata={"check": check}, **kwargs)
    return field(default=default, metadata={"check": check}, **kwargs)


class Settings:
    """Base of a frozen dataclass of settings (see the module docs).

    Class attributes:
        TABLE: Where the table lives in a spec (``"resources"``, ``"job.settings"``).
        EXAMPLE: A smallest valid table (for the tests that try refused values on it).
        EXTRA_KEYS: Keys the table may hold for other readers (not fields), left alone.
    """

    TABLE: ClassVar[str] = "settings"
    EXAMPLE: ClassVar[Mapping[str, Any]] = {}
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str | None = None):
        """Validate ``table`` into an instance, naming the key, the value and what is expected at fault."""
        where = where or cls.TABLE
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{where} = {table!r}; expected a table ([{where}])")
        declared = fields(cls)  # type: ignore[arg-type]
        check_keys(table, {f.name for f in declared} | set(cls.EXTRA_KEYS), f"{where}.")
        values = {}
        for f in declared:
            check = f.metadata.get("check")
            if f.name in table:
                values[f.name] = check(f"{where}.{f.name}", table[f.name]) if check else table[f.name]
            elif f.default is MISSING and f.default_factory is MISSING:
                expects = check.expects if check else "a value"
                raise ConfigurationError(f"{where}.{f.name} is missing; expected {expects}")
        settings = cls(**values)
        settings.check(where)
        return settings

    def check(self, where: str) -> None:
        """Cross-field checks after every value is converted (raise `ConfigurationError`)."""

    @classmethod
    def converters(cls) -> dict[str, Converter]:
        """dict: Each field's converter (for tests and docs)."""
        return {f.name: f.metadata["check"] for f in fields(cls) if f.metadata.get("check")}  # type: ignore[arg-type]
