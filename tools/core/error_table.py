"""The README's table of error categories, generated from the catalogue (a test keeps the README in step)."""

from __future__ import annotations

from tools.core import error_codes

MEANING = {
    "input": "the arguments, a file or the workspace are wrong: the message says where, the hint how to fix it",
    "setup": "this machine lacks something: an optional extra, an API key, a model file, a GPU",
    "problem": "the tool ran and what it checks is broken (a tampered audit trail, a corrupt state file)",
    "external": "a provider, an API or the network failed; trying again later may work",
    "internal": "a bug in finetune-skill or in its shipped data; the traceback is kept in .finetune/crashes/",
}

START = "<!-- error-categories:start -->"
END = "<!-- error-categories:end -->"


def markdown() -> str:
    rows = ["| category | exit code | meaning |", "|---|---|---|"]
    for category, code in error_codes.EXIT_CODES.items():
        rows.append(f"| `{category}` | {code} | {MEANING[category]} |")
    return "\n".join(rows)


def fill(text: str) -> str:
    """``text`` with the table between the markers replaced by the current one."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown()}\n{END}{tail}"
