"""Per-sample checks (run_eval's metrics, GRPO's rewards): exact match, token F1, ROUGE-L, JSON validity, labels,
assertions, length.

Every function takes one prediction and one reference and returns a number; pass/fail metrics return
0.0 or 1.0. Normalisation follows the SQuAD evaluation script (lower case, drop punctuation and the
articles a/an/the, collapse spaces). ROUGE-L is the LCS F-measure over whitespace tokens of the
normalised text (beta = 1). chrF and BLEU come from sacrebleu when it is installed, else they are skipped.
Corpus metrics (macro-F1 over a label set) are computed from the per-sample label columns.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalise(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(pred: str, ref: str) -> float:
    return 1.0 if pred.strip() == ref.strip() else 0.0


def normalised_exact_match(pred: str, ref: str) -> float:
    return 1.0 if normalise(pred) == normalise(ref) else 0.0


def token_f1(pred: str, ref: str) -> float:
    """SQuAD token F1 on normalised tokens (1.0 when both are empty)."""
    p, r = normalise(pred).split(), normalise(ref).split()
    if not p and not r:
        return 1.0
    if not p or not r:
        return 0.0
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(len(a) * len(b)) time, O(len(b)) memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 (beta 1) over normalised whitespace tokens."""
    p, r = normalise(pred).split(), normalise(ref).split()
    if not p and not r:
        return 1.0
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def _strip_fence(text: str) -> str:
    t = text.strip()
    m = re.match(r"^```[a-zA-Z]*\n(.*)\n```$", t, re.S)
    return m.group(1) if m else t


def parse_json(text: str) -> tuple[bool, object]:
    try:
        return True, json.loads(_strip_fence(text))
    except ValueError:
        return False, None


def json_valid(pred: str, ref: str = "") -> float:
    return 1.0 if parse_json(pred)[0] else 0.0


def schema_valid(pred: str, schema: dict) -> float:
    ok, obj = parse_json(pred)
    if not ok:
        return 0.0
    import jsonschema

    try:
        jsonschema.validate(obj, schema)
    except jsonschema.ValidationError:
        return 0.0
    return 1.0


def contains_all(pred: str, needles: Sequence[str]) -> float:
    low = pred.lower()
    return 1.0 if all(n.lower() in low for n in needles) else 0.0


def regex_match(pred: str, pattern: re.Pattern[str]) -> float:
    return 1.0 if pattern.search(pred) else 0.0


def predicted_label(pred: str, labels: Sequence[str]) -> str | None:
    """The label the output names: an exact (normalised) match, else the first label it mentions, else None."""
    norm = normalise(pred)
    by_norm = {normalise(lab): lab for lab in labels}
    if norm in by_norm:
        return by_norm[norm]
    hits = []
    for lab in labels:
        m = re.search(r"\b" + re.escape(normalise(lab)) + r"\b", norm) if normalise(lab) else None
        if m:
            hits.append((m.start(), lab))
    return min(hits)[1] if hits else None


def macro_f1(golds: Sequence[str | None], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    """Macro-averaged F1 over ``labels`` (labels absent from both golds and preds are left out)."""
    scores = []
    for lab in labels:
        tp = sum(1 for g, p in zip(golds, preds, strict=False) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(golds, preds, strict=False) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(golds, preds, strict=False) if g == lab and p != lab)
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def sacrebleu_metrics() -> dict[str, Callable[[str, str], float]]:
    """sentence chrF and BLEU (0-100 scaled to 0-1) when sacrebleu is installed, else nothing."""
    try:
        import sacrebleu  # type: ignore[import-not-found]
    except ImportError:
        return {}
    return {
        "chrf": lambda p, r: sacrebleu.sentence_chrf(p, [r]).score / 100.0,
        "bleu": lambda p, r: sacrebleu.sentence_bleu(p, [r]).score / 100.0,
    }


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # "binary" (pass/fail, McNemar) | "continuous" (paired bootstrap) | "info" (reported, no verdict)
    description: str
    higher_is_better: bool = True


@dataclass
class Scorer:
    """Which metrics apply to this eval set, and how to score one (prediction, reference) pair."""

    labels: list[str] | None = None
    contains: list[str] | None = None
    regex: re.Pattern[str] | None = None
    json_schema: dict | None = None
    json_refs: bool = False

    def specs(self) -> list[MetricSpec]:
        specs = [
            MetricSpec("exact_match", "binary", "output equals the reference (whitespace-trimmed)"),
            MetricSpec("normalised_exact_match", "binary", "equal after lower case, no punctuation/articles"),
            MetricSpec("token_f1", "continuous", "SQuAD token F1 with the reference"),
            MetricSpec("rouge_l", "continuous", "ROUGE-L F1 (LCS of tokens) with the reference"),
        ]
        specs += [MetricSpec(n, "continuous", f"sentence {n} (sacrebleu)") for n in sacrebleu_metrics()]
        if self.json_refs or self.json_schema is not None:
            specs.append(MetricSpec("json_valid", "binary", "output parses as JSON"))
        if self.json_schema is not None:
            specs.append(MetricSpec("schema_valid", "binary", "output is JSON that satisfies the given schema"))
        if self.labels:
            specs.append(
                MetricSpec("label_accuracy", "binary", "the label the output names equals the reference label")
            )
        if self.contains:
            specs.append(
                MetricSpec("contains_all", "binary", "output contains every required string (case-insensitive)")
            )
        if self.regex is not None:
            specs.append(MetricSpec("regex_match", "binary", "output matches the required regular expression"))
        specs.append(MetricSpec("length_chars", "info", "output length in characters", higher_is_better=False))
        return specs

    def score(self, pred: str, ref: str) -> dict[str, float | str | None]:
        row: dict[str, float | str | None] = {
            "exact_match": exact_match(pred, ref),
            "normalised_exact_match": normalised_exact_match(pred, ref),
            "token_f1": round(token_f1(pred, ref), 6),
            "rouge_l": round(rouge_l(pred, ref), 6),
        }
        for name, fn in sacrebleu_metrics().items():
            row[name] = round(fn(pred, ref), 6)
        if self.json_refs or self.json_schema is not None:
            row["json_valid"] = json_valid(pred)
        if self.json_schema is not None:
            row["schema_valid"] = schema_valid(pred, self.json_schema)
        if self.labels:
            gold, got = predicted_label(ref, self.labels), predicted_label(pred, self.labels)
            row["label_gold"], row["label_pred"] = gold, got
            row["label_accuracy"] = 1.0 if got is not None and got == gold else 0.0
        if self.contains:
            row["contains_all"] = contains_all(pred, self.contains)
        if self.regex is not None:
            row["regex_match"] = regex_match(pred, self.regex)
        row["length_chars"] = float(len(pred))
        return row


__all__ = [
    "MetricSpec",
    "Scorer",
    "contains_all",
    "exact_match",
    "json_valid",
    "lcs_length",
    "macro_f1",
    "normalise",
    "normalised_exact_match",
    "parse_json",
    "predicted_label",
    "regex_match",
    "rouge_l",
    "sacrebleu_metrics",
    "schema_valid",
    "token_f1",
]
