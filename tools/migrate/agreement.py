"""How closely the replacement answers like the old model: run_eval's own metrics, with the old model's answer as
the reference, on the outputs run_eval wrote to samples.jsonl.

Pass/fail metrics (exact match, normalised exact match, JSON validity) are rates with a Wilson interval; continuous
ones (token F1, ROUGE-L, chrF/BLEU when sacrebleu is installed) are means with a percentile bootstrap interval over
items; alpha and the resamples come from evaluation.yaml, as in run_eval.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.data.checks import Scorer, parse_json
from tools.evaluate.probes import facts as eval_facts
from tools.evaluate.stats import paired_bootstrap, wilson
from tools.migrate.models import Agreement


def _pairs(samples: Path) -> list[tuple[str, str]]:
    """(replacement output, old model's output) per item."""
    out = []
    for raw in samples.read_text("utf-8").splitlines():
        if raw.strip():
            rec = json.loads(raw)
            out.append((str(rec["candidate"]["output"]), str(rec["baseline"]["output"])))
    return out


def agreement(samples: Path, seed: int) -> list[Agreement]:
    pairs = _pairs(samples)
    if not pairs:
        return []
    f = eval_facts()
    alpha, resamples = f.alpha.value, int(f.bootstrap_resamples.value)
    json_refs = sum(1 for _, old in pairs if parse_json(old)[0] and old.strip()[:1] in "{[") > len(pairs) / 2
    scorer = Scorer(json_refs=json_refs)
    rows = [scorer.score(new, old) for new, old in pairs]
    n = len(rows)
    found = []
    for spec in scorer.specs():
        if spec.kind == "info":
            continue
        values = [float(r[spec.name]) for r in rows]  # type: ignore[arg-type]
        if spec.kind == "binary":
            hits = int(round(sum(values)))
            low, high = wilson(hits, n, alpha)
            how = f"Wilson {1 - alpha:.0%}"
        else:
            _, low, high, _ = paired_bootstrap([0.0] * n, values, resamples=resamples, alpha=alpha, seed=seed)
            how = f"bootstrap {1 - alpha:.0%} ({resamples} resamples)"
        found.append(
            Agreement(
                metric=spec.name,
                value=round(sum(values) / n, 4),
                low=round(low, 4),
                high=round(high, 4),
                interval=how,
            )
        )
    return found


__all__ = ["agreement"]
