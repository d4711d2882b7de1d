"""diagnose_loss: read a training log in any common format, find what is wrong, say what to change."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tools.core.document import to_markdown
from tools.core.registry import tool
from tools.core.workspace import current, write_text_atomic
from tools.diagnose.advice import Template, fitted
from tools.diagnose.checks import SEVERITY_RANK, Best, Hit, Severity, lr_values, run_checks
from tools.diagnose.facts import facts
from tools.diagnose.logs import read_log
from tools.diagnose.models import (
    BestCheckpoint,
    DiagnoseLossRequest,
    DiagnoseLossResult,
    Evidence,
    Finding,
    RunSetting,
    SeriesStats,
)
from tools.diagnose.run_config import RunInfo, read_run_info
from tools.diagnose.series import Curves, build_curves


def _stats(curves: Curves) -> list[SeriesStats]:
    out = []
    for name in ("loss", "eval_loss", "learning_rate", "grad_norm"):
        s = curves.series.get(name)
        if s is None or not len(s):
            continue
        fin = s.finite()
        lo = min(range(len(fin)), key=lambda i: fin.values[i]) if len(fin) else None
        out.append(
            SeriesStats(
                name=name,
                points=len(s),
                non_finite=len(s) - len(fin),
                first=fin.values[0] if len(fin) else None,
                last=fin.values[-1] if len(fin) else None,
                min=fin.values[lo] if lo is not None else None,
                min_step=fin.steps[lo] if lo is not None else None,
            )
        )
    return out


def _finding(hit: Hit, context: dict[str, str], info: RunInfo) -> Finding:
    advice = facts().advice_for(hit.kind)
    causes, changes, left_out = fitted(advice, info, Template({**context, **hit.values}))
    return Finding(
        kind=hit.kind,
        severity=hit.severity,
        title=advice.title,
        summary=hit.summary,
        evidence=[
            Evidence(
                step=s,
                value=v if v is None or math.isfinite(v) else None,
                what=w if v is None or math.isfinite(v) else f"{w}: {v}",
                series=series,
            )
            for s, v, w, series in hit.evidence
        ],
        causes=causes,
        changes=changes,
        not_advised=left_out,
        source=advice.source,
    )


def _default_report(log: Path) -> Path:
    if log.is_dir():
        return log / "diagnosis.md"
    return log.with_name(log.name + ".diagnosis.md")


def _headline(verdict: str, findings: list[Finding], best: Best | None, last_eval: bool) -> str:
    if verdict == "too_short":
        return "too short to judge: " + findings[0].summary if findings else "too short to judge"
    if verdict == "healthy":
        tail = ""
        if best:
            value = best.value if best.value is not None else best.eval_loss
            where = " (the last evaluation)" if last_eval else ""
            tail = f"; best {best.metric} {value:.4g} at step {best.step:g}{where}"
        return "no problems found" + tail
    worst = findings[0]
    return f"{worst.severity}: {worst.title.lower()}: {worst.summary}"


@tool(effect="write", stage="diagnose")
def diagnose_loss(req: DiagnoseLossRequest) -> DiagnoseLossResult:
    """Read a fine-tuning training log and say what is wrong and what to change. Reads HF
    trainer_state.json (or an output/checkpoint folder), our runs/<id>/ folder, LLaMA-Factory
    trainer_log.jsonl, HF/TRL/Axolotl/Unsloth/torchtune/DeepSpeed console logs, W&B or TensorBoard CSV,
    TensorBoard events, MLflow run folders, metric files and UI CSV exports, HF model-card result tables,
    OpenAI result CSV or job events.

    Finds overfitting (with the best checkpoint, chosen by the run's own checkpoint metric when it has one,
    and what early stopping would have saved), divergence and hidden NaN, loss spikes, plateaus, collapse to
    zero (judged against the eval loss), per-epoch staircases, exploding or vanishing gradient norms, fp16
    steps the loss scaler skipped (not frozen weights), learning-rate schedule problems, a large train/eval
    gap and forgetting of general benchmarks; each finding has evidence (steps and values), likely causes and
    concrete changes with numbers, fitted to the run: settings read from its config files (training_args,
    adapter_config.json, the run plan, the model card, MLflow params) are not advised again, and advice for
    another kind of model (chat templates for a speech model) is left out. Writes a markdown report and full
    JSON (and a PNG plot when asked). Use it after or during training; it does not look at the dataset (use
    validate_jsonl for that)."""
    ws = current()
    resolved = ws.resolve(req.path, what="log path")
    if resolved.is_dir():
        log = ws.input_dir(req.path, what="log folder")
    else:
        log = ws.input_file(req.path, what="log file")
    parsed = read_log(log)
    curves = build_curves(parsed)
    info = read_run_info(log, parsed, list(curves.series))
    hits, best = run_checks(curves, parsed.meta, info)
    thresholds = facts().thresholds
    context = {
        **lr_values(curves),
        "min_points": f"{thresholds.min_points.value:g}",
        "patience": f"{thresholds.early_stopping_patience.value:g}",
        "suggested_logging_steps": _suggested_logging_steps(curves, info),
        "points": str(len(curves.get("loss").finite())),
    }
    findings = sorted((_finding(h, context, info) for h in hits), key=lambda f: -SEVERITY_RANK[f.severity])
    verdict = _verdict(findings, curves)
    last_eval = _best_is_last(curves, best)
    report = ws.output_file(req.report, inputs=(log,), what="report") if req.report else _default_report(log)
    report = ws.output_file(report, inputs=(log,), what="report")
    report_json = ws.output_file(report.with_suffix(".json"), inputs=(log,), what="report JSON")
    plot_path = ws.output_file(req.plot, inputs=(log,), what="plot") if req.plot else None
    loss = curves.get("loss")
    steps = loss.steps or curves.get("eval_loss").steps
    result = DiagnoseLossResult(
        path=ws.relative(parsed.path),
        format=parsed.format,
        verdict=verdict,
        headline=_headline(verdict, findings, best, last_eval),
        step_unit=parsed.step_unit,
        first_step=steps[0] if steps else None,
        last_step=steps[-1] if steps else None,
        series=_stats(curves),
        best_checkpoint=BestCheckpoint(
            step=best.step,
            eval_loss=best.eval_loss,
            metric=best.metric,
            value=best.value,
            chosen_by=best.chosen_by,
            is_last_eval=last_eval,
            epoch=best.epoch,
            early_stop_step=best.stop_step,
            steps_saved=best.steps_saved,
            patience=int(thresholds.early_stopping_patience.value),
        )
        if best
        else None,
        findings=findings,
        findings_total=len(findings),
        model_kind=info.model_kind,
        model_kind_source=info.kind_source,
        run_config=[
            RunSetting(name=k, value=str(v), source=info.sources.get(k, "?"))
            for k, v in sorted(info.settings.items())
            if k != "eval_logged"
        ][:24],
        notes=(parsed.notes + curves.notes)[:10],
        warnings=_fact_warnings(findings),
        report_md=ws.relative(report) if report.is_relative_to(ws.root) else str(report),
        report_json=ws.relative(report_json) if report_json.is_relative_to(ws.root) else str(report_json),
        plot=None,
    )
    if plot_path is not None:
        from tools.diagnose.plot import draw

        draw(curves, findings, best, plot_path, title=f"{parsed.path.name} ({parsed.format})")
        result.plot = ws.relative(plot_path)
    full = result.model_dump(mode="json")
    full["data"] = {
        name: {"steps": s.steps, "values": [v if math.isfinite(v) else str(v) for v in s.values]}
        for name, s in curves.series.items()
    }
    write_text_atomic(report_json, json.dumps(full, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(report, to_markdown(result.report_document(), level=1))
    limit = int(thresholds.report_max_findings.value)
    result.findings = [_bounded(f) for f in findings[:limit]]
    return result


def _verdict(findings: list[Finding], curves: Curves) -> str:
    """too_short when train loss is too sparse for trends and the eval curve cannot decide either."""
    t = facts().thresholds
    judged_by_eval = len(curves.get("eval_loss").finite()) >= t.eval_points_for_verdict.value
    if any(f.severity == "severe" for f in findings):
        return "problems"
    if any(f.kind == "too_short" for f in findings) and not judged_by_eval:
        return "too_short"
    return "problems" if any(SEVERITY_RANK[f.severity] >= 1 for f in findings) else "healthy"


def _best_is_last(curves: Curves, best: Best | None) -> bool:
    if best is None:
        return False
    series = curves.get(best.metric).finite()
    return bool(series.steps) and series.steps[-1] == best.step


def _suggested_logging_steps(curves: Curves, info: RunInfo) -> str:
    """logging_steps that gives about target_log_points points over the planned steps."""
    planned = info.get("max_steps")
    total = planned if isinstance(planned, (int, float)) and planned > 0 else curves.total_steps
    logged = curves.get("loss").steps[-1:] + curves.get("eval_loss").steps[-1:]
    total = total or max(logged, default=1.0)
    return f"{max(1, int(total // facts().thresholds.target_log_points.value)):d}"


def _fact_warnings(findings: list[Finding]) -> list[str]:
    from tools.knowledge.core import warning_texts

    known = facts()
    rows = [row for _, row in known.thresholds] + [known.advice_for(k) for k in {f.kind for f in findings}]
    return warning_texts(rows, file="diagnose.yaml")[:5]


def _bounded(f: Finding) -> Finding:
    return f.model_copy(update={"evidence": f.evidence[:3], "causes": f.causes[:3], "changes": f.changes[:3]})


__all__ = ["DiagnoseLossRequest", "DiagnoseLossResult", "Finding", "Severity", "diagnose_loss"]
