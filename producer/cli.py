"""The command line: ``mesh-producer run [--once] | demo [--platform] | simulate [--platform] |
contracts | policies | lake audit | dlq replay | status | backfill``.

Parses arguments, loads settings, sets up logging and hands over to ``daemon``, ``demo`` or the
simulator; the other groups register themselves from their own modules (``_command_groups``).
Exit codes: 0 done, 2 bad configuration or input (one line on stderr saying what and where), 1
anything else (a domain that could not land its windows is named on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from producer.errors import ConfigError

if TYPE_CHECKING:
    from producer.reports import DomainReport
    from producer.settings import Settings

__all__ = ["main"]

_DEFAULT_SIM_CLIENT = "telephony-client:telephony-secret"
_DEFAULT_NICE_KEY = "telephony-key:telephony-key-secret"


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, when it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        default = action.default
        if (
            text is None
            or "default" in text
            or default in (None, False, [], argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser shows the defaults of its options in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    from producer.settings import DEFAULT_PLATFORM, PLATFORM_NAMES

    parser = _Parser(
        prog="mesh-producer",
        description="Export contact-center domains as governed data products into a lake.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="run the producer (configured by MESH_* variables)",
        description=_run_description(),
    )
    run.add_argument(
        "--once", action="store_true", help="land every closed, available window, then exit"
    )
    demo = commands.add_parser(
        "demo", help="the embedded default: simulator + file:// lake, all in one command"
    )
    demo.add_argument("--lake", type=Path, default=Path("lake"), help="lake folder")
    demo.add_argument(
        "--platform",
        choices=PLATFORM_NAMES,
        default=DEFAULT_PLATFORM,
        help="the simulated source: Genesys Cloud (all three domains) or NICE CXone (Telephony "
        "and Quality; CXone has no documented published-schedule source for WFM)",
    )
    demo.add_argument("--hours", type=float, default=6.0, help="hours of history to export")
    demo.add_argument(
        "--lake-url",
        metavar="URL",
        help="land in s3://, az:// or gs:// instead of the --lake folder (the cloud's usual "
        "variables apply, e.g. an emulator's)",
    )
    sim = commands.add_parser(
        "simulate",
        help="serve the Genesys Cloud (or, with --platform nice, the NICE CXone) simulator",
        description="Serve the Genesys Cloud simulator. Point the producer at it with "
        "MESH_GENESYS_API_URL and MESH_GENESYS_LOGIN_URL set to its base URL "
        "(http://HOST:PORT) and a --client's id and secret as MESH_{DOMAIN}__CLIENT_ID/_SECRET. "
        "With --platform nice it serves a CXone tenant instead: the area host on --port "
        "(token, discovery, Data Extraction) and the API host on --api-port; point a domain at "
        "it with MESH_{DOMAIN}__PLATFORM=nice, MESH_{DOMAIN}__NICE_AUTH_URL and "
        "MESH_{DOMAIN}__NICE_DISCOVERY_URL set to http://HOST:PORT and a --client's id and "
        "secret as MESH_{DOMAIN}__NICE_ACCESS_KEY_ID/_SECRET.",
    )
    sim.add_argument(
        "--platform", choices=PLATFORM_NAMES, default=DEFAULT_PLATFORM, help="the platform served"
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=8089, help="port to listen on (0: any free)")
    sim.add_argument(
        "--api-port",
        type=int,
        default=8090,
        help="nice: port of the API host, named by discovery (0: any free)",
    )
    sim.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help=f"an OAuth client the simulator accepts (repeatable; default: {_DEFAULT_SIM_CLIENT});"
        f" with --platform nice, an access key (default: {_DEFAULT_NICE_KEY})",
    )
    sim.add_argument(
        "--extraction-interval-seconds",
        type=float,
        default=30.0,
        help="nice: the tenant's Data Extraction rule, one call per this many seconds",
    )
    sim.add_argument(
        "--rate-limit-per-minute", type=int, default=300, help="requests a token may make"
    )
    sim.add_argument(
        "--conversations-per-hour", type=float, default=240.0, help="simulated traffic"
    )
    sim.add_argument(
        "--token-lifetime-seconds", type=int, default=86399, help="lifetime of an access token"
    )
    for register in _command_groups():
        register(commands)
    return parser


def _run_description() -> str:
    """``run --help``: where its configuration comes from, with the defaults that matter most."""
    from producer.settings import Settings

    fields = Settings.model_fields
    return (
        "Run the producer: a daemon, or with --once until every closed, available window has "
        "landed. It is configured by MESH_* environment variables, not options: "
        f"MESH_DOMAINS, default {','.join(fields['domains'].default)}; "
        f"MESH_LAKE_URL, default {fields['lake_url'].default}; "
        "MESH_START_AT, default 24 h before the start; "
        "MESH_{DOMAIN}__CLIENT_ID and MESH_{DOMAIN}__CLIENT_SECRET (or _SECRET_FILE) per domain; "
        f"/metrics, /healthz and /readyz on MESH_HTTP_PORT, default {fields['http_port'].default}. "
        "Every variable with its default and its check: docs/configuration.md."
    )


def _command_groups() -> list[Callable[[Any], None]]:
    """Command groups that live with their feature: each adds a subparser with ``func`` set.

    A group's ``add_parser(subparsers)`` registers its commands and sets ``func`` (a callable
    taking the parsed ``argparse.Namespace`` and returning an exit code) as the parser default.
    """
    from producer.governance.commands import add_parser as add_policies
    from producer.ops.backfill import add_parser as add_backfill
    from producer.ops.contracts_commands import add_parser as add_contracts
    from producer.ops.dlq_commands import add_parser as add_dlq
    from producer.ops.status import add_parser as add_status

    return [add_contracts, add_policies, add_dlq, add_status, add_backfill]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        func = getattr(args, "func", None)
        if func is not None:
            code: int = func(args)
            return code
        if args.command == "run":
            return _run(once=args.once)
        if args.command == "demo":
            from producer.demo import run_demo

            return asyncio.run(
                run_demo(
                    lake_dir=args.lake,
                    hours=args.hours,
                    lake_url=args.lake_url,
                    platform=args.platform,
                )
            )
        return _simulate(args)
    except ConfigError as exc:
        print(f"mesh-producer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(*, once: bool) -> int:
    from producer import daemon
    from producer.allocator import tune_allocator
    from producer.logs import configure_logging
    from producer.settings import load_settings

    tune_allocator()
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    _tune_collector()
    result = asyncio.run(daemon.run(settings, once=once))
    if once:
        _print_summary(settings, result.reports.values(), result.exit_code)
    for name, report in result.reports.items():
        if report.error is not None:
            error = report.error.removeprefix(f"{name}: ")  # the domain is named once
            print(f"mesh-producer: domain {name} failed: {error}", file=sys.stderr)
    return result.exit_code


def _print_summary(settings: Settings, reports: Iterable[DomainReport], exit_code: int) -> None:
    """``run --once``'s last words: for a person (console logs or a terminal), else one JSON
    line. A summary that cannot be read from the lake is skipped: the exit code still says it."""
    from producer.errors import StoreError
    from producer.summary import render_json, render_text, run_summary

    try:
        summaries = asyncio.run(run_summary(settings, reports))
    except (StoreError, ConfigError) as exc:
        print(f"mesh-producer: no summary: {exc}", file=sys.stderr)
        return
    if settings.log_format == "console" or sys.stdout.isatty():
        print(render_text(summaries, exit_code=exit_code), flush=True)
    else:
        print(render_json(summaries, exit_code=exit_code).decode(), flush=True)


def _tune_collector() -> None:
    """Keep CPython's cyclic collector from rescanning the heap once per results page.

    Parsing a 1,000-conversation page creates ~150,000 containers that live until the page is
    routed; the default first threshold (700) then triggers a full collection about once per
    page. Freezing the start-up heap and raising the thresholds cut the producer's CPU per
    record by about 40 % (docs/performance.md); memory stays bounded by the page and part size.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _simulate(args: argparse.Namespace) -> int:
    from producer.logs import configure_logging
    from producer.platforms.genesys.simulator import SimulatorConfig, serve_forever

    if args.platform not in ("genesys", "nice"):
        raise ConfigError(f"--platform: {args.platform} has no simulator")
    clients: dict[str, str] = {}
    default = _DEFAULT_NICE_KEY if args.platform == "nice" else _DEFAULT_SIM_CLIENT
    for item in args.client or [default]:
        client_id, sep, secret = item.partition(":")
        if not sep or not client_id or not secret:
            raise ConfigError(f"--client: expected ID:SECRET, got {item!r}")
        clients[client_id] = secret
    if args.extraction_interval_seconds <= 0:
        raise ConfigError("--extraction-interval-seconds: must be greater than 0")
    configure_logging("INFO", "console")
    if args.platform == "nice":
        return _simulate_nice(args, clients)
    config = SimulatorConfig(
        clients=clients,
        rate_limit_per_minute=args.rate_limit_per_minute,
        conversations_per_hour=args.conversations_per_hour,
        token_lifetime_seconds=args.token_lifetime_seconds,
    )
    # serve_forever logs the bound base URL (simulator_listening), also for --port 0.
    return _serve_until_signalled(
        lambda stopping: serve_forever(config, args.host, args.port, stopping)
    )


def _simulate_nice(args: argparse.Namespace, keys: dict[str, str]) -> int:
    """Serve a CXone tenant: area host on ``--port``, API host on ``--api-port``."""
    from producer.platforms.nice.simulator import NiceSimulatorConfig, serve_forever

    config = NiceSimulatorConfig(
        access_keys=keys,
        rate_limit_per_minute=args.rate_limit_per_minute,
        contacts_per_hour=args.conversations_per_hour,
        token_lifetime_seconds=args.token_lifetime_seconds,
        extraction_interval_seconds=args.extraction_interval_seconds,
    )
    # serve_forever logs both bound URLs (simulator_listening), also for port 0.
    return _serve_until_signalled(
        lambda stopping: serve_forever(
            config, args.host, args.port, stopping, api_port=args.api_port
        )
    )


def _serve_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``serve(stopping)`` until SIGTERM or SIGINT sets ``stopping``; exit code 0."""

    async def main() -> None:
        import signal

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await serve(stopping)

    asyncio.run(main())
    return 0
