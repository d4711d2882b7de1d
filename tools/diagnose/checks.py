"""The findings: each check reads the curves and the thresholds in reference/data/diagnose.yaml."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

from tools.diagnose.facts import Thresholds, facts
from tools.diagnose.series import Curves, Series, rolling_median, window_for

Severity = Literal["info", "warning", "severe"]
SEVERITY_RANK = {"info": 0, "warning": 1, "severe": 2}


@dataclass
class Hit:
    """A finding before advice is attached: kind, severity, one-line summary, evidence, template values."""

    kind: str
    severity: Severity
    summary: str
    evidence: list[tuple[float | None, float | None, str]] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Best:
    step: float
    eval_loss: float
    epoch: float | None
    stop_step: float | None
    steps_saved: float | None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _level(values: list[float], k: int) -> float:
    return median(values[-k:])


def run_checks(curves: Curves) -> tuple[list[Hit], Best | None]:
    t = facts().thresholds
    hits: list[Hit] = []
    raw = curves.get("loss")
    loss = raw.finite()
    hits += _nonfinite(curves, raw)
    best = best_checkpoint(curves, t)
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
        hits += _overfitting(curves, loss, best, 1, t)  # eval-loss checks need eval points, not train points
        return hits, best
    w = window_for(len(loss), t.window_fraction.value)
    smooth = rolling_median(loss.values, w)
    hits += _hidden_nan(raw, smooth, loss, t)
    hits += _divergence(loss, smooth, w, t)
    hits += _spikes(loss, w, t)
    hits += _plateau_and_collapse(loss, smooth, w, t)
    hits += _staircase(loss, t)
    hits += _overfitting(curves, loss, best, w, t)
    hits += _grad_norm(curves, t)
    hits += _schedule(curves, t)
    hits += _forgetting(curves, t)
    if any(h.kind == "hidden_nan" for h in hits):
        # the zeros and a NaN grad_norm are one story: keep the hidden-NaN finding, drop its echoes
        nan_loss = any(not math.isfinite(v) for v in raw.values)
        hits = [
            h
            for h in hits
            if h.kind not in {"collapse", "spikes"}
            and not (h.kind == "divergence" and not nan_loss and "NaN" in h.summary)
        ]
    if any(h.kind == "overfitting" for h in hits):
        for h in hits:
            if h.kind == "train_eval_gap":
                h.severity = "info"  # a consequence of the overfitting, not a second problem
    if any(h.kind == "divergence" for h in hits):
        hits = [h for h in hits if h.kind != "plateau"]
    return hits, best


def _nonfinite(curves: Curves, raw: Series) -> list[Hit]:
    out = []
    gn = curves.get("grad_norm")
    bad_loss = [(s, v, ln) for s, v, ln in zip(raw.steps, raw.values, raw.lines, strict=False) if not math.isfinite(v)]
    bad_gn = [(s, v, ln) for s, v, ln in zip(gn.steps, gn.values, gn.lines, strict=False) if not math.isfinite(v)]
    if bad_loss or bad_gn:
        first_loss = bad_loss[0][0] if bad_loss else None
        first_gn = bad_gn[0][0] if bad_gn else None
        if first_gn is not None and (first_loss is None or first_gn <= first_loss):
            where = "grad_norm went non-finite first: the backward pass exploded"
        else:
            where = "the loss went non-finite while grad_norm was still finite: look at the forward pass and the batch"
        first = min(s for s in (first_loss, first_gn) if s is not None)
        ev = [(s, v, f"loss (line {ln})") for s, v, ln in bad_loss[:2]] + [
            (s, v, f"grad_norm (line {ln})") for s, v, ln in bad_gn[:2]
        ]
        out.append(
            Hit(
                "divergence",
                "severe",
                f"NaN/inf from step {first:g} ({len(bad_loss)} loss, {len(bad_gn)} grad_norm values); {where}",
                ev,
                {"first_step": f"{first:g}"},
            )
        )
    return out


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
                    f"train loss jumps from {_fmt(vals[i - 1])} to exactly 0.0 at step {loss.steps[i]:g} "
                    f"({zeros} zero points); HF Trainer hides NaN losses by default",
                    [(loss.steps[i - 1], vals[i - 1], "last normal loss"), (loss.steps[i], 0.0, "first 0.0")],
                    {"first_step": f"{loss.steps[i]:g}"},
                )
            ]
    return []


def _divergence(loss: Series, smooth: list[float], w: int, t: Thresholds) -> list[Hit]:
    n = len(loss)
    k = max(3, w, int(n * t.diverge_level_fraction.value))
    if k % 2 == 0:
        k += 1
    end = _level(loss.values, k)
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
            f"train loss rose {rise:.0%} from its low {_fmt(lo)} at step {loss.steps[lo_i]:g} "
            f"to {_fmt(end)} at the end",
            [(loss.steps[lo_i], lo, "lowest rolling median"), (loss.steps[-1], end, "final level")],
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
            [(s, v, f"{v / b:.1f}x rolling median {_fmt(b)}") for s, v, b in found[:5]],
            {"spike_steps": steps},
        )
    ]


def _plateau_and_collapse(loss: Series, smooth: list[float], w: int, t: Thresholds) -> list[Hit]:
    k = max(3, w)
    start = median(loss.values[:k])
    end = _level(loss.values, k)
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
                f"train loss fell to {_fmt(end)} (from {_fmt(start)}); "
                f"below {t.collapse_loss.value:g} from step "
                f"{loss.steps[first]:g}{extra}",
                [
                    (loss.steps[0], start, "starting level"),
                    (loss.steps[first], smooth[first], "near zero from"),
                    (loss.steps[-1], end, "final level"),
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
                f"train loss barely moved: {_fmt(start)} at the start, {_fmt(end)} at the end "
                f"({1 - end / start:+.1%}){what}",
                [(loss.steps[0], start, "starting level"), (loss.steps[-1], end, "final level")],
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
                    (s, post, f"after boundary into epoch {ep + 1} (before: {_fmt(pre)})")
                    for s, pre, post, ep in stairs[:4]
                ],
            )
        ]
    return []


def best_checkpoint(curves: Curves, t: Thresholds) -> Best | None:
    ev = curves.get("eval_loss").finite()
    if len(ev) < 1:
        return None
    i = min(range(len(ev)), key=lambda j: ev.values[j])
    patience = int(t.early_stopping_patience.value)
    stop_i = i + patience
    stop_step = ev.steps[stop_i] if stop_i < len(ev) else None
    last_step = max(curves.get("loss").steps[-1:] + ev.steps[-1:])
    saved = last_step - stop_step if stop_step is not None else None
    return Best(ev.steps[i], ev.values[i], ev.epochs[i], stop_step, saved)


def _overfitting(curves: Curves, loss: Series, best: Best | None, w: int, t: Thresholds) -> list[Hit]:
    ev = curves.get("eval_loss").finite()
    out: list[Hit] = []
    if best is None or len(ev) < t.min_eval_points.value:
        return out
    bi = ev.steps.index(best.step)
    last = ev.values[-1]
    rise = last / best.eval_loss - 1 if best.eval_loss > 0 else 0.0
    after = ev.values[bi + 1 :]
    has_train = len(loss) > 0
    train_at_best = _train_near(loss, best.step, w) if has_train else math.nan
    train_end = _level(loss.values, max(3, w)) if has_train else math.nan
    train_falls = train_end < train_at_best if has_train else True
    if (
        after
        and rise >= t.overfit_margin.value
        and len(after) >= 2
        and sum(v > best.eval_loss for v in after) >= len(after) - 1
        and train_falls
    ):
        sev: Severity = "severe" if rise >= t.overfit_severe.value else "warning"
        epoch_end = curves.get("epoch").values[-1] if len(curves.get("epoch")) else None
        values = {
            "best_step": f"{best.step:g}",
            "best_eval": _fmt(best.eval_loss),
            "stop_step": f"{best.stop_step:g}" if best.stop_step is not None else "the end",
            "steps_saved": f"{best.steps_saved:g}" if best.steps_saved is not None else "no",
            "best_epoch": f"{math.ceil(best.epoch * 10) / 10:g}" if best.epoch else "fewer",
            "last_epoch": f"{epoch_end:.3g}" if epoch_end else "the current number of",
        }
        train_txt = f" while train loss fell from {_fmt(train_at_best)} to {_fmt(train_end)}" if has_train else ""
        ev_list = [(best.step, best.eval_loss, "best eval loss"), (ev.steps[-1], last, "last eval loss")]
        if has_train:
            ev_list.append((loss.steps[-1], train_end, "final train level"))
        out.append(
            Hit(
                "overfitting",
                sev,
                f"eval loss bottomed at {_fmt(best.eval_loss)} at step {best.step:g} and rose {rise:.1%} to "
                f"{_fmt(last)}{train_txt}",
                ev_list,
                values,
            )
        )
    if not has_train:
        return out
    gap = last - train_end
    if train_end > 0 and last / train_end >= t.gap_ratio.value and gap >= t.gap_min_abs.value:
        out.append(
            Hit(
                "train_eval_gap",
                "warning",
                f"final eval loss {_fmt(last)} is {last / train_end:.2f}x the final train level {_fmt(train_end)}",
                [(ev.steps[-1], last, "last eval loss"), (loss.steps[-1], train_end, "final train level")],
            )
        )
    return out


def _train_near(loss: Series, step: float, w: int) -> float:
    i = min(range(len(loss)), key=lambda j: abs(loss.steps[j] - step))
    half = max(1, w // 2)
    return median(loss.values[max(0, i - half) : i + half + 1])


def _grad_norm(curves: Curves, t: Thresholds) -> list[Hit]:
    gn = curves.get("grad_norm").finite()
    if len(gn) < t.min_points.value:
        return []
    out = []
    limit = t.grad_norm_explode.value
    big = [(s, v) for s, v in zip(gn.steps, gn.values, strict=False) if v > limit]
    k = window_for(len(gn), t.window_fraction.value)
    early, late = median(gn.values[:k]), median(gn.values[-k:])
    growth = late / early if early > 0 else 0.0
    if big or growth >= t.grad_norm_growth.value:
        grows = growth >= t.grad_norm_growth.value
        sev: Severity = "severe" if len(big) >= t.grad_norm_severe_count.value or grows else "warning"
        what = (
            f"{len(big)} grad_norm values above {limit:g} (max {_fmt(max(v for _, v in big))} at step "
            f"{max(big, key=lambda b: b[1])[0]:g})"
            if big
            else ""
        )
        grow = f"grad_norm grew {growth:.0f}x from {_fmt(early)} to {_fmt(late)}" if grows else ""
        out.append(
            Hit(
                "grad_explode",
                sev,
                "; ".join(x for x in (what, grow) if x),
                [(s, v, "grad_norm") for s, v in big[:4]] or [(gn.steps[-1], late, "late grad_norm level")],
            )
        )
    zeros = sum(1 for v in gn.values if v == 0.0)
    if zeros >= 2 or median(gn.values) < t.grad_norm_vanish.value:
        out.append(
            Hit(
                "grad_vanish",
                "severe",
                f"grad_norm is zero or vanishing (median {_fmt(median(gn.values))}, {zeros} exact zeros): "
                "the weights are not being updated",
                [(gn.steps[0], gn.values[0], "first grad_norm")],
            )
        )
    return out


def _schedule(curves: Curves, t: Thresholds) -> list[Hit]:
    lr = curves.get("learning_rate")
    if len(lr) < 2:
        return []
    fin = lr.finite()
    if len(fin) < len(lr):
        return [Hit("schedule", "severe", "learning_rate is NaN/inf in the log", [(lr.steps[0], lr.values[0], "lr")])]
    if all(v == 0.0 for v in fin.values):
        return [
            Hit(
                "schedule",
                "severe",
                "learning_rate is 0.0 at every logged step: nothing is trained",
                [(fin.steps[0], 0.0, "lr")],
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
                [(fin.steps[peak_i], fin.values[peak_i], "peak lr")],
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
                    f"{name} went from {_fmt(first)} to {_fmt(last)} during training",
                    [(fin.steps[0], first, name), (fin.steps[-1], last, name)],
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
