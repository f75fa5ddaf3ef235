"""A job that does nothing: measures the campaign layer itself."""


def run(params, job):
    return {"x": params["x"]}
