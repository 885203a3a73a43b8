"""``python -m pointegration COMMAND``: the command line (DESIGN §3.1, contract).

Each command lives in ``pointegration/cli/<command>.py`` with ``add_arguments``
and ``run``; it is imported only when chosen, so ``--help`` and every command stay
quick. A user error (bad settings, bad arguments) prints one line and exits 1,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from pointegration.errors import ConfigurationError, DataError

COMMANDS: dict[str, str] = {
    "check": "Validate settings, get tokens and call both systems",
    "emulate": "Serve the Dataverse and Business Central emulators on loopback",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    parser = argparse.ArgumentParser(prog="pointegration")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        _module(name).add_arguments(sub)
    args = parser.parse_args(argv)

    try:
        code: int = _module(args.command).run(args)
    except (ConfigurationError, DataError) as exc:
        print(f"pointegration {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

    return code


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"pointegration.cli.{name}")


if __name__ == "__main__":
    sys.exit(main())
