"""The systems run_eval compares: a launch_lora run (adapter or base), a local model (+ adapter), an API model, or
predictions.

A :class:`Candidate` says what a system is; :class:`System` resolves it in the workspace (run folder, adapter,
prediction file) and :func:`generate_for` produces its outputs. :class:`Models` loads each local base once
and puts adapters on it only after the plain model has generated (peft changes the base in place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.fields import InputPath
from tools.core.voice import say
from tools.core.workspace import Workspace
from tools.evaluate.generate import (
    EvalItem,
    LocalModel,
    add_adapter,
    api_backend,
    api_generate,
    chat_prompt,
    generate,
    load_local,
)
from tools.local_models.tiny import is_tiny
from tools.train.runs import read_json, run_dir


class Candidate(BaseModel):
    """One system to evaluate: a run, a local model (+ adapter), or a file of predictions made elsewhere."""

    label: str | None = Field(None, description="Name in the report; default: derived from the source.")
    run_id: str | None = Field(
        None, description="A launch_lora run: its base model (and seed), plus runs/<id>/adapter unless base_only."
    )
    base_only: bool = Field(False, description="With run_id: the run's base model without its adapter.")
    model: str | None = Field(
        None, description="A local model folder, a Hugging Face id in the local cache, or 'tiny-random-llama'."
    )
    adapter: InputPath | None = Field(None, description="A LoRA adapter folder to put on model.")
    seed: int | None = Field(None, description="Weights seed of tiny-random-llama (a run's plan seed by default).")
    predictions: InputPath | None = Field(
        None,
        description="JSONL of outputs made elsewhere, one per eval item in order ('prediction'/'output'/... or a chat "
        "line).",
    )
    system_prompt: str | None = Field(
        None, description="Replace the eval items' system prompt with this one (e.g. base + the production prompt)."
    )
    few_shot: int = Field(
        0, ge=0, le=16, description="Prepend this many training examples as earlier turns (needs train_data)."
    )
    provider: Literal["anthropic", "openai"] | None = Field(
        None,
        description=(
            "An API model instead of a local one: model is then the API model id; keys come from ANTHROPIC_API_KEY / "
            "OPENAI_API_KEY. Sends the eval prompts to the provider and costs money."
        ),
    )
    base_url: str | None = Field(
        None, description="With provider 'openai': an OpenAI-compatible server (vLLM, Ollama, Together...)."
    )


# ----------------------------------------------------------------------------- systems


class System:
    def __init__(self, role: str, cand: Candidate, ws: Workspace) -> None:
        self.role, self.cand = role, cand
        self.predictions_path: Path | None = None
        self.model_name: str | None = None
        self.adapter: Path | None = None
        self.seed = cand.seed if cand.seed is not None else 0
        self.api: tuple[str, str | None, str | None] | None = None
        self.backend: Any = None
        self.cost_usd: float | None = 0.0
        if cand.predictions:
            self.predictions_path = ws.input_file(cand.predictions, what=f"{role} predictions")
            source = ws.relative(self.predictions_path)
        elif cand.provider:
            if not cand.model and cand.provider == "openai" and cand.base_url:
                raise ToolError(
                    "model_needed", f"the {role} names a server but no model", "give model: the id the server serves"
                )
            self.api = (cand.provider, cand.model, cand.base_url)
            source = f"{cand.provider} API: {cand.model or 'default model'}" + (
                f" at {cand.base_url}" if cand.base_url else ""
            )
        elif cand.run_id:
            folder = run_dir(ws, cand.run_id)
            plan = read_json(folder / "config.json").get("plan") or {}
            self.model_name = str(plan.get("base_model") or "")
            self.seed = cand.seed if cand.seed is not None else int(plan.get("seed") or 0)
            if not cand.base_only:
                self.adapter = folder / "adapter"
                if not (self.adapter / "adapter_config.json").is_file():
                    raise ToolError(
                        "adapter_missing",
                        f"run {cand.run_id} has no adapter yet",
                        say("adapter_not_ready", run_id=cand.run_id),
                    )
            source = f"run {cand.run_id}: {self.model_name}" + ("" if cand.base_only else " + adapter")
        elif cand.model:
            self.model_name = (
                cand.model
                if is_tiny(cand.model) or not (ws.root / cand.model).exists()
                else str(ws.resolve(cand.model, what="model folder"))
            )
            if cand.adapter:
                self.adapter = ws.resolve(cand.adapter, what="adapter folder")
            source = cand.model + (f" + {cand.adapter}" if cand.adapter else "")
        else:
            raise ToolError(
                "candidate_empty",
                f"the {role} names no system",
                "give run_id, model (with optional adapter), or predictions",
            )
        if cand.system_prompt:
            source += " + system prompt"
        if cand.few_shot:
            source += f" + {cand.few_shot}-shot"
        self.source = source
        self.label = cand.label or (
            "fine-tuned" if role == "candidate" and self.adapter else "base" if role == "baseline" else role
        )

    @property
    def generates(self) -> bool:
        return self.predictions_path is None

    def messages(self, item: EvalItem, shots: list[EvalItem]) -> list[dict[str, Any]]:
        msgs = [dict(m) for m in item.messages]
        if self.cand.few_shot and shots:
            turns = []
            for s in shots[: self.cand.few_shot]:
                turns += [m for m in s.messages if m["role"] != "system"] + [
                    {"role": "assistant", "content": s.reference}
                ]
            sys_msgs = [m for m in msgs if m["role"] == "system"]
            msgs = sys_msgs + turns + [m for m in msgs if m["role"] != "system"]
        if self.cand.system_prompt:
            msgs = [{"role": "system", "content": self.cand.system_prompt}] + [m for m in msgs if m["role"] != "system"]
        return msgs


def pick_systems(
    ws: Workspace, run_id: str | None, cand: Candidate | None, base: Candidate | None
) -> tuple[System, System]:
    if run_id:
        cand = cand or Candidate(run_id=run_id)
        base = base or Candidate(run_id=run_id, base_only=True)
    if cand is None or base is None:
        raise ToolError(
            "two_systems_needed",
            "run_eval compares two systems: give run_id, or candidate and baseline",
            "e.g. run_id='<run id>' (its adapter vs its base), or candidate={'predictions': 'ft.jsonl'} and "
            "baseline={'predictions': 'base.jsonl'}",
        )
    return System("candidate", cand, ws), System("baseline", base, ws)


class Models:
    """Local models loaded once per (name, seed); adapters are added after the plain model is done."""

    def __init__(self) -> None:
        self.plain: dict[tuple[str, int], LocalModel] = {}

    def get(self, system: System) -> LocalModel:
        key = (system.model_name or "", system.seed)
        if system.adapter is None:
            if key not in self.plain:
                self.plain[key] = load_local(key[0], key[1])
            return self.plain[key]
        base = self.plain.pop(key, None) or load_local(key[0], key[1])  # peft changes the base in place
        return add_adapter(base, system.adapter)


def generate_for(
    models: Models,
    system: System,
    prompts: list[list[dict[str, Any]]],
    *,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    max_prompt_tokens: int,
    prefixes: list[str] | None = None,
) -> list[str]:
    if system.api:
        if system.backend is None:
            system.backend = api_backend(*system.api)
        outs, cost = api_generate(system.backend, prompts, max_new_tokens=max_new_tokens)
        system.cost_usd = None if cost is None or system.cost_usd is None else system.cost_usd + cost
        return outs
    local = models.get(system)
    rendered = [chat_prompt(local.tokenizer, m) + (prefixes[i] if prefixes else "") for i, m in enumerate(prompts)]
    return generate(
        local,
        rendered,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
        max_prompt_tokens=max_prompt_tokens,
    )


__all__ = ["Candidate", "Models", "System", "generate_for", "pick_systems"]
