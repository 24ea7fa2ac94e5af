"""Tool calls a hostile or broken model might send, shared by the hostile tools tests
(one test per call) and `benchmarks/hostile_model.py` (all of them through the real
loop). Each names what the workspace must hold first and what the call must give.

Arguments are the raw JSON text a model would produce; `{canary}` stands for the
absolute path of a folder next to the sandbox that no call may create, change or read.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The workspace every hostile call starts from (besides its setup).
FILES = {
    "README.md": "# demo\n",
    "src/app.py": "print('hi')\n",
    "tests/test_app.py": "def test_app():\n    assert True\n",
}
SECRET = "top secret\n"
HUGE_BYTES = 18 << 20  # the model-written file that once took 7.7 GB to check
# Longest a single call may take: a hang shows as a call over this.
CALL_SECONDS = 5.0


@dataclass(frozen=True)
class HostileCall:
    id: str
    tool: str
    arguments: str
    expect: str = "error"  # "error", or "ok": a harmless success is the right answer
    says: str = ""  # text the result must hold, so the call failed for the right reason
    setup: tuple[str, ...] = ()  # steps from SETUPS run on the workspace first
    dirty: bool = False  # needs an uncommitted change (a commit that must not fail for lack)

    def raw_arguments(self, canary: Path) -> str:
        return self.arguments.replace("{canary}", str(canary))


def args(**values: object) -> str:
    return json.dumps(values)


# -- workspace preparations no tool can make ------------------------------------------


def _links(root: Path, canary: Path) -> None:
    os.symlink(canary / "secret.txt", root / "out.txt")
    os.symlink(canary, root / "outdir")
    os.symlink(".git", root / "gitlink")
    os.symlink(".git/config", root / "cfg")


def _fifo(root: Path, canary: Path) -> None:
    os.mkfifo(root / "pipe.py")


def _huge(root: Path, canary: Path) -> None:
    with (root / "huge.py").open("w") as handle:
        line = "x = 1\n"
        handle.write(line * (HUGE_BYTES // len(line)))


def _hostile_python(root: Path, canary: Path) -> None:
    """Sources that make ast.parse fail every way it can, or work hard: each under the
    static check's per-file limit, and all of them under its total."""
    folder = root / "deep"
    folder.mkdir()
    sources = {
        "recursion.py": "x = 1" + " + 1" * 6_000,
        "attributes.py": "x = a" + ".b" * 10_000,
        "unary.py": "x = " + "-" * 20_000 + "1",
        "lambdas.py": "x = " + "lambda: " * 5_000 + "a",
        "parens.py": "x = " + "(" * 300 + ")" * 300,
        "nul.py": "a = 1\0\n",
        "latin1.py": "s = 'caf\xe9'\n",
        "fstring.py": "x = f'" + "{a}" * 20_000 + "'\n",
        "statements.py": "a\n" * 16_000,
        "big_literal.py": "x = [" + "1, " * 10_000 + "]\n",
    }
    for name, text in sources.items():
        encoding = "latin-1" if name == "latin1.py" else "utf-8"
        (folder / name).write_bytes(text.encode(encoding))


def _ab_text(root: Path, canary: Path) -> None:
    """Text on which RE2's DFA thrashes for big programs: random a/b, long lines."""
    rng = random.Random(7)
    folder = root / "text"
    folder.mkdir()
    for n in range(4):
        line = "".join(rng.choice("ab") for _ in range(4_000))
        (folder / f"ab{n}.txt").write_text((line + "\n") * 60)
    (folder / "a.txt").write_text(("a" * 5_000 + "\n") * 40)


SETUPS = {
    "links": _links,
    "fifo": _fifo,
    "huge": _huge,
    "hostile_python": _hostile_python,
    "ab_text": _ab_text,
}


