"""Checks on the eval curves: the best checkpoint, overfitting, the train/eval gap, and whether the eval loss agrees
with a collapse of the train loss.

A run that selects checkpoints by a task metric (HF ``metric_for_best_model``, seen in ``training_args`` or as
``best_model_checkpoint`` with ``best_metric`` in trainer_state.json) is judged by it: its best checkpoint is the
one that metric chose, and an eval-loss rise while that metric still improves (common with seq2seq and speech
models, whose loss grows over-confident while WER falls) is a warning, not severe overfitting.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import median
from typing import Any

from tools.diagnose.facts import Thresholds, facts
from tools.diagnose.hits import Best, Hit, Severity, fmt, level
from tools.diagnose.run_config import RunInfo
from tools.diagnose.series import Curves, Series

_NOT_METRICS = re.compile(r"(runtime|per_second|samples|steps_per|_loss$|^eval_loss$|epoch|step)")


@dataclass
class Selection:
    """The eval metric a run is judged by, which way is better, and the step the run itself picked (if any)."""

    metric: str
    lower_better: bool
    declared_step: float | None
    why: str


def _eval_metrics(curves: Curves) -> list[str]:
    return [n for n in curves.series if n.startswith("eval_") and not _NOT_METRICS.search(n)]


def _declared(meta: dict[str, Any]) -> tuple[float | None, float | None]:
    top = meta.get("trainer_state") if isinstance(meta.get("trainer_state"), dict) else {}
    ckpt, value = top.get("best_model_checkpoint"), top.get("best_metric")
    m = re.search(r"checkpoint-(\d+)", ckpt) if isinstance(ckpt, str) else None
    step = float(m.group(1)) if m else None
    return step, float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def selection(curves: Curves, meta: dict[str, Any], info: RunInfo) -> Selection | None:
    """The metric that picks checkpoints: the run's own choice when it has one, else a task metric with a known
    direction (WER, accuracy...), else None (the eval loss)."""
    directions = facts().metric_directions
    named = info.get("metric_for_best_model")
    step, best_value = _declared(meta)
    candidates = _eval_metrics(curves)
    if isinstance(named, str) and named:
        metric = named if named.startswith("eval_") else f"eval_{named}"
        if metric in curves.series or metric == "eval_loss":
            lower = info.get("greater_is_better")
            lower_better = (not lower) if isinstance(lower, bool) else directions.lower_better(metric) is not False
            return Selection(
                metric, lower_better, step, f"metric_for_best_model ({info.sources.get('metric_for_best_model')})"
            )
    if step is not None and best_value is not None:
        for name in candidates + ["eval_loss"]:
            s = curves.get(name)
            at = [v for st, v in zip(s.steps, s.values, strict=False) if st == step]
            if at and math.isclose(at[0], best_value, rel_tol=1e-6, abs_tol=1e-12):
                lower_better = math.isclose(best_value, min(s.finite().values), rel_tol=1e-6)
                return Selection(name, lower_better, step, "best_model_checkpoint in trainer_state.json")
    for name in candidates:
        direction = directions.lower_better(name)
        if direction is not None and len(curves.get(name).finite()) >= 2:
            return Selection(name, direction, None, f"{name} is logged")
    return None


def _best_index(s: Series, lower_better: bool) -> int:
    return (min if lower_better else max)(range(len(s)), key=lambda j: s.values[j])


def best_checkpoint(curves: Curves, t: Thresholds, sel: Selection | None) -> Best | None:
    ev = curves.get("eval_loss").finite()
    use_metric = sel is not None and sel.metric != "eval_loss" and sel.why != f"{sel.metric} is logged"
    series = curves.get(sel.metric).finite() if use_metric and sel else ev
    if len(series) < 1:
        return None
    assert sel is not None or series is ev
    lower = sel.lower_better if use_metric and sel else True
    i = _best_index(series, lower)
    if use_metric and sel and sel.declared_step is not None and sel.declared_step in series.steps:
        i = series.steps.index(sel.declared_step)
    patience = int(t.early_stopping_patience.value)
    stop_i = i + patience
    stop_step = series.steps[stop_i] if stop_i < len(series) else None
    last_step = max(curves.get("loss").steps[-1:] + series.steps[-1:])
    saved = last_step - stop_step if stop_step is not None else None
    loss_at = [v for s, v in zip(ev.steps, ev.values, strict=False) if s == series.steps[i]]
    return Best(
        step=series.steps[i],
        eval_loss=loss_at[0] if loss_at else None,
        epoch=series.epochs[i],
        stop_step=stop_step,
        steps_saved=saved,
        metric=sel.metric if use_metric and sel else "eval_loss",
        value=series.values[i],
        chosen_by=(sel.why if use_metric and sel else "lowest eval loss"),
    )


def _train_near(loss: Series, step: float, w: int) -> float:
    i = min(range(len(loss)), key=lambda j: abs(loss.steps[j] - step))
    half = max(1, w // 2)
    return median(loss.values[max(0, i - half) : i + half + 1])


def _task_improved(curves: Curves, sel: Selection | None, loss_best_step: float) -> tuple[str, float, float] | None:
    """(metric, its best value, the step) when the task metric kept improving after the eval loss bottomed."""
    if sel is None or sel.metric == "eval_loss":
        return None
    s = curves.get(sel.metric).finite()
    if len(s) < 2:
        return None
    i = _best_index(s, sel.lower_better)
    before = [v for st, v in zip(s.steps, s.values, strict=False) if st <= loss_best_step]
    if s.steps[i] <= loss_best_step or not before:
        return None
    ref = before[-1]
    better = s.values[i] < ref if sel.lower_better else s.values[i] > ref
    return (sel.metric, s.values[i], s.steps[i]) if better else None


def overfitting(
    curves: Curves, loss: Series, best: Best | None, w: int, t: Thresholds, sel: Selection | None
) -> list[Hit]:
    ev = curves.get("eval_loss").finite()
    out: list[Hit] = []
    if len(ev) < t.min_eval_points.value:
        return out
    bi = min(range(len(ev)), key=lambda j: ev.values[j])
    low, low_step = ev.values[bi], ev.steps[bi]
    last = ev.values[-1]
    rise = last / low - 1 if low > 0 else 0.0
    after = ev.values[bi + 1 :]
    has_train = len(loss) > 0
    train_at_best = _train_near(loss, low_step, w) if has_train else math.nan
    train_end = level(loss.values, max(3, w)) if has_train else math.nan
    train_falls = train_end < train_at_best if has_train else True
    if (
        after
        and rise >= t.overfit_margin.value
        and len(after) >= 2
        and sum(v > low for v in after) >= len(after) - 1
        and train_falls
    ):
        sev: Severity = "severe" if rise >= t.overfit_severe.value else "warning"
        train_txt = f" while train loss fell from {fmt(train_at_best)} to {fmt(train_end)}" if has_train else ""
        summary = f"eval loss bottomed at {fmt(low)} at step {low_step:g} and rose {rise:.1%} to {fmt(last)}{train_txt}"
        task = _task_improved(curves, sel, low_step)
        if task is not None:
            sev = "warning"
            summary += (
                f"; but {task[0]} kept improving, to {fmt(task[1])} at step {task[2]:g}: the model grows "
                f"over-confident on the eval set while its outputs still get better, so judge checkpoints by {task[0]}"
            )
        ev_list: list[tuple[float | None, float | None, str, str | None]] = [
            (low_step, low, "lowest eval loss", "eval_loss"),
            (ev.steps[-1], last, "last eval loss", "eval_loss"),
        ]
        if has_train:
            ev_list.append((loss.steps[-1], train_end, "final train level", "loss"))
        out.append(Hit("overfitting", sev, summary, ev_list, _overfit_values(curves, best)))
    if has_train:
        out += _gap(ev, loss, last, train_end, t)
    return out


def _overfit_values(curves: Curves, best: Best | None) -> dict[str, str]:
    if best is None:
        return {}
    epoch_end = curves.get("epoch").values[-1] if len(curves.get("epoch")) else None
    return {
        "best_step": f"{best.step:g}",
        "best_eval": fmt(best.value if best.value is not None else (best.eval_loss or math.nan)),
        "best_metric": best.metric,
        "stop_step": f"{best.stop_step:g}" if best.stop_step is not None else "the end",
        "steps_saved": f"{best.steps_saved:g}" if best.steps_saved is not None else "0",
        "best_epoch": f"{math.ceil(best.epoch * 10) / 10:g}" if best.epoch else "fewer",
        "last_epoch": f"{epoch_end:.3g}" if epoch_end else "the current number of",
    }


def _gap(ev: Series, loss: Series, last: float, train_end: float, t: Thresholds) -> list[Hit]:
    gap = last - train_end
    if train_end > 0 and last / train_end >= t.gap_ratio.value and gap >= t.gap_min_abs.value:
        return [
            Hit(
                "train_eval_gap",
                "warning",
                f"final eval loss {fmt(last)} is {last / train_end:.2f}x the final train level {fmt(train_end)}",
                [
                    (ev.steps[-1], last, "last eval loss", "eval_loss"),
                    (loss.steps[-1], train_end, "final train level", "loss"),
                ],
            )
        ]
    return []


def collapse_against_eval(hits: list[Hit], curves: Curves, t: Thresholds) -> None:
    """A train loss near zero is a problem only if the eval loss says so: near zero too (leakage, a trivial task)
    or rising (memorisation, reported as overfitting). An eval loss still at its best makes it information."""
    collapse = next((h for h in hits if h.kind == "collapse"), None)
    if collapse is None:
        return
    ev = curves.get("eval_loss").finite()
    if len(ev) < t.min_eval_points.value:
        collapse.summary += "; no eval loss was logged to tell memorisation from a bug"
        if collapse.severity == "severe":
            collapse.severity = "warning"
        return
    end = level(ev.values, min(3, len(ev)))
    if end < t.collapse_loss.value:
        collapse.summary += (
            f"; the eval loss is near zero too ({fmt(end)}): eval examples leak from training, or the task is trivial"
        )
        return
    if any(h.kind == "overfitting" for h in hits):
        collapse.severity = "info"
        collapse.summary += "; the eval loss rises meanwhile (see overfitting): the train set is memorised"
        return
    collapse.severity = "info"
    best = min(ev.values)
    collapse.summary += (
        f"; the eval loss does not agree: it ends at {fmt(ev.values[-1])}, at or near its best {fmt(best)}, so the "
        "model fits the train set without losing held-out quality"
    )
