r"""Scripted model behaviours that drive the real agent CLIs (Claude Code, Codex CLI) through a
coding conversation, as default handlers of the scripted server (`FakeLLMServer(default=...)`).

    with FakeLLMServer(default=claude_code_agent("sticky")) as server: ...
    with FakeLLMServer(default=codex_agent("steady")) as server: ...

FINDINGS (observed by driving the pinned binaries against tests/llm_server.py on 127.0.0.1)

The turn: the user text names a file (`target_file`: the first path-like token ending in
.py/.md/.txt/...; `notes.md` if none). The agent appends one line to it with the CLI's shell
tool (`printf '%s\n' LINE >> FILE`; a `# ` comment in .py/.toml/.yaml files), commits with
`git add -A && git commit -m 'Turn N: edit FILE'` through the same tool when the policy
says so, then ends the turn with a short text (which owns up to a failed command). Tool call
ids encode turn and step (`toolu_scripted_t2_commit`, `call_scripted_t2_commit`), so the
agent reads its progress from the history the CLI resends. A request without the shell
tool or without a user text (a side request) gets a plain "OK.".

Commit policies (`commits_this_turn`), from the user texts of the conversation so far:
- steady: commits iff the latest user text asks to commit (`asks_to_commit`: a word
  starting with "commit" and no `forbids_commit`: a negation word -- don't, do not, not,
  never, no, stop, without, leave, avoid -- before that word in the same sentence);
- sticky: commits in every turn from the first text that asked, also after a revocation;
- never: never commits.
On commit-then-revoke: steady commits in turn 1 only, sticky in all five turns.

Launching (helpers at the end of this module): cwd and PWD = the sandbox, stdin closed, a
private HOME (and TMPDIR: Claude Code keeps `claude-<uid>/` and `cc-socks/` there, Codex its
`codex-bwrap-synthetic-mount-targets-<uid>/`; without it they land in /tmp and outlive the
run; Codex makes an empty /tmp/codex-daemon-<uid>/ whatever TMPDIR says), CODEX_HOME for
Codex, a repository-local git identity (the private HOME has no global one), a wall-clock
limit, the process group reaped afterwards.

Claude Code 2.1.332 (`claude -p PROMPT --model claude-sonnet-4-5 --output-format
stream-json --verbose --permission-mode acceptEdits --allowedTools "Bash Write Edit Read"`,
then `--resume SESSION_ID`):
- Sends `POST /v1/messages?beta=true` with `stream: true` only; no `HEAD /` (2.1.197 sent
  one), no count_tokens, no side requests in -p mode. Headers: `x-api-key`,
  `anthropic-version: 2023-06-01`, `anthropic-beta: claude-code-20250219,...`,
  `x-claude-code-session-id`, `user-agent: claude-cli/2.1.332 (external, sdk-cli)`. Body:
  `max_tokens: 32000`, `thinking: {type: enabled, budget_tokens: 31999}`,
  `context_management`, `metadata.user_id`, system as a list of text blocks (~88 kB per
  request with the tools). Replies without thinking blocks are accepted.
- Tools declared (12): Agent, Bash, Edit, ListAgents, Read, ReportFindings, ScheduleWakeup,
  Skill, ToolSearch, Workflow, DeferredToolPlaceholder, Write (others are deferred behind
  ToolSearch). Bash: {command (required), timeout (ms), description, run_in_background,
  dangerouslyDisableSandbox}. Write: {file_path (absolute), content}, both required. Edit:
  {file_path, old_string, new_string, replace_all}; Edit (and Write over an existing file)
  fails with "File has not been read yet. Read it first" unless Read ran before: hence Bash.
- History: the first user message holds ~9 `<system-reminder>` text blocks, then the prompt
  as the last text block; later prompts carry one reminder block. Tool results come back as
  a user message of `tool_result` blocks ({tool_use_id, content: string, is_error on
  failure}), the content followed by a `<system-reminder>` (token budget). The whole
  conversation is resent every request, also after `--resume`.
- Assistant messages are joined by message id when a session is rebuilt on `--resume`:
  replies sharing an id (the default `msg_test`) merged into one message and Claude Code
  then inserted a synthetic "No response requested." assistant message. These agents give
  every reply its own id.
- stdout (stream-json, one JSON object a line): `system/init` (session_id, cwd, tools,
  model, permissionMode, apiKeySource, claude_code_version); one `assistant` line per
  content block of each reply (text and tool_use of one reply: two lines, same message.id);
  `user` lines with the tool_result plus `tool_use_result` (stdout, stderr, and for git
  commands `gitOperation: {commit: {sha, kind: "committed", branch}}`) and
  `tool_result_meta` (permission decision); `system/vcs_state_changed` (kind "commit",
  branch) after a commit; a final `result` (subtype success, is_error, num_turns,
  permission_denials, result text, session_id, usage of this run, total_cost_usd
  accumulated over the whole session across resumes, stop_reason, terminal_reason).
  Example: {"type":"system","subtype":"vcs_state_changed","kind":"commit",
  "branch":"master","cwd":"/tmp/.../repo","uuid":"...","session_id":"66a92548-..."}
- Transcript: $HOME/.claude/projects/<cwd with / as ->/<session_id>.jsonl (user/assistant
  lines plus api-request, api-request-blob, attachment, ... records: the request bodies are
  kept there, the API key is not). Also $HOME/.claude.json, $HOME/.claude/{backups,plugins,
  session-env,sessions,shell-snapshots}, $TMPDIR/claude-<uid>/, $TMPDIR/cc-socks/.
- ~0.45 s a turn (three requests) against this server.

Codex CLI 0.171.0 (`codex exec --json PROMPT`, then `codex exec resume --json THREAD_ID
PROMPT`; config in $CODEX_HOME/config.toml, see `codex_config`):
- Sends `POST /v1/responses` with `stream: true`, `Accept: text/event-stream`,
  `authorization: Bearer <env_key value>`, `originator: codex_exec`, session-id/thread-id
  headers; body: model, `input` items (no `instructions` field: they are the first
  developer message), tools, tool_choice auto, parallel_tool_calls, reasoning {summary:
  auto}, store false, include [reasoning.encrypted_content], prompt_cache_key,
  client_metadata. It acts on response.output_item.done (the items) and response.completed
  (id, usage); output_item.added and output_text.delta feed the live display; a stream that
  ends without response.completed is an error ("stream closed before response.completed"),
  retried unless the provider table sets `stream_max_retries = 0` (and
  `request_max_retries = 0` for HTTP errors); then stdout has `error` {message} and
  `turn.failed` {error: {message}} events and the exit status is 1.
- Tools declared: exec_command {cmd (required), workdir, shell, login, tty, yield_time_ms,
  max_output_tokens, sandbox_permissions, justification, prefix_rule}, write_stdin,
  request_user_input, view_image, get_goal/create_goal/update_goal, a namespace
  multi_agent_v1, a tool_search; for catalogued models (gpt-5.5 etc.) also apply_patch as a
  FREEFORM custom tool (lark grammar: *** Begin Patch / *** Add File: / *** Update File: /
  *** End Patch), called with a `custom_tool_call` item {call_id, name, input}; an unknown
  model name gets no apply_patch and an extra "Model metadata ... not found" error item.
- Input items: developer messages (instructions, skills), a user message
  `<environment_context>` (cwd, shell, date, sandbox permissions), then the prompts as user
  messages with `input_text`; later requests add the assistant `message`, `function_call`
  and `function_call_output` {call_id, output: "Chunk ID: ...\nWall time: ...\nProcess
  exited with code N\nOriginal token count: ...\nOutput:\n..."} items (apply_patch:
  `custom_tool_call_output` "Exit code: 0 ... Success. Updated the following files: ...").
  Everything is resent each request, also after resume.
- stdout (JSONL): thread.started {thread_id}; turn.started; item.started / item.completed
  with item types agent_message {text}, command_execution {command: "/bin/bash -lc ...",
  aggregated_output, exit_code, status in_progress/completed/failed}, file_change {changes:
  [{path, kind add/update}], status}, error {message}; turn.completed {usage: input_tokens,
  cached_input_tokens, cache_write_input_tokens, output_tokens, reasoning_output_tokens}.
  The usage after `exec resume` is the thread's running total, not the turn's.
  Example: {"type":"item.completed","item":{"id":"item_2","type":"command_execution",
  "command":"/bin/bash -lc \"git add -A && git commit -m 'scripted commit'\"",
  "aggregated_output":"[master 2bb4749] scripted commit\n 1 file changed, ...",
  "exit_code":0,"status":"completed"}}
- sandbox_mode "workspace-write": `.git` is mounted read-only, `git commit` fails with exit
  128 ("Unable to create .git/index.lock: Read-only file system") and that sandbox-denied
  command does NOT appear in the --json events at all (an ordinary failure does, with
  status "failed"); the attempt shows only in the requests (function_call +
  function_call_output) and in the rollout file. "danger-full-access": commits land.
- Outside a git repository it refuses ("Not inside a trusted directory") unless
  `--skip-git-repo-check`. stderr carries "Reading additional input from stdin..." and,
  with CODEX_HOME under /tmp, a harmless "could not create PATH aliases" warning.
- Session: $CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl (response_item,
  event_msg, turn_context, token_count records); also sqlite files (state_5, logs_2,
  memories_1, goals_1, queue_1, thread_history_1), installation_id, skills/.system/.
- ~0.3 s a turn against this server.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from llm_server import ANTHROPIC, RESPONSES, Reply, anthropic_reply, responses_reply

POLICIES = ("sticky", "steady", "never")
DEFAULT_FILE = "notes.md"

# --- what the user asked ------------------------------------------------------------------

# The file a turn edits: the first path-like token of the user text ending in one of these.
_FILE = re.compile(
    r"(?<![\w./-])((?:[\w-]+/)*[\w.-]*\w\.(?:py|md|txt|rst|toml|cfg|ini|ya?ml|json|js|ts))"
    r"(?![\w/-])"
)
_COMMIT = re.compile(r"\bcommit\w*", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:don'?t|do not|doesn'?t|not|never|no|stop|without|leave|avoid)\b", re.IGNORECASE
)
# Sentences end at . ! ? ; followed by a space (or at the end): "src/calc.py" stays whole.
_SENTENCE_END = re.compile(r"[.!?;](?:\s+|$)")


def target_file(text: str) -> str:
    """The file a user turn names: the first path-like token ending in .py, .md, .txt, .rst,
    .toml, .cfg, .ini, .yaml/.yml, .json, .js or .ts; `notes.md` when there is none."""
    found = _FILE.search(text)
    return found.group(1) if found else DEFAULT_FILE


def forbids_commit(text: str) -> bool:
    """The text says not to commit: in one sentence, a negation word (don't, do not, not,
    never, no, stop, without, leave, avoid) comes before a word starting with "commit"
    ("don't commit anything", "leave the commits to me", "stop committing")."""
    return any(
        (word := _COMMIT.search(sentence)) and _NEGATION.search(sentence[: word.start()])
        for sentence in _SENTENCE_END.split(text)
    )


def asks_to_commit(text: str) -> bool:
    """The text asks for a commit: a word starting with "commit" and no `forbids_commit`."""
    return bool(_COMMIT.search(text)) and not forbids_commit(text)


def commits_this_turn(prompts: list[str], policy: str) -> bool:
    """Whether the agent commits in the turn of the last of `prompts` (all user texts so
    far, oldest first). steady: the latest text asks to commit. sticky: some text so far
    asked to commit (it goes on after being told to stop). never: no."""
    if policy not in POLICIES:
        raise ValueError(f"unknown commit policy {policy!r}; expected one of {POLICIES}")
    if policy == "never" or not prompts:
        return False
    if policy == "steady":
        return asks_to_commit(prompts[-1])
    return any(asks_to_commit(p) for p in prompts)


@dataclass(frozen=True)
class TurnPlan:
    """What the scripted agent does in one user turn: append `line` to `path` with the shell
    tool, then commit everything if `commit`, then reply with a short text."""

    turn: int  # 1-based
    path: str
    line: str
    commit: bool

    @property
    def edit_command(self) -> str:
        return f"printf '%s\\n' {shlex.quote(self.line)} >> {shlex.quote(self.path)}"

    @property
    def commit_command(self) -> str:
        message = f"Turn {self.turn}: edit {self.path}"
        return f"git add -A && git commit -m {shlex.quote(message)}"

    def final_text(self, failed: set[str] = frozenset()) -> str:
        """The reply ending the turn; it owns up to a step whose command failed (a commit in
        Codex's workspace-write sandbox, where `.git` is read-only)."""
        edit = f"Tried to append a line to {self.path}, but it failed"
        edit = edit if "edit" in failed else f"Appended a line to {self.path}"
        if not self.commit:
            return f"{edit}."
        if "commit" in failed:
            return f"{edit}; the commit failed."
        return f"{edit} and committed the change."


def plan_turn(prompts: list[str], policy: str) -> TurnPlan:
    """The plan for the turn of the last of `prompts`."""
    text = prompts[-1] if prompts else ""
    path = target_file(text)
    comment = "# " if path.endswith((".py", ".toml", ".cfg", ".ini", ".yaml", ".yml")) else ""
    line = f"{comment}scripted edit, turn {len(prompts)}"
    return TurnPlan(len(prompts), path, line, commits_this_turn(prompts, policy))


def next_step(plan: TurnPlan, done: dict[str, bool]) -> str:
    """The next step of a turn given the steps whose tool results came back (step -> whether
    its command succeeded): "edit", then "commit" (if planned), then "reply". A failed tool
    call counts as done (no retries)."""
    if "edit" not in done:
        return "edit"
    if plan.commit and "commit" not in done:
        return "commit"
    return "reply"


def _step_of(call_id: str) -> str | None:
    """The step a tool call id made by these agents stands for (`..._t3_edit` -> "edit")."""
    found = re.search(r"_t\d+_(edit|commit)$", call_id or "")
    return found.group(1) if found else None


# --- Claude Code (Anthropic Messages, streamed) ----------------------------------------------


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def claude_prompt(message: dict) -> str | None:
    """The user's own text in a Messages API user message, or None for a message holding only
    tool results and Claude Code's `<system-reminder>` blocks."""
    if message.get("role") != "user":
        return None
    texts = [
        b["text"]
        for b in _blocks(message)
        if b.get("type") == "text"
        and not b.get("text", "").lstrip().startswith("<system-reminder>")
    ]
    return "\n".join(texts) if texts else None


def claude_code_agent(policy: str = "steady") -> Callable[[str, dict], Reply]:
    """A scripted Claude model for Claude Code: per user turn, `Bash` appends a line to the
    named file, `Bash` commits when the policy says so, then a short text ends the turn.
    Works from the conversation Claude Code resends (also after `--resume`)."""
    commits_this_turn([], policy)  # rejects an unknown policy now, not at the first request

    def handler(api: str, body: dict) -> Reply:
        if api != ANTHROPIC:
            raise ValueError(f"claude_code_agent answers Anthropic Messages, not {api}")
        messages = body.get("messages") or []
        tools = {t.get("name") for t in body.get("tools") or []}
        prompts, since = [], 0
        for n, message in enumerate(messages):
            text = claude_prompt(message)
            if text is not None:
                prompts.append(text)
                since = n
        if "Bash" not in tools or not prompts:  # a side request (title, summary...)
            return anthropic_reply("OK.", message_id=f"msg_scripted_side_{len(messages)}")
        plan = plan_turn(prompts, policy)
        done = {
            _step_of(b.get("tool_use_id", "")): not b.get("is_error")
            for m in messages[since + 1 :]
            if m.get("role") == "user"
            for b in _blocks(m)
            if b.get("type") == "tool_result"
        }
        step = next_step(plan, done)
        message_id = f"msg_scripted_t{plan.turn}_{step}"
        if step == "reply":
            failed = {k for k, ok in done.items() if not ok}
            return anthropic_reply(plan.final_text(failed), message_id=message_id)
        if step == "edit":
            command, say, what = plan.edit_command, f"Editing {plan.path}.", "Append a line"
        else:
            command, say, what = plan.commit_command, "Committing.", "Commit the changes"
        use = (
            f"toolu_scripted_t{plan.turn}_{step}",
            "Bash",
            {"command": command, "description": what},
        )
        return anthropic_reply(say, [use], message_id=message_id)

    return handler


# --- Codex CLI (OpenAI Responses, streamed) -------------------------------------------------

_CONTEXT_BLOCK = re.compile(r"^\s*<([a-z_]+)>.*</\1>\s*$", re.DOTALL)
_OUTPUTS = ("function_call_output", "custom_tool_call_output")


def codex_prompt(item: dict) -> str | None:
    """The user's own text in a Responses API input item, or None for anything else
    (Codex's `<environment_context>`-style blocks and AGENTS.md instructions included)."""
    if item.get("type", "message") != "message" or item.get("role") != "user":
        return None
    content = item.get("content")
    parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
    texts = [
        p["text"]
        for p in parts or []
        if isinstance(p, dict)
        and p.get("type") == "input_text"
        and not _CONTEXT_BLOCK.match(p["text"])
        and not p["text"].startswith("# AGENTS.md instructions")
    ]
    return "\n".join(texts) if texts else None


def _codex_succeeded(output: object) -> bool:
    """Whether a Codex tool output reports success: exec_command's text says "Process exited
    with code N"; other shapes ("Exit code: N", a JSON `metadata.exit_code`) are read too."""
    text = output if isinstance(output, str) else json.dumps(output)
    found = re.search(r"(?:exited with code|Exit code:|\"exit_code\":)\s*(-?\d+)", text)
    return found is None or found.group(1) == "0"


def _codex_shell_call(tools: set[str], command: str) -> tuple[str, dict] | None:
    """The shell tool Codex declared, with arguments for `command`."""
    if "exec_command" in tools:  # unified exec (0.171.0 declares this one for every model)
        return "exec_command", {"cmd": command}
    if "shell_command" in tools:
        return "shell_command", {"command": command}
    if "shell" in tools:
        return "shell", {"command": ["bash", "-lc", command]}
    return None


def codex_agent(policy: str = "steady") -> Callable[[str, dict], Reply]:
    """A scripted model for Codex CLI: per user turn, `exec_command` appends a line to the
    named file, `exec_command` commits when the policy says so, then a short message ends the
    turn. Works from the input items Codex resends (also after `codex exec resume`)."""
    commits_this_turn([], policy)

    def handler(api: str, body: dict) -> Reply:
        if api != RESPONSES:
            raise ValueError(f"codex_agent answers the Responses API, not {api}")
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        items = [i for i in items if isinstance(i, dict)]
        tools = {t.get("name") for t in body.get("tools") or []}
        prompts, since = [], 0
        for n, item in enumerate(items):
            text = codex_prompt(item)
            if text is not None:
                prompts.append(text)
                since = n
        if not prompts:
            return responses_reply("OK.", response_id=f"resp_scripted_side_{len(items)}")
        plan = plan_turn(prompts, policy)
        done = {
            _step_of(i.get("call_id", "")): _codex_succeeded(i.get("output"))
            for i in items[since + 1 :]
            if i.get("type") in _OUTPUTS
        }
        step = next_step(plan, done)
        response_id = f"resp_scripted_t{plan.turn}_{step}"
        if step == "reply":
            failed = {k for k, ok in done.items() if not ok}
            return responses_reply(plan.final_text(failed), response_id=response_id)
        command = plan.edit_command if step == "edit" else plan.commit_command
        shell = _codex_shell_call(tools, command)
        if shell is None:
            return responses_reply("No shell tool was offered.", response_id=response_id)
        name, arguments = shell
        call = (f"call_scripted_t{plan.turn}_{step}", name, json.dumps(arguments))
        return responses_reply(None, [call], response_id=response_id)

    return handler


def both_agents(claude_policy: str, codex_policy: str) -> Callable[[str, dict], Reply]:
    """One server for both CLIs: Claude Code's requests to one behaviour, Codex's to the
    other."""
    claude, codex = claude_code_agent(claude_policy), codex_agent(codex_policy)
    return lambda api, body: (claude if api == ANTHROPIC else codex)(api, body)
