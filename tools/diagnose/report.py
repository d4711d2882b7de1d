"""The markdown report of diagnose_loss (the full findings; the tool's return value is bounded)."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.diagnose.models import DiagnoseLossResult

_ICON = {"severe": "SEVERE", "warning": "WARNING", "info": "info"}


def _relative(target: str, report: str) -> str:
    """The plot's path as seen from the folder of the report (both are workspace-relative)."""
    return posixpath.relpath(target, posixpath.dirname(report) or ".")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def render_markdown(r: DiagnoseLossResult) -> str:
    out = [
        f"# Loss diagnosis: {r.path}",
        "",
        f"- format: `{r.format}`; steps {_num(r.first_step)} to {_num(r.last_step)} ({r.step_unit})",
        f"- verdict: **{r.verdict}**: {r.headline}",
        "",
    ]
    if r.plot:
        out += [f"![loss curves]({_relative(r.plot, r.report_md)})", ""]
    if r.series:
        out += ["| series | points | non-finite | first | last | min (step) |", "|---|---|---|---|---|---|"]
        for s in r.series:
            out.append(
                f"| {s.name} | {s.points} | {s.non_finite} | {_num(s.first)} | {_num(s.last)} | "
                f"{_num(s.min)} ({_num(s.min_step)}) |"
            )
        out.append("")
    if r.model_kind or r.run_config:
        kind = f"{r.model_kind} ({r.model_kind_source})" if r.model_kind else "unknown"
        out += [f"- model kind: {kind}"]
        if r.run_config:
            out += ["- run settings read: " + "; ".join(f"{c.name} {c.value} ({c.source})" for c in r.run_config)]
        out.append("")
    if r.best_checkpoint:
        b = r.best_checkpoint
        stop = (
            (
                f"; early stopping (patience {b.patience} evals) would have stopped at step {b.early_stop_step:g} "
                f"and saved "
                f"{b.steps_saved:g} steps"
            )
            if b.early_stop_step is not None and b.steps_saved
            else ""
        )
        value = f"{b.metric} {b.value:.4g}" if b.value is not None else b.metric
        loss = f", eval loss {b.eval_loss:.4g}" if b.eval_loss is not None and b.metric != "eval_loss" else ""
        last = ", the last evaluation" if b.is_last_eval else ""
        out += [
            f"**Best checkpoint:** step {b.step:g} ({value}{loss}"
            f"{'' if b.epoch is None else f', epoch {b.epoch:.3g}'}{last}; chosen by {b.chosen_by}){stop}.",
            "",
        ]
    out += ["## Findings", ""]
    if not r.findings:
        out += ["No problems found.", ""]
    for f in r.findings:
        out += [f"### {_ICON[f.severity]}: {f.title}", "", f.summary, ""]
        if f.evidence:
            out.append("Evidence: " + "; ".join(f"step {_num(e.step)}: {_num(e.value)} ({e.what})" for e in f.evidence))
            out.append("")
        out += [
            "Likely causes:",
            *[f"- {c}" for c in f.causes],
            "",
            "What to change:",
            *[f"- {c}" for c in f.changes],
            "",
            *(["Not advised for this run:", *[f"- {c}" for c in f.not_advised], ""] if f.not_advised else []),
            f"Source: {f.source}",
            "",
        ]
    if r.notes:
        out += ["## Notes on the log", "", *[f"- {n}" for n in r.notes], ""]
    out += [
        "Thresholds: reference/data/diagnose.yaml. Background: reference/training.md and reference/evaluation.md.",
        "",
    ]
    return "\n".join(out)
