"""Step 4, validate: load the contracts from ``config/contracts/{domain}/{MAJOR.MINOR}.json``.

Owns the contract file format, its checks (one-line ``ConfigError`` naming the file and the
problem) and the one place schemas are compiled with fastjsonschema (``compile_schema``, cached,
with the ``uuid`` format). Reads files only; never touches the lake or the network.

Shorthand: a file may give ``schema_definition`` (the guide's form) instead of ``schema``. It is a
map of property name to property schema. A value holding a ``type`` (string or list), ``enum``,
``const``, ``$ref``, ``allOf``, ``anyOf`` or ``oneOf`` is a property schema, kept as is; any other
map is a nested object whose entries are its properties (``{"type": "object", "properties":
...}``). ``"required": true`` inside a property schema is lifted into its parent's ``required``
list. The result is ``{"$schema": draft-07, "type": "object", "properties": ..., "required":
[...]}``; additional properties stay allowed, as in a full ``schema``.

The guide's own file (``domain``, ``version``, ``schema_definition``, ``owner_role``, no
``destination``) loads as is: ``destination`` defaults to the domain's default output prefix.

Derivation: a contract may declare ``rename``, a map of dotted paths of the domain mapper's record
to dotted paths of this contract's record (``{"metadata.agent_id": "metadata.staff_id"}``). It is
how a new major changes a field's name while the mapper, written once per domain, stays as it is;
``producer.contracts.derive`` applies it. Each target must be a property of the schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import fastjsonschema

from producer.errors import ConfigError
from producer.settings import default_prefix

__all__ = [
    "DRAFT_07",
    "MAX_WRITTEN_VERSIONS",
    "SCHEMA_FORMATS",
    "Contract",
    "compile_schema",
    "contract_document",
    "load_contracts",
    "load_domain_contracts",
    "parse_contract",
    "select_contract",
    "select_contracts",
]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_uuid(value: Any) -> bool:
    # A format constrains strings only; other types are the "type" keyword's business.
    return not isinstance(value, str) or _UUID.fullmatch(value) is not None


SCHEMA_FORMATS: Mapping[str, Callable[[Any], bool]] = {"uuid": _is_uuid}
"""Formats contracts may use beyond fastjsonschema's own; the validator explains with them too."""

_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED_KEYS = ("domain", "version", "owner_role")
_KNOWN_KEYS = frozenset(
    {
        *_REQUIRED_KEYS,
        "destination",
        "description",
        "schema",
        "schema_definition",
        "defaults",
        "rename",
    }
)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_WRITTEN_VERSIONS = 2
_SCHEMA_MARKERS = {"type": (str, list), "enum": (list,), "$ref": (str,)}
_SCHEMA_MARKERS_ANY = ("const", "allOf", "anyOf", "oneOf")


@dataclass(frozen=True)
class Contract:
    """One published contract version of a domain: metadata plus a draft-07 JSON Schema.

    ``schema`` is always the full JSON Schema (shorthand files are normalised on load);
    ``defaults`` maps optional field names (dotted for nested ones) to their default value;
    ``rename`` maps dotted paths of the domain mapper's record to this contract's paths.
    """

    domain: str
    version: str
    major: int
    minor: int
    owner_role: str
    destination: str
    description: str
    schema: Mapping[str, Any]
    defaults: Mapping[str, Any]
    path: Path
    rename: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        # The schema and defaults are dicts; (domain, version, path) identifies a contract.
        return hash((self.domain, self.version, str(self.path)))


@lru_cache(maxsize=64)
def _compile_text(schema_text: str) -> Callable[[Any], Any]:
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        json.loads(schema_text), formats=SCHEMA_FORMATS, use_default=False
    )
    return compiled


