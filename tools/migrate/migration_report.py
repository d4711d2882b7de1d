"""migration_report: the replacement compared with the old model's golden outputs, and the one report that says
what was moved, what it costs now and after, whether the new model answers like the old one, and how to serve it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tools import knowledge
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic
from tools.evaluate.run_eval import RunEvalRequest, RunEvalResult, run_eval
from tools.evaluate.systems import Candidate
from tools.migrate.agreement import agreement
from tools.migrate.choose_replacement import read_replacement
from tools.migrate.facts import ModelDates, base_of, folder_of, model_dates
from tools.migrate.models import MigrationReportRequest, MigrationReportResult, ParityMetric
from tools.migrate.openai_inventory import read_model
from tools.migrate.record_golden_outputs import PREDICTIONS, REFERENCES, WEAKER, read_meta
from tools.migrate.report_text import report_markdown

REPORT = "migration-report.md"
EXPORT_TARGETS = ("vllm", "ollama", "gguf", "merged")


def _golden(ws: Workspace, req: MigrationReportRequest, dates: ModelDates) -> tuple[Path, dict[str, Any]]:
    folder = ws.root / folder_of(req.model)
    meta = read_meta(folder)
    if meta is not None:
        return folder, meta
    if not dates.serving:
        raise ToolError(
            "model_retired",
            f"{req.model} stopped serving on {dates.serving_until} (today is {dates.today}) and no golden outputs "
            "were recorded before that day: there is nothing of the old model to compare with",
            "compare the replacement with the training data's reference answers instead (finetune eval DATA --run RUN)",
        )
    raise ToolError(
        "no_golden_outputs",
        f"no golden outputs for {req.model} in {folder_of(req.model)}/",
        f"record them with record_golden_outputs while the model still serves ({dates.describe()})",
    )


def _candidate(req: MigrationReportRequest) -> Candidate:
    if req.run_id and req.candidate:
        raise ToolError(
            "contradicting_inputs", "both run_id and candidate given", "give the run (run_id) or another candidate"
        )
    if req.run_id:
        return Candidate(run_id=req.run_id, label="replacement")
    if req.candidate:
        return req.candidate.model_copy(update={"label": req.candidate.label or "replacement"})
    raise ToolError(
        "candidate_empty",
        "no replacement to compare: give run_id (a launch_lora run) or candidate",
        "train the replacement first (launch_lora on the converted training file)",
    )


def _export_commands(run_id: str | None) -> list[str]:
    """How to serve the replacement: the export tool's commands when this install has it."""
    if not run_id:
        return []
    names = {t.name for t in registry.all_tools()}
    if "export_model" in names:
        return [f"finetune export {run_id} --to {target}" for target in EXPORT_TARGETS]
    return [
        f"the adapter is in runs/{run_id}/adapter (PEFT format): load it on its base with peft, or serve it with "
        "vLLM --enable-lora; this install has no export tool"
    ]


def _metrics(result: RunEvalResult) -> list[ParityMetric]:
    return [
        ParityMetric(
            metric=m.metric,
            old=m.baseline,
            new=m.candidate,
            delta=m.delta,
            low=m.ci_low,
            high=m.ci_high,
            p_value=m.p_value,
            test=m.test,
            verdict=m.verdict,
        )
        for m in result.metrics
        if m.kind != "info"
    ]


def _verdict(has_refs: bool, metrics: list[ParityMetric], agree: list[Any], items: int) -> tuple[str, str]:
    if not has_refs:
        exact = next((a for a in agree if a.metric == "exact_match"), None)
        said = f"{exact.value:.0%} identical answers [{exact.low:.0%}, {exact.high:.0%}]" if exact else "see the table"
        return (
            "agreement_only",
            f"agreement only ({items} prompts without reference answers): {said}; no paired test against references",
        )
    worse = [m for m in metrics if m.verdict == "regression"]
    if worse:
        listed = ", ".join(f"{m.metric} {m.delta:+.3f} [{m.low:+.3f}, {m.high:+.3f}]" for m in worse)
        return "regression", f"the replacement answers worse than the old model on {listed} ({items} items)"
    better = [m.metric for m in metrics if m.verdict == "improvement"]
    return (
        "no_detectable_regression",
        f"no metric shows the replacement worse than the old model on {items} items (paired tests; 'no detectable "
        "difference' is not proof of equality, see the sample-size note)"
        + (f"; better on {', '.join(better)}" if better else ""),
    )


