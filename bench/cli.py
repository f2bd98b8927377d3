"""The `bench` command. Each sub-command lives in its own module under `bench.commands`.

A command module exposes `register(subparsers)`; it adds its parser and sets `func`, which
returns an exit code. Bad input ends with a one-line reason on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import BenchError

COMMAND_MODULES = [
    "bench.commands.run",
    "bench.commands.limits",
    "bench.commands.stations",
    "bench.commands.runs",
    "bench.commands.report",
    "bench.commands.keys",
    "bench.commands.sign",
    "bench.commands.sim",
    "bench.commands.analyze",
    "bench.commands.sync",
    "bench.commands.fleet",
    "bench.commands.dispatch",
    "bench.commands.ui",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="ESS Bench: hardware-in-the-loop test and compliance bench for battery energy storage.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command family not installed in this build
                continue
            raise
        module.register(sub)
    return parser


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Everything after the first "--" goes to pytest untouched: argparse cannot take options
    there once the positional PLAN has been matched."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    head, tail = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(head)
    if tail:
        if not hasattr(args, "pytest_args"):
            parser.error(f"'--' passes arguments to pytest and only goes with `bench run`, got: {' '.join(tail)}")
        args.pytest_args = [*(args.pytest_args or []), *tail]
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench {args.command}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"bench {args.command}: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
