"""Hostile inputs through every command that reads a file: no traceback, no internal error, no hang, and the
input unchanged. Each command meets every kind of broken file a real user (or an attacker) can hand it.

A pass means: exit 0, 1 or 2 (never 3 internal, never a crash), no "Traceback" and no "internal_error" in
what was printed, done within the time budget, the input's bytes unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill.cli import app

runner = CliRunner()
BUDGET_S = 150  # a hang never ends; a loaded 2-core machine can take a minute on a 2 MB line


def _chat(user: str, assistant: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})


def _lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


GOOD = _chat("How do I reset my password?", "Open settings, choose Security, then Reset password.")

KINDS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "whitespace": lambda: b"\n\n   \n\t\n",
    "binary": lambda: bytes(range(256)) * 64,
    "nul_inside_json": lambda: GOOD.replace("password", "pass\x00word").encode(),
    "utf16_bom": lambda: ("\ufeff" + GOOD + "\n").encode("utf-16"),
    "latin1": lambda: GOOD.replace("settings", "r\xe9glages").encode("latin-1"),
    "utf8_bom": lambda: ("\ufeff" + GOOD + "\n").encode(),
    "json_array_not_lines": lambda: ("[" + GOOD + "," + GOOD + "]").encode(),
    "scalars": lambda: _lines("1", '"two"', "null", "true"),
    "truncated_last_line": lambda: _lines(GOOD, GOOD)[:-25],
    "huge_unparsable_line": lambda: b'{"messages": [{"role": "user", "content": "' + b"x" * 1_000_000,
    "nested_brackets": lambda: b"[" * 200_000,
    "long_integer": lambda: _lines('{"messages": [], "n": ' + "9" * 5000 + "}"),
    "deep_valid_json": lambda: _lines('{"a": ' * 3000 + "1" + "}" * 3000),
    "duplicate_keys": lambda: _lines(GOOD[:-1] + ', "messages": []}'),
    "messages_not_a_list": lambda: _lines('{"messages": "hello"}'),
    "content_not_text": lambda: _lines('{"messages": [{"role": "user", "content": {"x": 1}}]}'),
    "unknown_role": lambda: _lines('{"messages": [{"role": "wizard", "content": "hi"}]}'),
    "lone_surrogates": lambda: _lines(
        '{"messages": [{"role": "user", "content": "\\ud800 x"}, {"role": "assistant", "content": "\\udfff"}]}'
    ),
    "control_and_ansi": lambda: _lines(_chat("hi\x1b[31m red \x07", "ok\x1b]0;title\x07 \u202e reversed")),
    "giant_string": lambda: _lines(_chat("summarise", "word " * 400_000)),
    "crlf": lambda: (GOOD + "\r\n" + GOOD + "\r\n").encode(),
    "cr_only": lambda: (GOOD + "\r" + GOOD + "\r").encode(),
    "trailing_garbage": lambda: _lines(GOOD + " garbage{"),
    "nan_and_infinity": lambda: _lines('{"messages": [], "loss": NaN, "x": Infinity}'),
    "many_tiny_lines": lambda: b"{}\n" * 20_000,
}


def _write(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.jsonl"
    path.write_bytes(KINDS[kind]())
    return path


class Hang(Exception):
    pass


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "validate": lambda f: ["validate", f, "--json"],
    "convert": lambda f: ["convert", f, "--out", "converted.jsonl", "--json"],
    "split": lambda f: ["split", f, "--json"],
    "pii": lambda f: ["pii", f, "--json"],
    "cost": lambda f: ["cost", f, "--json"],
    "config": lambda f: ["config", f, "--json"],
    "diagnose": lambda f: ["diagnose", f, "--json"],
    "eval": lambda f: ["eval", f, "--predictions", f, "--json"],
    "train": lambda f: ["train", f, "--json"],
    "decide": lambda f: ["decide", "--answers", f, "--json"],
    "call_args": lambda f: ["call", "audit_log", "--args", "@" + f],
    "audit_anchor": lambda f: ["audit", "verify", "--anchor", f, "--json"],
}


def _run_one(command: str, path: Path) -> str | None:
    """What went wrong when ``command`` met ``path``, or None."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    started = time.monotonic()
    try:
        with _deadline(BUDGET_S):
            result = runner.invoke(app, COMMANDS[command](path.name))
    except Hang as exc:
        return f"hang: {exc}"
    took = time.monotonic() - started
    text = (result.stdout or "") + (result.stderr or "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"crash: {type(result.exception).__name__}: {result.exception}"[:300]
    if result.exit_code not in (0, 1, 2):
        return f"exit {result.exit_code}: {text[-300:]}"
    if "Traceback" in text or "internal_error" in text:
        return f"internal error: {text[-300:]}"
    if hashlib.sha256(path.read_bytes()).hexdigest() != before:
        return "the input file was changed"
    if took > BUDGET_S:
        return f"took {took:.0f}s"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_hostile_file_is_answered_cleanly(command: str, in_ws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    problems = {}
    for kind in KINDS:
        path = _write(in_ws.root, kind)
        problem = _run_one(command, path)
        if problem:
            problems[kind] = problem
        for leftover in ("converted.jsonl",):
            (in_ws.root / leftover).unlink(missing_ok=True)
    assert problems == {}


def test_the_battery_is_broad_enough() -> None:
    assert len(KINDS) >= 25 and len(COMMANDS) >= 10
    assert os.name == "posix"  # the deadline uses SIGALRM
