"""Gradient checks, and fp16 steps the loss scaler skipped, which are not frozen weights.

With fp16 mixed precision a gradient that overflows makes the scaler skip that optimizer step (and halve the
scale); the LR scheduler does not step either. The log shows it as a grad_norm of inf or NaN (0.0 with some
DeepSpeed versions), as DeepSpeed's ``OVERFLOW! ... Skipping step`` lines and ``skipped=`` counter, or only as a
learning rate that lags its schedule. Such steps, with a falling loss, are reported as skipped steps (info, or a
warning when they go on late in the run); only a grad_norm that stays zero or non-finite while the loss does not
fall is called frozen weights or divergence.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any

from tools.diagnose.facts import Thresholds
from tools.diagnose.hits import Hit, Severity, fmt
from tools.diagnose.series import Curves, Series, window_for


def loss_drop(loss: Series, k: int) -> float | None:
    """How much the train loss fell, as a fraction of where it started (None when it cannot be said)."""
    if len(loss) < 2:
        return None
    k = max(1, min(k, len(loss) // 2))
    start, end = median(loss.values[:k]), median(loss.values[-k:])
    return 1 - end / start if start > 0 else None


def _bad_grad_steps(gn: Series) -> list[tuple[float, float]]:
    return [(s, v) for s, v in zip(gn.steps, gn.values, strict=False) if not math.isfinite(v) or v == 0.0]


def grad_skips(curves: Curves, drop: float | None, t: Thresholds) -> list[tuple[float, float]]:
    """grad_norm values that are fp16-skipped steps: zero or non-finite, isolated (a normal value follows), while
    the loss stays finite and falls."""
    gn = curves.get("grad_norm")
    loss = curves.get("loss")
    if not len(gn) or drop is None or drop < t.plateau_min_drop.value:
        return []
    if any(not math.isfinite(v) for v in loss.values):
        return []
    last = gn.values[-1]
    if not math.isfinite(last) or last == 0.0:
        return []  # still zero or non-finite at the end: not a skip the run recovered from
    return _bad_grad_steps(gn)


def nonfinite(curves: Curves, raw: Series, skipped: list[tuple[float, float]]) -> list[Hit]:
    gn = curves.get("grad_norm")
    skip_steps = {s for s, _ in skipped}
    bad_loss = [(s, v, ln) for s, v, ln in zip(raw.steps, raw.values, raw.lines, strict=False) if not math.isfinite(v)]
    bad_gn = [
        (s, v, ln)
        for s, v, ln in zip(gn.steps, gn.values, gn.lines, strict=False)
        if not math.isfinite(v) and s not in skip_steps
    ]
    if not bad_loss and not bad_gn:
        return []
    first_loss = bad_loss[0][0] if bad_loss else None
    first_gn = bad_gn[0][0] if bad_gn else None
    if first_gn is not None and (first_loss is None or first_gn <= first_loss):
        where = "grad_norm went non-finite first: the backward pass exploded"
    else:
        where = "the loss went non-finite while grad_norm was still finite: look at the forward pass and the batch"
    first = min(s for s in (first_loss, first_gn) if s is not None)
    ev = [(s, v, f"loss (line {ln})", "loss") for s, v, ln in bad_loss[:2]] + [
        (s, v, f"grad_norm (line {ln})", "grad_norm") for s, v, ln in bad_gn[:2]
    ]
    return [
        Hit(
            "divergence",
            "severe",
            f"NaN/inf from step {first:g} ({len(bad_loss)} loss, {len(bad_gn)} grad_norm values); {where}",
            ev,
            {"first_step": f"{first:g}"},
        )
    ]


def grad_norm(curves: Curves, t: Thresholds, drop: float | None) -> list[Hit]:
    gn = curves.get("grad_norm").finite()
    if len(gn) < t.min_points.value:
        return []
    out = _explode(gn, t)
    zeros = sum(1 for v in gn.values if v == 0.0)
    learning = drop is not None and drop >= t.plateau_min_drop.value
    if (zeros >= 2 or median(gn.values) < t.grad_norm_vanish.value) and not learning:
        falls = f"; the loss fell only {drop:.1%}" if drop is not None else ""
        out.append(
            Hit(
                "grad_vanish",
                "severe",
                f"grad_norm is zero or vanishing (median {fmt(median(gn.values))}, {zeros} exact zeros){falls}: "
                "the weights are not being updated",
                [(gn.steps[0], gn.values[0], "first grad_norm", "grad_norm")],
            )
        )
    return out


def _explode(gn: Series, t: Thresholds) -> list[Hit]:
    limit = t.grad_norm_explode.value
    big = [(s, v) for s, v in zip(gn.steps, gn.values, strict=False) if v > limit]
    k = window_for(len(gn), t.window_fraction.value)
    early, late = median(gn.values[:k]), median(gn.values[-k:])
    growth = late / early if early > 0 else 0.0
    grows = growth >= t.grad_norm_growth.value
    if not big and not grows:
        return []
    sev: Severity = "severe" if len(big) >= t.grad_norm_severe_count.value or grows else "warning"
    what = (
        f"{len(big)} grad_norm values above {limit:g} (max {fmt(max(v for _, v in big))} at step "
        f"{max(big, key=lambda b: b[1])[0]:g})"
        if big
        else ""
    )
    grow = f"grad_norm grew {growth:.0f}x from {fmt(early)} to {fmt(late)}" if grows else ""
    return [
        Hit(
            "grad_explode",
            sev,
            "; ".join(x for x in (what, grow) if x),
            [(s, v, "grad_norm", "grad_norm") for s, v in big[:4]]
            or [(gn.steps[-1], late, "late grad_norm level", "grad_norm")],
        )
    ]


def lr_lag(curves: Curves, t: Thresholds) -> int | None:
    """Optimizer steps the LR scheduler is behind at the end of a linear decay to zero (fp16 skips do not step it).

    Needs the planned number of steps and a last logged step equal to it; the decay must be a straight line."""
    lr = curves.get("learning_rate").finite()
    total = curves.total_steps
    if total is None or len(lr) < 4 or lr.steps[-1] != total or lr.values[-1] <= 0:
        return None
    peak = max(range(len(lr)), key=lambda i: lr.values[i])
    steps, values = lr.steps[peak:], lr.values[peak:]
    if len(steps) < 4 or steps[-1] == steps[0]:
        return None
    tail = len(steps) // 2
    xs, ys = steps[tail - 1 :], values[tail - 1 :]
    slope = (ys[-1] - ys[0]) / (xs[-1] - xs[0]) if xs[-1] != xs[0] else 0.0
    if slope >= 0:
        return None
    span = max(values) - min(values)
    worst = max(abs(y - (ys[0] + slope * (x - xs[0]))) for x, y in zip(xs, ys, strict=False))
    if span <= 0 or worst > t.lr_lag_fit_tolerance.value * span:
        return None
    lag = values[-1] / -slope
    whole = round(lag)
    if whole < 1 or abs(lag - whole) > t.lr_lag_round_tolerance.value:
        return None
    return whole


def skipped_steps(curves: Curves, meta: dict[str, Any], t: Thresholds, drop: float | None) -> list[Hit]:
    """One finding for the steps the fp16 loss scaler skipped, from whichever evidence the log has."""
    ends = curves.get("loss").steps[-1:] + ([curves.total_steps] if curves.total_steps else [])
    last = max(ends, default=0.0)
    late_from = t.skipped_late_from.value * last if last else math.inf
    parts: list[str] = []
    evidence: list[tuple[float | None, float | None, str, str | None]] = []
    late = False
    counter = meta.get("deepspeed_skipped") or []
    overflows = meta.get("fp16_overflows") or []
    if counter and counter[-1][1] > 0:
        total = int(counter[-1][1])
        first_full = next(s for s, c in counter if c == total)
        late = late or any(c > p for (s, c), (_, p) in zip(counter[1:], counter, strict=False) if s > late_from)
        scales = [o[2] or o[1] for o in overflows if o[1] or o[2]]
        scale = f", the loss scale falling from {overflows[0][1]} to {scales[-1]}" if scales and overflows[0][1] else ""
        parts.append(
            f"DeepSpeed skipped {total} optimizer steps on fp16 overflow (all of them by step {first_full:g}{scale})"
        )
        evidence.append((first_full, float(total), "skipped steps so far (DeepSpeed)", "skipped_steps"))
    elif overflows:
        parts.append(f"{len(overflows)} 'OVERFLOW! ... Skipping step' lines (first on line {overflows[0][0]})")
    skips = grad_skips(curves, drop, t)
    if skips:
        late = late or any(s > late_from for s, _ in skips)
        shown = ", ".join(f"{s:g}" for s, _ in skips[:5])
        parts.append(f"{len(skips)} logged steps have grad_norm 0.0, inf or NaN (steps {shown}), then normal values")
        evidence += [(s, None, f"grad_norm {v}", "grad_norm") for s, v in skips[:3]]
    lag = lr_lag(curves, t)
    if lag:
        lr = curves.get("learning_rate").finite()
        parts.append(
            f"the learning rate ends {lag} scheduler step(s) short of its linear schedule ({lr.values[-1]:.3g} at "
            f"step {lr.steps[-1]:g}, where it would be 0): {lag} optimizer step(s) were skipped"
        )
        evidence.append((lr.steps[-1], lr.values[-1], "learning rate at the last step", "learning_rate"))
    if not parts:
        return []
    falls = f"; the train loss still fell {drop:.1%}, so the weights are being updated" if drop and drop > 0 else ""
    tail = (
        ": skips go on late in the run (the loss scale does not settle)"
        if late
        else ": early skips are the fp16 loss scale calibrating, not frozen weights"
    )
    return [Hit("skipped_steps", "warning" if late else "info", "; ".join(parts) + falls + tail, evidence)]
