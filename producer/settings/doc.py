"""Configuration reference: ``docs/configuration.md``, generated from the settings model.

Reads ``producer.settings.model`` (field names, types, defaults, bounds, descriptions) and
renders one Markdown page: the process-wide ``MESH_*`` variables, then the ``MESH_{DOMAIN}__*``
variables with each domain's defaults side by side. ``render_configuration_doc()`` is pure; only
``main()`` reads or writes the file. It never reads the environment.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from producer.settings.model import DomainSettings, Settings

__all__ = ["DOC_PATH", "main", "render_configuration_doc", "variable_names"]

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_COMMAND = "python -m producer.settings.doc"

# Meanings of fields that carry no ``Field(description=...)`` yet; a description in the model wins.
_MEANINGS: dict[str, str] = {
    "domains": "enabled domains, comma-separated; each needs its client id and secret below",
    "genesys_region": "Genesys Cloud region host, e.g. `mypurecloud.ie`; API and login URLs "
    "derive from it",
    "genesys_login_url": "explicit OAuth base URL, overrides the region (e.g. the simulator's)",
    "genesys_api_url": "explicit API base URL, overrides the region",
    "lake_url": "the lake: `s3://bucket[/prefix]`, `az://container[/prefix]`, "
    "`gs://bucket[/prefix]` (prefix by the rule of `PREFIX` below) or `file:///path`",
    "start_at": "where a domain without checkpoint starts (aligned down to a window); "
    "unset: 24 h before the start",
    "window_seconds": "window length; must divide a day (86400) evenly",
    "http_port": "port of `/metrics`, `/healthz`, `/readyz` (0: any free port)",
    "http_host": "address that port binds",
    "log_level": "log level",
    "log_format": "`json` lines, or `console` for humans",
    "contracts_dir": "folder of contract files `{domain}/{MAJOR.MINOR}.json`",
    "compression": "compression of lake objects",
    "shutdown_grace_seconds": "time the window in flight gets after SIGTERM; keep it below the "
    "pod's `terminationGracePeriodSeconds`",
    "request_timeout_seconds": "timeout of one HTTP attempt",
    "request_retry_seconds": "how long one request may keep retrying before its window fails",
    "max_retry_after_seconds": "a 429 asking for a longer wait is a quota error, not a pause",
    "resweep_hours": "trailing hours re-pulled for late data",
    "org_rate_limit_per_minute": "request budget shared by all domains, served by priority",
    "admin_token": "bearer token of the runtime quota endpoint, at least 16 visible ASCII "
    "characters; unset: the endpoint is off",
    "alert_webhook_url": "Slack-compatible webhook for dead-letter alerts; unset: none sent",
    "alert_threshold_ratio": "dead-lettered / fetched ratio of a domain that raises an alert",
    "alert_min_records": "records fetched in the alert period before the ratio is judged",
    "alert_window_seconds": "the period over which the ratio is computed",
    "client_id": "Genesys: the domain's own OAuth client id; required with `PLATFORM=genesys`",
    "client_secret": "Genesys: its client secret; set this or `CLIENT_SECRET_FILE`, not both",
    "client_secret_file": "file holding the secret, re-read on `invalid_client`, so a rotated "
    "Kubernetes Secret is picked up without restart",
    "rate_limit_per_minute": "the domain app's own request quota (the platform allows 300/min "
    "per token)",
    "priority": "sent as `x-priority`; served first when a shared budget is short",
    "prefix": "the domain's output port: key prefix in the lake; `/`-separated segments of "
    "letters, digits, `.`, `_`, `-`, each starting with a letter or digit",
    "bucket": "bucket of the output port; unset: the lake's bucket",
    "token_refresh_margin_seconds": "renew the token this long before expiry (capped for "
    "short-lived tokens)",
    "schema_version": "contract version (`MAJOR.MINOR`) the domain writes; unset: the newest. "
    "During a major migration two versions of different majors (`1.0,2.0`): both are written "
    "side by side (docs/contracts.md)",
    "job_poll_seconds": "first poll interval of an analytics job (backs off to 5x)",
    "page_size": "results page size",
    "part_max_records": "records per lake object before a new part starts",
    "resweep_interval_seconds": "how often landed windows inside the re-sweep horizon are "
    "exported again",
    "settle_seconds": "how far behind now the source is read (its search index lags a little)",
    "business_units": "business unit ids, comma-separated; empty: every unit the API lists",
    "snapshot_seconds": "how often published schedules are read again",
    "horizon_weeks": "weeks after the current one that are exported",
}

_HEADER = f"""# Configuration reference

<!-- Generated from producer/settings/model.py by `{_COMMAND}`. Do not edit by hand:
     change the settings model, then run that command (a test fails while this file is stale). -->

Every setting is an environment variable: prefix `MESH_`, nested with `__`, names are not case
sensitive. `mesh-producer run` reads them once at start; a bad value ends it with exit code 2 and
one line naming the variable. Secrets are never logged.

