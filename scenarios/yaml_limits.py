"""YAML from untrusted files, read within fixed limits.

PyYAML builds what a document describes, and a short document can describe a lot: nine
aliases of nine aliases of ... expand to a billion nodes (billion laughs), an anchor can
alias itself, nesting recurses in the composer, and an integer of 100,000 digits is more
than Python will convert. Here the document is first composed into PyYAML's node graph
while counting, and refused at the first limit it passes, so nothing large is ever
built: the counts are taken on the graph, where an alias is one shared node, and the
Python objects (where aliases become copies for whoever walks them) come only after.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.reader import Reader

_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_PROBLEM_CHARS = 200
_NON_PRINTABLE = Reader.NON_PRINTABLE  # what YAML allows in a stream, as PyYAML checks it


@dataclass(frozen=True)
class Limits:
    """What a document may hold. The defaults leave scenario files (a few KB, six
    levels deep) far inside every limit."""

    max_bytes: int = 1 << 20
    max_depth: int = 50
    # Counted with every alias expanded: what a reader of the loaded data walks through.
    max_nodes: int = 100_000
    max_chars: int = 2 << 20
    # Longer integers are refused rather than converted: Python refuses past 4,300
    # digits anyway, and no field of a scenario is a number.
    max_int_digits: int = 50


LIMITS = Limits()


class YamlError(ValueError):
    """The text is not YAML within the limits; the message is one line, usually
    starting with `line L, column C:`."""


@dataclass
class _Size:
    """A node's size with its aliases expanded."""

    nodes: int = 1
    chars: int = 0
    height: int = 1


def _too_deep(limits: Limits) -> str:
    return f"nested deeper than {limits.max_depth} levels; expected at most {limits.max_depth}"


def _alias(anchor: str) -> str:
    return "*" + (anchor if len(anchor) <= 40 else anchor[:37] + "...")


