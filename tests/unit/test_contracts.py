"""Contract files: the shipped telephony 1.0, broken files, the guide's shorthand, selection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from producer.contracts.registry import (
    DRAFT_07,
    Contract,
    contract_document,
    load_contracts,
    select_contract,
    select_contracts,
)
from producer.contracts.validate import Validator
from producer.errors import ConfigError
from producer.settings import default_contracts_dir

UUID = "550e8400-e29b-41d4-a716-446655440000"

_SCHEMA: dict[str, Any] = {
    "$schema": DRAFT_07,
    "type": "object",
    "required": ["interaction_id", "channel_type", "duration_seconds"],
    "properties": {
        "interaction_id": {"type": "string", "format": "uuid"},
        "channel_type": {"type": "string", "enum": ["voice", "chat"]},
        "duration_seconds": {"type": "integer", "minimum": 0},
        "caller_number": {"type": "string", "pattern": "^\\+?[0-9]+$"},
        "metadata": {
            "type": "object",
            "properties": {"campaign_id": {"type": "string"}, "agent_id": {"type": "string"}},
        },
    },
}


def _contract_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domain": "telephony",
        "version": "1.0",
        "owner_role": "Telephony_Admin",
        "destination": "telephony-cdr-export",
        "description": "test",
        "schema": _SCHEMA,
        "defaults": {},
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def _write(root: Path, relative: str, content: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


class TestShipped:
    def test_telephony_1_0_loads(self) -> None:
        """The contract shipped in config/contracts is valid and says what the guide says."""
        contracts = load_contracts(default_contracts_dir())
        contract = select_contract(contracts, "telephony", "1.0")
        assert (contract.domain, contract.version, contract.major, contract.minor) == (
            "telephony",
            "1.0",
            1,
            0,
        )
        assert contract.owner_role == "Telephony_Admin"
        assert contract.destination == "telephony-cdr-export"
        assert contract.description
        assert contract.path.name == "1.0.json"
        schema = contract.schema
        assert schema["$schema"] == DRAFT_07
        assert schema["required"] == ["interaction_id", "channel_type", "duration_seconds"]
        assert schema.get("additionalProperties", True) is True
        props = schema["properties"]
        assert props["interaction_id"]["format"] == "uuid"
        assert props["channel_type"]["enum"] == ["voice", "chat"]
        assert props["duration_seconds"] == {**props["duration_seconds"], "minimum": 0}
        assert props["caller_number"]["pattern"] == "^\\+?[0-9]+$"
        assert set(props["metadata"]["properties"]) == {"campaign_id", "agent_id"}

    def test_shipped_schema_matches_the_spelled_out_contract(self) -> None:
        """The shipped 1.0 accepts and rejects exactly what the brief's contract does."""
        shipped = Validator(
            select_contract(load_contracts(default_contracts_dir()), "telephony", None)
        )
        reference = Validator(_contract(_SCHEMA))
        samples: list[dict[str, Any]] = [
            {"interaction_id": UUID, "channel_type": "chat", "duration_seconds": 0},
            {"interaction_id": UUID, "channel_type": "email", "duration_seconds": 1},
            {"interaction_id": "x", "channel_type": "voice", "duration_seconds": -1},
            {"interaction_id": UUID, "channel_type": "voice", "duration_seconds": 5,
             "caller_number": "sip:1@x", "metadata": {"agent_id": 3}, "extra": True},
        ]  # fmt: skip
        for sample in samples:
            assert [(i.path, i.rule) for i in shipped.check(sample)] == [
                (i.path, i.rule) for i in reference.check(sample)
            ]


def _contract(schema: dict[str, Any]) -> Contract:
    return Contract(
        domain="telephony",
        version="1.0",
        major=1,
        minor=0,
        owner_role="Telephony_Admin",
        destination="telephony-cdr-export",
        description="",
        schema=schema,
        defaults={},
        path=Path("inline.json"),
    )


