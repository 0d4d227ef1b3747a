"""Where the executors' toolchains are, and the one command that installs them.

`install.sh` next to this file installs everything (Debian packages and the npm package js-md5);
CI runs it before the tests. The checks here only look, they never install.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

INSTALL_SCRIPT = Path(__file__).with_name("install.sh")
INSTALL_COMMAND = "bash eval/toolchains/install.sh"
NODE_PATH_ENV = "MFT_NODE_PATH"


def missing_message(language: str, missing: list[str]) -> str:
    """One line naming what is missing and the command that installs it."""
    return f"{language} toolchain incomplete (missing: {', '.join(missing)}); install with `{INSTALL_COMMAND}` (as root)"


def find_tool(name: str) -> str | None:
    """Absolute path of `name` on PATH, or None."""
    return shutil.which(name)


def node_module_dirs() -> list[str]:
    """node_modules folders for the JavaScript runner's NODE_PATH, existing ones only.

    `$MFT_NODE_PATH` first (a colon-separated list), then where `install.sh` puts js-md5
    (`/usr/local/lib/mft-eval` as root, `~/.local/lib/mft-eval` otherwise), then npm's global folders.
    """
    candidates = [p for p in os.environ.get(NODE_PATH_ENV, "").split(os.pathsep) if p]
    prefix = os.environ.get("MFT_NODE_PREFIX")
    if prefix:
        candidates.append(os.path.join(prefix, "node_modules"))
    candidates += [
        "/usr/local/lib/mft-eval/node_modules",
        os.path.expanduser("~/.local/lib/mft-eval/node_modules"),
        "/usr/local/lib/node_modules",
        "/usr/lib/node_modules",
    ]
    seen: list[str] = []
    for path in candidates:
        if os.path.isdir(path) and path not in seen:
            seen.append(path)
    return seen
