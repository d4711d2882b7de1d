"""The findings: each check reads the curves and the thresholds in reference/data/diagnose.yaml.

:func:`run_checks` runs them all and reconciles them (one story told once). Loss-shape checks live here; the
eval-curve checks in :mod:`tools.diagnose.checks_eval`, the gradient and fp16 checks in
:mod:`tools.diagnose.checks_grad`.
"""

from __future__ import annotations

import math
import re
from statistics import median
from typing import Any

from tools.diagnose import checks_eval, checks_grad
from tools.diagnose.facts import Thresholds, facts
from tools.diagnose.hits import SEVERITY_RANK, Best, Hit, Severity, fmt, level
from tools.diagnose.run_config import RunInfo
from tools.diagnose.series import Curves, Series, rolling_median, window_for

__all__ = ["SEVERITY_RANK", "Best", "Hit", "Severity", "lr_values", "run_checks"]


def run_checks(curves: Curves, meta: dict[str, Any], info: RunInfo) -> tuple[list[Hit], Best | None]:
    t = facts().thresholds
    raw = curves.get("loss")
    loss = raw.finite()
    sel = checks_eval.selection(curves, meta, info)
    best = checks_eval.best_checkpoint(curves, t, sel)
    w = window_for(len(loss), t.window_fraction.value) if len(loss) else 3
    drop = checks_grad.loss_drop(loss, max(3, w))
    skipped = checks_grad.grad_skips(curves, drop, t)
    hits = checks_grad.nonfinite(curves, raw, skipped)
    if len(loss) < t.min_points.value:
        hits.append(
            Hit(
                "too_short",
                "info",
                f"only {len(loss)} finite train-loss points; at least {int(t.min_points.value)} "
                "are needed to judge trends",
                values={"points": str(len(loss))},
            )
        )
        hits += _hidden_nan(raw, loss.values, loss, t) if len(loss) >= 2 else []
        hits += checks_eval.overfitting(curves, loss, best, 1, t, sel)  # eval checks need eval points, not train
        hits += checks_grad.skipped_steps(curves, meta, t, drop)
        return hits, best
    smooth = rolling_median(loss.values, w)
    hits += _hidden_nan(raw, smooth, loss, t)
    hits += _divergence(loss, smooth, w, t)
    hits += _spikes(loss, w, t)
    hits += _plateau_and_collapse(loss, smooth, w, t)
    hits += _staircase(loss, t)
    hits += checks_eval.overfitting(curves, loss, best, w, t, sel)
    hits += checks_grad.grad_norm(curves, t, drop)
    hits += checks_grad.skipped_steps(curves, meta, t, drop)
    hits += _schedule(curves, t)
    hits += _forgetting(curves, t)
    return _reconcile(hits, raw, curves, t), best


def _reconcile(hits: list[Hit], raw: Series, curves: Curves, t: Thresholds) -> list[Hit]:
    """One story told once: echoes of a finding are dropped or lowered to information."""
    if any(h.kind == "hidden_nan" for h in hits):
        # the zeros and a NaN grad_norm are one story: keep the hidden-NaN finding, drop its echoes
        nan_loss = any(not math.isfinite(v) for v in raw.values)
        hits = [
            h
            for h in hits
            if h.kind not in {"collapse", "spikes", "skipped_steps"}
            and not (h.kind == "divergence" and not nan_loss and "NaN" in h.summary)
        ]
    checks_eval.collapse_against_eval(hits, curves, t)
    if any(h.kind == "overfitting" for h in hits):
        for h in hits:
            if h.kind == "train_eval_gap":
                h.severity = "info"  # a consequence of the overfitting, not a second problem
    if any(h.kind == "divergence" for h in hits):
        hits = [h for h in hits if h.kind != "plateau"]
    return hits


def _hidden_nan(raw: Series, smooth: list[float], loss: Series, t: Thresholds) -> list[Hit]:
    run_len = int(t.zero_loss_run.value)
    vals = loss.values
    for i in range(1, len(vals) - run_len + 1):
        if (
            all(v == 0.0 for v in vals[i : i + run_len])
            and smooth[i - 1] > t.zero_loss_prior.value
            and vals[i - 1] > t.zero_loss_prior.value
        ):
            zeros = sum(1 for v in vals[i:] if v == 0.0)
            return [
                Hit(
                    "hidden_nan",
                    "severe",
                    f"train loss jumps from {fmt(vals[i - 1])} to exactly 0.0 at step {loss.steps[i]:g} "
                    f"({zeros} zero points); HF Trainer hides NaN losses by default",
                    [
                        (loss.steps[i - 1], vals[i - 1], "last normal loss", "loss"),
                        (loss.steps[i], 0.0, "first 0.0", "loss"),
                    ],
                    {"first_step": f"{loss.steps[i]:g}"},
                )
            ]
    return []


