"""pyproject.toml and environment.yml must list the same packages with the same bounds."""

import re
import sys

import yaml
from conftest import PROJECT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ


def _parse(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].strip()  # drop environment markers
    name, bound = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), bound.replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    parsed = dict(_parse(r) for r in reqs if "python_version" not in r)
    return {CONDA_NAMES.get(name, name): bound for name, bound in parsed.items()}


def _conda() -> dict[str, str]:
    env = yaml.safe_load((PROJECT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    return {name: bound for name, bound in map(_parse, deps) if name not in ("python", "pip")}


def test_environment_yml_matches_pyproject():
    assert _conda() == _pyproject()


def test_python_bound_agrees():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((PROJECT / "environment.yml").read_text())
    assert f"python{project['requires-python']}" in env["dependencies"]


def test_dependencies_stay_loose():
    # students install on any OS: lower bounds only, never pins
    for name, bound in _pyproject().items():
        assert not bound.startswith("==") and "<" not in bound, (name, bound)
