"""What counts as a fault depends on the user: some teams want every change committed.

A policy names the families whose carry-over is *wanted*. For those, a one-off request
becomes a standing rule: doing it again later is compliance, not stickiness, and not
doing it is forgetting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from stickiness.scenarios.model import FAMILIES


class PolicyError(ValueError):
    """A policy cannot be used; the message names the file or flag and the field."""


@dataclass(frozen=True)
class Policy:
    wanted: frozenset[str] = field(default_factory=frozenset)

    def as_dict(self) -> dict:
        return {"wanted": sorted(self.wanted)}


def _check(families: list, where: str) -> frozenset[str]:
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise PolicyError(f"{where}: expected a list of family names")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise PolicyError(
            f"{where}: unknown family {unknown[0]!r}; expected any of: {', '.join(FAMILIES)}"
        )
    return frozenset(families)


def load_policy(pyproject: Path | None = None, wanted: list[str] | None = None) -> Policy:
    """`[tool.stickiness] wanted = [...]` from a pyproject.toml, plus `--want` flags."""
    found: frozenset[str] = frozenset()
    if pyproject is not None and pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{pyproject}: not valid TOML: {exc}") from None
        section = data.get("tool", {}).get("stickiness", {})
        if "wanted" in section:
            found = _check(section["wanted"], f"{pyproject}: field tool.stickiness.wanted")
    return Policy(found | _check(list(wanted or []), "--want"))