def _marked(problem: str, mark: yaml.Mark | None) -> YamlError:
    if len(problem) > _MAX_PROBLEM_CHARS:
        problem = problem[: _MAX_PROBLEM_CHARS - 3] + "..."
    problem = " ".join(problem.split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return YamlError(where + problem)


class _LimitedComposer(Composer):
    """PyYAML's composer, counting as it composes and refusing at the first limit; the
    events come from libyaml when PyYAML has it (much faster), else from PyYAML's own
    parser: the limits are the same either way."""

    def _start(self, limits: Limits) -> None:
        self._limits = limits
        self._depth = 0
        self._total = _Size(nodes=0, height=0)  # the whole document, aliases expanded
        self._frames: list[_Size] = []  # collections being composed, sizes so far
        self._open: set[str] = set()  # anchors whose collection is still being composed
        self._sizes: dict[str, _Size] = {}  # anchor -> expanded size of its node

    def compose_node(self, parent: Node | None, index: object) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            return self._compose_alias(event, parent, index)
        limits = self._limits
        if self._depth >= limits.max_depth:
            raise _marked(_too_deep(limits), event.start_mark)
        text = event.value if isinstance(event, ScalarEvent) else ""
        self._count(_Size(chars=len(text)), event.start_mark)
        is_collection = isinstance(event, (SequenceStartEvent, MappingStartEvent))
        if is_collection:
            self._frames.append(_Size())
            if event.anchor is not None:
                self._open.add(event.anchor)
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        size = self._frames.pop() if is_collection else _Size(chars=len(text))
        if event.anchor is not None:
            self._open.discard(event.anchor)
            self._sizes[event.anchor] = size
        self._check_node(node)
        self._add_to_parent(size)
        return node

    def _compose_alias(self, event: AliasEvent, parent: Node | None, index: object) -> Node:
        anchor = event.anchor
        if anchor in self._open:
            raise _marked(
                f"alias {_alias(anchor)} is inside the node it names (a recursive alias); "
                "expected an alias of an earlier, complete node",
                event.start_mark,
            )
        size = self._sizes.get(anchor)
        if size is None:  # PyYAML reports the undefined alias
            return super().compose_node(parent, index)
        if self._depth + size.height > self._limits.max_depth:
            raise _marked(
                f"alias {_alias(anchor)} nests the document deeper than {self._limits.max_depth} "
                f"levels; expected at most {self._limits.max_depth}",
                event.start_mark,
            )
        self._count(size, event.start_mark, alias=anchor)
        self._add_to_parent(size)
        return super().compose_node(parent, index)

    def _add_to_parent(self, size: _Size) -> None:
        if not self._frames:
            return
        parent = self._frames[-1]
        parent.nodes += size.nodes
        parent.chars += size.chars
        parent.height = max(parent.height, size.height + 1)

    def _count(self, size: _Size, mark: yaml.Mark, alias: str | None = None) -> None:
        """Add a node, or an alias (a copy of its anchor's node), to the document."""
        self._total.nodes += size.nodes
        self._total.chars += size.chars
        limits = self._limits
        by = f"alias {_alias(alias)} expands the document to" if alias else "document of"
        if self._total.nodes > limits.max_nodes:
            raise _marked(
                f"{by} more than {limits.max_nodes:,} nodes (an alias counts as a copy of "
                f"its anchor); expected at most {limits.max_nodes:,}",
                mark,
            )
        if self._total.chars > limits.max_chars:
            raise _marked(
                f"{by} more than {limits.max_chars:,} characters of text (an alias counts "
                f"as a copy of its anchor); expected at most {limits.max_chars:,}",
                mark,
            )

    def _check_node(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _INT_TAG:
            digits = sum(c.isalnum() for c in node.value)
            if digits > self._limits.max_int_digits:
                raise _marked(
                    f"integer of {digits:,} digits; expected at most "
                    f"{self._limits.max_int_digits} (quote it to make it text)",
                    node.start_mark,
                )
        elif isinstance(node, MappingNode):
            seen: dict[tuple[str, str], yaml.Mark] = {}
            for key, _ in node.value:
                if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                    continue
                if first := seen.get((key.tag, key.value)):
                    raise _marked(
                        f"key {key.value[:60]!r} appears twice (first on line "
                        f"{first.line + 1}); expected each key once",
                        key.start_mark,
                    )
                seen[key.tag, key.value] = key.start_mark

    def construct_object(self, node: Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            # SafeConstructor trusts what the resolver matched: 2001-02-30 matches a
            # timestamp but is no date, `!!int abc` is no integer. Any such failure is a
            # problem with this node of the file, reported at its place.
            raise _marked(f"cannot read this value: {exc}", node.start_mark) from None


class _PythonLoader(_LimitedComposer, yaml.SafeLoader):
    def __init__(self, text: str, limits: Limits) -> None:
        yaml.SafeLoader.__init__(self, text)
        self._start(limits)


if yaml.__with_libyaml__:

    class _CLoader(_LimitedComposer, yaml.CSafeLoader):
        def __init__(self, text: str, limits: Limits) -> None:
            yaml.CSafeLoader.__init__(self, text)
            Composer.__init__(self)
            self._start(limits)

    _Loader: type[_LimitedComposer] = _CLoader
else:
    _Loader = _PythonLoader


def decode(raw: bytes) -> str:
    """The text of a YAML file: UTF-8 (with or without a byte-order mark), or UTF-16
    with one, as YAML allows."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise YamlError(
                "starts as UTF-16 (a byte-order mark) but is not UTF-16 text; expected UTF-8 text"
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(
            f"line {line}, column {column}: byte {raw[exc.start]:#04x} is not UTF-8 text; "
            "expected UTF-8 text"
        ) from None


def load_yaml(raw: bytes, limits: Limits = LIMITS, *, libyaml: bool = True) -> object:
    """The single document in `raw`, as Python data, or `YamlError` saying which
    limit or rule it broke and where. `libyaml=False` uses PyYAML's own parser even
    when libyaml is there (the limits do not depend on it)."""
    if len(raw) > limits.max_bytes:
        raise YamlError(
            f"file of {len(raw):,} bytes or more; expected at most {limits.max_bytes:,}"
        )
    text = decode(raw)
    # Checked here rather than by the parsers: libyaml reports the byte offset, PyYAML
    # the character, and both should give the line and column.
    if bad := _NON_PRINTABLE.search(text):
        raise _unprintable(text, bad.start())
    loader = (_Loader if libyaml else _PythonLoader)(text, limits)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "not valid YAML"
        if "maximum nesting depth" in problem:  # libyaml's own limit, seen in lookahead
            raise _marked(_too_deep(limits), exc.problem_mark) from None
        if exc.context and exc.problem:
            problem = f"{exc.context}: {exc.problem}"
        raise _marked(f"invalid YAML: {problem}", exc.problem_mark or exc.context_mark) from None
    except yaml.YAMLError as exc:
        raise _marked(f"invalid YAML: {exc}", None) from None
    finally:
        loader.dispose()


def _unprintable(text: str, position: int) -> YamlError:
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    char = text[position]
    return YamlError(
        f"line {line}, column {column}: character {char!r} (U+{ord(char):04X}) is not allowed "
        "in YAML; expected printable text (write control characters as escapes such as "
        '"\\t" in a double-quoted string)'
    )
