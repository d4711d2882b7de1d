"""Facts, overlap check and the two probes of run_eval: forgetting (general capability) and memorisation.

- Overlap: eval items that repeat a training example exactly (normalised prompt + answer, or the same
  prompt) or nearly (character-shingle Jaccard at or above the threshold, candidates found with the data
  pipeline's MinHash bands and then checked exactly). System prompts are left out: a shared system prompt
  would make every pair look alike.
- Forgetting: ``reference/probes/general.jsonl`` scored pass/fail (an accepted string in the output).
- Memorisation: prompts made of a training example's prompt plus the first part of its answer; the
  continuation is compared (ROUGE-L) with the true rest of the answer.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.core.resources import reference_dir
from tools.data.checks import normalise, rouge_l
from tools.data.formats import read_conversations
from tools.evaluate.generate import EvalItem, item_from
from tools.evaluate.report import p_text
from tools.evaluate.stats import REGRESSION, compare_binary
from tools.knowledge.core import Fact, load_facts


class Threshold(Fact):
    value: float
    meaning: str


class EvalThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alpha: Threshold
    power: Threshold
    min_effect: Threshold
    bootstrap_resamples: Threshold
    mcnemar_exact_below: Threshold
    small_set_items: Threshold
    near_duplicate_similarity: Threshold
    memorisation_prefix_fraction: Threshold
    memorisation_similarity: Threshold
    memorisation_rate_flag: Threshold
    forgetting_margin: Threshold
    probe_items: Threshold
    memorisation_items: Threshold
    seconds_per_token_tiny_cpu: Threshold
    judge_max_error_rate: Threshold


class EvalFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: EvalThresholds


def facts() -> EvalThresholds:
    return load_facts("evaluation", EvalFacts).thresholds


# ----------------------------------------------------------------------------- overlap


def _overlap_text(item: EvalItem) -> str:
    body = [m["content"] for m in item.messages if m["role"] != "system"]
    return normalise(" ".join(body + [item.reference]))


def _prompt_key(item: EvalItem) -> str:
    return normalise(" ".join(m["content"] for m in item.messages if m["role"] != "system"))


def read_train_items(path: Path) -> list[EvalItem]:
    out: list[EvalItem] = []
    for rec in read_conversations(path):
        if rec.conversation is not None:
            item = item_from(rec.conversation, len(out), rec.line)
            if item is not None:
                out.append(item)
    return out


def overlap(
    eval_items: list[EvalItem], train_items: list[EvalItem], threshold: float
) -> tuple[list[tuple[int, int]], list[tuple[int, int, float]]]:
    """(exact pairs, near pairs with similarity) as (eval line, train line[, jaccard])."""
    from tools.data.neardup import MinHasher, jaccard, shingles

    exact: list[tuple[int, int]] = []
    by_text: dict[str, int] = {}
    by_prompt: dict[str, int] = {}
    for t in train_items:
        by_text.setdefault(_overlap_text(t), t.line)
        by_prompt.setdefault(_prompt_key(t), t.line)
    exact_lines = set()
    for e in eval_items:
        hit = by_text.get(_overlap_text(e)) or by_prompt.get(_prompt_key(e))
        if hit is not None:
            exact.append((e.line, hit))
            exact_lines.add(e.line)
    texts = [_overlap_text(x) for x in eval_items] + [_overlap_text(x) for x in train_items]
    keys = MinHasher(bands=20, rows=4).keys(texts)
    n_eval = len(eval_items)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j in range(n_eval, len(texts)):
        for b, key in enumerate(keys[j]):
            if key:
                buckets[(b, int(key))].append(j - n_eval)
    near: list[tuple[int, int, float]] = []
    for i, e in enumerate(eval_items):
        if e.line in exact_lines:
            continue
        cands = {t for b, key in enumerate(keys[i]) if key for t in buckets.get((b, int(key)), [])[:50]}
        best = None
        a = shingles(texts[i])
        for t in cands:
            sim = jaccard(a, shingles(texts[n_eval + t]))
            if sim >= threshold and (best is None or sim > best[2]):
                best = (e.line, train_items[t].line, round(sim, 3))
        if best:
            near.append(best)
    return exact, near


# ----------------------------------------------------------------------------- forgetting probe


def probe_path() -> Path:
    return reference_dir() / "probes" / "general.jsonl"


def load_probe(limit: int) -> list[tuple[EvalItem, list[str]]]:
    out = []
    for number, raw in enumerate(probe_path().read_text("utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        obj = json.loads(raw)
        msgs = obj["messages"]
        out.append((EvalItem(len(out), number, msgs[:-1], msgs[-1]["content"]), list(obj["accept"])))
    return out[:limit]


def probe_pass(output: str, accept: list[str]) -> float:
    low = " ".join(output.lower().split())
    for a in accept:
        pat = r"(?<![\w.])" + re.escape(a.lower()) + r"(?![\w])"
        if re.search(pat, low):
            return 1.0
    return 0.0


# ----------------------------------------------------------------------------- memorisation probe


def memorisation_items(
    train_items: list[EvalItem], n: int, fraction: float, seed: int
) -> list[tuple[EvalItem, str, str]]:
    """(item, answer prefix shown, true rest) for up to n training examples with answers long enough to split."""
    pool = [t for t in train_items if len(t.reference.split()) >= 8]
    random.Random(seed).shuffle(pool)
    out = []
    for t in pool[:n]:
        words = t.reference.split(" ")
        cut = max(1, int(len(words) * fraction))
        out.append((t, " ".join(words[:cut]) + " ", " ".join(words[cut:])))
    return out


# ----------------------------------------------------------------------------- probe results


class ProbeResult(BaseModel):
    name: str
    items: int
    baseline: float | None
    candidate: float
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    flagged: bool
    message: str


def forgetting_result(
    probe_set: list, out: dict[str, list[str]], f: Any, alpha: float, resamples: int, seed: int
) -> ProbeResult:
    score = {
        role: [probe_pass(o, acc) for o, (_, acc) in zip(outs, probe_set, strict=False)] for role, outs in out.items()
    }
    cand = score["candidate"]
    if "baseline" not in score:
        rate = sum(cand) / len(cand)
        return ProbeResult(
            name="forgetting",
            items=len(cand),
            baseline=None,
            candidate=rate,
            delta=None,
            ci_low=None,
            ci_high=None,
            flagged=False,
            message=f"general probe: candidate passes {rate:.0%} (no local baseline to compare)",
        )
    c = compare_binary(
        "general_probe",
        score["baseline"],
        cand,
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        exact_below=int(f.mcnemar_exact_below.value),
    )
    significant = c.verdict == REGRESSION
    possible = c.delta <= -f.forgetting_margin.value
    msg = (
        f"general probe: {c.base_mean:.0%} -> {c.cand_mean:.0%} ({c.delta:+.0%}, {1 - alpha:.0%} CI "
        f"{c.ci_low:+.0%}..{c.ci_high:+.0%}, "
        f"p={p_text(c.p_value)})"
    )
    if significant:
        msg = (
            "forgetting: "
            + msg
            + "; the fine-tune lost general ability (lower the learning rate, epochs or rank, or mix in general data)"
        )
    elif possible:
        msg = "possible forgetting (not significant): " + msg
    return ProbeResult(
        name="forgetting",
        items=len(cand),
        baseline=c.base_mean,
        candidate=c.cand_mean,
        delta=c.delta,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        flagged=significant or possible,
        message=msg,
    )


def memorisation_result(mem_set: list, out: dict[str, list[str]], f: Any) -> ProbeResult:
    thr = f.memorisation_similarity.value
    rates = {}
    for role, outs in out.items():
        hits = [
            rouge_l(o, " ".join(rest.split()[: max(1, len(o.split()))])) >= thr if o.strip() else False
            for o, (_, _, rest) in zip(outs, mem_set, strict=False)
        ]
        rates[role] = sum(hits) / max(1, len(hits))
    cand, base = rates["candidate"], rates.get("baseline")
    flagged = cand > f.memorisation_rate_flag.value and (base is None or cand > base)
    msg = (
        f"memorisation probe: {cand:.0%} of {len(mem_set)} training-answer prefixes were continued near-verbatim "
        f"(ROUGE-L >= {thr:g})" + (f"; base {base:.0%}" if base is not None else "")
    )
    if flagged:
        msg = (
            "memorisation: "
            + msg
            + "; the model regurgitates training data (compliance risk if it holds personal data: fewer epochs, dedupe)"
        )
    return ProbeResult(
        name="memorisation",
        items=len(mem_set),
        baseline=base,
        candidate=cand,
        delta=None if base is None else cand - base,
        ci_low=None,
        ci_high=None,
        flagged=flagged,
        message=msg,
    )


__all__ = [
    "EvalFacts",
    "EvalThresholds",
    "ProbeResult",
    "facts",
    "forgetting_result",
    "load_probe",
    "memorisation_items",
    "memorisation_result",
    "overlap",
    "probe_pass",
    "read_train_items",
]
