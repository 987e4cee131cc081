"""The platform registry: every platform name resolves to its folder's ``PLATFORM``, and the
daemon and the domain registry reach platforms only through it.

Also the one-declaration rule of the offline subsets: a port value the daemon refuses, the lake
commands refuse too, with the same line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from producer.domains import domain_spec
from producer.domains.quality import genesys as quality_genesys
from producer.domains.quality import nice as quality_nice
from producer.domains.telephony import nice as telephony_nice
from producer.errors import ConfigError
from producer.platforms import source_platform
from producer.settings import DOMAIN_NAMES, PLATFORM_NAMES, load_settings
from producer.settings.ports import load_output_port

_PRODUCER = Path(__file__).resolve().parents[2] / "producer"


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_each_platform_name_is_a_folder_exporting_its_platform(name: str) -> None:
    assert source_platform(name).name == name
    assert (_PRODUCER / "platforms" / name / "platform.py").is_file()


def test_an_unknown_platform_is_not_found() -> None:
    with pytest.raises(KeyError):
        source_platform("five9")


def test_the_spec_takes_the_mapper_of_the_configured_platform() -> None:
    assert domain_spec("quality").map_record is quality_genesys.map_evaluation
    assert domain_spec("quality", "nice").map_record is quality_nice.map_workflow
    assert domain_spec("telephony", "nice").record_id is telephony_nice.contact_id
    assert domain_spec("telephony", "nice").default_resweep_hours == 24.0
    for name in DOMAIN_NAMES:
        assert domain_spec(name, "genesys").name == name


def test_a_domain_the_platform_cannot_feed_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^MESH_WFM__PLATFORM=nice is not supported: "):
        domain_spec("wfm", "nice")


def test_only_the_platforms_own_permission_table_names_a_permission() -> None:
    path = "/api/v2/quality/evaluations/query"
    assert source_platform("genesys").permission_of(path) == "quality:evaluation:view"
    assert source_platform("nice").permission_of(path) is None


@pytest.mark.parametrize("module", ["daemon.py", "domains/__init__.py", "domains/spec.py"])
def test_the_composition_root_and_domain_registry_name_no_platform(module: str) -> None:
    strings = {
        node.value
        for node in ast.walk(ast.parse((_PRODUCER / module).read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not strings & set(PLATFORM_NAMES)
    imports = (_PRODUCER / module).read_text(encoding="utf-8")
    for name in PLATFORM_NAMES:
        assert f"producer.platforms.{name}" not in imports


def test_no_function_of_the_daemon_is_longer_than_60_lines() -> None:
    tree = ast.parse((_PRODUCER / "daemon.py").read_text(encoding="utf-8"))
    long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "MESH_TELEPHONY__RESWEEP_HOURS",
            "400",
            "MESH_TELEPHONY__RESWEEP_HOURS: Input should be less than or equal to 336",
        ),
        (
            "MESH_TELEPHONY__SCHEMA_VERSION",
            "1",
            "MESH_TELEPHONY__SCHEMA_VERSION: expected MAJOR.MINOR such as 1.0",
        ),
    ],
)
def test_the_lake_commands_refuse_what_the_daemon_refuses(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as daemon:
        load_settings()
    with pytest.raises(ConfigError) as offline:
        load_output_port("telephony")
    assert str(daemon.value).startswith(line)
    assert str(offline.value).startswith(line)
