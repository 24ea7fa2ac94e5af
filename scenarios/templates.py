"""Template values: `${name}` placeholders in a scenario's data, filled in, and traced
back from a field of the filled-in scenario to the names used there."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(node: object, values: dict[str, str]) -> object:
    """`node` (plain data: dicts, lists, strings) with every `${name}` replaced."""
    if isinstance(node, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
    if isinstance(node, list):
        return [fill(v, values) for v in node]
    if isinstance(node, dict):
        return {fill(k, values): fill(v, values) for k, v in node.items()}
    return node


def names_in(node: object) -> set[str]:
    """The placeholder names anywhere in `node`, keys included."""
    if isinstance(node, str):
        return set(PLACEHOLDER.findall(node))
    if isinstance(node, list):
        return set().union(*map(names_in, node))
    if isinstance(node, dict):
        return set().union(*map(names_in, node), *map(names_in, node.values()))
    return set()


def names_at(
    template: object, loc: tuple[int | str, ...], values: dict[str, str]
) -> set[str] | None:
    """The placeholder names in the part of `template` that became field `loc` (a
    pydantic location in the filled-in data) once filled with `values`; None when the
    location cannot be followed back."""
    node = template
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str):
            # A key may be a template itself: find the key that was filled into `part`.
            key = part if part in node else _filled_key(node, part, values)
            if key is None:
                return None
            if parts and parts[0] == "[key]":  # the error is about the key, not its value
                return names_in(key)
            node = node[key]
        else:
            return None
    return names_in(node)


def _filled_key(node: dict, filled: str, values: dict[str, str]) -> str | None:
    for key in node:
        if isinstance(key, str) and fill(key, values) == filled:
            return key
    return None
