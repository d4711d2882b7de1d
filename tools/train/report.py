"""The end of a local run: ``report.md`` (what ran, how it went, the loss diagnosis) and the library versions."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import write_text_atomic
from tools.train.runs import read_json, update_status


def mean_loss(history: list[dict[str, Any]]) -> float | None:
    losses = [r["loss"] for r in history if isinstance(r.get("loss"), (int, float)) and math.isfinite(r["loss"])]
    return round(sum(losses) / len(losses), 6) if losses else None


def versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "bitsandbytes"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except Exception:  # noqa: BLE001 - optional packages
                continue
        out[name] = str(getattr(mod, "__version__", "?"))
    return out


def write_report(folder: Path, state: str) -> None:
    """report.md: what ran, how it went, and the diagnosis of the loss curves (tools.diagnose.diagnose_loss)."""
    from tools.core.workspace import Workspace, using
    from tools.train.runs import run_info

    config = read_json(folder / "config.json")
    ws = Workspace(folder.parent.parent)
    info = run_info(ws, folder).model_copy(update={"state": state})
    plan = config.get("plan", {})
    res = config.get("resolved", {})
    stats = (res.get("data_stats") or {}).get("train", {})
    lines = [
        f"# Run {folder.name}",
        "",
        f"- state: **{info.state}**" + (f" ({info.stop_reason})" if info.stop_reason else ""),
        f"- base model: `{plan.get('base_model')}` ({plan.get('method')}, r={plan.get('lora_r')}, "
        f"alpha={plan.get('lora_alpha')}, dropout={plan.get('lora_dropout')}, targets {plan.get('target_modules')})",
        f"- trainer: {str(res.get('objective', 'sft')).upper()} with TRL ({res.get('trainer')}); "
        f"{res.get('precision')} on {res.get('device')}; batching: {plan.get('batching')}",
        f"- steps: {info.step} of {info.total_steps}; effective batch "
        f"{(plan.get('per_device_batch_size') or 0) * (plan.get('gradient_accumulation_steps') or 0)}"
        f"{' x ' + str(res['num_processes']) + ' processes' if res.get('num_processes') else ''}; "
        f"lr {plan.get('learning_rate')} ({plan.get('lr_scheduler')}, warm-up ratio {plan.get('warmup_ratio')})",
        f"- data: {stats.get('path')} ({stats.get('format')}): {stats.get('used')} examples used of "
        f"{stats.get('records')} lines; {stats.get('skipped_bad_lines', 0)} unusable lines skipped "
        f"{stats.get('first_bad_lines', [])}, {stats.get('skipped_no_assistant', 0)} without an assistant answer "
        f"{stats.get('first_no_assistant', [])}; {res.get('train_examples')} train / {res.get('eval_examples')} eval",
        f"- chat template: {res.get('template')}; loss on assistant tokens only (our masks); TRL config: "
        f"`{res.get('trl_config', 'trl_config.yaml')}`",
    ]
    if info.latest:
        m = info.latest
        lines.append(
            f"- last logged: step {m.step}, loss {m.loss}, eval loss {m.eval_loss}, "
            f"{m.tokens_per_s} tokens/s, peak memory {m.peak_memory_mb} MB"
        )
    if info.best_eval_loss is not None:
        lines.append(f"- best eval loss: {info.best_eval_loss:.4f}")
    if info.error:
        lines.append(f"- error: {info.error}")
    lines += [
        f"- adapter: `{info.adapter}`" if info.adapter else "- adapter: not written",
        f"- merged weights: `{ws.relative(folder / 'merged')}`" if (folder / "merged").is_dir() else "",
        "",
    ]
    try:
        from tools.diagnose.diagnose_loss import diagnose_loss
        from tools.diagnose.models import DiagnoseLossRequest

        plot = None
        try:
            import matplotlib  # noqa: F401

            plot = str(folder / "loss.png")
        except ImportError:
            pass
        with using(ws):
            diag = diagnose_loss(DiagnoseLossRequest(path=str(folder), report=str(folder / "diagnosis.md"), plot=plot))
        lines += ["## Diagnosis", "", f"**{diag.verdict}**: {diag.headline}", ""]
        for f in diag.findings:
            lines.append(f"- {f.severity}: {f.title}: {f.summary}")
            lines += [f"  - {c}" for c in f.changes[:2]]
        lines += ["", f"Full diagnosis: `{diag.report_md}`" + (f"; plot: `{diag.plot}`" if diag.plot else ""), ""]
        update_status(folder, diagnosis=diag.headline, verdict=diag.verdict)
    except ToolError as exc:
        lines += ["## Diagnosis", "", f"not available: {exc.message}", ""]
    except Exception as exc:  # noqa: BLE001 - the report must be written even if the diagnosis breaks
        lines += ["## Diagnosis", "", f"failed: {type(exc).__name__}", ""]
    lines += [
        "## Files",
        "",
        "- `config.json`: plan, data and versions (reproduce with `finetune runs resume` or a new launch)",
        "- `metrics.jsonl`, `trainer_state.json`: the curves",
        "- `checkpoint-*/`: the last checkpoints",
        "- `train.log`: the worker's output",
        "",
    ]
    write_text_atomic(folder / "report.md", "\n".join(ln for ln in lines if ln is not None) + "\n")


__all__ = ["mean_loss", "versions", "write_report"]
