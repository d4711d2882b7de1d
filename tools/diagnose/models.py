"""The request and result models of diagnose_loss, and how a diagnosis reads: ``document()`` for the CLI and the
demo, ``report_document()`` for the markdown report (the same parts, every detail)."""

from __future__ import annotations

import posixpath
from typing import Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Findings, Image, Pairs, Severity, Status, Table, Text
from tools.core.document import Finding as DocFinding
from tools.core.fields import InputPath, OutputPath

SEVERITY: dict[str, Severity] = {"severe": "error", "warning": "warning", "info": "info"}
STATUS: dict[str, Status] = {"healthy": "ok", "problems": "problems", "too_short": "skipped"}
NOT_ADVISED_SHOWN = 3
NOTES_SHOWN = 4


class DiagnoseLossRequest(BaseModel):
    """What to diagnose and where to put the report."""

    path: InputPath = Field(
        description=(
            "The training log: trainer_state.json, a checkpoint/output/run folder, metrics.jsonl, trainer_log.jsonl, "
            "a console log (HF, TRL, torchtune, DeepSpeed), a W&B/TensorBoard CSV, a TensorBoard events file, an "
            "MLflow run folder (mlruns/<exp>/<run>), metric file or UI metric CSV, an OpenAI result CSV or job "
            "events JSON. The run's config files beside it are read too."
        )
    )
    report: OutputPath | None = Field(
        None,
        description=(
            "Markdown report to write (default: <log name>.diagnosis.md beside the log); the full JSON goes next to it "
            "with .json."
        ),
    )
    plot: OutputPath | None = Field(
        None,
        description="PNG plot of loss, eval loss, learning rate and grad norm "
        "with the findings marked (needs matplotlib).",
    )


class Evidence(BaseModel):
    step: float | None
    value: float | None
    what: str
    series: str | None = Field(None, description="the curve the value belongs to (loss, eval_loss, grad_norm...)")


class Finding(BaseModel):
    kind: str
    severity: Literal["info", "warning", "severe"]
    title: str
    summary: str
    evidence: list[Evidence]
    causes: list[str]
    changes: list[str]
    not_advised: list[str] = Field(
        default_factory=list,
        description="changes left out because the run's config already has them or they do not apply to its model",
    )
    source: str


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def finding_blocks(f: Finding, detail: bool) -> list[Block]:
    """One finding: what and what to change; ``detail`` adds the evidence, causes, every change left out and the
    source (the report)."""
    head = Findings(items=[DocFinding(severity=SEVERITY[f.severity], code=f.kind, message=f"{f.title}: {f.summary}")])
    if not detail:
        items = f.changes + [f"not advised: {c}" for c in f.not_advised[:NOT_ADVISED_SHOWN]]
        return [head, Bullets(items=items)] if items else [head]
    blocks: list[Block] = [head]
    if f.evidence:
        blocks.append(
            Text(text="Evidence: " + "; ".join(f"step {_num(e.step)}: {_num(e.value)} ({e.what})" for e in f.evidence))
        )
    blocks += [Bullets(title="Likely causes", items=f.causes), Bullets(title="What to change", items=f.changes)]
    if f.not_advised:
        blocks.append(Bullets(title="Not advised for this run", items=f.not_advised))
    return blocks + [Text(text=f"Source: {f.source}")]


class SeriesStats(BaseModel):
    name: str
    points: int
    non_finite: int
    first: float | None
    last: float | None
    min: float | None
    min_step: float | None


class BestCheckpoint(BaseModel):
    step: float
    eval_loss: float | None = Field(description="the eval loss at that step (None when none was logged there)")
    metric: str = Field("eval_loss", description="the metric that chose it: eval_loss, or the run's own metric")
    value: float | None = Field(None, description="that metric's value at the step")
    chosen_by: str = Field("lowest eval loss", description="why this metric (the run's metric_for_best_model...)")
    is_last_eval: bool = Field(False, description="the best value is the last evaluation: no sign of overfitting")
    epoch: float | None
    early_stop_step: float | None = Field(
        description="where early stopping (patience from diagnose.yaml) would have stopped"
    )
    patience: int = Field(description="evaluations without improvement that early stopping waits")
    steps_saved: float | None


class RunSetting(BaseModel):
    name: str
    value: str
    source: str = Field(description="the file (or log line) it was read from")


