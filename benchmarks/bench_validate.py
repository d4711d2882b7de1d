"""Speed, memory and near-duplicate quality of validate_jsonl, side by side with a tokenizer floor and the cookbook.

Two files of the same size (benchmarks/datagen.py): a realistic chat file (long-tailed lengths, 2% exact
duplicates, planted near-duplicate pairs) and a templated, low-diversity one (five templates, slots from a small
vocabulary). Each row is measured in separate processes, in one run, on the same cores:
  - floor: bpe-openai's counter (o200k_base) over each distinct message string once, the strings cut into one
    part per worker and counted by forked processes: the least any validator that counts tokens must do;
  - ours: validate_jsonl through the tool function with every check on (content, near-duplicates);
  - baseline (realistic file): the OpenAI cookbook's data-prep checks (benchmarks/baselines/cookbook_validate.py).
Every row reports CPU-seconds (this process and its children, user + system) and wall seconds; ours and the floor
run at 1 worker and at every core (FINETUNE_WORKERS), so the ratios compare like with like. Also printed: the
peak memory, the near-duplicate recall by edit rate on the planted pairs, and the share of reported pairs whose
exact Jaccard (recomputed here) is below the threshold.

Run: .venv/bin/python benchmarks/bench_validate.py [--n 200000] [--repeat 1] [--skip-baseline]
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


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_maxrss / 1024, kids.ru_maxrss / 1024


def _floor(path: str, workers: int) -> dict:
    """Count the distinct message strings with bpe-openai, one part per worker (forked, like the validator)."""
    from tools.core.forked import fan_out
    from tools.data.tokens import tiktoken_length

    count = tiktoken_length("o200k_base")
    distinct: set[str] = set()
    read0 = _cpu()
    with open(path, encoding="utf-8") as f:
        for line in f:
            for m in json.loads(line)["messages"]:
                distinct.add(m["content"])
    strings = list(distinct)
    del distinct
    reading = _cpu() - read0  # one process reading and parsing every line: reported beside the floor, not in it
    count("warm up")
    size = -(-len(strings) // workers)
    parts = [strings[k : k + size] for k in range(0, len(strings), size)]
    cpu0, t0 = _cpu(), time.perf_counter()
    mine, theirs = fan_out(
        lambda: sum(map(count, parts[0])),
        [lambda p=p: sum(map(count, p)) for p in parts[1:]],
        tmp=Path(path).parent,
        what="counting",
    )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu() - cpu0,
        "distinct_strings": len(strings),
        "reading_cpu": reading,
        "tokens": mine + sum(theirs),
    }


def _ours(path: str, model: str) -> dict:
    # the tool function itself (what registry.call runs, minus the audit record)
    from tools.core.workspace import Workspace, using
    from tools.data.tokens import counter_for
    from tools.validate.content_facts import content_facts
    from tools.validate.models import ValidateRequest
    from tools.validate.validate_jsonl import validate_jsonl

    counter_for(model).count("warm up")
    content_facts()
    import ftfy.badness  # noqa: F401 - loaded before the clock starts, as the tokenizer is

    ws = Workspace(Path(path).parent)
    cpu0, t0 = _cpu(), time.perf_counter()
    with using(ws):
        r = validate_jsonl(
            ValidateRequest(paths=[Path(path).name], model=model, report=f"{Path(path).stem}.report.json")
        )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu() - cpu0,
        "report": str(ws.root / r.report_json),
        "counts": {c.code: c.count for c in r.counts},
    }


def measure(kind: str, path: str, model: str = "gpt-4.1-mini-2025-04-14") -> dict:
    """Runs in a child process; prints one JSON line."""
    from tools.core.forked import workers

    n = workers()
    if kind == "baseline":
        from benchmarks.baselines.cookbook_validate import run
        from tools.data.tokens import get_encoding

        enc = get_encoding("cl100k_base")
        enc.encode("warm up")
        cpu0, t0 = _cpu(), time.perf_counter()
        out = run(path, enc)
        extra = {"seconds": time.perf_counter() - t0, "cpu": _cpu() - cpu0, "format_errors": out["format_errors"]}
    elif kind == "floor":
        extra = _floor(path, n)
    else:
        extra = _ours(path, model)
    peak, kids = _peak_mb()
    return {"kind": kind, "workers": n, "peak_mb": peak, "forked_peak_mb": kids, **extra}


def child(kind: str, path: Path, workers: int | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if workers is not None:
        env["FINETUNE_WORKERS"] = str(workers)
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def dataset(n: int, templated: bool = False) -> tuple[Path, dict]:
    from benchmarks.datagen import generate, generate_templated

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (f"templated-{n}.jsonl" if templated else f"chat-{n}.jsonl")
    meta = path.with_suffix(".planted.json")
    if not (path.is_file() and meta.is_file()):
        planted = {} if templated else generate(path, n)
        if templated:
            generate_templated(path, n)
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


def _fastest(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def _row(name: str, path: Path, cores: int, repeat: int) -> tuple[dict, dict, dict, dict]:
    """(floor at 1 worker, floor at all cores, ours at 1 worker, ours at all cores), fastest of ``repeat``."""
    runs: dict[str, list[dict]] = {"f1": [], "fn": [], "o1": [], "on": []}
    for _ in range(repeat):  # interleaved; the fastest of each counts (a shared machine is noisy)
        runs["f1"].append(child("floor", path, 1))
        runs["fn"].append(child("floor", path, cores))
        runs["o1"].append(child("ours", path, 1))
        runs["on"].append(child("ours", path, cores))
    f1, fn, o1, on = (_fastest(runs[k]) for k in ("f1", "fn", "o1", "on"))
    print(f"\n[{name}] {path.name} ({path.stat().st_size / 1e6:.0f} MB), {cores} cores")
    print(
        f"  floor (bpe-openai o200k, {fn['distinct_strings']:,} distinct strings once): "
        f"1 worker {f1['cpu']:.1f} CPU-s / {f1['seconds']:.1f} s wall; "
        f"{fn['workers']} workers {fn['cpu']:.1f} CPU-s / {fn['seconds']:.1f} s wall"
    )
    print(
        f"  ours (validate_jsonl, every check): 1 worker {o1['cpu']:.1f} CPU-s / {o1['seconds']:.1f} s wall, "
        f"peak {o1['peak_mb']:.0f} MB; {on['workers']} workers {on['cpu']:.1f} CPU-s / {on['seconds']:.1f} s wall, "
        f"peak {on['peak_mb']:.0f} MB (+ workers {on['forked_peak_mb']:.0f} MB each at most)"
    )
    read = f1["reading_cpu"]
    print(
        f"  reading and parsing every line once (json, one process; not in the floor): {read:.1f} CPU-s; "
        f"ours / (floor + reading): {o1['cpu'] / (f1['cpu'] + read):.2f}x CPU-seconds at 1 worker"
    )
    print(
        f"  ours / floor: CPU-seconds {o1['cpu'] / f1['cpu']:.2f}x (1 worker), {on['cpu'] / fn['cpu']:.2f}x "
        f"({on['workers']} workers); wall on the same cores {on['seconds'] / fn['seconds']:.2f}x (target <= 1.5x)"
    )
    print(
        f"  ours, 1 worker -> {on['workers']} workers: wall {o1['seconds'] / on['seconds']:.2f}x faster "
        f"(floor: {f1['seconds'] / fn['seconds']:.2f}x)"
    )
    return f1, fn, o1, on


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repeats; the fastest of each counts")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1])))
        return
    from tools.core.forked import cpus
    from tools.data.formats import facts

    q = facts().quality
    cores = cpus()
    path, planted = dataset(args.n)
    _, _, _, on = _row("realistic", path, cores, args.repeat)
    quality = near_quality(on["report"], path, planted, q.near_dup_threshold, q.shingle_chars)
    for rate, value in quality["recall"].items():
        print(f"  near-duplicate recall at {float(rate):.0%} character edits: {value:.3f}")
    print(
        f"  reported near-duplicate pairs: {quality['reported_pairs']}, below the {q.near_dup_threshold} "
        f"threshold when checked exactly: {quality['below_threshold']:.2%} (target <= 1%)"
    )
    if not args.skip_baseline:
        base = child("baseline", path, 1)
        print(
            f"  baseline (cookbook, cl100k, every message encoded, one process): {base['cpu']:.1f} CPU-s / "
            f"{base['seconds']:.1f} s wall, peak {base['peak_mb']:.0f} MB; ours at {on['workers']} workers is "
            f"{base['seconds'] / on['seconds']:.2f}x faster in wall time, {base['cpu'] / on['cpu']:.2f}x in CPU-s"
        )
    templ, _ = dataset(args.n, templated=True)
    _, _, _, ton = _row("templated", templ, cores, args.repeat)
    shown = ("low_diversity", "near_duplicate", "duplicate")
    print(f"  findings: {json.dumps({k: v for k, v in ton['counts'].items() if k in shown})}")


if __name__ == "__main__":
    main()
