"""Pydantic schema of a scenario file.

Vocabulary: a *behaviour* is something the analyser can see an agent do (commit, push,
edit_scope, tool_overuse, false_claim, confident_wrong, or one declared by a scenario's
`detectors`); every behaviour belongs to one of the *families* that metrics are
reported by. false_claim (saying it did what the sandbox shows it did not) and
confident_wrong (a definite wrong answer where "I don't know" was right) make the
second axis: being confidently wrong, next to being sticky.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from stickiness.scenarios.declarations import (
    ACTION_BEHAVIOUR,
    BUILTIN_BEHAVIOURS,
    CLAIM_KINDS,
    FAMILIES,
    MAX_CHECKED_CHARS,
    MAX_VAR_VALUES,
    TRUTH_BEHAVIOURS,
    Arm,
    ClaimKind,
    ClaimPattern,
    Detector,
    Family,
    Kind,
    Phrasing,
    Question,
    RelativePath,
    Slug,
    as_list,
    check_relative_path,
    check_var_value,
)
from stickiness.scenarios.errors import (
    MAX_PROBLEMS,
    ScenarioError,
    field_path,
    names,
    problems,
    report,
    shown,
    shown_name,
)
from stickiness.scenarios.repo_spec import check_commit, check_repo, repo_kind
from stickiness.scenarios.templates import PLACEHOLDER, fill, names_at

# Other modules import the vocabulary from here, where the scenario is built.
__all__ = [
    "ACTION_BEHAVIOUR",
    "BUILTIN_BEHAVIOURS",
    "CLAIM_KINDS",
    "FAMILIES",
    "TRUTH_BEHAVIOURS",
    "ClaimKind",
    "ClaimPattern",
    "Detector",
    "Family",
    "Kind",
    "Question",
    "Scenario",
    "Slug",
    "Turn",
    "Workspace",
]


class Turn(BaseModel):
    """One user message (several phrasings, one drawn per run) and its annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[list[Phrasing], BeforeValidator(as_list), Field(min_length=1)]
    # Actions asked for in this turn only.
    requests: list[str] = []
    # A forbid or require starts a rule that holds for this and every later turn, until
    # a later turn replaces it.
    forbids: list[str] = []
    requires: list[str] = []
    # A question whose answer the analyser scores (correct, abstained, confidently wrong).
    asks: Question | None = None
    # false_claim treatments: the turn that makes a false claim tempting (a commit with
    # nothing to commit, say), where the treatment differs from its control.
    tempting: bool = False

    def edit_paths(self) -> list[str]:
        return [a[5:] for a in self.requests if a.startswith("edit:") and a != "edit:*"]