class TestBrokenFiles:
    @pytest.mark.parametrize(
        ("relative", "content", "problem"),
        [
            ("telephony/1.0.json", "{not json", "invalid JSON"),
            ("telephony/1.0.json", "[1, 2]", "must be a JSON object"),
            ("telephony/1.0.json", _contract_body(owner_role=None), "missing key(s): owner_role"),
            ("telephony/1.0.json", _contract_body(schema=None), "missing key(s): schema"),
            ("telephony/1.0.json", _contract_body(extra=1), "unknown key(s): extra"),
            ("telephony/1.0.json", _contract_body(version="1.1"), "does not match the file name"),
            ("telephony/1.1.json", _contract_body(), "does not match the file name"),
            ("telephony/v1.json", _contract_body(), "MAJOR.MINOR.json"),
            ("quality/1.0.json", _contract_body(), "does not match the folder"),
            ("telephony/1.0.json", _contract_body(destination=""), "non-empty string"),
            (
                "telephony/1.0.json",
                _contract_body(schema={"type": "strnig"}),
                "schema does not compile",
            ),
            (
                "telephony/1.0.json",
                _contract_body(schema={"type": "string", "pattern": "("}),
                "schema does not compile",
            ),
            (
                "telephony/1.0.json",
                _contract_body(schema={"$schema": "https://json-schema.org/draft/2020-12/schema"}),
                "draft-07",
            ),
            (
                "telephony/1.0.json",
                _contract_body(defaults={"nope": 1}),
                "does not name a property",
            ),
            (
                "telephony/1.0.json",
                _contract_body(defaults={"channel_type": "voice"}),
                "names a required field",
            ),
            (
                "telephony/1.0.json",
                _contract_body(defaults={"caller_number": "sip:x"}),
                "breaks its own field schema",
            ),
            (
                "telephony/1.0.json",
                _contract_body(schema_definition={"a": {"type": "string"}}),
                "not both",
            ),
            ("stray.json", _contract_body(), "belong in {domain}/{MAJOR.MINOR}.json"),
            ("telephony/1.0.json", _contract_body(rename=["a"]), "'rename' must be an object"),
            (
                "telephony/1.0.json",
                _contract_body(rename={"metadata.agent_id": "metadata.staff_id"}),
                "rename target 'metadata.staff_id' does not name a property",
            ),
            (
                "telephony/1.0.json",
                _contract_body(rename={"metadata..x": "metadata.agent_id"}),
                "expected dotted field names",
            ),
            (
                "telephony/1.0.json",
                _contract_body(rename={"metadata.agent_id": 7}),
                "expected dotted field names",
            ),
            (
                "telephony/1.0.json",
                _contract_body(rename={"metadata.agent_id": "metadata.agent_id"}),
                "renames nothing",
            ),
            (
                "telephony/1.0.json",
                _contract_body(rename={"a": "metadata.agent_id", "b": "metadata.agent_id"}),
                "two fields to the same target",
            ),
            (
                "telephony/1.0.json",
                _contract_body(rename={"a": "caller_number", "caller_number": "metadata.agent_id"}),
                "both a source and a target",
            ),
        ],
    )
    def test_broken_file_is_one_line_config_error_naming_the_file(
        self, tmp_path: Path, relative: str, content: Any, problem: str
    ) -> None:
        """Each kind of broken contract file stops start-up with one line: which file, what."""
        path = _write(tmp_path, relative, content)
        with pytest.raises(ConfigError) as caught:
            load_contracts(tmp_path)
        message = str(caught.value)
        assert str(path) in message
        assert problem in message
        assert "\n" not in message

    def test_missing_directory_is_config_error(self, tmp_path: Path) -> None:
        """A contracts directory that does not exist is a configuration error naming it."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_contracts(tmp_path / "nowhere")

    def test_valid_defaults_and_other_files_are_accepted(self, tmp_path: Path) -> None:
        """Defaults naming optional (also nested) fields load; README files are ignored."""
        _write(tmp_path, "telephony/1.0.json", _contract_body())
        _write(
            tmp_path,
            "telephony/1.1.json",
            _contract_body(version="1.1", defaults={"caller_number": "0", "metadata.agent_id": ""}),
        )
        _write(tmp_path, "telephony/README.md", "notes")
        _write(tmp_path, "telephony/subscriptions/bi.json", "{}")
        contracts = load_contracts(tmp_path)
        assert [c.version for c in contracts["telephony"]] == ["1.0", "1.1"]
        assert contracts["telephony"][1].defaults == {"caller_number": "0", "metadata.agent_id": ""}


class TestShorthand:
    def test_guide_shorthand_normalises_to_the_full_schema(self, tmp_path: Path) -> None:
        """The guide's schema_definition (with required markers) gives the same full schema."""
        shorthand = {
            "domain": "telephony",
            "version": "1.0",
            "owner_role": "Telephony_Admin",
            "destination": "telephony-cdr-export",
            "schema_definition": {
                "interaction_id": {"type": "string", "format": "uuid", "required": True},
                "channel_type": {"type": "string", "enum": ["voice", "chat"], "required": True},
                "duration_seconds": {"type": "integer", "minimum": 0, "required": True},
                "caller_number": {"type": "string", "pattern": "^\\+?[0-9]+$"},
                "metadata": {
                    "campaign_id": {"type": "string"},
                    "agent_id": {"type": "string"},
                },
            },
        }
        _write(tmp_path, "telephony/1.0.json", shorthand)
        contract = load_contracts(tmp_path)["telephony"][0]
        assert contract.schema == _SCHEMA
        assert contract.description == ""
        assert contract.defaults == {}

    def test_shorthand_and_full_schema_validate_alike(self, tmp_path: Path) -> None:
        """A shorthand contract rejects the same fields with the same rules as the full one."""
        definition = {
            "interaction_id": {"type": "string", "format": "uuid", "required": True},
            "channel_type": {"enum": ["voice", "chat"]},
            "metadata": {"agent_id": {"type": "string"}},
        }
        full = {
            "$schema": DRAFT_07,
            "type": "object",
            "required": ["interaction_id"],
            "properties": {
                "interaction_id": {"type": "string", "format": "uuid"},
                "channel_type": {"enum": ["voice", "chat"]},
                "metadata": {"type": "object", "properties": {"agent_id": {"type": "string"}}},
            },
        }
        _write(
            tmp_path,
            "telephony/1.0.json",
            _contract_body(schema=None, schema_definition=definition),
        )
        short = Validator(load_contracts(tmp_path)["telephony"][0])
        reference = Validator(_contract(full))
        for sample in (
            {},
            {"interaction_id": UUID},
            {"interaction_id": "x", "channel_type": "fax", "metadata": {"agent_id": 1}},
            {"interaction_id": UUID, "metadata": "none", "more": [1]},
        ):
            assert short.check(sample) == reference.check(sample)

    def test_shorthand_with_non_object_property_is_config_error(self, tmp_path: Path) -> None:
        """A shorthand entry that is neither a schema nor a map of properties names its place."""
        path = _write(
            tmp_path,
            "telephony/1.0.json",
            _contract_body(schema=None, schema_definition={"metadata": {"agent_id": "string"}}),
        )
        with pytest.raises(ConfigError, match=r"schema_definition\.metadata\.agent_id") as caught:
            load_contracts(tmp_path)
        assert str(path) in str(caught.value)


