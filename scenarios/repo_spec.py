"""What a scenario's `repo` and `commit` may say: checked when the file is loaded, with
no network, so that git is only ever given a local path or a plain URL of a known kind,
and a commit that cannot be read as an option or a revision expression."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from stickiness.scenarios.errors import shown
from stickiness.scenarios.templates import PLACEHOLDER

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# A workspace's repository: a local path or one of these kinds of URL. Anything else
# (http://, git://, a remote helper such as `ext::`) is refused when the file is loaded.
REPO_SCHEMES = ("https", "ssh", "file")
_REPO_EXPECTED = (
    "expected a local path (relative to the scenario file's folder) or a URL: "
    "https://HOST/PATH, ssh://[USER@]HOST/PATH, USER@HOST:PATH or file:///PATH"
)
# `[USER@]HOST:PATH`, git's scp-like form: a ':' before the first '/'. Names start with
# a letter or digit, so none can pass for an ssh option.
_SCP = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):(?!:).+"
)
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*|[0-9A-Fa-f:.]+")  # urlsplit drops [ ]
# A commit sha (full or abbreviated), a tag or a branch name; revision expressions
# (`HEAD~2`, `main@{1}`) and anything git could read as an option are refused.
_COMMIT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}")
_COMMIT_EXPECTED = (
    "expected a commit sha (full or abbreviated), a tag or a branch name: letters, "
    "digits and . _ / + -, starting with a letter, digit or _, no '..', '//' or "
    "trailing '/' or '.'"
)


def repo_kind(repo: str) -> Literal["url", "path"]:
    """Whether git reads `repo` as a URL (`SCHEME://...`, `[USER@]HOST:PATH`) or as
    a local path, by git's own rule: a ':' before the first '/' makes an scp-like URL."""
    if "://" in repo:
        return "url"
    colon, slash = repo.find(":"), repo.find("/")
    return "url" if colon > 0 and (slash < 0 or colon < slash) else "path"


def check_repo(repo: str) -> str:
    if PLACEHOLDER.search(repo):
        raise ValueError(
            f"the repository is fixed: expected no ${{...}} template value, got {shown(repo)}"
        )
    if not repo.strip() or _CONTROL.search(repo):
        raise ValueError(f"{_REPO_EXPECTED}; got {shown(repo)} (empty or control characters)")
    if repo_kind(repo) == "path":
        return repo
    if "://" not in repo:
        if not _SCP.fullmatch(repo) or any(c.isspace() for c in repo):
            raise ValueError(
                f"{_REPO_EXPECTED}; got {shown(repo)} (write ./ before a path with ':')"
            )
        return repo
    scheme = repo.split("://", 1)[0].lower()
    if scheme not in REPO_SCHEMES:
        raise ValueError(f"{_REPO_EXPECTED}; got scheme {shown(scheme)} in {shown(repo)}")
    if any(c.isspace() for c in repo):
        raise ValueError(f"{_REPO_EXPECTED}; got spaces in the URL {shown(repo)}")
    try:
        url = urlsplit(repo)
        url.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"{_REPO_EXPECTED}; got a malformed URL {shown(repo)}") from None
    if scheme == "file":
        if url.netloc or not url.path.startswith("/"):
            raise ValueError(f"expected file:///ABSOLUTE/PATH, got {shown(repo)}")
        return repo
    if not url.hostname or not _HOST.fullmatch(url.hostname):
        raise ValueError(f"{_REPO_EXPECTED}; got no valid host in {shown(repo)}")
    # Credentials in a scenario file would end up in every trajectory; and git is given
    # none of the user's own (its environment is scrubbed).
    if url.password is not None or (scheme == "https" and url.username is not None):
        raise ValueError(
            "expected a URL without credentials (no USER:PASSWORD@ or TOKEN@): they would be "
            "recorded with every run; clone a private repository yourself and give the "
            "path of the copy"
        )
    if url.username is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", url.username):
        raise ValueError(f"{_REPO_EXPECTED}; got the user name {shown(url.username)}")
    return repo


def check_commit(commit: str) -> str:
    if PLACEHOLDER.search(commit):
        raise ValueError(
            f"the commit is fixed: expected no ${{...}} template value, got {shown(commit)}"
        )
    if (
        not _COMMIT.fullmatch(commit)
        or ".." in commit
        or "//" in commit
        or commit.endswith(("/", ".", ".lock"))
    ):
        raise ValueError(f"{_COMMIT_EXPECTED}; got {shown(commit)}")
    return commit