def _costs(ws: Workspace, model: str) -> tuple[float | None, float | None, str | None, list[str]]:
    """(today's monthly cost, the cheapest priced path's monthly cost, that path, notes) from choose_replacement."""
    chosen = read_replacement(ws, model)
    if chosen is None:
        return None, None, None, ["costs: run choose_replacement to price the paths against today's OpenAI cost"]
    priced = [o for o in chosen.options if o.monthly_usd is not None]
    after = min(priced, key=lambda o: o.monthly_usd or 0.0) if priced else None
    path = f"{after.provider} / {after.path} on {after.base}" if after else None
    return chosen.now_monthly_usd, after.monthly_usd if after else None, path, []


@tool(effect="spend", stage="migrate", duration="minutes")
def migration_report(req: MigrationReportRequest) -> MigrationReportResult:
    """Compare the open-weight replacement (a launch_lora run, or any run_eval candidate) with the old OpenAI
    fine-tune's golden outputs and write the migration report: what was moved, what serving costs now and after
    (choose_replacement's prices), the parity verdict, and the export commands.

    The comparison is run_eval with the golden outputs as the baseline: on the held-out references each metric gets a
    paired test (McNemar or paired bootstrap) and an interval, so a regression against the old model is named; the
    agreement table scores the replacement against the old model's own answers (Wilson or bootstrap intervals).
    Works after the old model stopped serving when its golden outputs were recorded before (record_golden_outputs);
    refused with the date otherwise. Without confirm it says what would be generated."""
    ws = current()
    usage = knowledge.FactUsage()
    dates = model_dates(base_of(req.model), usage)
    folder, meta = _golden(ws, req, dates)
    cand = _candidate(req)
    has_refs = bool(meta.get("has_references")) and (folder / REFERENCES).is_file()
    data = folder / (REFERENCES if has_refs else "golden.jsonl")
    baseline = Candidate(predictions=ws.relative(folder / PREDICTIONS), label="old model (golden)")
    out_dir = folder / "parity" / time.strftime("%Y%m%d-%H%M%S")
    result = run_eval(
        RunEvalRequest(
            data=ws.relative(data),
            candidate=cand,
            baseline=baseline,
            max_new_tokens=req.max_new_tokens or int(meta.get("max_tokens") or 128),
            batch_size=req.batch_size,
            out_dir=ws.relative(out_dir),
            confirm=req.confirm,
        )
    )
    warnings = list(result.warnings)
    if meta.get("source") == "training_sample":
        warnings.insert(0, WEAKER.format(rest=meta.get("train_rest")))
    if not dates.serving:
        warnings.insert(
            0,
            f"OpenAI stopped serving {req.model} on {dates.serving_until}; this compares with the answers recorded "
            f"on {meta.get('recorded_on')}",
        )
    warnings += usage.notices()
    common: dict[str, Any] = dict(
        model=req.model,
        items=result.items,
        serving_until=dates.serving_until,
        days_left=dates.days_left if dates.serving else None,
        export_commands=_export_commands(req.run_id),
    )
    if not result.ran:
        return MigrationReportResult(
            ran=False,
            verdict="not_run",
            verdict_text="not compared yet",
            metrics=[],
            agreement=[],
            eval_dir=None,
            report=None,
            message=result.message,
            warnings=warnings[:12],
            **common,
        )
    metrics = _metrics(result) if has_refs else []
    agree = agreement(ws.root / str(result.samples), seed=0)
    verdict, text = _verdict(has_refs, metrics, agree, result.items)
    now, after, after_path, cost_lines = _costs(ws, req.model)
    out = MigrationReportResult(
        ran=True,
        verdict=verdict,  # type: ignore[arg-type]
        verdict_text=text,
        replacement=next((s.source for s in result.systems if s.role == "candidate"), None),
        metrics=metrics,
        agreement=agree,
        now_monthly_usd=now,
        after_monthly_usd=after,
        after_path=after_path,
        eval_dir=result.out_dir,
        report=None,
        message=text,
        warnings=(cost_lines + warnings)[:12],
        **common,
    )
    target = ws.output_file(req.report or f"{folder_of(req.model)}/{REPORT}", what="migration report")
    target.parent.mkdir(parents=True, exist_ok=True)
    out.report = ws.relative(target)
    write_text_atomic(target, report_markdown(out, meta, read_model(ws, req.model), read_replacement(ws, req.model)))
    write_text_atomic(folder / "migration.json", json.dumps(out.model_dump(mode="json"), indent=2) + "\n")
    return out


__all__ = ["MigrationReportRequest", "MigrationReportResult", "migration_report"]
