"""`finetune try RUN`: a small playground in the terminal, the base and the fine-tuned answer side by side."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from skill.console import JsonFlag, call_tool, out, show_document

_QUIT = {"", "quit", "exit", ":q"}


def _ask(ctx: typer.Context, run_id: str, prompt: str, system: str | None, max_new: int | None, json_out: bool) -> Any:
    args = {"run_id": run_id, "prompt": prompt, "system": system, "max_new_tokens": max_new}
    return call_tool(ctx, "try_run", args, json_out=json_out)


def try_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run whose fine-tune to try (finetune runs list).")],
    prompt: Annotated[
        list[str] | None, typer.Option("--prompt", "-p", help="Answer this prompt and exit (repeatable).")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system prompt for both models.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Tokens per answer.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Ask the base model and the fine-tune the same prompt and see both answers side by side."""
    if prompt:
        results = [_ask(ctx, run_id, p, system, max_new_tokens, json_out) for p in prompt]
        if json_out:
            typer.echo(json.dumps([r.model_dump() for r in results], indent=2, ensure_ascii=False))
        else:
            for r in results:
                show_document(r.document(), out)
        raise typer.Exit(0)
    out.print(f"Trying run [bold]{escape(run_id)}[/]: type a prompt and press Enter; an empty line or 'quit' ends.")
    while True:
        try:
            line = input("you> ")
        except EOFError:
            out.print()
            break
        if line.strip().lower() in _QUIT:
            break
        show_document(_ask(ctx, run_id, line, system, max_new_tokens, False).document(), out)
    out.print("bye")


def register(app: typer.Typer) -> None:
    app.command("try")(try_cmd)


__all__ = ["register"]
