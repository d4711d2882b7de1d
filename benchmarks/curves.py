"""Labelled synthetic training curves for diagnose_loss, generated deterministically.

``labelled_curves()`` returns 88 curves over 11 classes (8 each, the last 3 of them hard variants), every one with
its class label and
the finding kind that must be reported (None for the healthy classes, which must report nothing of
severity warning or worse). ``write_log`` writes a curve in one of five log formats, so the
benchmark exercises the readers as well as the checks.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

CLASSES: dict[str, str | None] = {
    "healthy": None,
    "noisy_healthy": None,
    "overfitting": "overfitting",
    "divergence": "divergence",
    "hidden_nan": "hidden_nan",
    "spikes": "spikes",
    "plateau": "plateau",
    "collapse": "collapse",
    "staircase": "staircase",
    "grad_explode": "grad_explode",
    "too_short": "too_short",
}
PER_CLASS = 8
HARD_FROM = 5  # curves k = 5, 6, 7 of each class are the hard variants
FORMATS = ("trainer_state", "metrics_jsonl", "trainer_log_jsonl", "console", "wandb_csv")


@dataclass
class Curve:
    name: str
    label: str
    expect: str | None
    rows: list[dict]


def _lr(i: int, n: int, peak: float, warm: float = 0.05) -> float:
    w = max(1, int(n * warm))
    if i < w:
        return peak * (i + 1) / w
    return peak * 0.5 * (1 + math.cos(math.pi * (i - w) / max(1, n - w)))


def _base(rng: random.Random, n: int) -> tuple[float, float, float]:
    start = rng.uniform(1.6, 3.2)
    floor = rng.uniform(0.4, 1.1)
    tau = rng.uniform(0.12, 0.35) * n
    return start, floor, tau


@dataclass
class _Shape:
    """Everything one curve draws up front, in the order it is drawn (the seed fixes the whole set)."""

    label: str
    k: int
    hard: bool
    n: int
    steps_per_log: int
    epochs: int
    peak: float
    start: float
    floor: float
    tau: float
    noise: float
    gap: float
    eval_every: int
    onset: int
    spikes: list[int]
    best_i: int
    rise: float
    bump_start: bool


def _shape(rng: random.Random, label: str, k: int) -> _Shape:
    hard = k >= HARD_FROM
    n = rng.randint(60, 240) if label != "too_short" else rng.randint(1, 7)
    steps_per_log = rng.choice([1, 5, 10])
    epochs = rng.choice([1, 2, 3]) if label not in {"staircase"} else rng.choice([3, 4])
    peak = rng.choice([1e-4, 2e-4, 3e-4, 2e-5])
    start, floor, tau = _base(rng, n)
    noise = rng.uniform(0.01, 0.04) if label != "noisy_healthy" else rng.uniform(0.09, 0.16)
    if hard and label in {"spikes", "staircase", "plateau", "overfitting", "divergence"}:
        noise = rng.uniform(0.05, 0.08)
    gap = rng.uniform(1.02, 1.12)
    eval_every = max(2, n // rng.randint(6, 12))
    onset = int(n * rng.uniform(0.35, 0.6))
    n_spikes = rng.randint(1, 4)
    spikes = sorted(rng.sample(range(int(n * 0.2), n - 5), n_spikes)) if label == "spikes" and n > 30 else []
    best_i = int(n * rng.uniform(0.3, 0.5))
    rise = rng.uniform(0.06, 0.10) if hard else rng.uniform(0.25, 0.45)
    bump_start = hard and label == "healthy" and k % 2 == 0  # loss rises a little during warm-up
    return _Shape(
        label,
        k,
        hard,
        n,
        steps_per_log,
        epochs,
        peak,
        start,
        floor,
        tau,
        noise,
        gap,
        eval_every,
        onset,
        spikes,
        best_i,
        rise,
        bump_start,
    )


def _clean(s: _Shape, i: int) -> float:
    """The noiseless train loss of step ``i`` for the curve's class."""
    n, start, floor, tau, hard = s.n, s.start, s.floor, s.tau, s.hard
    clean = floor + (start - floor) * math.exp(-i / tau)
    if s.bump_start and i < n * 0.06:
        clean = start * (1 + 0.15 * math.sin(math.pi * i / (n * 0.06)))
    if s.label == "plateau":
        level = 0.6931 if s.k % 3 == 0 else start
        clean = level * (1 - (0.025 if hard else 0.01) * i / n)
    elif s.label == "collapse":
        clean = max(0.03 if hard else 0.002, start * math.exp(-i / (0.08 * n)))
    elif s.label == "staircase":
        ep = min(s.epochs - 1, int(i * s.epochs / n))
        within = (i * s.epochs / n) - ep
        clean = start * ((0.85 if hard else 0.72) ** ep) * (1 - 0.03 * within)
    elif s.label == "divergence" and i >= s.onset:
        clean = clean * math.exp((0.5 if hard else 3.0) * (i - s.onset) / max(1, n - s.onset))
    elif s.label == "overfitting":
        clean = floor * 0.6 + (start - floor * 0.6) * math.exp(-i / tau)
    return clean


