"""Secrets never leave the process: key values and anything shaped like a key are
replaced before text is written to disk or shown.

A server may echo the key it was sent (a 401 body that quotes it), a model may repeat a
key it found, and error messages carry both. Every known key value (the environment's
variables whose names say key, token, secret or password, and each model's `key_env`)
is replaced by `[REDACTED NAME]`; text shaped like common provider keys by `[REDACTED]`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping

MIN_SECRET_CHARS = 8  # shorter values ("none", "1") would blank ordinary words
# Whole words of a variable name: OPENAI_API_KEY, HF_TOKEN, AWS_SECRET_ACCESS_KEY; not
# GIT_AUTHOR_NAME or TOKENIZERS_PARALLELISM.
_SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:api_?key|key|token|secret|password|passwd|credentials?|auth)(?:_|$)"
)
# Our own patterns, all linear: no nested repetition.
_SHAPES = re.compile(
    "|".join(
        (
            # OpenAI and Anthropic (sk-proj-, sk-ant-, ...): not inside a word such as
            # "task-management-system", and with a digit somewhere, as real keys have.
            r"(?<![A-Za-z0-9_\-])sk-(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{16,}",
            r"AKIA[0-9A-Z]{16}",  # AWS access key id
            r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
            r"github_pat_[A-Za-z0-9_]{22,}",
            r"glpat-[A-Za-z0-9_\-]{20,}",  # GitLab
            r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
            r"AIza[0-9A-Za-z_\-]{35}",  # Google
            r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*",
        )
    )
)


class Redactor:
    """Known secret values plus key-shaped text; thread-safe to extend."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}  # value -> the name shown in its place
        # Longest first, so a secret containing another is replaced whole; rebuilt only
        # when a secret is added, not on every call.
        self._ordered: tuple[tuple[str, str], ...] = ()
        self._lock = threading.Lock()

    def add(self, value: str | None, name: str) -> None:
        if not value or len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            self._values.setdefault(value, name)
            # The same value as it appears inside a JSON string, if that differs.
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                self._values.setdefault(escaped, name)
            self._ordered = tuple(sorted(self._values.items(), key=lambda kv: -len(kv[0])))

    def add_environment(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        for name, value in env.items():
            if _SECRET_NAME.search(name):
                self.add(value, name)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value, name in self._ordered:  # one tuple, swapped whole under the lock
            if value in text:
                text = text.replace(value, f"[REDACTED {name}]")
        return _SHAPES.sub("[REDACTED]", text)


REDACT = Redactor()
REDACT.add_environment()


def redact(text: str) -> str:
    """`text` with every known secret and key-shaped string replaced."""
    return REDACT(text)


def register_secret(value: str | None, name: str) -> None:
    """A value to redact from now on (e.g. the key a model spec names)."""
    REDACT.add(value, name)
