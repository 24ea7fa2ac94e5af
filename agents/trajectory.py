"""The trajectory record: one JSON line per finished run, the contract with analysis.

Everything needed to re-analyse a run is here (the turn annotations are copied from
the scenario), and nothing secret: adapters never put keys in `model_settings`.
`run_store` writes these records to a run folder; `trajectory_reader` reads them back.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic's TypedDict support needs it on 3.11

from stickiness.scenarios.model import BUILTIN_BEHAVIOURS, ClaimKind, Family, Kind, Slug
from stickiness.scenarios.patterns import PatternError, compile_pattern

SCHEMA_VERSION = 3
# Versions this code reads. 2 added a run's error kind and attempts, and a turn's error
# and time limit; 3 the record of an imported session (`imported`, a turn's `at`,
# `clears` and `annotations`). Older records read as if those were unset.
READABLE_VERSIONS = (1, 2, 3)

# Whole numbers in a record are counts, turn numbers and seeds: beyond 64 bits they can
# only be damage, and pandas could not hold them in a number column.
MAX_INT = 2**63 - 1
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TrajectoryError(ValueError):
    """A trajectories file cannot be read; the message names file and line."""


# -- messages: plain dicts, typed ---------------------------------------------------------
# Messages stay dicts (the agent loop and the adapters speak dicts); extra keys such as
# `usage`, `cached` or `harness_notice` are kept as they were.


@with_config(ConfigDict(extra="allow"))
class ToolCall(TypedDict):
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced, valid or not


@with_config(ConfigDict(extra="allow"))
class SystemMessage(TypedDict):
    role: Literal["system"]
    content: str


@with_config(ConfigDict(extra="allow"))
class UserMessage(TypedDict):
    role: Literal["user"]
    content: str


@with_config(ConfigDict(extra="allow"))
class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: NotRequired[str | None]
    tool_calls: NotRequired[list[ToolCall]]


@with_config(ConfigDict(extra="allow"))
class ToolMessage(TypedDict):
    role: Literal["tool"]
    tool_call_id: str
    content: str
    is_error: bool
    name: NotRequired[str]


ROLES = ("system", "user", "assistant", "tool")
Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


def _one_kind(detector: dict) -> dict:
    given = [k for k in ("pattern", "files", "hook") if detector.get(k)]
    if len(given) != 1:
        raise ValueError(
            f"expected exactly one of pattern, files or hook, got {', '.join(given) or 'none'}"
        )
    if detector["name"] in BUILTIN_BEHAVIOURS:
        raise ValueError(f"name {detector['name']!r} is a built-in behaviour")
    return detector


# A scenario's detector as the runner records it (`Detector` dumped by alias, without
# defaults). `in` is a keyword, hence the functional form.
_DetectorFields = TypedDict(
    "_DetectorFields",
    {
        "name": Slug,
        "family": Family,
        "pattern": NotRequired[str | None],
        "in": NotRequired[Literal["reply", "edits"]],
        "files": NotRequired[list[str]],
        "hook": NotRequired[
            Annotated[str, Field(pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")] | None
        ],
        "example": NotRequired[str | None],
    },
)
DetectorRecord = Annotated[_DetectorFields, AfterValidator(_one_kind)]


def _re2(pattern: str) -> str:
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        raise ValueError(str(exc)) from None
    return pattern


class ClaimPatternRecord(TypedDict):
    """A scenario's declared claim phrasing (`ClaimPattern`), as the runner records it."""

    kind: ClaimKind
    pattern: Annotated[str, AfterValidator(_re2)]


class CommitRecord(BaseModel):
    sha: str
    message: str
    files: list[str]


class PushRecord(BaseModel):
    ref: str
    old: str | None
    new: str | None


class ToolCallRecord(BaseModel):
    id: str
    name: str
    arguments: str
    result: str
    is_error: bool


class AnnotationRecord(BaseModel):
    """Where a turn's annotation of an imported session came from, and why."""

    behaviour: str
    label: Literal["requested", "forbidden", "standing", "conditional", "cleared", "none"]
    source: Literal["rule", "judge", "human"]
    reason: str = ""


class QuestionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Annotated[str, Field(max_length=200)] | None = None
    unknowable: bool = False
    where: str | None = None