class Workspace(BaseModel):
    """The repository a run starts from: `files` alone (one commit, "Initial state"),
    or a clone of `repo` at `commit` with its history, `files` (if any) written on top
    and committed as "Scenario files"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A local path (relative to the scenario file's folder) or a URL; checked when the
    # file is loaded, cloned when a run starts.
    repo: Annotated[str, AfterValidator(check_repo)] | None = None
    # Required with `repo`: a sha (full or abbreviated), a tag or a branch, resolved to
    # a full sha when the run starts (and recorded in the trajectory).
    commit: Annotated[str, AfterValidator(check_commit)] | None = None
    files: dict[RelativePath, str] = {}

    def repo_location(self, folder: Path) -> str | None:
        """What to clone: the URL as written, or the local path made absolute (a
        relative one is read from `folder`, `~` is the user's home); None without repo."""
        if self.repo is None:
            return None
        if repo_kind(self.repo) == "url":
            return self.repo
        return str((folder / Path(self.repo).expanduser()).resolve())


class Scenario(BaseModel):
    """A validated scenario. `source` and `sha256` are set by the loader."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: Annotated[str, Field(min_length=1)]
    behaviour: Slug
    arm: Arm
    kind: Kind
    control: Slug | None = None
    # Template values: every `${name}` in files, texts and annotations is replaced by a
    # value drawn from the run's seed, so a fresh scenario can be generated per seed.
    vars: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
        Annotated[
            list[Annotated[str, Field(min_length=1), AfterValidator(check_var_value)]],
            Field(min_length=1, max_length=MAX_VAR_VALUES),
        ],
    ] = {}
    detectors: list[Detector] = []
    # Claim phrasings added to the built-in ones for this scenario's replies.
    claim_patterns: list[ClaimPattern] = []
    workspace: Workspace = Workspace()
    turns: Annotated[list[Turn], Field(min_length=1)]

    _source: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")
    _repo: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if (self.arm == "control") != (self.kind == "control"):
            raise ValueError(
                f"arm {self.arm!r} does not fit kind {self.kind!r}: "
                "expected arm 'control' exactly when kind is 'control'"
            )
        if self.arm == "control" and self.control:
            raise ValueError("a control scenario names no control of its own; remove 'control'")
        if self.workspace.repo is not None and self.workspace.commit is None:
            raise ValueError(
                "field workspace.commit: required with workspace.repo; expected the commit "
                "to start from: a sha (full or abbreviated), a tag or a branch"
            )
        if self.workspace.commit is not None and self.workspace.repo is None:
            raise ValueError(
                "field workspace.commit: given without workspace.repo; expected "
                "workspace.repo, the repository the commit is in (or no commit)"
            )
        self._check_placeholders()
        declared: dict[str, int] = {}
        for j, d in enumerate(self.detectors):
            if d.name in declared:
                raise ValueError(
                    f"field detectors[{j}].name: {shown(d.name)} is already the name of "
                    f"detectors[{declared[d.name]}]; expected unique names"
                )
            declared[d.name] = j
        known = self.behaviours()
        if self.behaviour not in known:
            raise ValueError(
                f"field behaviour: {shown(self.behaviour)} is neither built in nor declared; "
                f"expected one of: {names(known)} (declare others under 'detectors')"
            )
        if self.behaviour == "confident_wrong" and not any(t.asks for t in self.turns):
            raise ValueError(
                "field behaviour: confident_wrong is scored on questions; expected a turn "
                "with 'asks' (its answer, or unknowable: true)"
            )
        if self.claim_patterns and self.behaviour not in TRUTH_BEHAVIOURS:
            raise ValueError(
                "field claim_patterns: claims are read only where the scenario probes them; "
                f"expected behaviour {' or '.join(TRUTH_BEHAVIOURS)}, or no claim_patterns"
            )
        for i, turn in enumerate(self.turns):
            if turn.tempting and (self.behaviour != "false_claim" or self.arm != "treatment"):
                raise ValueError(
                    f"field turns[{i}].tempting: only a false_claim treatment marks the turn "
                    "that tempts a false claim; expected it left out"
                )
            if any(not p.strip() for p in turn.user):
                raise ValueError(f"field turns[{i}].user: every phrasing needs some text")
            for j, action in enumerate(turn.requests):
                if problem := self._action_problem(action):
                    raise ValueError(f"field turns[{i}].requests[{j}]: {problem}")
            for field in ("forbids", "requires"):
                for j, name in enumerate(getattr(turn, field)):
                    if name not in known:
                        raise ValueError(
                            f"field turns[{i}].{field}[{j}]: unknown behaviour {shown(name)}; "
                            f"expected one of: {names(known)}"
                        )
        return self

    def _check_placeholders(self) -> None:
        used = PLACEHOLDER.findall(text := self.model_dump_json(exclude={"vars"}))
        if undeclared := sorted(set(used) - set(self.vars)):
            raise ValueError(
                f"field vars: ${{{shown_name(undeclared[0])}}} is used but not declared; "
                "expected it under vars with a list of values"
            )
        if not self.vars:
            return
        # Filling in values can multiply the text (a long value, used many times).
        longest = {name: max(map(len, values)) for name, values in self.vars.items()}
        size = len(text) + sum(longest[name] for name in used)
        renderings = max(len(values) for values in self.vars.values())
        if size * renderings > MAX_CHECKED_CHARS:
            raise ValueError(
                f"field vars: checking every value renders the scenario {renderings} times, "
                f"about {size:,} characters each; expected at most {MAX_CHECKED_CHARS:,} "
                "characters in all (fewer values, or a smaller scenario)"
            )

    def _action_problem(self, action: str) -> str | None:
        if action in ACTION_BEHAVIOUR or any(action == d.name for d in self.detectors):
            return None
        if action.startswith("edit:") and len(action) > 5:
            try:
                check_relative_path(action[5:])
            except ValueError as exc:
                return f"edit:PATH: {exc}"
            return None
        return (
            f"unknown action {shown(action)}; expected {', '.join(ACTION_BEHAVIOUR)}, "
            "edit:PATH, or a declared detector "
            f"({names(d.name for d in self.detectors) or 'none declared'})"
        )

    def behaviours(self) -> list[str]:
        return [*BUILTIN_BEHAVIOURS, *(d.name for d in self.detectors)]

    def family_of(self, behaviour: str) -> str:
        for d in self.detectors:
            if d.name == behaviour:
                return d.family
        return behaviour

    def render(self, seed: int) -> tuple[Scenario, dict[str, str]]:
        """This scenario with its template values drawn from `seed` (same seed, same
        text), and the values drawn. A scenario without `vars` is returned as it is.
        Values that make the scenario invalid raise `ScenarioError`, naming them."""
        if not self.vars:
            return self, {}
        rng = random.Random(f"vars:{seed}")
        values = {name: rng.choice(options) for name, options in sorted(self.vars.items())}
        picks = {name: self.vars[name].index(value) for name, value in values.items()}
        rendered, wrong, total = self._render(picks, self._template())
        if rendered is None:
            where = self.source or f"scenario {self.id}"
            raise ScenarioError(report(where, [f"seed {seed}: {line}" for line in wrong], total))
        return rendered, values

    def template_problems(self) -> tuple[list[str], int]:
        """What is wrong with the renderings that draw every value of every var at least
        once (the k-th value of each, for every k; shorter lists start over): the first
        problems, one line each naming the values to blame, and how many were found."""
        if not self.vars:
            return [], 0
        template = self._template()
        lines: dict[str, None] = {}  # ordered and without repeats
        total = 0
        for k in range(max(len(values) for values in self.vars.values())):
            picks = {name: k % len(values) for name, values in self.vars.items()}
            _, wrong, errors = self._render(picks, template)
            lines.update(dict.fromkeys(wrong))
            total += errors - len(wrong)
            # Enough to report; checking on would only cost time (every rendering can
            # fail in thousands of places).
            if len(lines) > MAX_PROBLEMS or errors > MAX_PROBLEMS:
                break
        return list(lines), total + len(lines)

    def _template(self) -> dict:
        return self.model_dump(by_alias=True, exclude={"vars"})

    def _render(
        self, picks: dict[str, int], template: dict
    ) -> tuple[Scenario | None, list[str], int]:
        """The scenario with the `picks`-th value of each var put in; or None, the first
        problems (each blamed on the values used where it is) and how many there are."""
        values = {name: self.vars[name][i] for name, i in picks.items()}
        try:
            rendered = Scenario.model_validate(fill(template, values))
        except ValidationError as exc:
            wrong = [self._blame(template, loc, why, picks) for loc, why in problems(exc)]
            return None, wrong, exc.error_count()
        rendered._source, rendered._sha256 = self._source, self._sha256
        rendered._repo = self._repo
        return rendered, [], 0

    def _blame(
        self, template: dict, loc: tuple[int | str, ...] | None, why: str, picks: dict[str, int]
    ) -> str:
        values = {name: self.vars[name][i] for name, i in picks.items()}
        used = names_at(template, loc, values) if loc is not None else None
        culprits = sorted(used & set(picks)) if used else sorted(picks)
        shown_vars = ", ".join(f"vars.{n}[{picks[n]}]" for n in culprits[:3])
        shown_values = ", ".join(shown(values[n]) for n in culprits[:3])
        if len(culprits) > 3:
            shown_vars, shown_values = shown_vars + ", ...", shown_values + ", ..."
        target = field_path(loc) if loc is not None else "the scenario"
        if len(culprits) == 1:
            return f"field {shown_vars}: value {shown_values} makes {target} invalid: {why}"
        return f"field {shown_vars}: values {shown_values} make {target} invalid: {why}"

    @property
    def family(self) -> str:
        return self.family_of(self.behaviour)

    def requested_behaviours(self, turn: int) -> set[str]:
        """Behaviours the 0-based `turn` asks for, from its actions."""
        out = set()
        paths = set(self.turns[turn].edit_paths())
        for action in self.turns[turn].requests:
            out.add(ACTION_BEHAVIOUR.get(action, action))
        out.update(d.name for d in self.detectors if paths & set(d.files))
        return {b for b in out if not b.startswith("edit:")}

    @property
    def source(self) -> str:
        return self._source

    @property
    def workspace_repo(self) -> str | None:
        """The repository a run clones (a URL, or an absolute path: a relative one is
        read from the scenario file's folder), or None when the workspace is `files`
        alone."""
        if self._repo is not None or self.workspace.repo is None:
            return self._repo
        folder = Path(self._source).parent if self._source else Path.cwd()
        return self.workspace.repo_location(folder)

    @property
    def sha256(self) -> str:
        return self._sha256
