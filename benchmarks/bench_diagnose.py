"""Accuracy of diagnose_loss on the labelled synthetic curves (benchmarks/curves.py), per class.

A curve counts as right when its expected finding is reported (any severity) or, for the healthy
classes, when nothing of severity warning or worse is reported. The hard rule: no healthy curve may
get a severe finding. Each curve is written in one of five log formats and goes through the real tool.
Baseline: a naive checker (loss at the end higher than at the start = "divergence", else healthy).

Run: .venv/bin/python benchmarks/bench_diagnose.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.curves import FORMATS, labelled_curves, write_log  # noqa: E402
from tools.core import registry  # noqa: E402
from tools.core.workspace import Workspace  # noqa: E402


def judge(expect: str | None, findings: list[dict]) -> bool:
    if expect is None:
        return not any(f["severity"] in {"warning", "severe"} for f in findings)
    return any(f["kind"] == expect for f in findings)


def naive(rows: list[dict]) -> str | None:
    losses = [r["loss"] for r in rows if "loss" in r]
    if len(losses) < 2:
        return None
    return "divergence" if losses[-1] > losses[0] else None


def evaluate(seed: int = 20261124) -> dict:
    per_class: dict[str, list[bool]] = defaultdict(list)
    extra: dict[str, int] = defaultdict(int)
    base: dict[str, list[bool]] = defaultdict(list)
    healthy_severe: list[str] = []
    wrong: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        for i, curve in enumerate(labelled_curves(seed)):
            fmt = FORMATS[i % len(FORMATS)]
            path = write_log(curve, Path(tmp) / curve.name, fmt)
            result = registry.call("diagnose_loss", {"path": str(path.relative_to(tmp))}, workspace=ws)
            data = result.model_dump()
            findings = data["findings"]
            ok = judge(curve.expect, findings)
            per_class[curve.label].append(ok)
            guess = naive(curve.rows)
            base[curve.label].append(guess == curve.expect if curve.expect in (None, "divergence") else False)
            extra[curve.label] += sum(
                1 for f in findings if f["kind"] != curve.expect and f["severity"] in {"warning", "severe"}
            )
            if curve.expect is None and any(f["severity"] == "severe" for f in findings):
                healthy_severe.append(curve.name)
            if not ok:
                wrong.append(f"{curve.name} [{fmt}]: got {[(f['kind'], f['severity']) for f in findings]}")
    total = sum(len(v) for v in per_class.values())
    right = sum(sum(v) for v in per_class.values())
    return {
        "per_class": per_class,
        "baseline": base,
        "total": total,
        "right": right,
        "healthy_severe": healthy_severe,
        "extra": extra,
        "wrong": wrong,
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    seeds = [int(a) for a in sys.argv[1:]] or [20261124]
    status = 0
    for seed in seeds:
        status |= report(seed)
    return status


def report(seed: int) -> int:
    r = evaluate(seed)
    print(f"seed {seed}")
    print(f"{'class':<15} {'curves':>6} {'right':>6} {'acc':>7} {'naive':>7} {'other warnings':>15}")
    for label, oks in r["per_class"].items():
        b = r["baseline"][label]
        print(
            f"{label:<15} {len(oks):>6} {sum(oks):>6} {sum(oks) / len(oks):>7.0%} {sum(b) / len(b):>7.0%}"
            f" {r['extra'][label]:>15}"
        )
    base_right = sum(sum(v) for v in r["baseline"].values())
    print(
        f"{'all':<15} {r['total']:>6} {r['right']:>6} {r['right'] / r['total']:>7.1%} {base_right / r['total']:>7.1%}"
    )
    print(f"healthy curves with a severe finding: {len(r['healthy_severe'])} {r['healthy_severe']}")
    print(f"time: {r['seconds']:.1f}s for {r['total']} curves (each written to a log file and read back)")
    for w in r["wrong"]:
        print("  wrong:", w)
    return 0 if r["right"] / r["total"] >= 0.9 and not r["healthy_severe"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