def compile_schema(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The fastjsonschema validator of ``schema`` (draft-07, with ``SCHEMA_FORMATS``).

    Compiled once per distinct schema and cached. The returned function raises
    ``fastjsonschema.JsonSchemaValueException`` on the first problem and never fills in
    ``default`` values (it does not mutate what it checks). Raises whatever fastjsonschema raises
    for a schema it cannot compile (``load_contracts`` turns that into ``ConfigError``).
    """
    return _compile_text(json.dumps(schema, sort_keys=True))


def load_contracts(directory: Path) -> dict[str, list[Contract]]:
    """Load every ``{domain}/{MAJOR.MINOR}.json`` under ``directory``.

    Returns domain -> contracts sorted by (major, minor). Raises ``ConfigError`` with one line
    naming the file and the problem for: a missing directory, a contract file outside a domain
    folder, bad JSON, missing or unknown keys, a version that does not match the file name, a
    domain that does not match the folder, bad defaults, or a schema fastjsonschema cannot
    compile. Subfolders of a domain folder, non-``.json`` files and folders starting with ``.``
    or ``_`` are ignored.
    """
    if not directory.is_dir():
        raise ConfigError(
            f"MESH_CONTRACTS_DIR: contracts directory {directory} does not exist or is not a folder"
        )
    found: dict[str, list[Contract]] = {}
    for stray in sorted(directory.glob("*.json")):
        _fail(stray, "contract files belong in {domain}/{MAJOR.MINOR}.json")
    folders = (p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    for folder in sorted(folders):
        files = sorted(p for p in folder.glob("*.json") if p.is_file())
        contracts = [_load_file(path) for path in files]
        if contracts:
            found[folder.name] = sorted(contracts, key=lambda c: (c.major, c.minor))
    return found


def load_domain_contracts(directory: Path, domain: str) -> dict[str, list[Contract]]:
    """Load only ``{directory}/{domain}/*.json`` (one domain's failure stays its own).

    Same result shape and errors as ``load_contracts``, for that one domain.
    """
    folder = directory / domain
    if not folder.is_dir():
        raise ConfigError(
            f"MESH_CONTRACTS_DIR: no contract folder {folder} for the {domain} domain"
        )
    contracts = [_load_file(path) for path in sorted(folder.glob("*.json")) if path.is_file()]
    return {domain: sorted(contracts, key=lambda c: (c.major, c.minor))} if contracts else {}


def parse_contract(path: Path, text: str) -> Contract:
    """A contract from ``text``, checked as if it were the file at ``path``.

    For contract text that is not a file of ``MESH_CONTRACTS_DIR``: a registry object
    (``_registry/{domain}/{M.m}.json``) or a file at a git revision. ``path`` must still end in
    ``{domain}/{MAJOR.MINOR}.json``; it names the source in the one-line ``ConfigError``.
    """
    return _load_file(path, text)


def contract_document(contract: Contract) -> dict[str, Any]:
    """The canonical content of ``contract``: what the registry stores and immutability compares.

    Always the full ``schema`` (shorthand normalised); ``parse_contract`` of its JSON gives the
    contract back. Two files that differ only in formatting or shorthand have equal documents.
    ``rename`` appears only when the contract declares one.
    """
    document: dict[str, Any] = {
        "domain": contract.domain,
        "version": contract.version,
        "owner_role": contract.owner_role,
        "destination": contract.destination,
        "description": contract.description,
        "schema": contract.schema,
        "defaults": contract.defaults,
    }
    if contract.rename:
        document["rename"] = contract.rename
    return document


def select_contract(
    contracts: Mapping[str, Sequence[Contract]], domain: str, version: str | None
) -> Contract:
    """The contract ``domain`` writes: ``version`` ("MAJOR.MINOR"), or the newest when None.

    Raises ``ConfigError`` naming ``MESH_{DOMAIN}__SCHEMA_VERSION`` when it does not exist.
    """
    variable = f"MESH_{domain.upper()}__SCHEMA_VERSION"
    available = list(contracts.get(domain, ()))
    if not available:
        raise ConfigError(
            f"{variable}: no contract for domain {domain!r} "
            "(add config/contracts/{domain}/{MAJOR.MINOR}.json or fix MESH_CONTRACTS_DIR)"
        )
    if version is None:
        return max(available, key=lambda c: (c.major, c.minor))
    for contract in available:
        if contract.version == version:
            return contract
    versions = ", ".join(c.version for c in available)
    raise ConfigError(
        f"{variable}: no {domain} contract version {version!r} (available: {versions})"
    )


def select_contracts(
    contracts: Mapping[str, Sequence[Contract]], domain: str, versions: str | None
) -> tuple[Contract, ...]:
    """The contracts ``domain`` writes side by side: newest major first (the primary).

    ``versions`` is ``MAJOR.MINOR`` or, during a major migration, two of them with different
    majors separated by a comma (``1.0,2.0``, in any order); None means the newest contract.
    Raises ``ConfigError`` naming ``MESH_{DOMAIN}__SCHEMA_VERSION`` for an unknown version, two
    versions of one major, or more than ``MAX_WRITTEN_VERSIONS``.
    """
    variable = f"MESH_{domain.upper()}__SCHEMA_VERSION"
    if versions is None:
        return (select_contract(contracts, domain, None),)
    wanted = [version.strip() for version in versions.split(",")]
    if len(wanted) > MAX_WRITTEN_VERSIONS:
        raise ConfigError(
            f"{variable}: at most {MAX_WRITTEN_VERSIONS} versions are written side by side, "
            f"got {len(wanted)} ({versions})"
        )
    chosen = [select_contract(contracts, domain, version) for version in wanted]
    majors = [contract.major for contract in chosen]
    if len(set(majors)) != len(majors):
        raise ConfigError(
            f"{variable}: {versions} names two versions of one major; side by side means one "
            "version per major (a newer minor already serves the older one's consumers)"
        )
    return tuple(sorted(chosen, key=lambda c: c.major, reverse=True))


def _fail(path: Path, problem: str) -> NoReturn:
    one_line = " ".join(str(problem).split())
    raise ConfigError(f"contract file {path}: {one_line}")


def _load_file(path: Path, text: str | None = None) -> Contract:
    if _VERSION.match(path.stem) is None:
        _fail(path, "file name must be MAJOR.MINOR.json, e.g. 1.0.json")
    domain = path.parent.name
    if not _DOMAIN.match(domain):
        _fail(path, f"folder name {domain!r} is not a domain name (lowercase letters, digits, _)")
    raw = _read_object(path, text)
    _check_keys(path, raw)
    if raw["version"] != path.stem:
        _fail(path, f"version {raw['version']!r} does not match the file name {path.name!r}")
    if raw["domain"] != domain:
        _fail(path, f"domain {raw['domain']!r} does not match the folder {domain!r}")
    schema = _schema_of(path, raw)
    try:
        compile_schema(schema)
    except Exception as exc:  # fastjsonschema raises several types for a bad schema
        _fail(path, f"schema does not compile: {exc.__class__.__name__}: {exc}")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        _fail(path, "'defaults' must be an object of optional field -> default value")
    _check_defaults(path, schema, defaults)
    rename = _rename_of(path, raw.get("rename", {}), schema)
    major, minor = (int(part) for part in path.stem.split("."))
    return Contract(
        domain=domain,
        version=path.stem,
        major=major,
        minor=minor,
        owner_role=raw["owner_role"],
        destination=_destination_of(path, domain, raw),
        description=raw.get("description", ""),
        schema=schema,
        defaults=defaults,
        path=path,
        rename=rename,
    )


def _read_object(path: Path, text: str | None = None) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8") if text is None else text)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(path, f"cannot read: {exc.__class__.__name__}")
    except json.JSONDecodeError as exc:
        _fail(path, f"invalid JSON: {exc}")
    if not isinstance(raw, dict):
        _fail(path, "must be a JSON object")
    return raw


def _check_keys(path: Path, raw: Mapping[str, Any]) -> None:
    missing = [key for key in _REQUIRED_KEYS if key not in raw]
    if "schema" not in raw and "schema_definition" not in raw:
        missing.append("schema")
    if missing:
        _fail(path, f"missing key(s): {', '.join(missing)}")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        _fail(path, f"unknown key(s): {', '.join(unknown)}")
    for key in (*_REQUIRED_KEYS, "destination", "description"):
        if key in raw and not (isinstance(raw[key], str) and (raw[key] or key == "description")):
            _fail(path, f"{key!r} must be a non-empty string")


def _destination_of(path: Path, domain: str, raw: Mapping[str, Any]) -> str:
    """The file's ``destination``, or the domain's default output prefix (the guide's files
    name none)."""
    if "destination" in raw:
        return str(raw["destination"])
    default = default_prefix(domain)
    if default is None:
        _fail(path, f"missing key: destination (domain {domain!r} has no default prefix)")
    return default


def _schema_of(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    if "schema" in raw and "schema_definition" in raw:
        _fail(path, "give either 'schema' or 'schema_definition', not both")
    if "schema" in raw:
        schema = raw["schema"]
        if not isinstance(schema, dict):
            _fail(path, "'schema' must be a JSON Schema object")
        declared = schema.get("$schema", DRAFT_07)
        if not isinstance(declared, str) or declared.rstrip("#") != DRAFT_07.rstrip("#"):
            _fail(path, f"'$schema' must be draft-07 ({DRAFT_07}), got {declared!r}")
        return schema
    definition = raw["schema_definition"]
    if not isinstance(definition, dict) or not definition:
        _fail(path, "'schema_definition' must be a non-empty map of property -> schema")
    schema = {"$schema": DRAFT_07, "type": "object"}
    schema.update(_normalise_properties(path, definition, "schema_definition"))
    return schema


def _is_property_schema(value: dict[str, Any]) -> bool:
    for key, kinds in _SCHEMA_MARKERS.items():
        if isinstance(value.get(key), kinds):
            return True
    return any(key in value for key in _SCHEMA_MARKERS_ANY)


def _normalise_properties(path: Path, definition: dict[str, Any], where: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, value in definition.items():
        if not isinstance(value, dict):
            _fail(path, f"{where}.{name}: expected a property schema or a map of properties")
        if _is_property_schema(value):
            prop = dict(value)
            if prop.get("required") is True:
                del prop["required"]
                required.append(name)
            properties[name] = prop
        else:
            nested = {"type": "object"}
            nested.update(_normalise_properties(path, value, f"{where}.{name}"))
            properties[name] = nested
    result: dict[str, Any] = {"properties": properties}
    if required:
        result["required"] = required
    return result


def _rename_of(path: Path, rename: Any, schema: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(rename, dict):
        _fail(path, "'rename' must be an object of mapper field -> contract field")
    for source, target in rename.items():
        if not isinstance(target, str) or not _PATH.match(source) or not _PATH.match(target):
            _fail(path, f"rename {source!r}: expected dotted field names, e.g. a.b -> a.c")
        if source == target:
            _fail(path, f"rename {source!r} -> {target!r} renames nothing")
        if _property_at(schema, target) is None:
            _fail(path, f"rename target {target!r} does not name a property of the schema")
    targets = list(rename.values())
    if len(set(targets)) != len(targets):
        _fail(path, "rename maps two fields to the same target")
    overlapping = set(rename) & set(targets)
    if overlapping:
        _fail(path, f"rename {sorted(overlapping)[0]!r} is both a source and a target")
    return rename


def _property_at(schema: Mapping[str, Any], dotted: str) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] = schema
    for part in dotted.split("."):
        properties = node.get("properties")
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        node = properties[part]
    return node


def _check_defaults(path: Path, schema: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    for name in defaults:
        node: Mapping[str, Any] = schema
        parts = name.split(".")
        for depth, part in enumerate(parts):
            properties = node.get("properties")
            if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
                _fail(path, f"default {name!r} does not name a property of the schema")
            required = node.get("required", [])
            if depth == len(parts) - 1 and isinstance(required, list) and part in required:
                _fail(path, f"default {name!r} names a required field (defaults are optional)")
            node = properties[part]
        try:
            compile_schema({"$schema": DRAFT_07, **node})(defaults[name])
        except fastjsonschema.JsonSchemaValueException as exc:
            _fail(path, f"default {name!r} breaks its own field schema: {exc.message}")
        except Exception:  # noqa: S110 - a sub-schema that cannot stand alone ($ref): skip the check
            pass
