"""Trajectory helpers shared by the analyses and the workloads: frames of a GSD file, block errors."""

from __future__ import annotations

from pathlib import Path

import gsd.hoomd
import numpy as np

__all__ = ["block_error", "unique_frames"]


def unique_frames(path: Path) -> list:
    """Frames of a trajectory in step order, one per step.

    A job that resumed from a checkpoint appends again the frames written between
    that checkpoint and the interruption; the later copy of a step wins.
    """
    by_step = {}
    with gsd.hoomd.open(path, "r") as traj:
        for frame in traj:
            by_step[int(frame.configuration.step)] = frame
    return [by_step[step] for step in sorted(by_step)]


def block_error(samples: np.ndarray, blocks: int) -> np.ndarray:
    """Standard error of the mean of ``samples`` (axis 0) from ``blocks`` block averages."""
    blocks = max(2, min(blocks, samples.shape[0]))
    usable = samples[: samples.shape[0] // blocks * blocks]
    means = usable.reshape(blocks, -1, *samples.shape[1:]).mean(axis=1)
    return means.std(axis=0, ddof=1) / np.sqrt(blocks)