class TestSelect:
    def _contracts(self, tmp_path: Path) -> dict[str, list[Contract]]:
        for version in ("1.0", "1.2", "1.10", "2.0"):
            _write(tmp_path, f"telephony/{version}.json", _contract_body(version=version))
        return load_contracts(tmp_path)

    def test_versions_sort_numerically_and_none_is_newest(self, tmp_path: Path) -> None:
        """Contracts sort by (major, minor) as numbers; no pinned version means the newest."""
        contracts = self._contracts(tmp_path)
        assert [c.version for c in contracts["telephony"]] == ["1.0", "1.2", "1.10", "2.0"]
        assert select_contract(contracts, "telephony", None).version == "2.0"
        assert select_contract(contracts, "telephony", "1.10").minor == 10

    def test_unknown_version_names_the_variable(self, tmp_path: Path) -> None:
        """A pinned version that does not exist names MESH_TELEPHONY__SCHEMA_VERSION."""
        contracts = self._contracts(tmp_path)
        with pytest.raises(ConfigError, match="MESH_TELEPHONY__SCHEMA_VERSION") as caught:
            select_contract(contracts, "telephony", "1.1")
        assert "1.0, 1.2, 1.10, 2.0" in str(caught.value)

    def test_domain_without_contract_names_the_variable(self) -> None:
        """A domain with no contract at all is a configuration error naming its variable."""
        with pytest.raises(ConfigError, match="MESH_WFM__SCHEMA_VERSION"):
            select_contract({}, "wfm", None)


