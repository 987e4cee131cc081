"""A platform's configuration lives in its folder: adding one does not touch the settings model.

Every name of ``PLATFORM_NAMES`` is a folder ``producer/platforms/{name}/`` with its runtime half
(``platform.py``) and its settings half (``settings.py``: pydantic mixins and ``RULES``), which
``settings.platforms`` composes. ``settings/model.py`` names no platform and declares none of
their variables; each mixin's fields and validators reach the models (pydantic keeps one
validator per name, so a clash would drop one silently); a platform's settings module imports
only pydantic, the standard library and ``settings.base``, and loads when imported first.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from producer.cli import _parser
from producer.settings import DOMAIN_MODELS, PLATFORM_NAMES, Platform, Settings
from producer.settings.platforms import PLATFORM_RULES

_PRODUCER = Path(__file__).resolve().parents[2] / "producer"
_COMPOSED: tuple[type[BaseModel], ...] = (Settings, *DOMAIN_MODELS.values())


def _settings_module(name: str) -> ModuleType:
    return importlib.import_module(f"producer.platforms.{name}.settings")


def _mixins(name: str) -> list[type[BaseModel]]:
    """The pydantic models a platform's settings module declares (its mixins)."""
    module = _settings_module(name)
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_each_platform_is_one_folder_with_its_runtime_and_its_settings(name: Platform) -> None:
    folder = _PRODUCER / "platforms" / name
    assert (folder / "platform.py").is_file()
    assert (folder / "settings.py").is_file()
    assert PLATFORM_RULES[name] is _settings_module(name).RULES
    assert _mixins(name), f"producer/platforms/{name}/settings.py declares no variable"


def test_the_settings_model_names_no_platform_and_declares_none_of_their_fields() -> None:
    tree = ast.parse((_PRODUCER / "settings" / "model.py").read_text(encoding="utf-8"))
    declared = {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    platform_fields = {
        field for name in PLATFORM_NAMES for mixin in _mixins(name) for field in mixin.model_fields
    }
    assert not declared & platform_fields
    identifiers = {
        word.lower()
        for node in ast.walk(tree)
        for word in (
            [node.id]
            if isinstance(node, ast.Name)
            else [node.attr]
            if isinstance(node, ast.Attribute)
            else [node.name]
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            else [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not {word for word in identifiers for name in PLATFORM_NAMES if name in word.split("_")}
    assert not any(f"producer.platforms.{name}" in ast.unparse(tree) for name in PLATFORM_NAMES)


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_every_field_and_validator_of_a_platform_reaches_the_models(name: str) -> None:
    for mixin in _mixins(name):
        composed = [model for model in _COMPOSED if issubclass(model, mixin)]
        assert composed, f"{mixin.__qualname__} is not a base of Settings or a domain model"
        decorators = mixin.__pydantic_decorators__
        own = [*decorators.field_validators, *decorators.model_validators]
        for model in composed:
            assert set(mixin.model_fields) <= set(model.model_fields)
            reached = model.__pydantic_decorators__
            for validator in own:
                found = reached.field_validators.get(validator) or reached.model_validators.get(
                    validator
                )
                assert found is not None, f"{model.__name__} lost {validator}"
                func = found.func
                qualname = getattr(func, "__func__", func).__qualname__
                assert qualname == f"{mixin.__qualname__}.{validator}", (
                    f"{model.__name__}.{validator} is {qualname}: name validators after the "
                    "platform, pydantic keeps one per name"
                )


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_a_platforms_settings_import_only_pydantic_the_stdlib_and_the_settings_base(
    name: str,
) -> None:
    tree = ast.parse((_PRODUCER / "platforms" / name / "settings.py").read_text("utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            assert node.module is not None
            imported.add(node.module)
    allowed = {"__future__", "pydantic", "producer.settings.base"}
    foreign = {
        module
        for module in imported
        if module not in allowed and module.partition(".")[0] not in sys.stdlib_module_names
    }
    assert not foreign


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_a_platforms_settings_load_when_imported_first(name: str) -> None:
    """The settings package composes this module; importing it first must not load it twice
    half-way (``producer.platforms``' ``__init__`` loads the settings first)."""
    module = f"producer.platforms.{name}.settings"
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}; import producer.settings.model"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["demo", "simulate"])
def test_the_cli_offers_every_platform(command: str) -> None:
    for name in PLATFORM_NAMES:
        assert _parser().parse_args([command, "--platform", name]).platform == name
