"""Speed, memory and near-duplicate quality of validate_jsonl against a cookbook-style baseline.

Generates a chat file with a realistic shape (benchmarks/datagen.py), then measures in separate
processes, in one run:
  - baseline: the OpenAI cookbook data-prep checks (benchmarks/baselines/cookbook_validate.py);
  - floor: tiktoken (o200k_base) encoding each distinct message string once, one thread;
  - ours: validate_jsonl through the registry with every check on (near-duplicates included);
  - ours on a 4x larger file, for the memory-flatness ratio.
Prints ratios and the near-duplicate recall by edit rate on the planted pairs, and the share of
reported near-duplicate pairs whose exact Jaccard (recomputed here) is below the threshold.

Run: .venv/bin/python benchmarks/bench_validate.py [--n 200000] [--repeat 3] [--skip-4x]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CACHE = Path(os.environ.get("BENCH_DIR", "/tmp/finetune-bench"))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, path: str, model: str = "gpt-4.1-mini-2025-04-14") -> dict:
    """Runs in a child process; prints one JSON line."""
    from tools.data.tokens import get_encoding

    if kind == "baseline":
        from benchmarks.baselines.cookbook_validate import run

        enc = get_encoding("cl100k_base")
        enc.encode("warm up")
        t0 = time.perf_counter()
        out = run(path, enc)
        seconds = time.perf_counter() - t0
        extra = {
            "format_errors": out["format_errors"],
            "examples_total_tokens_median": out["num_total_tokens"]["median"],
        }
    elif kind == "floor":
        enc = get_encoding("o200k_base")
        distinct: set[str] = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                for m in json.loads(line)["messages"]:
                    distinct.add(m["content"])
        strings = list(distinct)
        del distinct
        enc.encode_ordinary("warm up")
        t0 = time.perf_counter()
        tokens = 0
        for s in strings:
            tokens += len(enc.encode_ordinary(s))
        seconds = time.perf_counter() - t0
        extra = {"distinct_strings": len(strings), "tokens": tokens}
    else:
        # the tool function itself (what registry.call runs, minus the audit record), so the benchmark
        # does not depend on every other registered tool module importing cleanly
        from tools.core.workspace import Workspace, using
        from tools.data.tokens import counter_for
        from tools.validate.models import ValidateRequest
        from tools.validate.validate_jsonl import validate_jsonl

        counter_for(model).count("warm up")
        ws = Workspace(Path(path).parent)
        t0 = time.perf_counter()
        with using(ws):
            r = validate_jsonl(
                ValidateRequest(paths=[Path(path).name], model=model, report=f"{Path(path).stem}.report.json")
            )
        seconds = time.perf_counter() - t0
        extra = {"report": str(ws.root / r.report_json), "counts": {c.code: c.count for c in r.counts}}
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"kind": kind, "seconds": seconds, "peak_mb": _peak_mb(), "forked_peak_mb": children, **extra}


def child(kind: str, path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def dataset(n: int) -> tuple[Path, dict]:
    from benchmarks.datagen import generate

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"chat-{n}.jsonl"
    meta = CACHE / f"chat-{n}.planted.json"
    if not (path.is_file() and meta.is_file()):
        planted = generate(path, n)
        meta.write_text(json.dumps(planted))
    return path, json.loads(meta.read_text())


def near_quality(report_path: str, data: Path, planted: dict, threshold: float, n_chars: int) -> dict:
    from tools.data.formats import normalise
    from tools.validate.scan import dup_text

    report = json.loads(Path(report_path).read_text())
    groups = report.get("groups", {}).get("near_duplicate", []) + report.get("groups", {}).get("duplicate", [])
    group_of: dict[int, int] = {}
    for gi, g in enumerate(groups):
        for line in g:
            group_of.setdefault(int(line), gi)
    recall = {}
    for rate, pairs in planted.items():
        hit = sum(1 for a, b in pairs if a in group_of and group_of.get(a) == group_of.get(b))
        recall[rate] = hit / max(len(pairs), 1)
    # exact Jaccard of every reported near-duplicate pair (consecutive members of each group)
    near = report.get("groups", {}).get("near_duplicate", [])
    wanted = {int(x) for g in near for x in g}
    texts: dict[int, set[str]] = {}
    with data.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if number in wanted:
                t = dup_text(normalise(json.loads(line), "openai_chat"))
                texts[number] = {t[i : i + n_chars] for i in range(max(1, len(t) - n_chars + 1))}
    below = total = 0
    for g in near:
        for a, b in zip(g, g[1:], strict=False):
            sa, sb = texts[int(a)], texts[int(b)]
            total += 1
            if len(sa & sb) / max(len(sa | sb), 1) < threshold:
                below += 1
    return {"recall": recall, "reported_pairs": total, "below_threshold": below / max(total, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--skip-4x", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repeats; the fastest of each counts")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1])))
        return
    from tools.data.formats import facts

    q = facts().quality
    path, planted = dataset(args.n)
    print(f"file: {path} ({path.stat().st_size / 1e6:.0f} MB, {args.n:,} examples)")
    runs: dict[str, list[dict]] = {"baseline": [], "floor": [], "ours": []}
    for _ in range(args.repeat):  # interleaved; the fastest of each kind counts (a shared machine is noisy)
        for kind in runs:
            runs[kind].append(child(kind, path))
    base, floor, ours = (min(runs[k], key=lambda r: r["seconds"]) for k in ("baseline", "floor", "ours"))
    if args.repeat > 1:
        print(
            "all runs (s): " + "; ".join(f"{k} " + ", ".join(f"{r['seconds']:.1f}" for r in v) for k, v in runs.items())
        )
    print(f"baseline (cookbook, cl100k, every message encoded): {base['seconds']:.2f} s, peak {base['peak_mb']:.0f} MB")
    print(f"floor (o200k, {floor['distinct_strings']:,} distinct strings once): {floor['seconds']:.2f} s")
    print(
        f"ours (validate_jsonl, every check): {ours['seconds']:.2f} s, peak {ours['peak_mb']:.0f} MB "
        f"(+ forked half-file worker {ours['forked_peak_mb']:.0f} MB)"
    )
    print(f"  speed-up vs baseline: {base['seconds'] / ours['seconds']:.2f}x (target >= 1.3x)")
    print(f"  ours / floor: {ours['seconds'] / floor['seconds']:.2f}x (target <= 1.2x)")
    quality = near_quality(ours["report"], path, planted, q.near_dup_threshold, q.shingle_chars)
    for rate, value in quality["recall"].items():
        print(f"  near-duplicate recall at {float(rate):.0%} character edits: {value:.3f}")
    print(
        f"  reported near-duplicate pairs: {quality['reported_pairs']}, below the {q.near_dup_threshold} "
        f"threshold when checked exactly: {quality['below_threshold']:.2%} (target <= 1%)"
    )
    if not args.skip_4x:
        big, _ = dataset(args.n * 4)
        ours4 = child("ours", big)
        print(
            f"ours on 4x ({args.n * 4:,} examples): {ours4['seconds']:.2f} s, peak {ours4['peak_mb']:.0f} MB "
            f"(+ worker {ours4['forked_peak_mb']:.0f} MB); "
            f"peak ratio {ours4['peak_mb'] / ours['peak_mb']:.2f}x (target < 1.2x, peak < 300 MB)"
        )


if __name__ == "__main__":
    main()
