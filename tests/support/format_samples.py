"""One valid example line per supported format (shared by the data-pipeline tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEM = "You are a concise support agent for ACME routers."


_WORDS = (
    "router modem port firewall bridge signal cable reset admin password update firmware channel band "
    "antenna guest network address mask gateway lease server client switch light button panel cloud app "
    "account device speed latency packet route table rule filter backup restore schedule report"
).split()


def sentence(i: int, n: int = 12) -> str:
    """A deterministic sentence that shares little with sentence(j) for j != i."""
    import random

    rng = random.Random(i)
    return " ".join(rng.choice(_WORDS) for _ in range(n)) + f" {i}."


def chat(i: int, system: str | None = SYSTEM) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [
        {"role": "user", "content": f"Question {i}: {sentence(i)}"},
        {"role": "assistant", "content": f"Answer: {sentence(i + 100_000, 20)}"},
    ]
    return {"messages": msgs}


SAMPLES: dict[str, dict[str, Any]] = {
    "openai_chat": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "weight": 1,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc", "content": "21.0"},
            {"role": "assistant", "content": "It is 21 degrees in Paris."},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False,
    },
    "openai_preference": {
        "input": {
            "messages": [{"role": "user", "content": "Say hi politely."}],
            "tools": [],
            "parallel_tool_calls": True,
        },
        "preferred_output": [{"role": "assistant", "content": "Hello! How can I help?"}],
        "non_preferred_output": [{"role": "assistant", "content": "What."}],
    },
    "bedrock_nova": {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": SYSTEM}],
        "messages": [
            {"role": "user", "content": [{"text": "Reset my router?"}]},
            {"role": "assistant", "content": [{"text": "Hold the reset button for ten seconds."}]},
        ],
    },
    "bedrock_haiku": {
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": "Reset my router?"},
            {"role": "assistant", "content": "Hold the reset button for ten seconds."},
        ],
    },
    "vertex_gemini": {
        "systemInstruction": {"role": "system", "parts": [{"text": SYSTEM}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Reset my router?"}]},
            {"role": "model", "parts": [{"text": "Hold the reset button for ten seconds."}]},
        ],
    },
    "prompt_completion": {"prompt": "Reset my router?", "completion": "Hold the reset button for ten seconds."},
    "text": {"text": "ACME routers reset when the button is held for ten seconds."},
    "preference": {"prompt": "Reset my router?", "chosen": "Hold reset for ten seconds.", "rejected": "No idea."},
    "alpaca": {"instruction": "Explain how to reset the router.", "input": "", "output": "Hold reset for ten seconds."},
    "sharegpt": {
        "conversations": [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": "Reset my router?"},
            {"from": "gpt", "value": "Hold the reset button for ten seconds."},
        ]
    },
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def variants(fmt: str, n: int) -> list[dict[str, Any]]:
    """``n`` distinct valid lines of ``fmt`` (every text of the sample replaced by a different sentence)."""
    out = []
    for i in range(n):
        counter = iter(range(1000))

        def swap(value: Any) -> Any:
            if isinstance(value, dict):
                return {
                    k: (
                        v
                        if k in ("role", "from", "type", "id", "tool_call_id", "schemaVersion", "name", "arguments")
                        else swap(v)
                    )
                    for k, v in value.items()
                }
            if isinstance(value, list):
                return [swap(v) for v in value]
            if isinstance(value, str) and value and value != SYSTEM and not value.replace(".", "").isdigit():
                return sentence(i * 1000 + next(counter), 8)  # noqa: B023 (called within the iteration)
            return value

        out.append(swap(SAMPLES[fmt]))
    return out
