"""`finetune demo`: the offline guide walks the sample project in examples/, like a person would.

The examples are copied into a fresh demo workspace (``finetune-demo/`` by default) so the
originals are never touched. The guide (the same agent loop, tool dispatch, confirmation gate and
audit log an LLM would use) takes the checklist answers from ``examples/answers.yaml`` and calls
the tools the answers call for; each tool result becomes a section of ``report.md``. The report
ends by checking the planted defects of examples/DEFECTS.md against what the tools found, and by
verifying the audit log of every call. Tools that are not registered are simply not called.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from skill.agent import Agent, Confirmer
from skill.guide import GuideBackend, GuideInputs, load_answers_file
from skill.report import Section, error_section, render, table
from tools import __version__
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.core.resources import examples_dir, prompts_dir
from tools.core.workspace import Workspace, sha256_file, write_text_atomic
from tools.local_models.tiny import TINY_MODEL_ID as TINY_MODEL

MARKER = ".finetune-demo"
TODAY_ENV = "FINETUNE_TODAY"
DEFECT_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$")


class DemoResult(BaseModel):
    report: str
    workspace: str
    sections: list[Section]


def _project_section(ws: Workspace, answers: dict[str, Any]) -> Section:
    rows = []
    for path in sorted((ws.root / "examples").rglob("*")):
        if path.is_file():
            rows.append([f"`{ws.relative(path)}`", path.read_bytes().count(b"\n"), sha256_file(path)[:16]])
    detail = str(answers.get("failure_detail", "")).strip()
    body = f"{detail}\n\nFiles (SHA-256 prefix, as the audit log records them):\n\n" + table(
        ["file", "lines", "sha256"], rows
    )
    return Section(title="Sample project", status="ok", headline=f"{len(rows)} files", body=body)


def _facts_section(ws: Workspace) -> Section:
    if "facts_check" not in {t.name for t in registry.all_tools()}:
        return Section(title="Dated facts", status="skipped", headline="facts_check not available", body="")
    result = registry.call("facts_check", {}, workspace=ws, actor="demo")
    return render("facts_check", result.model_dump(mode="json"))


def _demo_confirm(inputs: GuideInputs) -> Confirmer:
    """The demo says yes for the person to one thing only: training the built-in tiny model locally
    (CPU, no money, no upload). Anything else is declined, as it would be without a terminal."""

    def confirm(spec: Tool, args: dict[str, Any]) -> bool:
        return spec.name == "launch_lora" and inputs.base_model == TINY_MODEL

    return confirm


def _walk_sections(
    ws: Workspace, answers: dict[str, Any], inputs: GuideInputs
) -> tuple[list[Section], str, str | None]:
    agent = Agent(GuideBackend(answers, inputs), ws, confirm=_demo_confirm(inputs), actor="demo")
    reply = agent.send("Walk the checklist for the sample project.")
    run_id = next(
        (
            e.result.run_id
            for e in reply.events  # type: ignore[union-attr]
            if e.call.name == "launch_lora" and e.outcome == "ok" and getattr(e.result, "started", False)
        ),
        None,
    )
    sections = []
    for event in reply.events:
        if event.outcome == "ok" and event.result is not None:
            sections.append(render(event.call.name, event.result.model_dump(mode="json")))
        else:
            sections.append(
                error_section(event.call.name, event.content, "declined" if event.outcome == "declined" else "failed")
            )
    return sections, reply.text, run_id


def _training_sections(
    ws: Workspace, run_id: str, progress: Callable[[str], None], timeout_s: float = 900.0
) -> list[Section]:
    """Wait for the demo's run, then show it and the diagnosis of its own loss log."""
    deadline = time.monotonic() + timeout_s
    info: Any = None
    while time.monotonic() < deadline:
        info = registry.call("run_status", {"run_id": run_id}, workspace=ws, actor="demo").runs[0]  # type: ignore[attr-defined]
        if info.state in ("completed", "failed", "stopped"):
            break
        progress(f"training {run_id}: step {info.step}/{info.total_steps or '?'}")
        time.sleep(2.0)
    if info is None or info.state not in ("completed", "failed", "stopped"):
        return [
            Section(
                title="Training run",
                status="failed",
                headline="did not finish in time",
                body=f"The run {run_id} was still {getattr(info, 'state', 'unknown')} after {timeout_s:.0f} s; "
                f"see `finetune runs status {run_id}`.",
            )
        ]
    latest = info.latest
    rows = [
        ["run", run_id],
        ["state", info.state],
        ["steps", f"{info.step} of {info.total_steps}"],
        ["base model", info.base_model],
        ["final train loss", getattr(latest, "loss", None)],
        ["best eval loss", info.best_eval_loss],
        ["tokens/s", getattr(latest, "tokens_per_s", None)],
        ["peak memory MB", getattr(latest, "peak_memory_mb", None)],
        ["adapter", info.adapter],
        ["report", info.report],
    ]
    run = Section(
        title="Training run",
        status="ok" if info.state == "completed" else "found problems",
        headline=f"{info.state} after {info.step} steps",
        body=(
            "The built-in tiny model (random weights) trained with LoRA on CPU in its own process: "
            "it proves the machinery, not quality.\n\n"
            + table(["", ""], rows)
            + (f"\n\nStopped: {info.stop_reason} {info.error or ''}" if info.state != "completed" else "")
        ),
    )
    diagnosis = registry.call(
        "diagnose_loss",
        {"path": info.folder, "report": f"{info.folder}/demo-diagnosis.md", "plot": f"{info.folder}/demo-loss.png"},
        workspace=ws,
        actor="demo",
    )
    section = render("diagnose_loss", diagnosis.model_dump(mode="json"))
    section.title = "Diagnosis of the demo's own run"
    sections = [run, section]
    if info.state == "completed" and "run_eval" in {t.name for t in registry.all_tools()}:
        progress(f"evaluating {run_id} against its base")
        evaluation = registry.call(
            "run_eval",
            {
                "data": "examples/eval.jsonl",
                "run_id": run_id,
                "max_new_tokens": 48,
                "batch_size": 8,
                "seed": 0,
                "forgetting_probe": True,
                "memorisation_probe": True,
                "probe_items": 20,
                "out_dir": f"evals/{run_id}",
                "confirm": True,
            },
            workspace=ws,
            actor="demo",
        )
        sections.append(render("run_eval", evaluation.model_dump(mode="json")))
    return sections


