"""Light job functions for campaign tests that need Dask but not HOOMD."""

import os


def square(params, job):
    return {"y": params["x"] ** 2, "pid": os.getpid()}


def flaky(params, job):
    if params["x"] == 3:
        raise ValueError(f"x = {params['x']} is not allowed")
    return {"y": params["x"]}


def smooth(params, job):
    import math

    x, y = params["x"], params["y"]
    return {"f": math.sin(x) + y**2, "g": x * y}
