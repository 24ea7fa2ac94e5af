"""`stickiness agents list|install`: the agent CLIs this version is tested with.

`install` puts the pinned versions into a project-local folder with npm (never a global
install), where `claude-code:`, `codex:` and `acp:<agent>` specs find them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stickiness.agents.external import CLIS
from stickiness.agents.external.acp import KNOWN_AGENTS
from stickiness.agents.external.base import cli_folder, cli_version
from stickiness.agents.models import ModelSpecError

NPM_TIMEOUT = 900  # seconds: two CLIs of a few hundred MB each


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("spec", "npm package (tested version)", "installed"):
        table.add_column(name)
    for cli in CLIS.values():
        local = cli_folder() / "node_modules" / ".bin" / cli.command
        found = local if local.is_file() else shutil.which(cli.command)
        state = f"{cli_version(found)} at {found}" if found else "not installed"
        spec = (
            f"acp:{cli.provider}?model=<model>"
            if cli.provider in KNOWN_AGENTS
            else f"{cli.provider}:<model>"
        )
        table.add_row(spec, cli.npm_spec, escape(str(state)))
    console.print(table)
    console.print(f"install the tested versions into {cli_folder()}: stickiness agents install")
    return 0


def cmd_install(args: argparse.Namespace, console: Console) -> int:
    names = args.names or list(CLIS)
    unknown = [n for n in names if n not in CLIS]
    if unknown:
        raise ModelSpecError(f"unknown agent {unknown[0]!r}; expected one of: {', '.join(CLIS)}")
    npm = shutil.which("npm")
    if npm is None:
        raise ModelSpecError(
            "npm is not installed; agent CLIs come from the npm registry (Debian: apt-get "
            "install nodejs npm)"
        )
    folder = cli_folder()
    packages = [CLIS[n].npm_spec for n in names]
    console.print(f"installing {', '.join(packages)} into {escape(str(folder))}")
    done = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", *packages],
        stdin=subprocess.DEVNULL,
        timeout=NPM_TIMEOUT,
        check=False,
    )
    if done.returncode:
        console.print(f"[red]npm failed[/red] (exit code {done.returncode})")
        return 1
    return cmd_list(args, console)


def add_agents_parser(sub) -> None:
    ag = sub.add_parser(
        "agents", help="the agent CLIs (Claude Code, Codex, ACP agents) runs can drive"
    )
    ag_sub = ag.add_subparsers(dest="action", required=True)
    ls = ag_sub.add_parser("list", help="tested versions and what is installed")
    ls.set_defaults(func=cmd_list)
    ins = ag_sub.add_parser("install", help="npm-install the tested versions, project-locally")
    ins.add_argument("names", nargs="*", metavar="AGENT", help=f"any of {', '.join(CLIS)}")
    ins.set_defaults(func=cmd_install)