class DiagnoseLossResult(BaseModel):
    path: str
    format: str
    verdict: Literal["healthy", "problems", "too_short"]
    headline: str
    step_unit: str
    first_step: float | None
    last_step: float | None
    series: list[SeriesStats]
    best_checkpoint: BestCheckpoint | None
    findings: list[Finding]
    findings_total: int
    model_kind: str | None = Field(None, description="causal_lm, seq2seq, speech, classifier, or None when unknown")
    model_kind_source: str | None = None
    run_config: list[RunSetting] = Field(
        default_factory=list, description="settings read from the run's files, which advice takes into account"
    )
    notes: list[str]
    warnings: list[str] = Field(description="facts in reference/data/diagnose.yaml that are due for re-checking")
    report_md: str
    report_json: str
    plot: str | None

    def _best_text(self) -> str | None:
        b = self.best_checkpoint
        if b is None:
            return None
        value = f"{b.metric} {b.value:.4g}" if b.value is not None else b.metric
        loss = f", eval loss {b.eval_loss:.4g}" if b.eval_loss is not None and b.metric != "eval_loss" else ""
        epoch = "" if b.epoch is None else f", epoch {b.epoch:.3g}"
        last = ", the last evaluation" if b.is_last_eval else ""
        stop = (
            f"; early stopping (patience {b.patience} evals) would have stopped at step {b.early_stop_step:g} and "
            f"saved {b.steps_saved:g} steps"
            if b.early_stop_step is not None and b.steps_saved
            else ""
        )
        return f"step {b.step:g} ({value}{loss}{epoch}{last}; chosen by {b.chosen_by}){stop}"

    def _run_pairs(self, detail: bool) -> Pairs:
        steps = f"steps {_num(self.first_step)} to {_num(self.last_step)} ({self.step_unit})"
        items: list[tuple[str, Cell]] = [("verdict", self.verdict), ("log", f"{self.path} ({self.format}; {steps})")]
        if self.model_kind or detail:
            kind = f"{self.model_kind} ({self.model_kind_source})" if self.model_kind else "unknown"
            items.append(("model kind", kind))
        if detail and self.run_config:
            items.append(("run settings read", "; ".join(f"{c.name} {c.value} ({c.source})" for c in self.run_config)))
        best = self._best_text()
        if best:
            items.append(("best checkpoint", best))
        return Pairs(items=items)

    def _document(self, title: str, plot: str | None, detail: bool) -> Document:
        blocks: list[Block] = [self._run_pairs(detail)]
        if plot:
            blocks.append(Image(alt="loss curves", path=plot))
        if detail and self.series:
            rows: list[list[Cell]] = [
                [s.name, s.points, s.non_finite, _num(s.first), _num(s.last), f"{_num(s.min)} ({_num(s.min_step)})"]
                for s in self.series
            ]
            blocks.append(Table(headers=["series", "points", "non-finite", "first", "last", "min (step)"], rows=rows))
        if not self.findings:
            blocks.append(Text(text="No problems found."))
        for f in self.findings:
            blocks += finding_blocks(f, detail)
        if self.findings_total > len(self.findings):
            blocks.append(Text(text=f"{self.findings_total - len(self.findings)} more findings in the report."))
        notes = self.notes if detail else self.notes[:NOTES_SHOWN]
        if notes:
            blocks.append(Bullets(title="Notes on the log", items=notes))
        if self.warnings:
            blocks.append(
                Findings(
                    title="Facts due for re-checking",
                    items=[DocFinding(severity="warning", message=w) for w in self.warnings],
                )
            )
        return Document(
            title=title,
            status=STATUS[self.verdict],
            headline=self.headline,
            blocks=blocks,
            files=[] if detail else [self.report_md, self.report_json],
        )

    def document(self) -> Document:
        return self._document("Loss curve diagnosis", self.plot, detail=False)

    def report_document(self) -> Document:
        """The markdown report: every finding in full, the series, the run's settings; the plot relative to it."""
        plot = posixpath.relpath(self.plot, posixpath.dirname(self.report_md) or ".") if self.plot else None
        doc = self._document(f"Loss diagnosis: {self.path}", plot, detail=True)
        doc.blocks.append(
            Text(
                text="Thresholds: reference/data/diagnose.yaml. Background: reference/training.md and "
                "reference/evaluation.md."
            )
        )
        return doc
