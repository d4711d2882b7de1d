"""MLflow logs: a run folder of the file store, its metric files, and the CSV the MLflow UI exports.

The file store keeps one file per metric, ``mlruns/<experiment>/<run>/metrics/<name>`` (names with ``/`` become
sub-folders), one line per logged value: ``<timestamp ms> <value> <step>`` (old versions wrote no step). The
run's parameters sit beside them in ``params/<name>``, one value per file; HF Trainer's MLflowCallback logs
every TrainingArguments field there.

The UI's "download CSV" of a metric chart (``chartMetricHistoryToCsv`` in mlflow/server/js, CsvUtils.ts) writes
one row per value: ``Run`` (or ``Group``), ``Run ID``, ``metric``, ``step``, ``timestamp``, ``value``; newer
versions quote every cell and put a ``'`` before a value starting with ``-``, ``+``, ``=`` or ``@`` (their
guard against spreadsheet formulas). The runs table export (``Start Time, Duration, Run ID, Name, ...``) holds
only the last value of each metric per run, which is no curve; it is refused with a pointer to the right export.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.diagnose.rows import KEY_ALIASES, BadValues, Parsed, Row, normalise, to_number

_LINE = re.compile(r"^\s*(\d{9,14})\s+(\S+)(?:\s+(-?\d+))?\s*$")
_SUMMARY = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos"}
_FORMULA_GUARD = re.compile(r"^'(?=[=+\-@])")


def is_metric_file(text: str) -> bool:
    """Every non-blank line is ``timestamp value [step]``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return bool(lines) and all(_LINE.match(ln) and to_number(_LINE.match(ln).group(2)) is not None for ln in lines)  # type: ignore[union-attr]


def run_folder(path: Path) -> Path | None:
    """The MLflow run folder that ``path`` is (it holds ``metrics/``) or lies in (a file under ``metrics/``)."""
    if path.is_dir():
        return (
            path
            if (path / "metrics").is_dir() and ((path / "meta.yaml").is_file() or (path / "params").is_dir())
            else None
        )
    for parent in path.parents:
        if parent.name == "metrics":
            return parent.parent
    return None


def _metric_name(name: str, alone: bool) -> str:
    """The metric a file holds; a lone copied file may carry a prefix before the metric's own name."""
    low = name.lower()
    if low in KEY_ALIASES or not alone:
        return name
    if low.endswith("loss"):
        return "eval_loss" if any(k in low for k in ("eval", "val")) else "loss"
    return name


def _read_values(path: Path) -> list[tuple[float, int, float, int]]:
    """(step, timestamp, value, line) of every line of one metric file."""
    out = []
    for n, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
        m = _LINE.match(line)
        value = to_number(m.group(2)) if m else None
        if m and value is not None:
            out.append((float(m.group(3) or 0), int(m.group(1)), value, n))
    return out


def _rows(series: dict[str, list[tuple[float, int, float, int]]], path: Path, bad: BadValues) -> list[Row]:
    by_step: dict[float, dict[str, Any]] = {}
    lines: dict[float, int] = {}
    steps_given = any(step != 0 for values in series.values() for step, *_ in values)
    for name, values in series.items():
        ordered = sorted(values, key=lambda v: (v[0], v[1]))
        for i, (step, _ts, value, line) in enumerate(ordered):
            key = step if steps_given else float(i + 1)
            by_step.setdefault(key, {})[name] = value
            lines[key] = min(lines.get(key, line), line)
    rows = []
    for step in sorted(by_step):
        row = normalise({**by_step[step], "step": step}, lines[step], path, bad)
        if row is not None:
            rows.append(row)
    return rows


def read_run(run: Path, bad: BadValues) -> Parsed:
    """Every metric file of an MLflow run folder (end-of-training summaries left out)."""
    metrics = run / "metrics"
    files = {p.relative_to(metrics).as_posix(): p for p in sorted(metrics.rglob("*")) if p.is_file()}
    names = {n for n in files if n not in _SUMMARY}
    if "loss" in names:
        names.discard("train_loss")  # HF's MLflowCallback logs the run's average loss under train_loss at the end
    series = {name: _read_values(files[name]) for name in sorted(names)}
    series = {k: v for k, v in series.items() if v}
    if not series:
        raise ToolError(
            "log_format_unknown",
            f"MLflow run {run.name}: no metric values in {metrics.name}/",
            "point at a run that has logged metrics (mlruns/<experiment>/<run>)",
        )
    parsed = Parsed(metrics, "mlflow_file_store", _rows(series, metrics, bad))
    parsed.meta["mlflow_run"] = run
    parsed.notes.append(f"MLflow run {run.name}: read metric files {', '.join(sorted(series))}")
    return parsed


def read_metric_file(path: Path, text: str, bad: BadValues) -> Parsed:
    """One MLflow metric file outside its run folder (its name says the metric)."""
    name = _metric_name(path.name, alone=True)
    values = [v for v in _read_values(path)]
    parsed = Parsed(path, "mlflow_metric_file", _rows({name: values}, path, bad))
    parsed.notes.append(f"one MLflow metric file, read as {name}; point at the run folder to read all its metrics")
    return parsed


def _cell(value: str) -> str:
    return _FORMULA_GUARD.sub("", value.strip())


def read_ui_csv(path: Path, text: str, bad: BadValues) -> Parsed | None:
    """The MLflow UI's metric-history CSV, or None when ``text`` is not one; refuses its runs-table export."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (csv.Error, StopIteration):
        return None
    if header[:4] == ["start time", "duration", "run id", "name"]:
        raise ToolError(
            "log_format_unknown",
            f"{path.name} is the MLflow runs table (one row per run, the last value of each metric): no curve to read",
            "export a metric's history instead (the chart's download as CSV), or point at the run folder "
            "mlruns/<experiment>/<run>",
        )
    if not {"metric", "step", "value"} <= set(header) or not ({"run", "group", "run id"} & set(header)):
        return None
    col = {name: header.index(name) for name in header}
    run_col = col.get("run id", col.get("run", col.get("group")))
    per_run: dict[str, dict[str, list[tuple[float, int, float, int]]]] = {}
    for n, record in enumerate(reader, 2):
        if len(record) < len(header):
            continue
        value = to_number(_cell(record[col["value"]]))
        step = to_number(_cell(record[col["step"]]))
        if value is None:
            bad.add(f"{path.name} line {n}: value={record[col['value']][:30]!r} is not a number")
            continue
        stamp = to_number(_cell(record[col["timestamp"]])) if "timestamp" in col else None
        run = _cell(record[run_col]) if run_col is not None else ""
        metric = _cell(record[col["metric"]])
        per_run.setdefault(run, {}).setdefault(metric, []).append(
            (step if step is not None and math.isfinite(step) else 0.0, int(stamp or 0), value, n)
        )
    if not per_run:
        return None
    runs = list(per_run)
    parsed = Parsed(path, "mlflow_ui_csv", _rows(per_run[runs[-1]], path, bad))
    if len(runs) > 1:
        parsed.notes.append(f"{len(runs)} runs in one export ({', '.join(runs[:4])}); analysed the last, {runs[-1]!r}")
    return parsed
