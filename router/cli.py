"""The `hybrid-router` command line: up, edge, central, models, route, bench."""

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from router.classifier_cli import add_subcommand as add_classifier_subcommand
from router.logging_setup import configure as configure_logging
from router.report import add_subcommand as add_report_subcommand
from router.settings import Settings, load_settings
from router.version import package_version

PLUGIN_GROUP = "hybrid_router.commands"


BUILTIN_COMMANDS = frozenset({"up", "edge", "central", "models", "route", "report", "classifier"})


def _add_plugin_subcommands(sub: argparse._SubParsersAction) -> None:
    """Subcommands other packages register (`bench`), so the product never imports them.

    A plugin whose extra is not installed (`bench` without `[bench]`) becomes a subcommand
    that says which extra to install, instead of breaking every other command.
    """
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()(sub)
        except ImportError as exc:
            missing = f"{exc.name or exc}"
            stub = sub.add_parser(entry.name, help=f"(unavailable: needs {missing})")
            stub.set_defaults(func=_unavailable(entry.name, missing))


def _unavailable(name: str, missing: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise CliError(f"`{name}` needs {missing!r}: pip install 'hybrid-router[{name}]'")

    return run


def _server_args(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", help="address to listen on (default from config)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {default_port})")
    parser.add_argument("--config", type=Path, help="YAML config file")


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from `--config` and the environment."""
    return load_settings(args.config)


def cmd_up(args: argparse.Namespace) -> int:
    """Edge + local central on loopback."""
    settings = _settings(args)
    from router.preload import ModelPreload

    preload = ModelPreload(settings)  # models load while the servers are imported
    from router.serve import run_up

    run_up(
        settings,
        args.host or settings.server.host,
        args.port if args.port is not None else settings.server.port,
        args.central_port if args.central_port is not None else settings.central_service.port,
        args.grpc_port,
        preload.loader,
    )
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """The edge node."""
    settings = _settings(args)
    from router.preload import ModelPreload

    preload = ModelPreload(settings)  # models load while the server is imported
    from router.serve import run_edge

    run_edge(
        settings,
        args.host or settings.server.host,
        args.port if args.port is not None else settings.server.port,
        args.grpc_port,
        preload.loader,
    )
    return 0


def cmd_central(args: argparse.Namespace) -> int:
    """The central service."""
    settings = _settings(args)
    from router.serve import run_central

    service = settings.central_service
    run_central(
        settings,
        args.host or service.host,
        args.port if args.port is not None else service.port,
        args.enable_fault_hooks,
    )
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    """Print the edge models and their tasks."""
    from router.catalogue import edge_model_tasks

    for name, task in edge_model_tasks().items():
        print(f"{name:24} {task}")
    return 0


def cmd_models_export(args: argparse.Namespace) -> int:
    """Export EfficientNet-Lite0 to ONNX (needs torch: the `export` extra)."""
    from edge_models.export_efficientnet import export

    report = export(args.out)
    print(report)
    return 0


def cmd_route_explain(args: argparse.Namespace) -> int:
    """POST a request file to a running edge's `/v1/route` and print the decision."""
    import asyncio
    import json

    import aiohttp

    async def explain() -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
        body = json.loads(args.file.read_text())
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                args.url.rstrip("/") + "/v1/route", json=body, headers=headers
            ) as response,
        ):
            return response.status, json.dumps(await response.json(), indent=2)

    try:
        status, text = asyncio.run(explain())
    except aiohttp.ClientConnectionError as exc:
        raise CliError(f"cannot reach the edge at {args.url}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    print(text)
    return 0 if status == 200 else 1


class CliError(Exception):
    """A failure worded for one line on stderr."""


def _global_args(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Flags accepted before or after the subcommand (`hybrid-router edge --debug`)."""
    keep = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging", **keep)
    parser.add_argument(
        "--debug", action="store_true", help="debug logging and full tracebacks", **keep
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text (default) or JSON",
        **({"default": "text"} if defaults else keep),
    )


class _SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser, which also takes the global flags after the subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _global_args(self, defaults=False)


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """All subcommands (plugins only when asked: starting the edge need not import them)."""
    parser = argparse.ArgumentParser(prog="hybrid-router", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _global_args(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)

    up = sub.add_parser("up", help="edge (8080) + local central (8090) on loopback")
    _server_args(up, 8080)
    up.add_argument("--central-port", type=int, help="central port (default 8090)")
    up.add_argument("--grpc-port", type=int, default=50051, help="gRPC port (0 disables)")
    up.set_defaults(func=cmd_up)

    edge = sub.add_parser("edge", help="the edge node (port 8080)")
    _server_args(edge, 8080)
    edge.add_argument("--grpc-port", type=int, default=50051, help="gRPC port (0 disables)")
    edge.set_defaults(func=cmd_edge)

    central = sub.add_parser("central", help="the central service (port 8090)")
    _server_args(central, 8090)
    central.add_argument(
        "--enable-fault-hooks",
        action="store_true",
        help="expose POST /admin/faults (tests and drills only)",
    )
    central.set_defaults(func=cmd_central)

    models = sub.add_parser("models", help="edge models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="list edge models").set_defaults(func=cmd_models_list)
    export = models_sub.add_parser("export", help="export EfficientNet-Lite0 to ONNX")
    export.add_argument("--out", type=Path, default=Path("edge_models/assets"))
    export.set_defaults(func=cmd_models_export)
    if plugins:
        _add_plugin_subcommands(sub)
    add_report_subcommand(sub)
    add_classifier_subcommand(sub)

    route = sub.add_parser("route", help="routing decisions")
    route_sub = route.add_subparsers(dest="route_command", required=True)
    explain = route_sub.add_parser("explain", help="dry-run a request file through the policy")
    explain.add_argument(
        "file", type=Path, help='JSON body of a /v3 generate request (optionally with "model")'
    )
    explain.add_argument("--url", default="http://127.0.0.1:8080", help="a running edge node")
    explain.add_argument("--api-key", help="credential, if the edge requires one")
    explain.set_defaults(func=cmd_route_explain)
    return parser


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message, joined, without the traceback."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (CliError, ValueError, OSError)) or type(exc).__module__.startswith(
        ("router", "common", "central_", "edge_models")
    ):
        return text
    return f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: failures are one line on stderr (`--debug`: traceback)."""
    given = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in given if not a.startswith("-")), None)
    args = build_parser(plugins=command not in BUILTIN_COMMANDS).parse_args(given)
    debug = bool(getattr(args, "debug", False))
    configure_logging(logging.DEBUG if debug or args.verbose else logging.INFO, args.log_format)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # the CLI boundary: one clear line, the traceback only on --debug
        if debug:
            traceback.print_exc()
        print(f"hybrid-router: error: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
