"""From parsed rows to clean per-metric series: restarts, several runs, duplicates, NaN accounting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median

from tools.diagnose.rows import Parsed, Row


@dataclass
class Series:
    name: str
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    epochs: list[float | None] = field(default_factory=list)

    def finite(self) -> Series:
        out = Series(self.name)
        for s, v, ln, e in zip(self.steps, self.values, self.lines, self.epochs, strict=False):
            if math.isfinite(v):
                out.steps.append(s)
                out.values.append(v)
                out.lines.append(ln)
                out.epochs.append(e)
        return out

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Curves:
    series: dict[str, Series]
    notes: list[str]
    first_line: int
    last_line: int
    total_steps: float | None = None

    def get(self, name: str) -> Series:
        return self.series.get(name) or Series(name)


def _fill_steps(rows: list[Row], notes: list[str]) -> None:
    if not rows:
        return
    if all(r.step is None for r in rows):
        k = 0
        for r in rows:
            if "loss" in r.values:
                k += 1
            r.step = float(max(k, 1))
        notes.append("no step numbers in the log: steps are counted in logged points")
        return
    last = None
    for r in rows:
        if r.step is None:
            r.step = last if last is not None else 0.0
        last = r.step


def split_runs(parsed: Parsed) -> tuple[list[Row], list[str]]:
    """The rows of the run to analyse (the last in the file), resumes merged; notes on what happened."""
    notes: list[str] = []
    rows = list(parsed.rows)
    _fill_steps(rows, notes)
    runs: list[list[Row]] = [[]]
    resumes = 0
    prev_step: float | None = None
    for r in rows:
        assert r.step is not None
        current = runs[-1]
        if prev_step is not None and r.step < prev_step:
            run_start = next((x.step for x in current if x.step is not None), r.step)
            if r.step <= run_start:
                runs.append([r])
                prev_step = r.step
                continue
            resumes += 1
            resume_at = r.step
            current[:] = [x for x in current if x.step is not None and x.step < resume_at]
        current.append(r)
        prev_step = r.step
    runs = [run for run in runs if run]
    if resumes:
        notes.append(
            f"the log restarts {resumes} time(s) from an earlier step (resume from checkpoint); "
            "the superseded rows were dropped"
        )
    chosen = runs[-1] if runs else []
    if len(runs) > 1:
        sizes = ", ".join(f"lines {run[0].line}-{run[-1].line}" for run in runs[:5])
        notes.append(f"the file holds {len(runs)} runs ({sizes}); analysed the last one")
    return chosen, notes


def build_curves(parsed: Parsed) -> Curves:
    rows, notes = split_runs(parsed)
    series: dict[str, Series] = {}
    dup: dict[str, int] = {}
    for r in rows:
        epoch = r.values.get("epoch")
        epoch = epoch if epoch is not None and math.isfinite(epoch) else None
        for name, value in r.values.items():
            if name == "epoch":
                continue
            s = series.setdefault(name, Series(name))
            if s.steps and s.steps[-1] == r.step:
                dup[name] = dup.get(name, 0) + 1
                s.values[-1], s.lines[-1], s.epochs[-1] = value, r.line, epoch
                continue
            assert r.step is not None
            s.steps.append(r.step)
            s.values.append(value)
            s.lines.append(r.line)
            s.epochs.append(epoch)
        if epoch is not None:
            e = series.setdefault("epoch", Series("epoch"))
            if not e.steps or e.steps[-1] != r.step:
                assert r.step is not None
                e.steps.append(r.step)
                e.values.append(epoch)
                e.lines.append(r.line)
                e.epochs.append(epoch)
    if dup.get("loss"):
        notes.append(f"{dup['loss']} train-loss steps are logged twice (e.g. by two processes); kept the later value")
    for name in ("loss", "eval_loss", "grad_norm", "learning_rate"):
        s = series.get(name)
        if s is None:
            continue
        bad = [(st, v) for st, v in zip(s.steps, s.values, strict=False) if not math.isfinite(v)]
        if bad:
            notes.append(f"{len(bad)} {name} values are NaN/inf (first at step {bad[0][0]:g})")
    loss = series.get("loss")
    if loss is not None and len(loss) >= 4:
        deltas = sorted(b - a for a, b in zip(loss.steps, loss.steps[1:], strict=False))
        typical = deltas[len(deltas) // 2]
        gaps = [(a, b) for a, b in zip(loss.steps, loss.steps[1:], strict=False) if typical > 0 and b - a > 5 * typical]
        if gaps:
            a, b = gaps[0]
            notes.append(
                f"{len(gaps)} gap(s) in the train-loss log (e.g. nothing between step {a:g} and {b:g}; "
                f"usually every {typical:g})"
            )
    lines = [r.line for r in rows] or [0]
    return Curves(series, notes, min(lines), max(lines), parsed.total_steps)


def rolling_median(values: list[float], window: int) -> list[float]:
    """Centred rolling median (shrinking at the ends)."""
    half = window // 2
    n = len(values)
    return [median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def window_for(n: int, fraction: float) -> int:
    w = max(3, int(round(n * fraction)))
    return w if w % 2 else w + 1
