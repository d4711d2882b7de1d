"""`finetune demo --real-model` (`make demo-real`): a real pretrained model learns the sample project's house style.

The packaged Gemma 3 270M (the real-model extra; a base model, not instruction-tuned) is trained with LoRA by
launch_lora on examples/style_train.jsonl, in its own process like any run; run_eval then compares the adapter with
the base on examples/style_eval.jsonl, whose questions are about tasks no training line covers, with the house
style as a regular expression (a one-line answer, numbered steps, the sign-off) and its exact McNemar p-value.
The settings are the demo's inputs, in examples/real_model.yaml. About 10 minutes on two CPU cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from skill.demo import prepare_workspace
from skill.report import Section, render, table
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.resources import examples_dir
from tools.core.workspace import Workspace, write_text_atomic


class RealDemoResult(BaseModel):
    report: str
    workspace: str
    sections: list[Section]
    style_base: float | None
    style_tuned: float | None
    p_value: float | None


def _settings(ws: Workspace) -> dict[str, Any]:
    path = ws.root / "examples" / "real_model.yaml"
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ToolError("demo_examples_missing", f"{path}: {exc}", "run from the finetune-skill checkout") from None
    return data


def _train(ws: Workspace, s: dict[str, Any], progress: Callable[[str], None], timeout_s: float) -> Any:
    plan = {
        "lr_scheduler": s["lr_scheduler"],
        "warmup_ratio": s["warmup_ratio"],
        "lora_alpha": s["lora_alpha"],
        "lora_dropout": s["lora_dropout"],
        "target_modules": s["target_modules"],
        "eval_fraction": 0.0,
    }
    args = {
        "data": s["train"],
        "model": s["model"],
        "max_steps": s["max_steps"],
        "per_device_batch_size": s["batch_size"],
        "gradient_accumulation_steps": 1,
        "learning_rate": s["learning_rate"],
        "lora_r": s["lora_r"],
        "plan": plan,
        "run_name": "house-style",
        "confirm": True,
    }
    started = registry.call("launch_lora", args, workspace=ws, actor="demo")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = registry.call("run_status", {"run_id": started.run_id}, workspace=ws, actor="demo").runs[0]
        if info.state in ("completed", "failed", "stopped"):
            return started, info
        progress(f"training {s['model']}: step {info.step}/{info.total_steps or '?'}")
        time.sleep(5.0)
    return started, info


def run_real_demo(out: Path, progress: Callable[[str], None] = lambda _: None) -> RealDemoResult:
    """Train the packaged Gemma on the house style, evaluate it against its base, write ``out/report.md``."""
    ws = prepare_workspace(out, examples_dir())
    s = _settings(ws)
    progress(f"launching LoRA on {s['model']} ({s['max_steps']} steps; the first use converts the model once)")
    started, info = _train(ws, s, progress, timeout_s=3600)
    launch = (
        f"{started.objective.upper()} ({started.device}, {started.precision}); preflight: "
        f"{started.preflight.turns_ending_with_stop} of {started.preflight.turns} answers end on the stop token "
        f"{', '.join(started.preflight.stop_tokens)}"
    )
    return evaluate_real_demo(ws, info.run_id, launch, progress)


def evaluate_real_demo(
    ws: Workspace, run_id: str, launch: str = "", progress: Callable[[str], None] = lambda _: None
) -> RealDemoResult:
    """The second half of the demo on a finished run: run_eval against the base, and report.md."""
    s = _settings(ws)
    info = registry.call("run_status", {"run_id": run_id}, workspace=ws, actor="demo").runs[0]  # type: ignore[attr-defined]
    run = Section(
        title="Training run (real model)",
        status="ok" if info.state == "completed" else "failed",
        headline=f"{info.state} after {info.step} steps",
        body=table(
            ["", ""],
            [
                ["run", info.run_id],
                ["base model", info.base_model],
                ["trainer", launch or "-"],
                ["final train loss", getattr(info.latest, "loss", None)],
                ["tokens/s", getattr(info.latest, "tokens_per_s", None)],
                ["peak memory MB", getattr(info.latest, "peak_memory_mb", None)],
                ["adapter", info.adapter],
            ],
        )
        + (f"\n\n{info.error}" if info.error else ""),
    )
    sections = [run]
    base = tuned = p = None
    if info.state == "completed":
        progress("evaluating the adapter against the base on held-out tasks (greedy, both models)")
        evaluation: Any = registry.call(
            "run_eval",
            {
                "data": s["eval"],
                "run_id": info.run_id,
                "regex": s["style_regex"],
                "max_new_tokens": s["max_new_tokens"],
                "batch_size": 8,
                "seed": 0,
                "out_dir": f"evals/{info.run_id}",
                "confirm": True,
            },
            workspace=ws,
            actor="demo",
        )
        section = render("run_eval", evaluation.model_dump(mode="json"))
        section.title = "House style on held-out tasks: fine-tuned vs base"
        style = next((m for m in evaluation.metrics if m.metric == "regex_match"), None)
        if style is not None:
            base, tuned, p = style.baseline, style.candidate, style.p_value
            shown = "p unavailable" if p is None else "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"
            section.headline = (
                f"answers in the house style: {base:.0%} (base) -> {tuned:.0%} (fine-tuned), McNemar {shown}"
            )
        sections.append(section)
    lines = ["# finetune demo --real-model", ""]
    for sec in sections:
        lines += [f"## {sec.title}", "", f"**{sec.status}**: {sec.headline}", "", sec.body, ""]
    report = write_text_atomic(ws.root / "report.md", "\n".join(lines))
    return RealDemoResult(
        report=str(report), workspace=str(ws.root), sections=sections, style_base=base, style_tuned=tuned, p_value=p
    )


__all__ = ["RealDemoResult", "evaluate_real_demo", "run_real_demo"]
