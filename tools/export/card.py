"""The model card (``README.md`` in every export folder): what was trained on what, the plan, the eval verdict
when a run_eval report is given, the precision, the parity result, and how to serve it. The data appear only as
their sha256; no example, prompt or answer is written into the card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tools.export.models import ParityReport
from tools.export.source import RunSource, base_label, plan_summary


def eval_verdict(report: Path) -> str | None:
    """The verdict of a run_eval report.md: the item under "**Verdict**" (the report as a document), or the text
    under "## Verdict" (reports written before it was one)."""
    text = report.read_text("utf-8", errors="replace")
    item = re.search(r"^\*\*Verdict\*\*[ \t]*\n\s*^- (.+)$", text, re.M)
    section = re.search(r"^## Verdict\s*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if item is None and section is None:
        return None
    verdict = " ".join((item or section).group(1).split())  # type: ignore[union-attr]
    return verdict or None


def model_card(
    src: RunSource,
    *,
    target: str,
    artefact: str,
    training_precision: str,
    export_precision: str,
    precision_change: str | None,
    parity: ParityReport,
    eval_line: str | None,
    usage: list[str],
    tools: dict[str, str],
) -> str:
    front: dict[str, Any] = {
        "library_name": "peft" if target == "vllm-adapter" else "transformers",
        "tags": ["finetune-skill", "lora" if src.method == "lora" else "qlora", f"export-{target}"],
    }
    if "/" in src.base_model and not Path(src.base_model).is_absolute():
        front["base_model"] = src.base_model
    plan = plan_summary(src)
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {src.run_id} ({target})",
        "",
        f"A LoRA fine-tune of `{base_label(src)}` made with finetune-skill, exported as {artefact}.",
        "",
        "## Training",
        "",
        *[f"- {k}: `{v}`" for k, v in plan.items()],
        *[f"- data `{label}`: sha256 `{digest}`" for label, digest in src.data_hashes().items()],
        "",
        "## Evaluation",
        "",
        f"- run_eval verdict: {eval_line}" if eval_line else "- not evaluated with run_eval (no report was given)",
        "",
        "## Precision",
        "",
        f"- trained in {training_precision}; this export holds {export_precision}",
        f"- precision changed with --allow-precision-change: {precision_change}" if precision_change else
        "- same precision as training",
        "",
        "## Parity with the adapter",
        "",
        f"- {parity.message}",
    ]  # fmt: skip
    if parity.ran:
        lines += [
            f"- reference: {parity.reference}; export: {parity.artefact}",
            f"- {parity.prompts} golden prompts from the eval set, {parity.max_new_tokens} greedy tokens each; gate: "
            f"{parity.gate}",
        ]
    lines += ["", "## Use", "", *[f"    {u}" for u in usage], "", "## Made with", ""]
    lines += [f"- {name} {version}" for name, version in tools.items()]
    return "\n".join(lines) + "\n"


__all__ = ["eval_verdict", "model_card"]
