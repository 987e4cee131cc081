"""Governance on the command line: ``mesh-producer policies render | lint``.

``render`` writes one IAM policy per consumer group and per domain producer, and the IdP table,
from ``consumers.yaml`` and the ``MESH_*`` lake variables, but only when lint finds nothing in
them: an unapproved cross-domain read or a third party reading an internal domain prints lint's
lines, writes nothing and exits 1 (``_reviewed`` is the one gate of both commands). ``lint``
checks rendered or hand-written policies and prints one line per finding. ``--cloud`` is the
lake's cloud unless given (``clouds.cloud_of``; a given one must match it). Exit codes: 0 clean,
1 findings, 2 bad input (``ConfigError``, raised to ``producer.cli``). Holds no policy logic of
its own.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from producer.errors import ConfigError
from producer.governance.clouds import (
    CLOUDS,
    cloud_of,
    lint_document,
    lint_rendered,
    render_files,
)
from producer.governance.files import (
    default_governance_file,
    load_governance,
    read_policy,
    write_files,
)
from producer.governance.lint import Finding, Principal, Reading
from producer.governance.model import GovernanceConfig
from producer.governance.ports import LakeLayout, read_layout

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register ``policies`` with ``render`` and ``lint``; each sets ``func(args) -> exit code``."""
    policies = subparsers.add_parser(
        "policies", help="render and lint the lake's least-privilege access policies"
    )
    commands = policies.add_subparsers(dest="policies_command", required=True)
    config_help = "governance file (default: the project's config/governance/consumers.yaml)"
    as_of_help = "judge approval expiry on this day (default: today)"

    make = commands.add_parser(
        "render", help="write IAM policies and the IdP scope table from the governance file"
    )
    make.add_argument("--config", type=Path, default=default_governance_file(), help=config_help)
    make.add_argument(
        "--out", type=Path, default=Path("policies"), help="output folder (./policies)"
    )
    make.add_argument("--as-of", metavar="YYYY-MM-DD", help=as_of_help)
    cloud_help = (
        "aws (IAM policies), azure (role assignments), gcp (IAM bindings); "
        "default: the cloud of MESH_LAKE_URL"
    )
    make.add_argument("--cloud", choices=CLOUDS, help=cloud_help)
    make.set_defaults(func=_render)

    check = commands.add_parser(
        "lint", help="check policies; without PATH, the ones render would write"
    )
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="policy files, or folders of consumer-*.json / producer-*.json",
    )
    check.add_argument("--config", type=Path, default=default_governance_file(), help=config_help)
    check.add_argument(
        "--as",
        dest="principal",
        metavar="consumer:GROUP|producer:DOMAIN",
        help="whose policy a single file is (default: from its name)",
    )
    check.add_argument("--as-of", metavar="YYYY-MM-DD", help=as_of_help)
    check.add_argument("--cloud", choices=CLOUDS, help=cloud_help)
    check.set_defaults(func=_lint)


def _reviewed(
    cloud: str, config: GovernanceConfig, layout: LakeLayout, today: date
) -> tuple[dict[str, str], list[str], int]:
    """What ``render --cloud`` would write, lint's finding lines on it, and how many policies
    it holds: render writes only when there are no findings, lint without paths prints them.
    The one gate of both commands, for every cloud (``clouds.lint_rendered``)."""
    lines, count = lint_rendered(cloud, config, layout, today)
    return render_files(cloud, config, layout), lines, count


def _render(args: argparse.Namespace) -> int:
    config = load_governance(args.config)
    layout = read_layout()
    files, refusals, _ = _reviewed(cloud_of(layout, args.cloud), config, layout, _day(args.as_of))
    if refusals:
        for line in refusals:
            print(line)
        print(
            f"mesh-producer: policies render: {len(refusals)} finding"
            f"{'' if len(refusals) == 1 else 's'}, nothing written; "
            f"approve the access in {args.config} or narrow the grants (docs/governance.md)",
            file=sys.stderr,
        )
        return 1
    for path in write_files(args.out, files):
        print(path)
    return 0


def _lint(args: argparse.Namespace) -> int:
    config = load_governance(args.config)
    layout = read_layout()
    cloud = cloud_of(layout, args.cloud)
    today = _day(args.as_of)
    if not args.paths:
        _, lines, count = _reviewed(cloud, config, layout, today)
    else:
        targets = _targets(args.paths, args.principal)
        lines = []
        for source, principal, document in targets:
            reading = Reading(principal, config, layout, today)
            findings: list[Finding] = lint_document(cloud, document, reading)
            lines.extend(finding.line(source) for finding in findings)
        count = len(targets)
    for line in lines:
        print(line)
    if not lines:
        print(f"ok: {count} policies, no findings")
    return 1 if lines else 0


def _targets(paths: list[Path], given: str | None) -> list[tuple[str, Principal, Any]]:
    if given is not None and (len(paths) != 1 or paths[0].is_dir()):
        raise ConfigError("--as: give exactly one policy file with it")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if Principal.from_file_name(p.name))
            if not found:
                raise ConfigError(f"{path}: no consumer-*.json or producer-*.json policy in it")
            files.extend(found)
        else:
            files.append(path)
    targets = []
    for path in files:
        principal = Principal.parse(given) if given else Principal.from_file_name(path.name)
        if principal is None:
            raise ConfigError(
                f"{path}: whose policy is it? Name it consumer-GROUP.json or "
                "producer-DOMAIN.json, or pass --as consumer:GROUP"
            )
        targets.append((str(path), principal, read_policy(path)))
    return targets


def _day(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--as-of: expected YYYY-MM-DD, got {text!r}") from None
