"""Reference chains for the performance benchmark: the in-process floor and the naive chain.

Both take the raw results pages a job returned for each window (the same bytes the producer
got) and do one window's work without any I/O: keep the conversations that started in the
window, map them with the Telephony mapper, validate, serialise data and dead-letter lines, and
compress each window's data and DLQ payloads. The floor is the cheapest honest version (orjson,
the contract's fastjsonschema function compiled once, one error per rejection, the producer's
codec and level); the naive chain is what a typical implementation pays (json, jsonschema with
every error, gzip level 9). A benchmark compares libraries, so this module imports several.
``python -m tests.benchmarks.chains CHAIN DIR COMPRESSION GC`` runs one chain over pages saved
by the harness in a fresh process and prints its CPU seconds as JSON.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from producer.contracts.registry import SCHEMA_FORMATS, Contract, compile_schema
from producer.domains.telephony.genesys import map_conversation
from producer.lake.encode import GZIP_LEVEL, ZSTD_LEVEL

__all__ = [
    "ChainResult",
    "WindowPages",
    "floor_chain",
    "load_windows",
    "naive_chain",
    "save_windows",
]

_NAIVE_GZIP_LEVEL = 9
_REJECTED_AT = "2000-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class WindowPages:
    """The raw results pages of one window's job; ``start``/``end`` as the platform writes
    times (``YYYY-MM-DDTHH:MM:SS.mmmZ``), so a string comparison places a conversation."""

    start: str
    end: str
    pages: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class ChainResult:
    """What a chain did: conversations parsed, records landed and dead-lettered, bytes out."""

    parsed: int
    landed: int
    dead_lettered: int
    compressed_bytes: int

    @property
    def exported(self) -> int:
        """Records of the windows: landed + dead-lettered (the producer's ``fetched``)."""
        return self.landed + self.dead_lettered


def floor_chain(
    windows: Iterable[WindowPages], contract: Contract, compression: str = "gzip"
) -> ChainResult:
    """The unavoidable work: orjson parse, map, fastjsonschema (compiled once), orjson lines,
    compression with the producer's codec and level. A rejection keeps its first error only."""
    check = compile_schema(contract.schema)
    compress = _compressor(compression)
    head = {"x-schema-version": contract.version, "domain": contract.domain}
    parsed = landed = dead = size = 0
    for window in windows:
        data: list[bytes] = []
        dlq: list[bytes] = []
        for raw in window.pages:
            conversations = orjson.loads(raw)["conversations"]
            parsed += len(conversations)
            for source in conversations:
                start = source.get("conversationStart")
                if not (isinstance(start, str) and window.start <= start < window.end):
                    continue
                mapped = map_conversation(source)
                errors: list[dict[str, Any]]
                stage = mapped.stage
                if mapped.record is not None and not mapped.issues:
                    try:
                        check(mapped.record)
                    except ValueError as exc:  # fastjsonschema's JsonSchemaValueException
                        errors, stage = [_first_error(exc)], "validation"
                    else:
                        data.append(orjson.dumps({**head, "data": mapped.record}))
                        continue
                else:
                    errors = [
                        {"path": i.path, "rule": i.rule, "message": i.message}
                        for i in mapped.issues
                    ]
                line = _dlq_document(
                    contract,
                    window,
                    stage=stage,
                    errors=errors,
                    record=mapped.record,
                    source=source,
                )
                dlq.append(orjson.dumps(line))
        landed += len(data)
        dead += len(dlq)
        size += sum(len(compress(b"\n".join([*lines, b""]))) for lines in (data, dlq) if lines)
    return ChainResult(parsed, landed, dead, size)


def naive_chain(
    windows: Iterable[WindowPages], contract: Contract, *, validator_once: bool = False
) -> ChainResult:
    """A typical implementation: json, ``jsonschema.validate`` per record (the documented call:
    it checks the schema and builds a validator each time; the first error is kept), json lines,
    gzip level 9. ``validator_once``: a careful variant that builds one validator and keeps
    every error."""
    validate = _validate_once(contract) if validator_once else _validate_each(contract)
    parsed = landed = dead = size = 0
    for window in windows:
        data: list[bytes] = []
        dlq: list[bytes] = []
        for raw in window.pages:
            conversations = json.loads(raw)["conversations"]
            parsed += len(conversations)
            for source in conversations:
                start = source.get("conversationStart")
                if not (isinstance(start, str) and window.start <= start < window.end):
                    continue
                mapped = map_conversation(source)
                stage = mapped.stage
                if mapped.record is not None and not mapped.issues:
                    errors = validate(mapped.record)
                    if not errors:
                        document = {**_head(contract), "data": mapped.record}
                        data.append(json.dumps(document, separators=(",", ":")).encode())
                        continue
                    stage = "validation"
                else:
                    errors = [
                        {"path": i.path, "rule": i.rule, "message": i.message}
                        for i in mapped.issues
                    ]
                line = _dlq_document(
                    contract,
                    window,
                    stage=stage,
                    errors=errors,
                    record=mapped.record,
                    source=source,
                )
                dlq.append(json.dumps(line, separators=(",", ":")).encode())
        landed += len(data)
        dead += len(dlq)
        for lines in (data, dlq):
            if lines:
                payload = b"".join(line + b"\n" for line in lines)
                size += len(gzip.compress(payload, compresslevel=_NAIVE_GZIP_LEVEL, mtime=0))
    return ChainResult(parsed, landed, dead, size)


def _validate_each(contract: Contract) -> Callable[[Any], list[dict[str, Any]]]:
    checker = _format_checker()

    def validate(record: Any) -> list[dict[str, Any]]:
        try:
            jsonschema.validate(record, contract.schema, format_checker=checker)
        except jsonschema.ValidationError as error:
            return [_error(error)]
        return []

    return validate


def _validate_once(contract: Contract) -> Callable[[Any], list[dict[str, Any]]]:
    validator = jsonschema.Draft7Validator(contract.schema, format_checker=_format_checker())
    return lambda record: [_error(error) for error in validator.iter_errors(record)]


def _error(error: jsonschema.ValidationError) -> dict[str, Any]:
    return {"path": error.json_path, "rule": str(error.validator), "message": error.message}


def _head(contract: Contract) -> dict[str, str]:
    return {"x-schema-version": contract.version, "domain": contract.domain}


def _dlq_document(
    contract: Contract,
    window: WindowPages,
    *,
    stage: str,
    errors: list[dict[str, Any]],
    record: Any,
    source: Any,
) -> dict[str, Any]:
    return {
        "domain": contract.domain,
        "x-schema-version": contract.version,
        "window": {"start": window.start, "end": window.end},
        "rejected_at": _REJECTED_AT,
        "stage": stage,
        "errors": errors,
        "record": record,
        "source": source,
    }


def _first_error(exc: ValueError) -> dict[str, Any]:
    return {
        "path": str(getattr(exc, "name", "$")),
        "rule": str(getattr(exc, "rule", "schema")),
        "message": str(getattr(exc, "message", exc)),
    }


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    for name, check in SCHEMA_FORMATS.items():
        checker.checks(name)(check)
    return checker


def _compressor(compression: str) -> Callable[[bytes], bytes]:
    if compression == "gzip":
        return lambda payload: gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
    import zstandard

    compressor = zstandard.ZstdCompressor(
        level=ZSTD_LEVEL, write_checksum=True, write_content_size=True
    )
    return compressor.compress


def save_windows(directory: Path, windows: Sequence[WindowPages]) -> None:
    """Write windows to ``directory``: one file per page and a ``windows.json`` manifest."""
    manifest = []
    for index, window in enumerate(windows):
        files = []
        for number, page in enumerate(window.pages):
            name = f"w{index:04d}-p{number:04d}.json"
            (directory / name).write_bytes(page)
            files.append(name)
        manifest.append({"start": window.start, "end": window.end, "files": files})
    (directory / "windows.json").write_text(json.dumps(manifest))


def load_windows(directory: Path) -> list[WindowPages]:
    """The windows ``save_windows`` wrote, pages read into memory."""
    manifest = json.loads((directory / "windows.json").read_text())
    return [
        WindowPages(
            item["start"], item["end"], [(directory / name).read_bytes() for name in item["files"]]
        )
        for item in manifest
    ]


def main() -> None:
    """``CHAIN DIR COMPRESSION GC``: run one chain, print ``{cpu_s, ...counts}`` as JSON.

    CHAIN is ``floor``, ``naive`` or ``naive-once``; GC is ``default`` (CPython's thresholds)
    or ``tuned`` (exactly what ``mesh-producer run`` does, applied after loading).
    """
    from producer.contracts.registry import load_domain_contracts, select_contract
    from producer.settings import default_contracts_dir

    chain, directory, compression, collector = sys.argv[1:5]
    contracts = load_domain_contracts(default_contracts_dir(), "telephony")
    contract = select_contract(contracts, "telephony", None)
    windows = load_windows(Path(directory))
    chains: dict[str, Callable[[], ChainResult]] = {
        "floor": lambda: floor_chain(windows, contract, compression),
        "naive": lambda: naive_chain(windows, contract),
        "naive-once": lambda: naive_chain(windows, contract, validator_once=True),
    }
    if collector == "tuned":
        from producer.cli import _tune_collector  # the producer's own call, not a copy of it

        _tune_collector()
    started = time.process_time()
    result = chains[chain]()
    cpu_s = time.process_time() - started
    print(json.dumps({"chain": chain, "gc": collector, "cpu_s": cpu_s, **asdict(result)}))


if __name__ == "__main__":
    main()