def planted_defects(defects_md: Path) -> list[tuple[int, str]]:
    rows = []
    for line in defects_md.read_text("utf-8").splitlines():
        match = DEFECT_ROW.match(line)
        if match:
            rows.append((int(match.group(1)), match.group(2)))
    return rows


def _found_lines(ws: Workspace) -> dict[int, list[str]]:
    """Line numbers of examples/train.jsonl that any report in .finetune/reports names."""
    found: dict[int, list[str]] = {}
    for report in sorted((ws.state_dir / "reports").glob("*.json")):
        try:
            data = json.loads(report.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for finding in _walk_findings(data):
            file = str(finding.get("file") or finding.get("path") or "")
            if file and not file.endswith("train.jsonl") and file != "(all files)":
                continue
            lines = [finding.get("line")] + list(finding.get("lines") or [])
            for line in lines:
                if isinstance(line, int):
                    found.setdefault(line, []).append(str(finding.get("code") or finding.get("entity") or "finding"))
    return found


def _walk_findings(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        own = [data] if "line" in data and ("code" in data or "entity" in data) else []
        return own + [f for v in data.values() for f in _walk_findings(v)]
    if isinstance(data, list):
        return [f for v in data for f in _walk_findings(v)]
    return []


def _defects_section(ws: Workspace) -> Section:
    defects = planted_defects(ws.root / "examples" / "DEFECTS.md")
    found = _found_lines(ws)
    rows = [
        [line, what, ", ".join(sorted(set(found[line]))) if line in found else "**missed**"] for line, what in defects
    ]
    hits = sum(1 for line, _ in defects if line in found)
    return Section(
        title="Planted defects found",
        status="ok" if hits == len(defects) else "found problems",
        headline=f"{hits} of {len(defects)} planted defects reported with their line",
        body=table(["line", "planted defect", "reported as"], rows),
    )


def _audit_section(ws: Workspace) -> Section:
    report: Any = registry.call("audit_log", {"action": "show", "limit": 100}, workspace=ws, actor="demo")
    rows = [
        [
            r.seq,
            r.tool,
            r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
            ", ".join(f"`{f.path}` {f.sha256[:12] if f.sha256 else '-'}" for f in r.files) or "-",
        ]
        for r in report.latest
    ]
    verdict = (
        f"The hash chain over {report.records} records verifies (`finetune audit verify`)."
        if report.ok
        else f"The chain is broken at line {report.first_bad_line}: {report.problem}"
    )
    return Section(
        title="Audit trail",
        status="ok" if report.ok else "found problems",
        headline=f"{report.records} records, chain {'intact' if report.ok else 'BROKEN'}",
        body=verdict + "\n\n" + table(["seq", "tool", "outcome", "files (sha256)"], rows),
    )


def prepare_workspace(out: Path, examples: Path) -> Workspace:
    if out.exists():
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise ToolError(
                "demo_out_not_empty",
                f"{out} exists and was not made by `finetune demo`",
                "pass --out with a new folder; nothing was deleted",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by finetune demo; deleted and rewritten on the next run\n")
    shutil.copytree(examples, out / "examples", ignore=shutil.ignore_patterns("__pycache__", "*.py", ".finetune"))
    return Workspace(out)


def run_demo(out: Path, examples: Path | None = None, progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the walk into ``out`` and write ``out/report.md``."""
    source = examples or examples_dir()
    if not (source / "train.jsonl").is_file():
        raise ToolError(
            "demo_examples_missing",
            f"no sample project at {source}",
            "run from the finetune-skill checkout, or reinstall the package",
        )
    ws = prepare_workspace(out, source)
    answers, inputs = load_answers_file(ws.root / "examples" / "answers.yaml", ws)
    progress("sample project")
    sections = [_project_section(ws, answers)]
    progress("dated facts")
    sections.append(_facts_section(ws))
    progress("guide walk")
    walk_sections, closing, run_id = _walk_sections(ws, answers, inputs)
    sections += walk_sections
    if run_id:
        sections += _training_sections(ws, run_id, progress)
    progress("planted defects")
    sections.append(_defects_section(ws))
    progress("audit trail")
    sections.append(_audit_section(ws))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(prompts_dir()),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    text = env.get_template("demo_report.md.j2").render(
        project=inputs.project or "sample project",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        workspace=out.as_posix(),
        sections=sections,
        closing=closing,
        verdict=next((s.headline for s in sections if s.title == "Fine-tuned vs base"), None),
    )
    report = write_text_atomic(ws.root / "report.md", text)
    return DemoResult(report=str(report), workspace=str(ws.root), sections=sections)
