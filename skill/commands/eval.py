"""`finetune eval DATA`: fine-tuned vs base (or any two systems) on a held-out set, with verdicts per metric."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skill.console import JsonFlag, run


def _system(
    model: str | None,
    adapter: str | None,
    predictions: str | None,
    system_prompt: str | None,
    few_shot: int | None,
    provider: str | None,
    base_url: str | None,
) -> dict[str, Any] | None:
    if not any((model, adapter, predictions, provider)):
        return None
    return {
        "model": model,
        "adapter": adapter,
        "predictions": predictions,
        "system_prompt": system_prompt,
        "few_shot": few_shot or 0,
        "provider": provider,
        "base_url": base_url,
    }


def _problems(r: Any) -> bool:
    return bool(r.flagged)


def eval_cmd(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="Held-out eval set (JSONL, any supported format).")],
    run_id: Annotated[str | None, typer.Option("--run", help="Compare this run's adapter with its base model.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Candidate: local model folder, cached HF id or tiny-random-llama.")
    ] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="Candidate: LoRA adapter folder on --model.")] = None,
    predictions: Annotated[
        str | None, typer.Option("--predictions", help="Candidate: JSONL of outputs made elsewhere.")
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="Candidate: replace the system prompt.")
    ] = None,
    few_shot: Annotated[int | None, typer.Option("--few-shot", help="Candidate: prepend N training examples.")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Candidate: an API model (anthropic or openai); --model is its id.")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Candidate: an OpenAI-compatible server.")] = None,
    base_provider: Annotated[
        str | None, typer.Option("--base-provider", help="Baseline: an API model (anthropic or openai).")
    ] = None,
    base_base_url: Annotated[
        str | None, typer.Option("--base-base-url", help="Baseline: an OpenAI-compatible server.")
    ] = None,
    judge: Annotated[
        str | None, typer.Option("--judge", help="LLM judge provider (anthropic or openai): pairwise, both orders.")
    ] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="The judge's model id.")] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="The judge's OpenAI-compatible server.")
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Baseline: model (default with --run: the run's base).")
    ] = None,
    base_adapter: Annotated[str | None, typer.Option("--base-adapter", help="Baseline: adapter folder.")] = None,
    base_predictions: Annotated[
        str | None, typer.Option("--base-predictions", help="Baseline: JSONL of outputs.")
    ] = None,
    base_system_prompt: Annotated[
        str | None,
        typer.Option("--base-system-prompt", help="Baseline: replace the system prompt (base + production prompt)."),
    ] = None,
    base_few_shot: Annotated[
        int | None, typer.Option("--base-few-shot", help="Baseline: prepend N training examples.")
    ] = None,
    train_data: Annotated[
        str | None, typer.Option("--train-data", help="Training data (overlap, memorisation, few-shot).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Comma-separated label set (classification metrics).")
    ] = None,
    contains: Annotated[
        list[str] | None, typer.Option("--contains", help="A string every output must contain (repeatable).")
    ] = None,
    regex: Annotated[str | None, typer.Option("--regex", help="A regular expression every output must match.")] = None,
    json_schema: Annotated[
        str | None, typer.Option("--json-schema", help="JSON schema file the outputs must satisfy.")
    ] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", help="Use the first N items.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Tokens generated per item.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Prompts per generation batch.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for generation and the bootstrap.")] = None,
    min_effect: Annotated[
        float | None, typer.Option("--min-effect", help="Pass-rate difference to detect (0-1).")
    ] = None,
    forgetting: Annotated[
        bool, typer.Option("--forgetting", help="Also run the general-capability probe on both models.")
    ] = False,
    memorisation: Annotated[
        bool, typer.Option("--memorisation", help="Also run the memorisation probe on training prefixes.")
    ] = False,
    out_dir: Annotated[str | None, typer.Option("--out", help="Output folder (default evals/<time>/).")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="Generate (without it: say what would run).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Compare a fine-tuned model with its base on DATA: metrics, paired tests, verdicts (exit 1 on a regression)."""
    args = {
        "data": data,
        "run_id": run_id,
        "candidate": _system(model, adapter, predictions, system_prompt, few_shot, provider, base_url),
        "baseline": _system(
            base_model, base_adapter, base_predictions, base_system_prompt, base_few_shot, base_provider, base_base_url
        ),
        "train_data": train_data,
        "labels": [x.strip() for x in labels.split(",") if x.strip()] if labels else None,
        "contains": contains or None,
        "regex": regex,
        "json_schema_file": json_schema,
        "max_items": max_items,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "seed": seed,
        "min_effect": min_effect,
        "judge_provider": judge,
        "judge_model": judge_model,
        "judge_base_url": judge_base_url,
        "forgetting_probe": forgetting,
        "memorisation_probe": memorisation,
        "out_dir": out_dir,
        "confirm": confirm,
    }
    if run_id and args["baseline"] is None and any((system_prompt, few_shot)) and args["candidate"] is None:
        args["candidate"] = {"run_id": run_id, "system_prompt": system_prompt, "few_shot": few_shot or 0}
    run(ctx, "run_eval", args, json_out=json_out, problems=_problems)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)


__all__ = ["register"]
