"""Time of check_line (validate's per-line rules) against the same file at another git revision, side by side.

check_line runs once for every line that is not plain chat (tools/validate/plain_chat.py takes those), so
bench_validate's plain synthetic files barely reach it; this times it directly. The lines are every line of the
real datasets in tests/data (see tests/data/SOURCES.md) whose format is detected, normalised once before the
clock, each checked against every training target that accepts its format.

Baseline: tools/data/format_rules.py as it is at ``--against`` (default ``main``). Both it and the working tree's
file are loaded from source into modules of their own the same way, check the same lines in one process,
interleaved (which goes first alternates; the collector is off while timing). Printed: the fastest round of
each against the other, and the median of the per-round ratios (each pair timed back to back, so a load that
comes and goes on a shared machine cancels out). Their findings must be identical. ``--against HEAD`` with a
clean tree times the file against itself: the noise floor.

Run: .venv/bin/python benchmarks/bench_format_rules.py [--against main] [--repeat 200] [--loops 10]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tools.data.formats import detect, facts, normalise  # noqa: E402

DATA = REPO / "tests" / "data"
RULES = "tools/data/format_rules.py"


def _load(source: str, name: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _both(rev: str) -> tuple[ModuleType, ModuleType]:
    """(format_rules at ``rev``, format_rules in the working tree), loaded the same way so neither is favoured."""
    at_rev = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:{RULES}"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        return _load(at_rev, "format_rules_baseline", Path(tmp)), _load(
            (REPO / RULES).read_text(), "format_rules_ours", Path(tmp)
        )


def _cases() -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """(obj, fmt, target, conversation, reserved) for every real line and every target accepting its format."""
    F = facts()
    reserved = F.nova_reserved.strings
    cases: list[tuple[Any, ...]] = []
    lines_by_format: dict[str, int] = {}
    for path in sorted(DATA.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            fmt = detect(obj) if isinstance(obj, dict) else None
            if fmt is None:
                continue
            lines_by_format[fmt] = lines_by_format.get(fmt, 0) + 1
            conv = normalise(obj, fmt)
            cases += [(obj, fmt, t, conv, reserved) for t in F.targets if fmt in t.formats]
    return cases, lines_by_format


def _time(check: Any, cases: list[tuple[Any, ...]], loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        for case in cases:
            check(*case)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", default="main", help="git revision of the baseline format_rules.py")
    ap.add_argument("--repeat", type=int, default=200, help="interleaved rounds")
    ap.add_argument("--loops", type=int, default=10, help="passes over every case per round")
    args = ap.parse_args()
    cases, lines_by_format = _cases()
    base, ours = _both(args.against)
    for case in cases:
        if base.check_line(*case) != ours.check_line(*case):
            raise SystemExit(f"the findings differ from {args.against}'s on a {case[1]} line for {case[2].id}")
    checks = {"baseline": base.check_line, "ours": ours.check_line}
    rounds: dict[str, list[float]] = {"baseline": [], "ours": []}
    gc.disable()  # a collection landing in one side's loop and not the other's is noise, not speed
    for r in range(args.repeat):
        for name in ("baseline", "ours") if r % 2 == 0 else ("ours", "baseline"):
            rounds[name].append(_time(checks[name], cases, args.loops))
        gc.collect()
    gc.enable()
    calls = len(cases) * args.loops
    b, o = min(rounds["baseline"]), min(rounds["ours"])
    paired = sorted(ours_t / base_t for ours_t, base_t in zip(rounds["ours"], rounds["baseline"], strict=True))
    q1, med, q3 = (paired[int(q * (len(paired) - 1))] for q in (0.25, 0.5, 0.75))
    print(f"lines by format: {json.dumps(lines_by_format)}; {len(cases)} (line, target) cases")
    print(f"findings identical to {args.against}'s on every case")
    print(f"baseline ({args.against}): {b / calls * 1e6:.3f} us per check_line call (fastest of {args.repeat})")
    print(f"ours (working tree):  {o / calls * 1e6:.3f} us per check_line call (fastest of {args.repeat})")
    print(f"ours / baseline: {o / b:.3f}x time (fastest against fastest)")
    print(f"ours / baseline, round by round: median {med:.3f}x (quartiles {q1:.3f}x to {q3:.3f}x)")


if __name__ == "__main__":
    main()