def _divergence(loss: Series, smooth: list[float], w: int, t: Thresholds) -> list[Hit]:
    n = len(loss)
    k = max(3, w, int(n * t.diverge_level_fraction.value))
    if k % 2 == 0:
        k += 1
    end = level(loss.values, k)
    wide = rolling_median(loss.values, k)
    half = k // 2
    inner = range(half, n - half) if n > 2 * half else range(n)
    lo_i = min(inner, key=lambda i: wide[i])
    lo = wide[lo_i]
    if lo <= 0 or lo_i >= n - k:
        return []
    rise = end / lo - 1
    sigma = median(abs(v - s) for v, s in zip(loss.values, smooth, strict=False)) * 1.4826
    if rise < t.diverge_rise.value or end - lo < t.diverge_noise_z.value * 1.25 * sigma / math.sqrt(k):
        return []
    sev: Severity = "severe" if rise >= t.diverge_rise_severe.value else "warning"
    return [
        Hit(
            "divergence",
            sev,
            f"train loss rose {rise:.0%} from its low {fmt(lo)} at step {loss.steps[lo_i]:g} to {fmt(end)} at the end",
            [(loss.steps[lo_i], lo, "lowest rolling median", "loss"), (loss.steps[-1], end, "final level", "loss")],
            {"first_step": f"{loss.steps[lo_i]:g}"},
        )
    ]


