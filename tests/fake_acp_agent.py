"""A tiny ACP agent for tests/test_acp.py, run as a process of its own over stdio.

Each prompt is a list of directives separated by ";":
  say: TEXT     two message chunks       think: TEXT   a thought chunk
  run: CMD      an `execute` call, after a permission request; bash runs it if allowed
  edit: PATH    an `edit` call writing PATH (no permission asked)
  ask: METHOD   a request to the client; says what came back
  usage         a cost update (+0.25 USD) and token usage in the prompt's answer
  model         says the session's model          switch: M  moves to model M itself
  env           says its environment and cwd
  child         starts `sleep 300`, its pid in $HOME/child.pid
  hang          waits for session/cancel            stubborn  never answers again
  crash         starts a child, writes to stderr and exits with code 3
"""

import json
import os
import subprocess
import sys

ARGS = sys.argv[1:]
PROTOCOL = int(ARGS[ARGS.index("--protocol") + 1]) if "--protocol" in ARGS else 1
state = {"model": "fake-small", "cost": 0.0, "n": 0, "session": None}
stash = []


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def read_raw():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def read():
    return stash.pop(0) if stash else read_raw()


def update(**fields):
    send(
        {
            "jsonrpc": "2.0",
            "method": "session/update",
            "params": {"sessionId": state["session"], "update": fields},
        }
    )


def ask(method, params):
    state["n"] += 1
    rid = f"agent-{state['n']}"
    send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
    while True:
        msg = read_raw()
        if msg.get("id") == rid and "method" not in msg:
            return msg
        stash.append(msg)


def say(text):
    state["n"] += 1
    half = len(text) // 2
    for part in (text[:half], text[half:]):
        update(
            sessionUpdate="agent_message_chunk",
            messageId=f"m{state['n']}",
            content={"type": "text", "text": part},
        )


def child():
    proc = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(os.environ["HOME"], "child.pid"), "w") as fh:
        fh.write(str(proc.pid))


def run(command):
    state["n"] += 1
    cid = f"call-{state['n']}"
    update(
        sessionUpdate="tool_call",
        toolCallId=cid,
        title="Terminal",
        kind="execute",
        status="pending",
        rawInput={},
    )
    update(
        sessionUpdate="tool_call_update",
        toolCallId=cid,
        title=command,
        rawInput={"command": command},
    )
    answer = ask(
        "session/request_permission",
        {
            "sessionId": state["session"],
            "toolCall": {"toolCallId": cid, "title": command, "kind": "execute"},
            "options": [
                {"optionId": "yes", "name": "Yes", "kind": "allow_once"},
                {"optionId": "always", "name": "Always", "kind": "allow_always"},
                {"optionId": "no", "name": "No", "kind": "reject_once"},
            ],
        },
    )
    outcome = answer["result"]["outcome"]
    if outcome.get("optionId") not in ("yes", "always"):
        update(
            sessionUpdate="tool_call_update",
            toolCallId=cid,
            status="failed",
            content=[{"type": "content", "content": {"type": "text", "text": "refused"}}],
        )
        return
    update(sessionUpdate="tool_call_update", toolCallId=cid, status="in_progress")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    update(
        sessionUpdate="tool_call_update",
        toolCallId=cid,
        status="completed" if done.returncode == 0 else "failed",
        rawOutput=done.stdout + done.stderr,
    )


def edit(path):
    state["n"] += 1
    cid = f"call-{state['n']}"
    update(
        sessionUpdate="tool_call",
        toolCallId=cid,
        title="Write " + path,
        kind="edit",
        status="in_progress",
        rawInput={"path": path, "content": "line\n"},
    )
    with open(path, "w") as fh:
        fh.write("line\n")
    update(
        sessionUpdate="tool_call_update",
        toolCallId=cid,
        status="completed",
        content=[{"type": "diff", "path": path, "oldText": None, "newText": "line\n"}],
    )


def prompt(msg):
    usage = None
    text = msg["params"]["prompt"][0]["text"]
    for directive in [d.strip() for d in text.split(";") if d.strip()]:
        name, _, arg = directive.partition(":")
        name, arg = name.strip(), arg.strip()
        if name == "say":
            say(arg)
        elif name == "think":
            update(sessionUpdate="agent_thought_chunk", content={"type": "text", "text": arg})
        elif name == "run":
            run(arg)
        elif name == "edit":
            edit(arg)
        elif name == "ask":
            answer = ask(arg, {"sessionId": state["session"], "path": "/etc/hostname"})
            say(f"{arg} -> " + json.dumps(answer.get("error") or answer.get("result")))
        elif name == "usage":
            state["cost"] += 0.25
            update(
                sessionUpdate="usage_update",
                used=10,
                size=1000,
                cost={"amount": state["cost"], "currency": "USD"},
            )
            usage = {
                "inputTokens": 11,
                "outputTokens": 7,
                "cachedReadTokens": 5,
                "cachedWriteTokens": 2,
                "totalTokens": 25,
            }
        elif name == "model":
            say(state["model"])
        elif name == "switch":
            state["model"] = arg
            update(sessionUpdate="config_option_update", configOptions=model_option())
        elif name == "env":
            say(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
        elif name == "child":
            child()
        elif name == "hang":
            while True:
                other = read()
                if other.get("method") == "session/cancel":
                    break
            send({"jsonrpc": "2.0", "id": msg["id"], "result": {"stopReason": "cancelled"}})
            return
        elif name == "stubborn":
            while True:
                read()
        elif name == "crash":
            child()
            sys.stderr.write("fake agent crashed\n")
            sys.stderr.flush()
            os._exit(3)
    result = {"stopReason": "end_turn"}
    if usage:
        result["usage"] = usage
    send({"jsonrpc": "2.0", "id": msg["id"], "result": result})


def model_option():
    return [
        {
            "id": "model",
            "name": "Model",
            "category": "model",
            "type": "select",
            "currentValue": state["model"],
            "options": [
                {"value": "fake-small", "name": "Small"},
                {"value": "fake-large", "name": "Large"},
            ],
        }
    ]


while True:
    msg = read()
    method, rid = msg.get("method"), msg.get("id")
    if method == "initialize":
        send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "result": {
                    "protocolVersion": PROTOCOL,
                    "agentCapabilities": {"loadSession": "--no-load" not in ARGS},
                    "agentInfo": {"name": "fake-acp", "version": "1.2.3"},
                    "authMethods": [],
                },
            }
        )
    elif method == "session/new":
        state["session"] = "sess-1"
        send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "result": {"sessionId": "sess-1", "configOptions": model_option()},
            }
        )
        update(sessionUpdate="available_commands_update", availableCommands=[])
    elif method == "session/load":
        state["session"] = msg["params"]["sessionId"]
        say("replayed history")
        send({"jsonrpc": "2.0", "id": rid, "result": {}})
    elif method == "session/set_config_option":
        state["model"] = msg["params"]["value"]
        send({"jsonrpc": "2.0", "id": rid, "result": {"configOptions": model_option()}})
    elif method == "session/prompt":
        prompt(msg)
    elif rid is not None:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "nope"}})
