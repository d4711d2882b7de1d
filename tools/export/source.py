"""What an export starts from: a finished run folder (``runs/<id>/``), read once.

The run folder contract: ``config.json`` (the plan: base model, method, LoRA settings, seed; ``resolved``: the
precision and device the run trained with; the data's sha256), ``adapter/`` (a peft adapter with the tokenizer
the run trained with, chat template included), ``status.json`` and ``report.md``. The base model is rebuilt
the way the run built it: the built-in tiny model from its seed, anything else with ``from_pretrained``.

Heavy imports (torch, transformers, peft) stay inside the functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.local_models import loader
from tools.local_models.tiny import is_tiny
from tools.plan.training_plan import TrainingPlan
from tools.train.runs import read_json, run_dir

PRECISIONS = ("fp32", "bf16", "fp16")
TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class RunSource:
    """A run that has an adapter, with what an export needs to know about how it was trained."""

    run_id: str
    folder: Path
    config: dict[str, Any]
    status: dict[str, Any]
    plan: TrainingPlan
    precision: str
    notes: list[str] = field(default_factory=list)

    @property
    def adapter(self) -> Path:
        return self.folder / "adapter"

    @property
    def method(self) -> str:
        return self.plan.method

    @property
    def base_model(self) -> str:
        return self.plan.base_model

    @property
    def lora_rank(self) -> int:
        return self.plan.lora_r

    def data_hashes(self) -> dict[str, str]:
        out = {}
        for key in ("data", "eval_data"):
            entry = self.config.get(key)
            if isinstance(entry, dict) and entry.get("sha256"):
                out[str(entry.get("label") or key)] = str(entry["sha256"])
        return out

    def data_path(self, key: str) -> Path | None:
        """The recorded path of the run's training (``data``) or eval (``eval_data``) file, when it still exists."""
        entry = self.config.get(key)
        if not isinstance(entry, dict) or not entry.get("path"):
            return None
        path = Path(str(entry["path"]))
        return path if path.is_file() else None


def open_run(ws: Workspace, run_id: str) -> RunSource:
    """The run ``run_id`` with its adapter; ToolError when it is unknown, still training or has no adapter."""
    folder = run_dir(ws, run_id)
    config = read_json(folder / "config.json")
    status = read_json(folder / "status.json")
    if config.get("kind", "local_lora") != "local_lora":
        raise ToolError(
            "provider_run",
            f"run {run_id} is a provider job ({config.get('kind')}); its weights stay at the provider",
            "export works on local LoRA runs (finetune train); download a provider's weights where it allows it",
        )
    state = status.get("state")
    if state in {"queued", "running"}:
        raise ToolError(
            "run_active",
            f"run {run_id} is still {state}",
            f"wait until it completes (finetune runs status {run_id}) or stop it (finetune runs stop {run_id})",
        )
    if not (folder / "adapter" / "adapter_config.json").is_file():
        raise ToolError(
            "adapter_missing",
            f"run {run_id} has no adapter ({folder.name}/adapter/adapter_config.json is missing; state: {state})",
            "export needs a run that completed or was stopped (both write adapter/); resume a failed run first",
        )
    try:
        plan = TrainingPlan.model_validate(config.get("plan") or {})
    except ValueError:
        raise ToolError(
            "run_config_missing",
            f"runs/{run_id}/config.json has no valid plan",
            "the run folder is damaged; train again (finetune train ... --confirm)",
        ) from None
    notes = []
    if state == "stopped":
        notes.append(
            f"run {run_id} was stopped early ({status.get('stop_reason') or 'no reason recorded'}); "
            "its adapter is the one saved at the stop"
        )
    return RunSource(run_id, folder, config, status, plan, _training_precision(config, status, plan, run_id), notes)


def _training_precision(config: dict[str, Any], status: dict[str, Any], plan: TrainingPlan, run_id: str) -> str:
    """The precision the run trained in: what the worker resolved (config.json, status.json), else the plan's."""
    resolved = config.get("resolved") or {}
    for found in (resolved.get("precision"), status.get("precision"), plan.precision):
        if found in PRECISIONS:
            return str(found)
    raise ToolError(
        "run_config_missing",
        f"runs/{run_id}: the training precision is not recorded (config.json resolved.precision, status.json)",
        "the run never started training; train again",
    )


# ----------------------------------------------------------------------------- models


def load_tokenizer(src: RunSource) -> Any:
    """The tokenizer the run trained with (saved in adapter/, chat template included)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(src.adapter))
    except (OSError, ValueError) as exc:
        raise ToolError(
            "tokenizer_unavailable",
            f"runs/{src.run_id}/adapter: the tokenizer does not load ({str(exc).splitlines()[0][:160]})",
            "the adapter folder must hold the tokenizer files the run saved; train again if they are gone",
        ) from None
    if not getattr(tok, "chat_template", None):
        raise ToolError(
            "tokenizer_unavailable",
            f"runs/{src.run_id}/adapter: the tokenizer has no chat template",
            "the run saves its tokenizer with the template it trained with; this adapter came from elsewhere",
        )
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def torch_dtype(precision: str) -> Any:
    import torch

    return getattr(torch, TORCH_DTYPES[precision])


def model_ref(src: RunSource) -> loader.ModelRef:
    """The run's base model as the training loader resolves it (tiny, the packaged Gemma, a folder, the HF cache),
    offline, from the workspace the run lives in; ToolError naming the fix when it is no longer here."""
    return loader.resolve_model(src.base_model, src.folder.parent.parent)


def load_base(src: RunSource, tokenizer: Any, precision: str) -> Any:
    """The run's base model in ``precision`` on the CPU, loaded the way the run loaded it, unquantised (QLoRA's
    4-bit base needs CUDA and is not what is exported)."""
    dtype = torch_dtype(precision)
    model = loader.load_causal_lm(model_ref(src), dtype=dtype, seed=src.plan.seed, tokenizer=tokenizer)
    return model.to(dtype)


def load_reference(src: RunSource, tokenizer: Any, precision: str) -> Any:
    """The adapter on its base, unmerged: what the run produced, the reference of every parity check."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(load_base(src, tokenizer, precision), str(src.adapter))
    return model.eval()


def stop_token_ids(src: RunSource, tokenizer: Any) -> list[int]:
    """The ids generation stops on: the base's generation config (else its config.json), plus the tokenizer's EOS
    (the end of an assistant turn in the training template)."""
    ids = [] if is_tiny(src.base_model) else loader.stop_token_ids(model_ref(src), tokenizer)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def base_label(src: RunSource) -> str:
    return f"{src.base_model} (seed {src.plan.seed})" if is_tiny(src.base_model) else src.base_model


def plan_summary(src: RunSource) -> dict[str, Any]:
    p = src.plan
    return {
        "base_model": p.base_model,
        "method": p.method,
        "lora_r": p.lora_r,
        "lora_alpha": p.lora_alpha,
        "lora_dropout": p.lora_dropout,
        "target_modules": p.target_modules,
        "learning_rate": p.learning_rate,
        "max_steps": p.max_steps,
        "num_epochs": p.num_epochs,
        "seed": p.seed,
        "training_precision": src.precision,
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "PRECISIONS",
    "RunSource",
    "base_label",
    "dumps",
    "load_base",
    "load_reference",
    "load_tokenizer",
    "model_ref",
    "open_run",
    "plan_summary",
    "stop_token_ids",
    "torch_dtype",
]
