"""`finetune chat`: the agent in the terminal, on an LLM or the offline guide."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.prompt import Confirm

from skill.agent import Agent, ToolEvent
from skill.console import err, fail, out, workspace_of
from skill.guide import GuideBackend, GuideInputs, load_answers_file
from tools.core.errors import ToolError
from tools.core.registry import Tool

NO_TTY_HELP = (
    "no terminal to ask questions in: pass the checklist answers with --answers FILE.yaml "
    "(see examples/answers.yaml), or run `finetune chat` in a terminal"
)


def _show(event: ToolEvent) -> None:
    colour = {"ok": "green", "error": "red", "declined": "yellow"}[event.outcome]
    args = json.dumps(event.call.arguments, ensure_ascii=False)
    err.print(f"[dim]tool[/] [bold]{event.call.name}[/] {args[:160]} -> [{colour}]{event.outcome}[/]")


def _ask_person(spec: Tool, args: dict[str, Any]) -> bool:
    """Show the exact call that will run (the validated arguments, in full) and ask for a yes."""
    given = {k: v for k, v in args.items() if v is not None}
    out.print(f"[bold yellow]{spec.name}[/] wants to run ({spec.effect}) with exactly these arguments:")
    out.print(json.dumps(given, ensure_ascii=False, indent=2), markup=False, highlight=False)
    return Confirm.ask("Allow it?", default=False)


def chat(
    ctx: typer.Context,
    backend: Annotated[
        str | None, typer.Option("--backend", help="anthropic | openai | guide (default: by API key)")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model id for the backend.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server (vLLM, Ollama, llama.cpp).")
    ] = None,
    answers: Annotated[
        Path | None, typer.Option("--answers", help="Checklist answers (YAML) for a non-interactive run.")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Send one message and stop.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Approve spend/long tool calls without asking (scripts).")] = False,
) -> None:
    """Talk to the fine-tuning agent: it walks the checklist and runs the tools with you."""
    from tools.llm.select import select_backend

    try:
        ws = workspace_of(ctx)
        prefill, inputs = load_answers_file(answers, ws) if answers else ({}, GuideInputs())
        selection = select_backend(backend, model, base_url)
    except ToolError as exc:
        fail(exc, json_out=False)
    interactive = sys.stdin.isatty()
    llm = selection.backend or GuideBackend(prefill, inputs)
    err.print(f"[dim]{selection.describe()}[/]")
    confirm = (lambda spec, args: True) if yes else (_ask_person if interactive else (lambda spec, args: False))
    streamed: list[str] = []

    def stream(chunk: str) -> None:
        streamed.append(chunk)
        out.print(chunk, end="", markup=False, highlight=False)

    agent = Agent(llm, ws, confirm=confirm, on_event=_show, on_text=stream, actor="chat")
    first = message or ("Let's go through the checklist." if (answers or not interactive) else None)
    if first is None:
        first = typer.prompt("you")
    try:
        while True:
            streamed.clear()
            reply = agent.send(first)
            out.print("" if streamed else reply.text)
            if message or not interactive:
                if not interactive and selection.is_guide and not answers and "?" in reply.text:
                    err.print(f"[yellow]note:[/] {NO_TTY_HELP}")
                break
            first = typer.prompt("you")
    except ToolError as exc:
        fail(exc, json_out=False)
    summary = agent.ledger.summary()
    cost = f", about ${summary.cost_usd:.4f}" if summary.cost_usd else ""
    err.print(
        f"[dim]{summary.requests} model requests, {summary.usage.input_tokens} in / "
        f"{summary.usage.output_tokens} out tokens{cost}; transcript {agent.transcript_path}[/]"
    )


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
