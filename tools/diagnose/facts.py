"""The facts diagnose_loss computes with: thresholds and advice from reference/data/diagnose.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tools.knowledge.core import Fact, load_facts


class Threshold(Fact):
    value: float
    meaning: str


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_points: Threshold
    window_fraction: Threshold
    spike_ratio: Threshold
    spike_window_min: Threshold
    spike_robust_z: Threshold
    spike_min_base: Threshold
    spikes_severe_count: Threshold
    diverge_rise: Threshold
    diverge_level_fraction: Threshold
    diverge_noise_z: Threshold
    diverge_rise_severe: Threshold
    plateau_min_drop: Threshold
    dpo_stuck_loss: Threshold
    dpo_stuck_tolerance: Threshold
    chance_levels_max_n: Threshold
    collapse_loss: Threshold
    collapse_loss_severe: Threshold
    zero_loss_run: Threshold
    zero_loss_prior: Threshold
    stair_min_drop: Threshold
    stair_vs_within: Threshold
    stair_min_points_per_epoch: Threshold
    min_eval_points: Threshold
    overfit_margin: Threshold
    overfit_severe: Threshold
    early_stopping_patience: Threshold
    gap_ratio: Threshold
    gap_min_abs: Threshold
    grad_norm_explode: Threshold
    grad_norm_growth: Threshold
    grad_norm_severe_count: Threshold
    grad_norm_vanish: Threshold
    warmup_max_fraction: Threshold
    forgetting_drop: Threshold
    eval_points_for_verdict: Threshold
    target_log_points: Threshold
    skipped_late_from: Threshold
    lr_lag_fit_tolerance: Threshold
    lr_lag_round_tolerance: Threshold
    report_max_findings: Threshold


class Change(BaseModel):
    """A change that depends on the run: dropped when ``unless`` all hold (already done) or a ``when`` fails."""

    model_config = ConfigDict(extra="forbid")

    text: str
    unless: list[str] = []
    when: list[str] = []


class Advice(Fact):
    kind: str
    title: str
    causes: list[str]
    changes: list[str | Change]


class ModelKind(Fact):
    kind: str
    label: str
    model_types: list[str]
    architecture_suffixes: list[str]
    peft_task_types: list[str]
    name_hints: list[str]
    metrics: list[str]
    pipeline_tags: list[str]


class MetricDirections(Fact):
    lower_is_better: list[str]
    higher_is_better: list[str]

    def lower_better(self, metric: str) -> bool | None:
        """True/False for a known metric name (with or without eval_), None when its direction is unknown."""
        name = metric.lower().removeprefix("eval_").removeprefix("eval/")
        if name.endswith("loss"):
            return True
        for lower, names in ((True, self.lower_is_better), (False, self.higher_is_better)):
            if any(name == n or name.startswith(n) for n in names):
                return lower
        return None


class DiagnoseFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds
    advice: list[Advice]
    model_kinds: list[ModelKind]
    metric_directions: MetricDirections

    def advice_for(self, kind: str) -> Advice:
        for a in self.advice:
            if a.kind == kind:
                return a
        raise KeyError(kind)


def facts() -> DiagnoseFacts:
    return load_facts("diagnose", DiagnoseFacts)
