"""The migration report as markdown: what was moved, the golden outputs, the cost now and after, the parity verdict
with its tables, and how to serve the replacement."""

from __future__ import annotations

from typing import Any

from tools.core.document import to_markdown
from tools.cost.money import money
from tools.migrate.models import ChooseReplacementResult, FineTune, MigrationReportResult


def _moved(model: str, meta: dict[str, Any], record: FineTune | None) -> list[str]:
    lines = ["## What was moved", "", f"- model: `{model}` (base `{meta.get('base')}`)"]
    if record is not None:
        if record.job_id:
            lines.append(f"- fine-tuning job: {record.job_id}, created {record.created}, method {record.method}")
        if record.hyperparameters:
            lines.append(f"- hyperparameters: {record.hyperparameters}")
        if record.training_file:
            lines.append(f"- training file: `{record.training_file}` ({record.training_file_id or 'local'})")
        if record.trained_tokens:
            lines.append(f"- trained tokens: {record.trained_tokens:,}")
    dates = f"serving ends {record.serving_until}" if record and record.serving_until else None
    if dates:
        lines.append(f"- {dates}")
    return lines + [""]


def _golden(meta: dict[str, Any]) -> list[str]:
    source = "held-out prompts" if meta.get("source") == "eval_data" else "prompts sampled from the training file"
    cost = meta.get("cost_usd")
    return [
        "## Golden outputs",
        "",
        f"- {meta.get('recorded')} answers of the old model on {source} (`{meta.get('source_file')}`), recorded "
        f"{meta.get('recorded_on')} through the {meta.get('mode')} API, temperature {meta.get('temperature')}, up to "
        f"{meta.get('max_tokens')} tokens; {meta.get('failed')} failed, {meta.get('truncated')} cut at the limit",
        f"- cost: {money(cost) if cost is not None else 'unknown'} "
        f"({meta.get('input_tokens')} input, {meta.get('output_tokens')} output tokens)",
        "",
    ]


def _costs(chosen: ChooseReplacementResult | None) -> list[str]:
    lines = ["## Cost now and after", ""]
    if chosen is None:
        return lines + ["Not priced: run choose_replacement (it writes replacement.json).", ""]
    now = f"{money(chosen.now_monthly_usd)}/month" if chosen.now_monthly_usd is not None else "per month unknown"
    per = f"{money(chosen.now_per_request_usd)} per request" if chosen.now_per_request_usd is not None else ""
    lines.append(f"- now: OpenAI {chosen.base} fine-tune, {chosen.now_rates}: {per}, {now}")
    for o in chosen.options:
        monthly = f"{money(o.monthly_usd)}/month" if o.monthly_usd is not None else "not billed per token"
        training = money(o.training_usd) if o.training_usd is not None else "unknown"
        lines.append(f"- after ({o.rank}): {o.provider} / {o.path} on {o.base}: training {training}, serving {monthly}")
    return lines + [f"- details: `{chosen.report}`", ""]


def report_markdown(
    out: MigrationReportResult,
    meta: dict[str, Any],
    record: FineTune | None,
    chosen: ChooseReplacementResult | None,
) -> str:
    head = [f"# Migration of {out.model}", "", f"**Verdict** ({out.verdict}): {out.verdict_text}", ""]
    if out.replacement:
        head += [f"Replacement: {out.replacement}. Evaluation files: `{out.eval_dir}`.", ""]
    body = to_markdown(out.document(), level=2, with_title=False)
    return "\n".join(head + _moved(out.model, meta, record) + _golden(meta) + _costs(chosen)) + "\n## Parity\n\n" + body


__all__ = ["report_markdown"]