S3 endpoint, region and credentials come from the standard AWS variables and chain
(`AWS_ENDPOINT_URL_S3`, `AWS_REGION`, web identity for IRSA), as botocore reads them. An `az://`
lake's account comes from `AZURE_STORAGE_CONNECTION_STRING`, `AZURE_STORAGE_ACCOUNT_URL` or
`AZURE_STORAGE_ACCOUNT` (credentials: azure-identity's default chain); a `gs://` lake uses
Application Default Credentials, or `STORAGE_EMULATOR_HOST` (`docs/lake-backends.md`).
"""


def _inner(annotation: Any) -> tuple[Any, bool]:
    """Strip ``X | None``; returns (X, optional)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _type_name(annotation: Any) -> str:
    base, _ = _inner(annotation)
    if get_origin(base) is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(base))
    if get_origin(base) is tuple:
        item = _type_name(get_args(base)[0]).removeprefix("one of ")
        return "comma-separated list" + ("" if item == "string" else f" of {item}")
    names: dict[Any, str] = {
        int: "integer",
        float: "number",
        str: "string",
        bool: "`true` or `false`",
        Path: "path",
        SecretStr: "secret",
        datetime: "ISO 8601 time (UTC if no offset)",
    }
    return names.get(base, getattr(base, "__name__", str(base)))


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _bounds(field: FieldInfo) -> str:
    """Numeric bounds and non-emptiness from the field's constraint metadata."""
    marks: list[str] = []
    for item in field.metadata:
        marks.extend(
            f"{sign} {getattr(item, attr)}"
            for attr, sign in _BOUNDS
            if getattr(item, attr, None) is not None
        )
        if (getattr(item, "min_length", None) or 0) > 0:
            marks.append("not empty")
    return f" ({', '.join(marks)})" if marks else ""


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, tuple):
        return f"`{','.join(str(v) for v in value)}`" if value else "empty"
    return f"`{value}`"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    factory: Callable[..., Any] | None = field.default_factory
    if factory is not None:
        doc = (factory.__doc__ or factory.__name__).strip().split("\n")[0]
        doc = doc.split(" (")[0].rstrip(".").replace("``", "`")
        return doc[:1].lower() + doc[1:]
    if field.default is None:
        return "unset"
    return _value(field.default)


def _meaning(name: str, field: FieldInfo) -> str:
    text = field.description or _MEANINGS.get(name)
    return text or "(no description: add `Field(description=...)` in `producer/settings/model.py`)"


def _is_model(annotation: Any) -> bool:
    base, _ = _inner(annotation)
    return isinstance(base, type) and issubclass(base, BaseModel)


def _domain_models() -> dict[str, type[DomainSettings]]:
    models: dict[str, type[DomainSettings]] = {}
    for name, field in Settings.model_fields.items():
        base, _ = _inner(field.annotation)
        if isinstance(base, type) and issubclass(base, DomainSettings):
            models[name] = base
    return models


def _general_table() -> list[str]:
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if _is_model(field.annotation):
            continue
        kind = _type_name(field.annotation) + _bounds(field)
        rows.append(
            f"| `MESH_{name.upper()}` | {kind} | {_default(field)} | {_meaning(name, field)} |"
        )
    return rows


def _domain_table(models: dict[str, type[DomainSettings]]) -> list[str]:
    names: list[str] = list(DomainSettings.model_fields)
    for model in models.values():
        names.extend(n for n in model.model_fields if n not in names)
    domains = list(models)
    head = "| variable | type | " + " | ".join(f"{d} default" for d in domains) + " | meaning |"
    rows = [head, "|---|---|" + "---|" * len(domains) + "---|"]
    for name in names:
        fields = {d: models[d].model_fields.get(name) for d in domains}
        first = next(f for f in fields.values() if f is not None)
        kind = _type_name(first.annotation) + _bounds(first)
        defaults = " | ".join("—" if f is None else _default(f) for f in fields.values())
        variable = f"`MESH_{{DOMAIN}}__{name.upper()}`"
        rows.append(f"| {variable} | {kind} | {defaults} | {_meaning(name, first)} |")
    return rows


def variable_names() -> frozenset[str]:
    """Every ``MESH_*`` variable the settings model reads, spelled in capitals."""
    names = {
        f"MESH_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if not _is_model(field.annotation)
    }
    for domain, model in _domain_models().items():
        names.update(f"MESH_{domain.upper()}__{name.upper()}" for name in model.model_fields)
    return frozenset(names)


def render_configuration_doc() -> str:
    """The whole Markdown page for the settings model as it is now (deterministic)."""
    models = _domain_models()
    prefixes = ", ".join(f"`MESH_{d.upper()}__`" for d in models)
    parts = [
        _HEADER,
        "## Process-wide\n",
        *_general_table(),
        "",
        "## Per domain\n",
        f"`{{DOMAIN}}` is the domain's name in capitals ({prefixes}). Each domain has its own "
        "source platform and credentials, quota, priority and output port. A domain in "
        "`MESH_DOMAINS` needs its credentials: on `genesys` its client id and exactly one of "
        "its secret and secret file; on `nice` (Telephony and Quality only) its "
        "`NICE_AUTH_URL`, access key id and exactly one of its secret and secret file "
        "(docs/nice.md). `NICE_*` settings apply only with `PLATFORM=nice`. `—`: the setting "
        "does not apply to that domain.\n",
        *_domain_table(models),
        "",
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m producer.settings.doc [--check] [PATH]``: write the page, or check it.

    Returns 0 when written or up to date, 1 when ``--check`` finds the file stale or missing.
    """
    parser = argparse.ArgumentParser(prog=_COMMAND, description=main.__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOC_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render_configuration_doc()
    path: Path = args.path
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            print(f"{path} is out of date: run `{_COMMAND}`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
