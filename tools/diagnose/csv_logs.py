"""Readers for CSV training logs: W&B and TensorBoard exports, OpenAI result files, the MLflow UI's export."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from tools.diagnose import mlflow_logs
from tools.diagnose.rows import KEY_ALIASES, BadValues, Parsed, Row, normalise


def _col_name(header: str) -> tuple[str | None, str]:
    """W&B-style 'run - metric' -> (run, metric); plain columns -> (None, column)."""
    if " - " in header:
        run, metric = header.rsplit(" - ", 1)
        return run.strip(), metric.strip()
    return None, header.strip()


def _columns(names: list[str]) -> tuple[dict[str | None, dict[int, str]], dict[str | None, int]]:
    """Metric columns per run, and each run's step column (W&B names columns 'run - metric')."""
    runs: dict[str | None, dict[int, str]] = {}
    step_cols: dict[str | None, int] = {}
    for i, h in enumerate(names):
        run, metric = _col_name(h)
        if metric.endswith("__MIN") or metric.endswith("__MAX") or not metric:
            continue
        key = KEY_ALIASES.get(metric.lower(), metric)
        if key == "step":
            step_cols[run] = i
        else:
            runs.setdefault(run, {})[i] = metric
    return runs, step_cols


def _format(lower: list[str], runs: dict[str | None, dict[int, str]]) -> str:
    if "train_loss" in lower and "step" in lower:
        return "openai_results_csv"
    if "training_loss" in lower:
        return "openai_results_csv_legacy"
    return "wandb_csv" if any(r is not None for r in runs) else "csv"


def _record_raw(record: list[str], cols: dict[int, str], fmt: str) -> dict[str, Any]:
    raw: dict[str, Any] = {m: record[i] for i, m in cols.items() if i < len(record)}
    if fmt.startswith("openai") and any(str(v).strip() == "-1" for v in raw.values()):
        raw = {k: v for k, v in raw.items() if str(v).strip() != "-1"}  # legacy "not measured"
    if fmt == "openai_results_csv" and str(raw.get("full_valid_loss", "")).strip():
        raw["valid_loss_batch"] = raw.pop("valid_loss", None)
        raw["eval_loss"] = raw.pop("full_valid_loss")
    return raw


def read_csv(path: Path, text: str, bad: BadValues) -> Parsed | None:
    ui = mlflow_logs.read_ui_csv(path, text, bad)
    if ui is not None:
        return ui
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
    except (csv.Error, StopIteration):
        return None
    names = [h.strip() for h in header]
    lower = [h.lower() for h in names]
    if lower[:3] == ["wall time", "step", "value"]:
        return _tensorboard_csv(path, reader, bad)
    runs, step_cols = _columns(names)
    if not any(KEY_ALIASES.get(m.lower(), m) in {"loss", "eval_loss"} for c in runs.values() for m in c.values()):
        return None
    fmt = _format(lower, runs)
    shared_step = step_cols.get(None)
    per_run: dict[str | None, list[Row]] = {r: [] for r in runs}
    for n, record in enumerate(reader, 2):
        if not any(cell.strip() for cell in record):
            continue
        for run, cols in runs.items():
            raw = _record_raw(record, cols, fmt)
            sc = step_cols.get(run, shared_step)
            if sc is not None and sc < len(record):
                raw["step"] = record[sc]
            row = normalise(raw, n, path, bad)
            if row is not None:
                per_run[run].append(row)
    ordered = [rows for rows in per_run.values() if rows]
    if not ordered:
        return None
    parsed = Parsed(path, fmt, ordered[-1])
    _notes(parsed, per_run, ordered, lower)
    if shared_step is None and not step_cols:
        for k, row in enumerate(parsed.rows, 1):
            row.step = float(k)
        parsed.step_unit = "row"
    return parsed


def _notes(parsed: Parsed, per_run: dict[str | None, list[Row]], ordered: list[list[Row]], lower: list[str]) -> None:
    if (
        parsed.format == "openai_results_csv"
        and any("eval_loss" in r.values for r in parsed.rows)
        and "full_valid_loss" not in lower
    ):
        parsed.notes.append(
            "valid_loss in an OpenAI result file is measured on one batch per step: a noisy "
            "eval curve; judge the best checkpoint with care"
        )
    if len(ordered) > 1:
        labels = [str(r) for r in per_run if per_run[r]]
        parsed.runs = ordered
        parsed.notes.append(
            f"{len(ordered)} runs in one export ({', '.join(labels[:4])}); analysed the last, {labels[-1]!r}"
        )


def _tensorboard_csv(path: Path, reader: Any, bad: BadValues) -> Parsed:
    stem = path.stem.lower()
    if "grad" in stem:
        metric = "grad_norm"
    elif "learning_rate" in stem or re.search(r"(^|[_\-/])lr($|[_\-])", stem):
        metric = "learning_rate"
    elif ("eval" in stem or "val" in stem) and "loss" in stem:
        metric = "eval_loss"
    else:
        metric = "loss"
    rows = []
    for n, record in enumerate(reader, 2):
        if len(record) >= 3:
            row = normalise({"step": record[1], metric: record[2]}, n, path, bad)
            if row is not None:
                rows.append(row)
    return Parsed(
        path, "tensorboard_csv", rows, notes=[f"TensorBoard scalar export: read as {metric} (from the file name)"]
    )