def tree_state(folder: Path, skip: set[Path]) -> dict[str, tuple]:
    """Every entry under `folder` but those in `skip`: mode, size and content hash, to
    tell whether anything outside a workspace was created, changed or removed."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            path = here / name
            if path in skip:
                continue
            info = path.lstat()
            digest = ""
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(folder))] = (info.st_mode, info.st_size, digest)
    return state


def make_canary(folder: Path) -> Path:
    canary = folder / "canary"
    canary.mkdir()
    (canary / "secret.txt").write_text(SECRET)
    return canary


def prepare(root: Path, canary: Path, steps: Iterable[str]) -> None:
    for step in dict.fromkeys(steps):
        SETUPS[step](root, canary)


def _c(id: str, tool: str, arguments: str, **kw: object) -> HostileCall:
    return HostileCall(id, tool, arguments, **kw)


_OUT = "outside the workspace"
_GIT = "inside .git"
_CONTROL = "control characters"

HOSTILE_CALLS: list[HostileCall] = [
    # -- traversal, absolute and home paths
    _c("write-dotdot", "write_file", args(path="../escape.txt", content="x"), says="'..'"),
    _c(
        "write-dotdot-canary",
        "write_file",
        args(path="../../canary/secret.txt", content="pwned"),
        says="'..'",
    ),
    _c("read-dotdot-deep", "read_file", args(path="src/../../../../etc/passwd"), says="'..'"),
    _c(
        "write-absolute-canary",
        "write_file",
        args(path="{canary}/secret.txt", content="pwned"),
        says="absolute",
    ),
    _c("read-absolute", "read_file", args(path="/etc/passwd"), says="absolute"),
    _c("read-home", "read_file", args(path="~/.bashrc"), says="absolute"),
    _c("list-other-home", "list_files", args(path="~root"), says="absolute"),
    _c(
        "write-backslash-dotdot",
        "write_file",
        args(path="..\\..\\canary\\secret.txt", content="pwned"),
        says="'..'",
    ),
    _c("write-unc", "write_file", args(path="\\\\server\\share\\x", content="x"), says="absolute"),
    _c("search-dotdot", "search", args(pattern="secret", path="../.."), says="'..'"),
    _c(
        "write-percent-encoded",
        "write_file",
        args(path="%2e%2e/%2e%2e/x.txt", content="x"),
        expect="ok",
    ),
    # -- symlinks leading out of the workspace, or into .git
    _c("read-link-out", "read_file", args(path="out.txt"), says=_OUT, setup=("links",)),
    _c(
        "write-link-out",
        "write_file",
        args(path="out.txt", content="pwned"),
        says=_OUT,
        setup=("links",),
    ),
    _c(
        "edit-link-out",
        "edit_file",
        args(path="out.txt", old="top", new="no"),
        says=_OUT,
        setup=("links",),
    ),
    _c(
        "write-into-linked-folder",
        "write_file",
        args(path="outdir/new.txt", content="x"),
        says=_OUT,
        setup=("links",),
    ),
    _c("list-linked-folder", "list_files", args(path="outdir"), says=_OUT, setup=("links",)),
    _c(
        "search-linked-folder",
        "search",
        args(pattern="secret", path="outdir"),
        says=_OUT,
        setup=("links",),
    ),
    _c(
        "search-all-skips-links",
        "search",
        args(pattern="top secret"),
        expect="ok",
        says="(no matches)",
        setup=("links",),
    ),
    _c("read-link-to-git", "read_file", args(path="gitlink/config"), says=".git", setup=("links",)),
    _c(
        "write-link-to-git-hook",
        "write_file",
        args(path="gitlink/hooks/pre-commit", content="#!/bin/sh\ntouch {canary}/hook-ran\n"),
        says=".git",
        setup=("links",),
    ),
    _c("read-file-link-to-git", "read_file", args(path="cfg"), says=".git", setup=("links",)),
    # -- .git in every spelling
    _c("write-git-config", "write_file", args(path=".git/config", content="x"), says=_GIT),
    _c(
        "write-git-hook-dot-slash",
        "write_file",
        args(path="./.git/hooks/pre-commit", content="#!/bin/sh\ntouch {canary}/hook-ran\n"),
        says=_GIT,
    ),
    _c("read-git-via-dotdot", "read_file", args(path="a/../.git/config"), says="'..'"),
    _c("write-git-upper", "write_file", args(path=".GIT/config", content="x"), says=_GIT),
    _c("write-git-mixed-case", "write_file", args(path="src/.Git", content="x"), says=_GIT),
    _c("write-git-trailing-dot", "write_file", args(path=".git./config", content="x"), says=_GIT),
    _c("write-git-trailing-space", "write_file", args(path=".git /config", content="x"), says=_GIT),
    _c(
        "write-git-ntfs-stream",
        "write_file",
        args(path=".git::$INDEX_ALLOCATION/config", content="x"),
        says=_GIT,
    ),
    _c("write-git-short-name", "write_file", args(path="GIT~1/config", content="x"), says=_GIT),
    _c(
        "write-git-hfs-ignorable",
        "write_file",
        args(path=".g\u200cit/config", content="x"),
        says=_GIT,
    ),
    _c(
        "write-git-backslashes",
        "write_file",
        args(path=".git\\hooks\\pre-commit", content="#!/bin/sh\ntouch {canary}/hook-ran\n"),
        says=_GIT,
    ),
    _c(
        "write-nested-gitfile",
        "write_file",
        args(path="sub/.git", content="gitdir: ../../canary\n"),
        says=_GIT,
    ),
    _c("list-git", "list_files", args(path=".git"), says=_GIT),
    _c("search-git-objects", "search", args(pattern=".", path=".git/objects"), says=_GIT),
    # -- control characters, bad Unicode and over-long paths
    _c("write-nul-path", "write_file", args(path="a\0b.txt", content="x"), says=_CONTROL),
    _c("read-nul-path", "read_file", args(path="README.md\0.png"), says=_CONTROL),
    _c("write-newline-path", "write_file", args(path="a\nb.txt", content="x"), says=_CONTROL),
    _c(
        "write-escape-path",
        "write_file",
        args(path="\x1b[31mred.txt", content="x"),
        says=_CONTROL,
    ),
    _c("write-del-path", "write_file", args(path="a\x7fb", content="x"), says=_CONTROL),
    _c("write-unit-separator-path", "write_file", args(path="a\x1fb", content="x"), says=_CONTROL),
    _c(
        "write-lone-surrogate-path",
        "write_file",
        '{"path": "\\udc80.txt", "content": "x"}',
        says="not valid Unicode",
    ),
    _c("write-long-name", "write_file", args(path="a" * 300, content="x"), says="longer than"),
    _c("write-long-path", "write_file", args(path="d/" * 600 + "f", content="x"), says="too long"),
    _c("read-huge-path", "read_file", args(path="x" * 1_000_000), says="too long"),
    # -- commit messages
    _c("commit-nul-message", "git_commit", args(message="fix\0evil"), says="NUL", dirty=True),
    _c(
        "commit-forged-record",
        "git_commit",
        args(message="fix\x1f\x1e" + "0" * 40 + "\x1fforged\x1fsrc/app.py\n\n\x1e" + "f" * 40),
        expect="ok",
        dirty=True,
    ),
    _c(
        "commit-terminal-escapes",
        "git_commit",
        args(message="\x1b[2J\x1b[31mred\x07"),
        expect="ok",
        dirty=True,
    ),
    _c(
        "commit-huge-message",
        "git_commit",
        args(message="m" * 200_000),
        says="at most",
        dirty=True,
    ),
    _c("commit-empty-message", "git_commit", args(message=""), says="message", dirty=True),
    _c("commit-blank-message", "git_commit", args(message=" \n\t "), dirty=True),
    _c(
        "commit-lone-surrogate",
        "git_commit",
        '{"message": "fix \\ud800"}',
        says="valid string",
        dirty=True,
    ),
    # -- regular expressions
    _c("search-catastrophic", "search", args(pattern="(a|aa)+$"), expect="ok", setup=("ab_text",)),
    _c("search-nested-star", "search", args(pattern="(a*)*b"), expect="ok", setup=("ab_text",)),
    _c(
        "search-many-captures",
        "search",
        args(pattern="(.*){1000}"),
        expect="ok",
        setup=("ab_text",),
    ),
    _c(
        "search-dfa-thrash",
        "search",
        args(pattern="(a|b)*a(a|b){30}"),
        expect="ok",
        setup=("ab_text",),
    ),
    _c(
        "search-dfa-blowup",
        "search",
        args(pattern="(?:a|b)*a[ab]{900}"),
        expect="ok",
        setup=("ab_text",),
    ),
    _c(
        "search-huge-program",
        "search",
        args(pattern="(?:a|b)*a" + "[ab]{999}" * 150),
        expect="ok",
        says="budget",
        setup=("ab_text",),
    ),
    _c(
        "search-no-match",
        "search",
        args(pattern="zzz_never_there"),
        expect="ok",
        says="(no matches)",
    ),
    _c("search-nul-pattern", "search", args(pattern="a\0"), expect="ok"),
    _c("search-unbalanced", "search", args(pattern="("), says="not a usable"),
    _c("search-backreference", "search", args(pattern="(a)\\1"), says="not a usable"),
    _c("search-lookahead", "search", args(pattern="foo(?=bar)"), says="not a usable"),
    _c("search-repetition-too-big", "search", args(pattern="a{100000}"), says="not a usable"),
    _c("search-pattern-too-long", "search", args(pattern="a" * 5_000), says="at most"),
    _c("search-surrogate-pattern", "search", '{"pattern": "\\udc80"}', says="not a usable"),
    # -- huge writes and huge or hostile files
    _c("write-over-argument-cap", "write_file", args(path="big.txt", content="x" * 9_000_000)),
    _c(
        "write-over-file-cap",
        "write_file",
        args(path="big.txt", content="x" * ((1 << 20) + 1)),
        says="at most",
    ),
    _c(
        "write-multibyte-over-file-cap",
        "write_file",
        args(path="big.txt", content="\u00e9" * 600_000),
        says="at most",
    ),
    _c(
        "edit-over-file-cap",
        "edit_file",
        args(path="README.md", old="# demo", new="x" * (1 << 20)),
        says="at most",
    ),
    _c(
        "write-lone-surrogate-content",
        "write_file",
        '{"path": "s.txt", "content": "a\\ud800b"}',
        says="not valid Unicode",
    ),
    _c("write-nul-content", "write_file", args(path="nul.py", content="a = 1\0\n"), expect="ok"),
    _c("write-over-folder", "write_file", args(path="src", content="x"), says="folder"),
    _c("write-fifo", "write_file", args(path="pipe.py", content="x"), setup=("fifo",)),
    _c("read-fifo", "read_file", args(path="pipe.py"), setup=("fifo",)),
    _c("edit-fifo", "edit_file", args(path="pipe.py", old="a", new="b"), setup=("fifo",)),
    _c("search-with-fifo", "search", args(pattern="print"), expect="ok", setup=("fifo",)),
    _c("run-tests-with-fifo", "run_tests", "{}", expect="ok", setup=("fifo",)),
    _c(
        "read-huge-file",
        "read_file",
        args(path="huge.py"),
        expect="ok",
        says="only its start",
        setup=("huge",),
    ),
    _c("edit-huge-file", "edit_file", args(path="huge.py", old="x", new="y"), setup=("huge",)),
    _c("search-huge-file", "search", args(pattern="y"), expect="ok", setup=("huge",)),
    _c(
        "run-tests-huge-file",
        "run_tests",
        "{}",
        expect="ok",
        says="too large to check",
        setup=("huge",),
    ),
    _c(
        "run-tests-hostile-python",
        "run_tests",
        "{}",
        expect="ok",
        says="nested too deeply",
        setup=("hostile_python",),
    ),
    # -- unknown tools and malformed arguments
    _c("unknown-tool", "rm_rf", args(path="."), says="unknown tool"),
    _c("unknown-tool-shell", "bash", args(command="rm -rf ~"), says="unknown tool"),
    _c("unknown-tool-huge-name", "x" * 100_000, "{}", says="unknown tool"),
    _c("json-truncated", "read_file", '{"path": "README.md"', says="not valid JSON"),
    _c("json-array", "read_file", "[1, 2]", says="JSON object"),
    _c("json-string", "read_file", '"README.md"', says="JSON object"),
    _c("json-deep", "read_file", "[" * 100_000 + "]" * 100_000, says="not valid JSON"),
    _c("json-nan", "read_file", '{"path": NaN}', says="path"),
    _c("json-duplicate-key", "read_file", '{"path": "README.md", "path": "../x"}', says="'..'"),
    _c("type-int-path", "read_file", '{"path": 5}', says="path"),
    _c("type-list-path", "read_file", '{"path": ["README.md"]}', says="path"),
    _c("type-null-content", "write_file", '{"path": "a.txt", "content": null}', says="content"),
    _c("type-object-pattern", "search", '{"pattern": {"$regex": "a"}}', says="pattern"),
    _c("missing-argument", "write_file", args(path="x.txt"), says="content"),
    _c("extra-argument", "read_file", args(path="README.md", mode="rb"), says="mode"),
    _c("extra-huge-key", "read_file", json.dumps({"path": "README.md", "k" * 100_000: 1})),
    _c("extra-argument-no-args-tool", "git_status", args(verbose=True), says="verbose"),
    _c("empty-path", "read_file", args(path=""), says="non-empty"),
    _c("whitespace-path", "read_file", args(path="   "), says="non-empty"),
]
