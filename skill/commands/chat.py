"""`finetune chat`: the agent in the terminal, on an LLM or the offline guide.

The conversation opens by itself (the guide greets and asks its first question), runs until the person types
`exit`/`quit` or presses Ctrl-D, and shows every tool call with what it found. With the guide, tool messages
speak the chat's voice (what to say to the guide); an LLM reads them in the agent's voice (tool names,
``confirm=true``).
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.prompt import Confirm

from skill.agent import Agent, AgentLimits, ToolEvent
from skill.console import err, fail, out, workspace_of
from skill.guide import OPENING, GuideBackend, GuideInputs, load_answers_file
from skill.guide.summaries import summarise
from skill.guide.understand import say
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.core.voice import speaking
from tools.core.workspace import Workspace

NO_TTY_HELP = (
    "no terminal to ask questions in: pass the checklist answers with --answers FILE.yaml "
    "(see examples/answers.yaml), or run `finetune chat` in a terminal"
)
LEAVE = {"exit", "quit", "bye", "goodbye", ":q", "/exit", "/quit"}
GUIDE_RESULT_CHARS = 200_000
"""The guide reads whole results (it pays nothing per token); an LLM gets the loop's bounded default."""


def _event_printer(guide: bool) -> Any:
    def show(event: ToolEvent) -> None:
        name = event.call.name
        if event.outcome == "declined":
            err.print(f"[dim]tool[/] [bold]{name}[/]: [yellow]declined[/], nothing ran")
        elif event.outcome == "error":
            message = (json.loads(event.content).get("error") or {}).get("message", event.content[:200])
            err.print(f"[dim]tool[/] [bold]{name}[/]: [red]error[/] {message}", markup=True, highlight=False)
        elif guide:
            err.print(f"[dim]tool {name}: ran[/]")
        else:
            data = event.result.model_dump(mode="json") if event.result is not None else {}
            first = summarise(name, data)[0] if data else "ran"
            err.print(f"[dim]tool[/] [bold]{name}[/]: {first}", markup=True, highlight=False)

    return show


def _ask_person(spec: Tool, args: dict[str, Any]) -> bool:
    """Show the exact call that will run (the validated arguments, in full) and ask for a yes."""
    given = {k: v for k, v in args.items() if v is not None}
    out.print(f"[bold yellow]{spec.name}[/] wants to run ({spec.effect}) with exactly these arguments:")
    out.print(json.dumps(given, ensure_ascii=False, indent=2), markup=False, highlight=False)
    try:
        return Confirm.ask("Allow it?", default=False)
    except (EOFError, KeyboardInterrupt):
        return False


def _reset(ws: Workspace) -> None:
    registry.call("record_answers", {"reset": True}, workspace=ws, actor="chat")
    err.print(f"checklist reset: {ws.relative(ws.state_dir / 'checklist.json')} holds no answers now")


def _read(prompt: str) -> str | None:
    """The person's next line; None when they leave (exit, quit, Ctrl-D, Ctrl-C)."""
    try:
        text = typer.prompt(prompt, default="", show_default=False, prompt_suffix=": ")
    except (typer.Abort, EOFError, KeyboardInterrupt):
        return None
    return None if text.strip().lower() in LEAVE else text


def _converse(agent: Agent, first: str, interactive: bool, once: bool, guide: bool) -> None:
    streamed: list[str] = []
    agent.on_text = lambda chunk: (streamed.append(chunk), out.print(chunk, end="", markup=False, highlight=False))
    text: str | None = first
    while text is not None:
        streamed.clear()
        with speaking("chat") if guide else nullcontext():
            reply = agent.send(text)
        out.print("" if streamed else reply.text, markup=False, highlight=False)
        if once or not interactive:
            if not interactive and guide and not once and "?" in reply.text:
                err.print(f"[yellow]note:[/] {NO_TTY_HELP}")
            return
        text = _read("you")
    out.print(say("goodbye") if guide else "Goodbye.", markup=False, highlight=False)


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
    reset: Annotated[
        bool, typer.Option("--reset", help="Forget the recorded checklist answers (.finetune/checklist.json) first.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Approve spend/long tool calls without asking (scripts).")] = False,
) -> None:
    """Talk to the fine-tuning agent: it walks the checklist, answers questions and runs the tools with you."""
    from tools.llm.select import select_backend

    try:
        ws = workspace_of(ctx)
        prefill, inputs = load_answers_file(answers, ws) if answers else ({}, GuideInputs())
        selection = select_backend(backend, model, base_url)
        if reset:
            _reset(ws)
    except ToolError as exc:
        fail(exc, json_out=False)
    interactive = sys.stdin.isatty()
    guide = selection.backend is None or selection.is_guide
    llm = selection.backend or GuideBackend(prefill, inputs)
    err.print(f"[dim]{selection.describe()}[/]")
    confirm = (lambda spec, args: True) if yes else (_ask_person if interactive else (lambda spec, args: False))
    limits = AgentLimits(max_result_chars=GUIDE_RESULT_CHARS) if guide else None
    agent = Agent(llm, ws, confirm=confirm, on_event=_event_printer(guide), limits=limits, actor="chat")
    first = message or ("Let's go through the checklist." if answers else OPENING)
    try:
        _converse(agent, first, interactive, once=message is not None, guide=guide)
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