def _spikes(loss: Series, w: int, t: Thresholds) -> list[Hit]:
    vals = loss.values
    w = max(w, int(t.spike_window_min.value))
    found = []
    i = w
    while i < len(vals):
        prev = vals[i - w : i]
        base = median(prev)
        mad = median(abs(v - base) for v in prev) * 1.4826
        scale = max(mad, base * 0.02)
        if (
            base >= t.spike_min_base.value
            and vals[i] >= base * t.spike_ratio.value
            and (vals[i] - base) >= t.spike_robust_z.value * scale
        ):
            after = vals[i + 1 : i + 1 + w]
            if after and median(after) < base * t.spike_ratio.value:  # it recovered: a spike, not a jump
                found.append((loss.steps[i], vals[i], base))
                i += max(1, w // 2)
                continue
        i += 1
    if not found:
        return []
    sev: Severity = "severe" if len(found) >= t.spikes_severe_count.value else "warning"
    worst = max(found, key=lambda f: f[1] / f[2])
    steps = ", ".join(f"{s:g}" for s, _, _ in found[:5])
    return [
        Hit(
            "spikes",
            sev,
            f"{len(found)} loss spike(s), the worst {worst[1] / worst[2]:.1f}x the rolling median at step {worst[0]:g}",
            [(s, v, f"{v / b:.1f}x rolling median {fmt(b)}", "loss") for s, v, b in found[:5]],
            {"spike_steps": steps},
        )
    ]


def _plateau_and_collapse(loss: Series, smooth: list[float], w: int, t: Thresholds) -> list[Hit]:
    k = max(3, w)
    start = median(loss.values[:k])
    end = level(loss.values, k)
    out = []
    if end < t.collapse_loss.value:
        sev: Severity = "severe" if end < t.collapse_loss_severe.value else "warning"
        first = next((i for i, v in enumerate(smooth) if v < t.collapse_loss.value), len(smooth) - 1)
        zeros = sum(1 for v in loss.values if v == 0.0)
        extra = f"; {zeros} points are exactly 0.0" if zeros else ""
        out.append(
            Hit(
                "collapse",
                sev,
                f"train loss fell to {fmt(end)} (from {fmt(start)}); "
                f"below {t.collapse_loss.value:g} from step "
                f"{loss.steps[first]:g}{extra}",
                [
                    (loss.steps[0], start, "starting level", "loss"),
                    (loss.steps[first], smooth[first], "near zero from", "loss"),
                    (loss.steps[-1], end, "final level", "loss"),
                ],
            )
        )
        return out
    if start > 0 and 1 - end / start < t.plateau_min_drop.value and end >= start * (1 - t.plateau_min_drop.value):
        what = _chance_level(start, end, t)
        out.append(
            Hit(
                "plateau",
                "warning",
                f"train loss barely moved: {fmt(start)} at the start, {fmt(end)} at the end "
                f"({1 - end / start:+.1%}){what}",
                [(loss.steps[0], start, "starting level", "loss"), (loss.steps[-1], end, "final level", "loss")],
            )
        )
    return out


def _chance_level(start: float, end: float, t: Thresholds) -> str:
    """' and sits at ln N ...' when a flat loss equals the loss of guessing among N options."""
    tol = t.dpo_stuck_tolerance.value
    for n in range(2, int(t.chance_levels_max_n.value) + 1):
        level = math.log(n)
        if abs(end - level) <= tol and abs(start - level) <= tol:
            if n == 2:
                return (
                    f" and sits at ln 2 = {t.dpo_stuck_loss.value:g}: chance for two options, or a DPO run "
                    "whose policy is not updating"
                )
            return f" and sits at ln {n} = {level:.4f}, the loss of guessing uniformly among {n} options"
    return ""


def _staircase(loss: Series, t: Thresholds) -> list[Hit]:
    epochs = loss.epochs
    if sum(e is not None for e in epochs) < len(epochs) * 0.9:
        return []
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(epochs):
        if e is not None:
            # a point logged exactly at the end of epoch k (epoch == k) belongs to epoch k-1
            groups.setdefault(max(0, math.ceil(e) - 1), []).append(i)
    keys = sorted(groups)
    min_pts = int(t.stair_min_points_per_epoch.value)
    stairs, judged = [], 0
    for a, b in zip(keys, keys[1:], strict=False):
        ia, ib = groups[a], groups[b]
        if b != a + 1 or len(ia) < min_pts or len(ib) < min_pts:
            continue
        judged += 1
        k = max(2, len(ia) // 5)
        pre = median([loss.values[i] for i in ia[-k:]])
        post = median([loss.values[i] for i in ib[:k]])
        half = ia[len(ia) // 2 :]
        mid = median([loss.values[i] for i in half[:k]])
        within = max(mid - pre, 0.0)
        drop = pre - post
        if pre > 0 and drop / pre >= t.stair_min_drop.value and drop >= t.stair_vs_within.value * max(within, 1e-9):
            stairs.append((loss.steps[ib[0]], pre, post, b))
    if judged and stairs and len(stairs) * 2 >= judged:
        return [
            Hit(
                "staircase",
                "info",
                f"the loss drops at {len(stairs)} of {judged} epoch boundaries (e.g. {stairs[0][1]:.3g} -> "
                f"{stairs[0][2]:.3g} entering epoch {stairs[0][3] + 1}) and stays flat within epochs",
                [
                    (s, post, f"after boundary into epoch {ep + 1} (before: {fmt(pre)})", "loss")
                    for s, pre, post, ep in stairs[:4]
                ],
            )
        ]
    return []


def _schedule(curves: Curves, t: Thresholds) -> list[Hit]:
    lr = curves.get("learning_rate")
    if len(lr) < 2:
        return []
    fin = lr.finite()
    if len(fin) < len(lr):
        return [
            Hit(
                "schedule",
                "severe",
                "learning_rate is NaN/inf in the log",
                [(lr.steps[0], lr.values[0], "lr", "learning_rate")],
            )
        ]
    if all(v == 0.0 for v in fin.values):
        return [
            Hit(
                "schedule",
                "severe",
                "learning_rate is 0.0 at every logged step: nothing is trained",
                [(fin.steps[0], 0.0, "lr", "learning_rate")],
            )
        ]
    peak_i = max(range(len(fin)), key=lambda i: fin.values[i])
    span = max(fin.steps[-1], curves.total_steps or 0.0) - fin.steps[0]
    rising_to = (fin.steps[peak_i] - fin.steps[0]) / span if span > 0 else 0.0
    if rising_to > t.warmup_max_fraction.value and fin.values[peak_i] > fin.values[0] * 1.05 and peak_i < len(fin) - 1:
        return [
            Hit(
                "schedule",
                "warning",
                f"learning rate keeps rising until step {fin.steps[peak_i]:g} "
                f"({rising_to:.0%} of the steps); "
                "warm-up is usually 3-10%",
                [(fin.steps[peak_i], fin.values[peak_i], "peak lr", "learning_rate")],
            )
        ]
    return []


_GENERAL = re.compile(r"(mmlu|hellaswag|arc|winogrande|general|forget|truthfulqa|gsm8k)", re.I)


def _forgetting(curves: Curves, t: Thresholds) -> list[Hit]:
    out = []
    for name, s in curves.series.items():
        if not _GENERAL.search(name) or name in {"loss", "eval_loss"}:
            continue
        fin = s.finite()
        if len(fin) < 2:
            continue
        first, last = fin.values[0], fin.values[-1]
        if "loss" in name.lower():
            worse = last - first >= t.forgetting_drop.value * max(first, 1.0)
        else:
            scale = 100.0 if max(abs(first), abs(last)) > 1.0 else 1.0
            worse = first - last >= t.forgetting_drop.value * scale
        if worse:
            out.append(
                Hit(
                    "forgetting",
                    "warning",
                    f"{name} went from {fmt(first)} to {fmt(last)} during training",
                    [(fin.steps[0], first, name, name), (fin.steps[-1], last, name, name)],
                )
            )
    return out[:2]


def lr_values(curves: Curves) -> dict[str, str]:
    """Template values for advice texts that name learning rates."""
    lr = [v for v in curves.get("learning_rate").finite().values if v > 0]
    if not lr:
        return {"lr_peak": "your current learning rate", "lr_third": "a third of it", "lr_double": "twice it"}
    peak = max(lr)
    return {"lr_peak": f"{peak:.2g}", "lr_third": f"{peak / 3:.1g}", "lr_double": f"{peak * 2:.1g}"}
