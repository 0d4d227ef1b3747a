"""What the launch scripts share, so that they read as one family.

Every script in launch/ builds its parser with `script_parser`: the module docstring's first line
is the description and the rest the epilog (the commands), `--help` shows each option's default,
and a mistake, whether argparse finds it or the script does (`fail`), is one line on stderr
starting with ``mft: error:`` and exit code 2. A renamed option keeps its old name for a while
through `deprecated_alias`, which says what to use instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

ERROR_PREFIX = "mft: error:"
USER_ERROR = 2  # the exit code of a user's mistake, in every script


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the docstring's layout and appends "(default: X)" where an option has a default that
    its help text does not already state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and "default" not in text and not isinstance(action.default, list)):
            text += " (default: %(default)s)"
        return text


class ScriptParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own mistakes: the usage, then the family's one line
        self.print_usage(sys.stderr)
        self.exit(USER_ERROR, f"{ERROR_PREFIX} {message}\n")


def script_parser(doc: str, prog: str | None = None) -> ScriptParser:
    """A parser whose description and epilog come from the script's docstring."""
    lines = doc.strip("\n").splitlines()
    return ScriptParser(prog=prog, description=lines[0], epilog="\n".join(lines[1:]).strip("\n") or None,
                        formatter_class=HelpFormatter)


def fail(message: object) -> int:
    """Print a user's mistake as the family's one line; the exit code to return."""
    print(f"{ERROR_PREFIX} {message}", file=sys.stderr)
    return USER_ERROR


class _Deprecated(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(f"mft: warning: {option_string} is deprecated; use {self.metavar}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str, type=str) -> None:
    """Accept `old` as `new` (same destination), hidden from --help, with a warning when used."""
    parser.add_argument(old, dest=dest, type=type, action=_Deprecated, metavar=new, help=argparse.SUPPRESS)


def generator_main(doc: str, prog: str, folder: str, generate: Callable[[str, int], None]) -> None:
    """The command line of a data generator script (launch/make_*_data.py): `--out` (default:
    `folder`, where the committed files live) and `--seed` (the committed files use 0)."""
    parser = script_parser(doc, prog=prog)
    parser.add_argument("--out", default=os.path.normpath(folder), help="folder for the task files")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (the committed files use 0)")
    args = parser.parse_args()
    generate(args.out, args.seed)