def _grad_norm(rng: random.Random, s: _Shape, i: int) -> float:
    gn = rng.uniform(0.3, 1.5) * (1 + 0.5 * math.exp(-i / s.tau))
    if s.label == "grad_explode" and i >= s.onset and not s.hard:
        gn = gn * math.exp(6.0 * (i - s.onset) / max(1, s.n - s.onset))
    if s.label == "grad_explode" and s.hard and i in {s.onset, s.onset + 7, s.n - 4}:
        gn = rng.uniform(150, 400)  # isolated blow-ups that clipping hid from the loss
    return gn


def _noisy(rng: random.Random, s: _Shape, clean: float) -> float:
    if s.hard and s.label == "noisy_healthy":
        value = clean * (1 + rng.gauss(0, s.noise) * (2.2 if rng.random() < 0.1 else 1.0))  # heavy tails
    else:
        value = clean * (1 + rng.gauss(0, s.noise))
    if s.label == "noisy_healthy" and rng.random() < 0.03:
        value *= rng.uniform(1.2, 1.45)  # bumps that are noise, not spikes
    return value


def _train_row(rng: random.Random, s: _Shape, i: int) -> dict:
    clean = _clean(s, i)
    gn = _grad_norm(rng, s, i)
    value = _noisy(rng, s, clean)
    if i in s.spikes:
        value = clean * (rng.uniform(2.3, 2.8) if s.hard else rng.uniform(2.6, 7.0))
        gn *= 5
    row = {
        "epoch": round(s.epochs * (i + 1) / s.n, 4),
        "grad_norm": round(gn, 4),
        "learning_rate": _lr(i, s.n, s.peak),
        "loss": round(value, 4),
        "step": (i + 1) * s.steps_per_log,
    }
    if s.label == "divergence" and s.k % 2 == 1 and not s.hard and i >= s.n - max(3, s.n // 10):
        row["loss"], row["grad_norm"] = float("nan"), float("inf")
    if s.label == "hidden_nan" and i >= (s.n - max(3, s.n // 10) if s.hard else s.onset):
        row["loss"], row["grad_norm"] = 0.0, float("nan")
    return row


def _eval_row(rng: random.Random, s: _Shape, i: int, train: dict) -> dict:
    ev = (s.floor + (s.start - s.floor) * math.exp(-i / s.tau)) * s.gap
    if s.label == "overfitting":
        ev_best = (s.floor + (s.start - s.floor) * math.exp(-s.best_i / s.tau)) * s.gap
        ev = ev if i <= s.best_i else ev_best * (1 + s.rise * (i - s.best_i) / (s.n - s.best_i))
    return {"epoch": train["epoch"], "eval_loss": round(ev * (1 + rng.gauss(0, 0.005)), 4), "step": train["step"]}


def _make(rng: random.Random, label: str, k: int) -> list[dict]:
    """One curve; k >= HARD_FROM gives the hard variant of the class (closer to the thresholds)."""
    s = _shape(rng, label, k)
    rows: list[dict] = []
    for i in range(s.n):
        row = _train_row(rng, s, i)
        rows.append(row)
        if label in {"healthy", "noisy_healthy", "overfitting"} and (i + 1) % s.eval_every == 0:
            rows.append(_eval_row(rng, s, i, row))
    return rows


def labelled_curves(seed: int = 20261124) -> list[Curve]:
    rng = random.Random(seed)
    out = []
    for label, expect in CLASSES.items():
        for k in range(PER_CLASS):
            out.append(Curve(f"{label}-{k}", label, expect, _make(rng, label, k)))
    return out


def _num(v: float) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def write_log(curve: Curve, folder: Path, fmt: str) -> Path:
    """Write ``curve`` in ``fmt`` under ``folder``; returns the path to diagnose."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = curve.rows
    if fmt == "trainer_state":
        path = folder / "trainer_state.json"
        path.write_text(json.dumps({"global_step": rows[-1]["step"], "log_history": rows}, indent=2))
    elif fmt == "metrics_jsonl":
        run = folder / "runs" / curve.name
        run.mkdir(parents=True, exist_ok=True)
        path = run
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "trainer_log_jsonl":
        path = folder / "trainer_log.jsonl"
        lines = []
        for r in rows:
            d = {"current_steps": r["step"], "total_steps": rows[-1]["step"], "epoch": r["epoch"]}
            if "loss" in r:
                d.update(loss=r["loss"], lr=r["learning_rate"], grad_norm=r["grad_norm"])
            if "eval_loss" in r:
                d["eval_loss"] = r["eval_loss"]
            lines.append(json.dumps(d))
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "console":
        path = folder / "train.log"
        out = ["***** Running training *****"]
        for r in rows:
            d = {k: v for k, v in r.items() if k != "step"}
            out.append(" 12%|##        | 30/250 [00:30<03:40]" + repr(d) if len(out) % 7 == 0 else repr(d))
        path.write_text("\n".join(out) + "\n")
    elif fmt == "wandb_csv":
        path = folder / "wandb_export.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        cols = [
            "train/loss",
            "train/loss__MIN",
            "train/loss__MAX",
            "eval/loss",
            "train/learning_rate",
            "train/grad_norm",
            "train/epoch",
        ]
        w.writerow(["Step"] + [f"run-{curve.name} - {c}" for c in cols])
        for r in rows:
            w.writerow(
                [
                    r["step"],
                    _num(r.get("loss", "")),
                    "",
                    "",
                    _num(r.get("eval_loss", "")),
                    _num(r.get("learning_rate", "")),
                    _num(r.get("grad_norm", "")),
                    r["epoch"],
                ]
            )
        path.write_text(buf.getvalue())
    else:
        raise ValueError(fmt)
    return path


def example_overfit_state(seed: int = 7) -> dict:
    """The demo's example: a LoRA SFT run of 3 epochs whose eval loss bottoms near the end of
    epoch 1 and then climbs while the train loss keeps falling in steps at each epoch boundary
    (the pattern of the Angelectronic/llama3-chat_50000_500 model card: lr 2e-4, eval best at
    epoch 0.9, train 1.47 -> 1.37 -> 1.19 at epochs 1 and 2)."""
    rng = random.Random(seed)
    steps_per_epoch, epochs, log_every, eval_every = 120, 3, 5, 30
    total = steps_per_epoch * epochs
    history: list[dict] = []
    for step in range(log_every, total + 1, log_every):
        epoch = step / steps_per_epoch
        ep = min(epochs - 1, int((step - 1) / steps_per_epoch))
        within = (step - ep * steps_per_epoch) / steps_per_epoch
        level = 1.47 * math.exp(-step / 25) * 0.6 + [1.47, 1.30, 1.12][ep] - 0.08 * within
        warm = 0.1 * total
        decay = 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        lr = 2e-4 * step / warm if step < warm else 2e-4 * decay
        history.append(
            {
                "epoch": round(epoch, 4),
                "grad_norm": round(rng.uniform(0.25, 0.45) * (1 + ep * 0.3), 4),
                "learning_rate": lr,
                "loss": round(level * (1 + rng.gauss(0, 0.025)), 4),
                "step": step,
            }
        )
        if step % eval_every == 0:
            best = 0.9 * steps_per_epoch
            ev = 1.4446 + 0.55 * math.exp(-step / 30) + (0.0 if step <= best else 0.00045 * (step - best))
            history.append(
                {
                    "epoch": round(epoch, 4),
                    "eval_loss": round(ev * (1 + rng.gauss(0, 0.002)), 4),
                    "eval_runtime": round(rng.uniform(41, 44), 3),
                    "eval_samples_per_second": 11.9,
                    "eval_steps_per_second": 1.49,
                    "step": step,
                }
            )
    history.append(
        {
            "epoch": float(epochs),
            "step": total,
            "total_flos": 4.1e16,
            "train_loss": 1.2644,
            "train_runtime": 5321.4,
            "train_samples_per_second": 4.33,
            "train_steps_per_second": 0.068,
        }
    )
    return {
        "best_global_step": None,
        "best_metric": None,
        "best_model_checkpoint": None,
        "epoch": float(epochs),
        "eval_steps": eval_every,
        "global_step": total,
        "is_hyper_param_search": False,
        "is_local_process_zero": True,
        "is_world_process_zero": True,
        "log_history": history,
        "logging_steps": log_every,
        "max_steps": total,
        "num_input_tokens_seen": 0,
        "num_train_epochs": epochs,
        "save_steps": 60,
        "stateful_callbacks": {},
        "total_flos": 4.1e16,
        "train_batch_size": 4,
        "trial_name": None,
        "trial_params": None,
    }


if __name__ == "__main__":
    # Regenerate the demo's example log: .venv/bin/python benchmarks/curves.py
    target = Path(__file__).resolve().parent.parent / "examples" / "logs" / "trainer_state.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(example_overfit_state(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}")
