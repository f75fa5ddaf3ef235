"""Every settings class refuses a wrong type and an out-of-range value in every field, naming the key."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "hoomd_mlx.campaign.config.analyses",
    "hoomd_mlx.campaign.config.cluster",
    "hoomd_mlx.campaign.config.design",
    "hoomd_mlx.campaign.config.spec",
    "hoomd_mlx.campaign.config.surrogate",
    "hoomd_mlx.cloud.settings",
    "hoomd_mlx.electrolyte.run",
    "hoomd_mlx.electrolyte.simulation",
    "lj_fluid",
)


def _all_settings() -> list[type[Settings]]:
    sys.path.insert(0, str(ROOT / "campaigns"))
    for name in MODULES:
        importlib.import_module(name)
    found, stack = [], list(Settings.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


CLASSES = _all_settings()
CASES = [
    pytest.param(cls, name, bad, id=f"{cls.__qualname__}.{name}={bad!r}")
    for cls in CLASSES
    for name, converter in cls.converters().items()
    for bad in converter.refused()
]


def test_every_settings_class_is_covered():
    names = {c.__qualname__ for c in CLASSES}
    assert {
        "ClusterSettings",
        "SurrogateSettings",
        "CloudSettings",
        "Resources",
        "JobSpec",
        "CampaignTable",
        "ReportSettings",
        "SamplingSettings",
        "ParameterSettings",
        "RdfSettings",
        "RunSettings",
        "ElectrolyteJobSettings",
        "LJFluidSettings",
    } <= names


@pytest.mark.parametrize(("cls", "name", "bad"), CASES)
def test_refused_values_name_the_table_key_value_and_expectation(cls, name, bad):
    table = {**cls.EXAMPLE, name: bad}
    with pytest.raises(ConfigurationError) as info:
        cls.from_mapping(table)
    message = str(info.value)
    assert f"{cls.TABLE}.{name} = {bad!r}; expected " in message


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_unknown_keys_and_good_examples(cls):
    cls.from_mapping(dict(cls.EXAMPLE))  # the example itself is valid
    with pytest.raises(ConfigurationError, match=re.escape(f"unknown key {cls.TABLE}.no_such_key")):
        cls.from_mapping({**cls.EXAMPLE, "no_such_key": 1})


def test_every_field_of_every_class_has_a_converter():
    from dataclasses import fields

    for cls in CLASSES:
        missing = [f.name for f in fields(cls) if f.metadata.get("check") is None]
        assert not missing, f"{cls.__qualname__}: fields without a converter {missing}"


def _spec(tmp_path, job_settings: str, spec: str = "lj_fluid") -> Path:
    text = (ROOT / "campaigns" / f"{spec}.toml").read_text()
    head, _, tail = text.partition("[job.settings]")
    rest = tail.split("\n[", 1)
    text = head + "[job.settings]\n" + job_settings + "\n" + ("\n[" + rest[1] if len(rest) > 1 else "")
    path = tmp_path / f"{spec}.toml"
    path.write_text(text)
    for module in ROOT.glob("campaigns/*.py"):
        (tmp_path / module.name).write_text(module.read_text())
    return path


@pytest.mark.parametrize(
    ("spec", "settings", "message"),
    [
        ("lj_fluid", 'steps = "4000"', r"job.settings.steps = '4000'; expected a whole number >= 1"),
        ("lj_fluid", "steps = 0", r"job.settings.steps = 0; expected a whole number >= 1"),
        (
            "lj_fluid",
            'force = "gpu"',
            r"job.settings.force = 'gpu'; expected one of \['native', 'tensorflow'\]",
        ),
        ("lj_fluid", "stepz = 10", r"unknown key job.settings.stepz"),
        ("nanoconfinement", 'dt = "0.005"', r"job.settings.dt = '0.005'; expected a number > 0"),
        ("nanoconfinement", "i = 0.01", r"job.settings.i = 0.01; expected a number <= 0"),
        ("nanoconfinement", "production_steps = 10", r"job.settings.production_steps = 10 gives fewer"),
    ],
)
def test_job_settings_are_checked_when_the_spec_loads(tmp_path, spec, settings, message):
    from hoomd_mlx.campaign.config.spec import load_spec

    with pytest.raises(ConfigurationError, match=message):
        load_spec(_spec(tmp_path, settings, spec))
