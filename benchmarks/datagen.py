"""Synthetic chat datasets with a realistic shape for the data-pipeline benchmarks.

A few shared system prompts, long-tailed (log-normal) turn lengths over a Zipf-distributed
vocabulary, 1-3 exchanges per example, 2% exact duplicates, and planted near-duplicate pairs with
1%, 3% and 5% character edits whose line numbers are returned for recall measurement.
"""

from __future__ import annotations

import itertools
import json
import random
import string
from pathlib import Path
from typing import Any

EDIT_RATES = (0.01, 0.03, 0.05)


def _vocab(rng: random.Random, n: int = 20000) -> list[str]:
    letters = string.ascii_lowercase
    return ["".join(rng.choice(letters) for _ in range(max(1, int(rng.lognormvariate(1.5, 0.45))))) for _ in range(n)]


def _edit(text: str, rate: float, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, round(len(chars) * rate))):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.34:
            chars[i] = rng.choice([c for c in "etaoinshrdlu" if c != chars[i]])
        elif op < 0.67 and len(chars) > 1:
            del chars[i]
        else:
            chars.insert(i, rng.choice("etaoinshrdlu"))
    return "".join(chars)


def _sampler(rng: random.Random) -> Any:
    """``words(mean)``: a log-normal number of Zipf-distributed words, cut into sentences."""
    vocab = _vocab(rng)
    cum = list(itertools.accumulate(1.0 / (k + 1) for k in range(len(vocab))))

    def words(mean: float) -> str:
        k = max(3, min(3000, int(rng.lognormvariate(mean, 0.8))))
        out, sentence = [], 0
        for w in rng.choices(vocab, cum_weights=cum, k=k):
            sentence += 1
            if sentence > rng.randint(8, 20):
                out.append(w + ".")
                sentence = 0
            else:
                out.append(w)
        return " ".join(out)

    return words


def _plan_pairs(rng: random.Random, n: int, pairs_per_rate: int) -> dict[int, float]:
    """The lines whose example gets an edited copy a little later, with the edit rate of each."""
    plan = [rate for rate in EDIT_RATES for _ in range(pairs_per_rate)]
    rng.shuffle(plan)
    pair_lines = set(rng.sample(range(1, n // 2), len(plan)))
    return dict(zip(sorted(pair_lines), plan, strict=False))


def _partner(rng: random.Random, line: int, n: int, pending: dict[int, Any], pair_plan: dict[int, float]) -> int:
    """A later line (within 5,000) for the edited copy of ``line``'s example; past ``n`` when none is free."""
    target = line + rng.randint(1, 5000)
    while target in pending or target in pair_plan or target > n:
        target = line + rng.randint(1, 5000) if line + 5000 < n else line + 1
        if target > n:
            break
    return target


def generate(path: Path, n: int, seed: int = 7, pairs_per_rate: int = 300) -> dict:
    """Write ``n`` examples to ``path``; return the planted near-duplicate pairs by edit rate."""
    rng = random.Random(seed)
    words = _sampler(rng)
    systems = [words(4.2) for _ in range(4)] + ["You are a helpful assistant."]
    planted: dict[float, list[tuple[int, int]]] = {r: [] for r in EDIT_RATES}
    pending: dict[int, tuple[float, dict]] = {}
    kept: dict[int, dict] = {}
    pair_plan = _plan_pairs(rng, n, pairs_per_rate)
    with path.open("w", encoding="utf-8") as f:
        for line in range(1, n + 1):
            if line in pending:
                rate, base = pending.pop(line)
                ex = json.loads(json.dumps(base))
                for m in ex["messages"]:
                    if m["role"] != "system":
                        m["content"] = _edit(m["content"], rate, rng)
                f.write(json.dumps(ex) + "\n")
                continue
            if kept and rng.random() < 0.02:
                f.write(json.dumps(kept[rng.choice(list(kept))]) + "\n")
                continue
            msgs = [{"role": "system", "content": rng.choice(systems)}] if rng.random() < 0.95 else []
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                msgs.append({"role": "user", "content": words(2.9)})
                msgs.append({"role": "assistant", "content": words(3.4)})
            ex = {"messages": msgs}
            if line in pair_plan:
                target = _partner(rng, line, n, pending, pair_plan)
                if target <= n and target not in pending:
                    pending[target] = (pair_plan[line], ex)
                    planted[pair_plan[line]].append((line, target))
            if len(kept) < 2000 and rng.random() < 0.05:
                kept[line] = ex
            f.write(json.dumps(ex) + "\n")
    return {str(r): p for r, p in planted.items()}


_TEMPLATE_PROMPTS = (
    "Where is my order {order}?",
    "Can I move the delivery of order {order} to {day}?",
    "Is the {product} in {colour} back in stock?",
    "How do I return the {product} I bought on {day}?",
    "Does the {product} come with a warranty?",
)
_TEMPLATE_ANSWERS = (
    "Your order {order} left our {city} warehouse and will arrive on {day}. Thank you for shopping with us!",
    "I have moved the delivery of order {order} to {day}. You will get a confirmation e-mail shortly.",
    "The {product} in {colour} is back in stock in {city} and ships within {n} days.",
    "To return the {product}, print the label from your account and drop it at any {city} post office within {n} days.",
    "Yes, the {product} has a {n}-year warranty that covers manufacturing defects.",
)
_SLOTS = {
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
    "product": ("tent", "sleeping bag", "backpack", "headlamp", "stove", "rain jacket", "trail shoe", "water filter"),
    "colour": ("red", "blue", "green", "black", "grey", "orange"),
    "city": ("Oslo", "Bergen", "Lyon", "Denver", "Leeds", "Graz"),
    "n": ("2", "3", "5", "10"),
}


def generate_templated(path: Path, n: int, seed: int = 11) -> None:
    """Write ``n`` low-diversity examples: five prompt/answer templates whose slots come from a small vocabulary
    (the shape of generated support data), so most examples have many near-duplicates."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            k = rng.randrange(len(_TEMPLATE_PROMPTS))
            slots = {name: rng.choice(values) for name, values in _SLOTS.items()}
            slots["order"] = f"{rng.randrange(10**5, 10**6)}"
            msgs = [
                {"role": "system", "content": "You are the support assistant of Juniper Outdoor."},
                {"role": "user", "content": _TEMPLATE_PROMPTS[k].format(**slots)},
                {"role": "assistant", "content": _TEMPLATE_ANSWERS[k].format(**slots)},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