class TurnRecord(BaseModel):
    turn: Annotated[int, Field(ge=1, le=MAX_INT)]  # 1-based, as people count turns
    user: str
    phrasing: Count
    requests: list[str] = []
    forbids: list[str] = []
    requires: list[str] = []
    # Rules (forbids, requires) that end with this turn: a "not now" lasts one turn.
    clears: list[str] = []
    # The turn's question and the truth the scenario declares (see scenarios.Question).
    asks: QuestionRecord | None = None
    # Imported sessions: where each annotation came from, and when the person wrote.
    annotations: list[AnnotationRecord] = []
    at: str | None = None
    # Assistant and tool messages of this turn, in order, exactly as exchanged.
    messages: list[Message] = []
    commits: list[CommitRecord] = []
    pushes: list[PushRecord] = []
    files_changed: list[str] = []
    diff: str = ""  # unified diff of the working files over the turn (clipped)
    unpushed_before: Count = 0
    dirty_before: bool = False
    dirty_after: bool = False
    steps: Count = 0
    step_limit_hit: bool = False
    time_limit_hit: bool = False  # the turn's wall-clock budget ran out
    # Set when the run failed during this turn: what was exchanged until then is kept.
    error: str | None = None
    model_calls: Count = 0
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    cost_usd: Money | None = None  # None: no price known for this model

    def tool_calls(self) -> list[ToolCallRecord]:
        results = {m["tool_call_id"]: m for m in self.messages if m["role"] == "tool"}
        calls = []
        for m in self.messages:
            for call in m.get("tool_calls") or []:
                res = results.get(call["id"], {})
                calls.append(
                    ToolCallRecord(
                        id=call["id"],
                        name=call["name"],
                        arguments=call["arguments"],
                        result=res.get("content", ""),
                        is_error=res.get("is_error", False),
                    )
                )
        return calls

    def assistant_text(self) -> str:
        return "\n".join(
            m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")
        )


class WorkspaceSource(BaseModel):
    """The repository a run's workspace was cloned from (its scenario's `workspace.repo`)."""

    repo: str  # what was cloned: an absolute path or a URL
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]  # the full sha
    ref: str  # the commit as the scenario names it: a sha, tag or branch


class ImportedFrom(BaseModel):
    """A trajectory read from an agent's own session log rather than played here."""

    format: str  # claude-code, codex, openhands, inspect, atif, messages
    source: str  # the log file
    session_id: str
    agent: str = ""  # the agent and version that wrote the log
    cwd: str | None = None
    branch: str | None = None
    # Figures the log cannot show and that were estimated (files changed by shell
    # commands, dirty state, unpushed commits), for the report to flag.
    estimated: list[str] = []
    # Commits checked against the repository (`--repo`): how many were found there.
    repo_checked: bool = False
    notes: list[str] = []


class Trajectory(BaseModel):
    schema_version: Count = SCHEMA_VERSION
    run_id: Annotated[str, Field(min_length=1)]
    scenario: str
    scenario_file: str
    scenario_sha256: str
    title: str
    behaviour: str  # the behaviour this scenario probes
    family: Family
    detectors: list[DetectorRecord] = []  # the scenario's declared detectors, as written
    claim_patterns: list[ClaimPatternRecord] = []  # its declared claim phrasings
    template_values: dict[str, str] = {}  # drawn from the seed for a templated scenario
    arm: Literal["treatment", "control"]
    kind: Kind | Literal["observed"]  # observed: an imported session, no scripted arms
    control: str | None = None
    model: str
    simulated: bool
    model_settings: dict = {}
    harness: str
    system_prompt: str
    # An agent CLI's own session: its id and where its transcript was kept.
    agent_session: dict[str, str | None] = {}
    seed: Count
    repeat: Count
    versions: dict[str, str] = {}
    workspace: str | None = None  # set only when the workspace was kept
    # Set when the scenario starts from a repository (scenario files go on top of it).
    workspace_source: WorkspaceSource | None = None
    started_at: str
    finished_at: str
    status: Literal["ok", "error"]
    error: str | None = None
    # transient: the provider was unreachable, overloaded or rate-limited, or timed out
    # (`--resume` plays such a run again); fatal: anything else (`--retry-errors`).
    error_kind: Literal["transient", "fatal"] | None = None
    attempts: Count = 1  # tries it took, counting retries after transient failures
    usage: dict[str, int] = {}  # totals over the run's model calls
    cost_usd: Money | None = None
    turns: list[TurnRecord] = []
    imported: ImportedFrom | None = None