class TestRename:
    def test_a_rename_loads_and_is_part_of_the_published_document(self, tmp_path: Path) -> None:
        """``rename`` is kept, and in the registry document only when there is one."""
        rename = {"agent": "metadata.agent_id"}
        _write(tmp_path, "telephony/1.0.json", _contract_body())
        _write(tmp_path, "telephony/2.0.json", _contract_body(version="2.0", rename=rename))
        plain, renaming = load_contracts(tmp_path)["telephony"]
        assert plain.rename == {}
        assert "rename" not in contract_document(plain)
        assert renaming.rename == rename
        assert contract_document(renaming)["rename"] == rename


class TestSelectSideBySide:
    def _contracts(self, tmp_path: Path) -> dict[str, list[Contract]]:
        for version in ("1.0", "1.1", "2.0", "3.0"):
            _write(tmp_path, f"telephony/{version}.json", _contract_body(version=version))
        return load_contracts(tmp_path)

    @pytest.mark.parametrize("versions", ["1.1,2.0", "2.0,1.1", "2.0 , 1.1"])
    def test_two_majors_newest_first_in_any_order(self, tmp_path: Path, versions: str) -> None:
        """Two versions of different majors: the newest major is the primary (first)."""
        chosen = select_contracts(self._contracts(tmp_path), "telephony", versions)
        assert [c.version for c in chosen] == ["2.0", "1.1"]

    def test_one_or_none_is_like_select_contract(self, tmp_path: Path) -> None:
        contracts = self._contracts(tmp_path)
        assert [c.version for c in select_contracts(contracts, "telephony", None)] == ["3.0"]
        assert [c.version for c in select_contracts(contracts, "telephony", "1.0")] == ["1.0"]

    @pytest.mark.parametrize(
        ("versions", "problem"),
        [
            ("1.0,1.1", "two versions of one major"),
            ("1.0,2.0,3.0", "at most 2 versions"),
            ("1.0,2.5", "no telephony contract version '2.5'"),
        ],
    )
    def test_bad_lists_name_the_variable(self, tmp_path: Path, versions: str, problem: str) -> None:
        with pytest.raises(ConfigError) as caught:
            select_contracts(self._contracts(tmp_path), "telephony", versions)
        assert str(caught.value).startswith("MESH_TELEPHONY__SCHEMA_VERSION: ")
        assert problem in str(caught.value)


class TestGuideFile:
    """The guide's Telephony contract, copied verbatim, loads as it is."""

    _GUIDE = Path(__file__).resolve().parents[1] / "data" / "guide" / "telephony-1.0.json"

    def test_loads_verbatim_with_the_default_destination(self, tmp_path: Path) -> None:
        _write(tmp_path, "telephony/1.0.json", self._GUIDE.read_text(encoding="utf-8"))
        contract = load_contracts(tmp_path)["telephony"][0]
        assert "destination" not in json.loads(self._GUIDE.read_text(encoding="utf-8"))
        assert contract.destination == "telephony-cdr-export"
        assert contract.owner_role == "Telephony_Admin"
        assert contract.schema["properties"]["metadata"] == {
            "type": "object",
            "properties": {"campaign_id": {"type": "string"}, "agent_id": {"type": "string"}},
        }
        validator = Validator(contract)
        assert not list(validator.check({"interaction_id": UUID, "channel_type": "voice"}))
        assert [i.rule for i in validator.check({"channel_type": "fax"})] == ["enum"]

    def test_a_domain_without_default_prefix_needs_a_destination(self, tmp_path: Path) -> None:
        body = json.loads(self._GUIDE.read_text(encoding="utf-8"))
        body["domain"] = "billing"
        _write(tmp_path, "billing/1.0.json", body)
        with pytest.raises(ConfigError, match=r"missing key: destination \(domain 'billing'"):
            load_contracts(tmp_path)
