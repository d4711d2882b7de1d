"""The request and result models of diagnose_loss."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.fields import InputPath, OutputPath


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
