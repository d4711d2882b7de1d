"""How the training family's results read (one document each, for the CLI, the demo and reports).

The result models (LaunchLoraResult, RunStatusResult, StopRunResult, ResumeRunResult) call these from their
``document()``; the functions take the results duck-typed so that this module imports none of the modules that
define them.
"""

from __future__ import annotations

from typing import Any

from tools.core.document import Block, Bullets, Document, Finding, Findings, Pairs, Table, Text

FAILED_STOPS = {"watchdog"}


def metric_text(x: Any, spec: str = ".4f") -> str:
    """A logged metric as text; "-" when the run has not logged it."""
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def run_failed(info: Any) -> bool:
    return info.state == "failed" or (info.state == "stopped" and info.stop_reason in FAILED_STOPS)


def run_blocks(info: Any) -> list[Block]:
    """One run: where it is, its latest metrics, what went wrong, its files and how to resume it."""
    items: list[tuple[str, Any]] = [
        ("state", info.state),
        ("step", f"{info.step}/{info.total_steps or '?'} ({info.progress:.0%})"),
        ("base model", info.base_model or "-"),
    ]
    m = info.latest
    if m:
        items += [
            ("loss", metric_text(m.loss)),
            ("eval loss", metric_text(m.eval_loss)),
            ("learning rate", metric_text(m.learning_rate, ".3g")),
            ("grad norm", metric_text(m.grad_norm, ".3g")),
            ("tokens/s", metric_text(m.tokens_per_s, ".0f")),
            ("peak memory MB", metric_text(m.peak_memory_mb, ".0f")),
        ]
    if info.best_eval_loss is not None:
        items.append(("best eval loss", f"{info.best_eval_loss:.4f}"))
    if info.diagnosis:
        items.append(("diagnosis", info.diagnosis))
    for label, value in (("adapter", info.adapter), ("report", info.report), ("checkpoint", info.last_checkpoint)):
        if value:
            items.append((label, value))
    blocks: list[Block] = [Pairs(title=f"Run {info.run_id}", items=items)]
    if info.error:
        blocks.append(Findings(items=[Finding(severity="error", code=info.stop_reason or "error", message=info.error)]))
    if info.resumable:
        blocks.append(Text(text=f"Resume with `finetune runs resume {info.run_id} --confirm`."))
    return blocks


def status_document(result: Any) -> Document:
    runs = result.runs
    blocks: list[Block]
    if not runs:
        headline = "no runs yet"
        blocks = [Text(text="Start one with `finetune train DATA --model tiny-random-llama --confirm`.")]
    elif len(runs) == 1:
        info = runs[0]
        headline = f"{info.run_id}: {info.state} at step {info.step}/{info.total_steps or '?'}"
        blocks = run_blocks(info)
    else:
        headline = f"{len(runs)} runs"
        rows = [
            [
                i.run_id,
                i.state,
                f"{i.step}/{i.total_steps or '?'}",
                metric_text(i.latest.loss if i.latest else None),
                metric_text(i.latest.eval_loss if i.latest else None),
                i.base_model or "-",
            ]
            for i in runs
        ]
        blocks = [Table(headers=["run", "state", "step", "loss", "eval loss", "model"], rows=rows)]
    if result.log_tail:
        blocks.append(Bullets(title="train.log (last lines)", items=list(result.log_tail)))
    return Document(
        title="Training runs",
        status="problems" if any(run_failed(i) for i in runs) else "ok",
        headline=headline,
        blocks=blocks,
    )


def steer_document(title: str, result: Any, done: bool) -> Document:
    """stop_run and resume_run: what was done (or would be), then the run."""
    return Document(
        title=title,
        status="ok" if done else "skipped",
        headline=result.message,
        blocks=run_blocks(result.run),
    )


def _preflight_blocks(pre: Any) -> list[Block]:
    blocks: list[Block] = [
        Text(
            text=f"Preflight ({pre.template}): {pre.trained_tokens:,} of {pre.tokens:,} tokens trained over "
            f"{pre.examples} examples; {pre.turns_ending_with_stop} of {pre.turns} assistant turns end with a stop "
            f"token ({', '.join(pre.stop_tokens) or 'none set'}); {pre.truncated} cut by max_seq_len."
        )
    ]
    for sample in pre.samples:
        start = f", from token {sample.first_shown}" if sample.first_shown else ""
        blocks.append(
            Text(
                text=f"Line {sample.line}: {sample.trained_tokens} of {sample.tokens} tokens trained{start} "
                f"(trained spans between ⟦ and ⟧):\n{sample.marked}"
            )
        )
    return blocks


def launch_document(r: Any) -> Document:
    p = r.plan
    plan_items: list[tuple[str, Any]] = [
        ("model", f"{p.base_model} ({p.method}, r={p.lora_r}, alpha={p.lora_alpha:g}, dropout={p.lora_dropout:g})"),
        ("targets", ", ".join(p.target_modules)),
        ("learning rate", f"{p.learning_rate:g} {p.lr_scheduler}, warm-up {p.warmup_ratio:g}"),
        ("trainer", str(r.objective).upper()),
        ("data", f"{r.data.path} ({r.data.format}): {r.data.usable} usable of {r.data.lines} lines"),
        ("examples (train / eval)", f"{r.train_examples} / {r.eval_examples}"),
        ("batch", f"{p.per_device_batch_size} x {p.gradient_accumulation_steps}"),
        ("estimated steps", r.estimated_steps),
        ("estimated seconds", None if r.estimated_seconds is None else round(r.estimated_seconds)),
        ("device / precision", f"{r.device} / {r.precision}"),
    ]
    if r.started:
        plan_items[:0] = [("run", r.run_id), ("folder", r.folder)]
    blocks: list[Block] = [Text(text=r.message), Pairs(title="Plan", items=plan_items)]
    blocks += _preflight_blocks(r.preflight)
    if r.warnings:
        blocks.append(Findings(title="Warnings", items=[Finding(severity="warning", message=w) for w in r.warnings]))
    if r.started:
        blocks.append(Text(text=f"Watch it with `finetune runs status {r.run_id}`."))
    return Document(
        title="Training launch",
        status="ok" if r.started else "skipped",
        headline=f"started {r.run_id}" if r.started else "dry run: nothing started",
        blocks=blocks,
    )


__all__ = ["launch_document", "metric_text", "run_blocks", "run_failed", "status_document", "steer_document"]
