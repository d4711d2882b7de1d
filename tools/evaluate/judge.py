"""Pairwise LLM-as-judge for run_eval: each item is judged twice, answers swapped, to cancel position bias.

The rubric is ``prompts/judge_pairwise.md``. Per item the candidate scores 1 when it wins in both
orders, 0 when it loses in both, 0.5 for a tie or a position-dependent verdict (the judge preferred
whichever answer came first or second): only order-consistent wins count. Answers without a readable
verdict count as ties and are counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tools.core.resources import prompts_dir
from tools.evaluate.generate import EvalItem, api_generate

_VERDICT = re.compile(r"VERDICT:\s*\**\s*(A|B|TIE)\b", re.I)


def rubric() -> str:
    return (prompts_dir() / "judge_pairwise.md").read_text("utf-8")


def _question(item: EvalItem) -> str:
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in item.messages)


def parse_verdict(text: str) -> str | None:
    found = _VERDICT.findall(text or "")
    return found[-1].upper() if found else None


def judge_prompts(items: Sequence[EvalItem], base: Sequence[str], cand: Sequence[str]) -> list[list[dict[str, Any]]]:
    """Two prompts per item: (A = baseline, B = candidate) then (A = candidate, B = baseline)."""
    template = rubric()
    out = []
    for it, b, c in zip(items, base, cand, strict=False):
        for a_text, b_text in ((b, c), (c, b)):
            text = (
                template.replace("{question}", _question(it))
                .replace("{reference}", it.reference)
                .replace("{answer_a}", a_text or "(empty)")
                .replace("{answer_b}", b_text or "(empty)")
            )
            out.append([{"role": "user", "content": text}])
    return out


def item_scores(verdicts: Sequence[str | None]) -> tuple[list[float], int, int]:
    """(candidate score per item, unreadable verdicts, position-inconsistent items) from paired verdicts."""
    scores: list[float] = []
    unreadable = inconsistent = 0
    for i in range(0, len(verdicts), 2):
        first, second = verdicts[i], verdicts[i + 1]
        unreadable += (first is None) + (second is None)
        win1 = {"B": 1.0, "A": 0.0}.get(first or "", 0.5)  # candidate is B in the first order
        win2 = {"A": 1.0, "B": 0.0}.get(second or "", 0.5)  # and A in the second
        if {first, second} <= {"A", "B"} and win1 != win2:
            inconsistent += 1
        scores.append((win1 + win2) / 2)
    return scores, unreadable, inconsistent


def run_judge(
    backend: Any, items: Sequence[EvalItem], base: Sequence[str], cand: Sequence[str], max_tokens: int = 400
) -> tuple[list[float], int, int, float | None]:
    outputs, cost = api_generate(backend, judge_prompts(items, base, cand), max_new_tokens=max_tokens)
    scores, unreadable, inconsistent = item_scores([parse_verdict(o) for o in outputs])
    return scores, unreadable, inconsistent, cost


__all__ = ["item_scores", "judge_prompts", "parse_verdict", "rubric", "run_judge"]
