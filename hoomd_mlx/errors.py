"""Errors raised by hoomd-mlx.

Every error derives from `HoomdMlxError` and from the built-in exception that
describes its kind, so ``except ValueError`` keeps working for callers that do
not know this package.
"""

from __future__ import annotations


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
