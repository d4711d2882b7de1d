"""`finetune demo`: the sample project in examples/ through every tool that applies, offline.

The examples are copied into a fresh demo workspace (``finetune-demo/`` by default) so the
originals are never touched; each step calls tools through the registry exactly as an agent would,
so the audit log at the end holds one record per call. Steps for tools that are not registered
yet are listed as skipped rather than failing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from pydantic import BaseModel

from tools import __version__, registry
from tools.errors import ToolError
from tools.resources import examples_dir, prompts_dir
from tools.workspace import Workspace, sha256_file, write_text_atomic

MARKER = ".finetune-demo"
Status = Literal["ok", "found problems", "skipped", "failed"]


class DemoSection(BaseModel):
    title: str
    status: Status
    headline: str
    body: str


class DemoResult(BaseModel):
    report: str
    workspace: str
    sections: list[DemoSection]


@dataclass
class DemoContext:
    ws: Workspace
    answers: dict[str, Any]

    def call(self, name: str, args: dict[str, Any]) -> BaseModel:
        return registry.call(name, args, workspace=self.ws, actor="demo")


Step = Callable[[DemoContext], DemoSection]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def step_project(ctx: DemoContext) -> DemoSection:
    rows = []
    for path in sorted((ctx.ws.root / "examples").rglob("*")):
        if path.is_file():
            lines = path.read_bytes().count(b"\n")
            rows.append([f"`{ctx.ws.relative(path)}`", str(lines), sha256_file(path)[:16]])
    a = ctx.answers
    facts = [
        ["failure with prompting", str(a.get("failure_mode"))],
        ["quality examples", str(a.get("quality_examples"))],
        ["requests per month", f"{a.get('monthly_requests', 0):,}"],
        ["privacy", str(a.get("privacy"))],
        ["budget", f"${a.get('training_budget_usd')} training, ${a.get('monthly_inference_budget_usd')}/month inference"],
    ]
    body = (f"{a.get('failure_detail', '').strip()}\n\n" + _table(["checklist question", "answer"], facts)
            + "\n\nFiles (SHA-256 prefix, as the audit log records them):\n\n"
            + _table(["file", "lines", "sha256"], rows))
    return DemoSection(title="Sample project", status="ok", headline=f"{len(rows)} files, answers loaded", body=body)


def step_tools(ctx: DemoContext) -> DemoSection:
    specs = registry.all_tools()
    rows = [[f"`{t.name}`", t.effect, t.summary] for t in specs]
    return DemoSection(title="Tools", status="ok", headline=f"{len(specs)} registered",
                       body=_table(["tool", "effect", "what it does"], rows))


def step_audit(ctx: DemoContext) -> DemoSection:
    report: Any = ctx.call("audit_log", {"action": "show", "limit": 50})
    rows = [[str(r.seq), r.tool, r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
             ", ".join(f"`{f.path}` {f.sha256[:12] if f.sha256 else '-'}" for f in r.files) or "-"]
            for r in report.latest]
    verdict = (f"The hash chain over {report.records} records verifies (`finetune audit verify`)." if report.ok
               else f"The chain is broken at line {report.first_bad_line}: {report.problem}")
    body = verdict + ("\n\n" + _table(["seq", "tool", "outcome", "files (sha256)"], rows) if rows else "")
    return DemoSection(title="Audit trail", status="ok" if report.ok else "found problems",
                       headline=f"{report.records} records, chain {'intact' if report.ok else 'BROKEN'}", body=body)


STEPS: list[Step] = [step_project, step_tools, step_audit]


def _prepare_workspace(out: Path, examples: Path) -> Workspace:
    if out.exists():
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise ToolError("demo_out_not_empty", f"{out} exists and was not made by `finetune demo`",
                            "pass --out with a new folder; nothing was deleted")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by finetune demo; deleted and rewritten on the next run\n")
    shutil.copytree(examples, out / "examples", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return Workspace(out)


def run_demo(out: Path, examples: Path | None = None,
             progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run every step into ``out`` and write ``out/report.md``."""
    source = examples or examples_dir()
    if not (source / "train.jsonl").is_file():
        raise ToolError("demo_examples_missing", f"no sample project at {source}",
                        "run from the finetune-skill checkout, or reinstall the package")
    ws = _prepare_workspace(out, source)
    answers = yaml.safe_load((ws.root / "examples" / "answers.yaml").read_text("utf-8")) or {}
    ctx = DemoContext(ws=ws, answers=answers)
    sections: list[DemoSection] = []
    for step in STEPS:
        progress(step.__name__.removeprefix("step_").replace("_", " "))
        try:
            sections.append(step(ctx))
        except ToolError as exc:
            sections.append(DemoSection(title=step.__name__.removeprefix("step_"), status="failed",
                                        headline=exc.code, body=f"{exc.message}\n\nfix: {exc.hint}"))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(prompts_dir()), autoescape=False,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    text = env.get_template("demo_report.md.j2").render(
        project=answers.get("project", "sample project"),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, workspace=out.as_posix(), sections=sections)
    report = write_text_atomic(ws.root / "report.md", text)
    return DemoResult(report=str(report), workspace=str(ws.root), sections=sections)
