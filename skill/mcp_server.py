"""The registry as an MCP server over stdio (`finetune mcp`).

Tools: every registered tool with its portable schema and hints from its effect; a tool error is
a result with ``isError`` (the model can correct itself), never a dead server. Prompts: one per
checklist step and one for the whole walk; IDEs show them as slash commands. Resources: the
reference files. Long tools send ``notifications/progress`` when the client asked for them.

stdout is the protocol: nothing here prints; diagnostics go to stderr.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from skill.mcp_frames import FrameProblem, frame_problem
from skill.steps import walk
from tools import __version__
from tools.core import progress, registry
from tools.core.errors import ToolError
from tools.core.resources import reference_dir
from tools.core.schemas import mcp_tool
from tools.core.workspace import Workspace

SERVER_NAME = "fine-tuning"
WALK_PROMPT = "fine-tune-walk"
RESOURCE_SCHEME = "finetune"
INSTRUCTIONS = (
    "Tools for deciding whether to fine-tune an LLM and doing it well. Walk the checklist first "
    "(prompt fine-tune-walk). Tools marked as spending money or running long need confirm=true, "
    "which you may pass only after the person said yes."
)


def _tool_list() -> list[types.Tool]:
    tools = []
    for spec in registry.all_tools():
        data = mcp_tool(spec)
        hints = data["annotations"]
        tools.append(
            types.Tool(
                name=data["name"],
                description=data["description"],
                input_schema=data["inputSchema"],
                annotations=types.ToolAnnotations(
                    title=hints["title"],
                    read_only_hint=hints["readOnlyHint"],
                    destructive_hint=hints["destructiveHint"],
                    idempotent_hint=hints["idempotentHint"],
                    open_world_hint=hints["openWorldHint"],
                ),
            )
        )
    return tools


def _error_result(exc: ToolError) -> types.CallToolResult:
    payload = {"error": exc.info().model_dump()}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(payload))], structured_content=payload, is_error=True
    )


def _reference_files() -> list[Path]:
    root = reference_dir()
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".md", ".yaml"}) if root.is_dir() else []


def _uri(path: Path) -> str:
    return f"{RESOURCE_SCHEME}://reference/{path.relative_to(reference_dir()).as_posix()}"


def build_server(workspace: Workspace) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tool_list())

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        def send(done: float, total: float | None, message: str | None) -> None:
            anyio.from_thread.run(ctx.session.report_progress, done, total, message)

        def work() -> Any:
            with progress.reporting(send):
                return registry.call(params.name, params.arguments or {}, workspace=workspace, actor="mcp")

        try:
            result = await anyio.to_thread.run_sync(work)
        except ToolError as exc:
            return _error_result(exc)
        except Exception as exc:  # noqa: BLE001 - a tool call must answer with a result, never break the session
            return _error_result(
                ToolError("internal_error", f"{params.name} failed ({type(exc).__name__})", "report it as a bug")
            )
        data = result.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(data, ensure_ascii=False))], structured_content=data
        )

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = [
            types.Prompt(
                name=WALK_PROMPT,
                title="Fine-tuning: the whole checklist",
                description="Walk the whole decision checklist, step by step, with the tools.",
            )
        ]
        for step in walk().steps:
            prompts.append(
                types.Prompt(
                    name=f"ft-{step.name}",
                    title=step.title,
                    description=" ".join(step.body.split())[:200],
                    arguments=[
                        types.PromptArgument(name=step.argument, description=f"the {step.argument}", required=False)
                    ],
                )
            )
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
        args = params.arguments or {}
        if params.name == WALK_PROMPT:
            text = "\n\n".join(
                f"Step {i}. " + s.instructions().removeprefix("# ") for i, s in enumerate(walk().steps, start=1)
            )
            return types.GetPromptResult(
                description="The fine-tuning checklist",
                messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
            )
        step = walk().get(params.name.removeprefix("ft-"))
        if step is None:
            raise ValueError(f"no prompt named {params.name!r}")
        text = step.instructions(args.get(step.argument))
        return types.GetPromptResult(
            description=step.title, messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))]
        )

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=_uri(p),
                    name=p.relative_to(reference_dir()).as_posix(),
                    mime_type="text/markdown" if p.suffix == ".md" else "application/yaml",
                )
                for p in _reference_files()
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        by_uri = {_uri(p): p for p in _reference_files()}
        path = by_uri.get(str(params.uri))
        if path is None:
            raise ValueError(f"no resource {params.uri}; list them with resources/list")
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=str(params.uri),
                    text=path.read_text("utf-8"),
                    mime_type="text/markdown" if path.suffix == ".md" else "application/yaml",
                )
            ]
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


class _CheckedLines:
    """The lines of stdin that are readable JSON-RPC; every other line becomes an error on ``refusals``."""

    def __init__(self, source: Any, refusals: MemoryObjectSendStream[FrameProblem]) -> None:
        self.source = source
        self.refusals = refusals

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async with self.refusals:
            async for line in self.source:
                if not line.strip():
                    continue
                problem = frame_problem(line)
                if problem is None:
                    yield line
                else:
                    await self.refusals.send(problem)


def _private_stdin() -> Any:
    """stdin moved to a private descriptor, with fd 0 pointed at the null device (what the SDK's own
    transport does), so a child process such as a training worker never reads the protocol."""
    private = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return anyio.wrap_file(io.TextIOWrapper(os.fdopen(private, "rb", closefd=True), encoding="utf-8", errors="replace"))


async def serve_stdio(workspace: Workspace) -> None:
    server = build_server(workspace)
    refusals_send, refusals_receive = anyio.create_memory_object_stream[FrameProblem](16)
    stdin = _CheckedLines(_private_stdin(), refusals_send)
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]

        async def answer_refusals() -> None:
            async with refusals_receive:
                async for problem in refusals_receive:
                    await write_stream.send(SessionMessage(problem.response()))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(answer_refusals)
            await server.run(read_stream, write_stream, server.create_initialization_options())
            tasks.cancel_scope.cancel()


def main(workspace: Workspace) -> None:
    anyio.run(serve_stdio, workspace)
