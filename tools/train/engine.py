"""The trainers a local run uses: TRL's SFTTrainer, DPOTrainer and GRPOTrainer, each fed our rows.

- :class:`LeanSFTTrainer` is SFTTrainer with one override, ``compute_loss`` during training: the backbone runs
  once and only the positions whose next-token label is trained go through the output layer, and the summed
  cross-entropy is divided by ``num_items_in_batch`` (the trained tokens of the whole accumulated batch, what
  Trainer and SFTTrainer divide by). SFTTrainer's own loss scores every position through the head and adds
  entropy and top-1 accuracy over the whole vocabulary each step; with a 262k-word head (Gemma) that is most of
  a CPU step. Same loss (|diff| < 1e-6) and gradients (< 1e-7); evaluation keeps TRL's path.
  benchmarks/bench_train.py measures it against HF Trainer and SFTTrainer.
- :class:`PreTokenizedDPOTrainer` is DPOTrainer taking rows that already hold ``prompt_ids``/``chosen_ids``/
  ``rejected_ids`` (our rendering), which the plain DPOTrainer cannot. With a LoRA adapter the reference model is
  the same weights with the adapter disabled (no copy).
- GRPO: GRPOTrainer with run_eval's checks (:mod:`tools.data.checks`) as reward functions.

Heavy imports (torch, trl) stay inside the functions: this module is imported by the worker only.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.data.checks import Scorer
from tools.local_models.templates import strip_text_end_marker


def add_trained_only_head(model: Any) -> None:
    """Give ``model.forward`` (the base causal LM) a ``trained_only=True`` path returning (summed CE over the
    trained positions, their count); other calls are unchanged. The call still goes through the peft and
    accelerate wrappers, as TRL's own fused-head path does."""
    import torch
    import torch.nn.functional as F

    original = model.forward
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)

    def forward(self: Any, *args: Any, trained_only: bool = False, labels: Any = None, **kwargs: Any) -> Any:
        if not trained_only:
            if labels is not None:
                kwargs["labels"] = labels
            return original(*args, **kwargs)
        kwargs["use_cache"] = False
        kwargs.pop("num_items_in_batch", None)
        hidden = getattr(self, self.base_model_prefix)(*args, **kwargs).last_hidden_state
        target = labels[:, 1:]
        mask = target != -100
        logits = self.get_output_embeddings()(hidden[:, :-1][mask]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return F.cross_entropy(logits, target[mask], reduction="sum"), mask.sum()

    model.forward = types.MethodType(forward, model)


def lean_sft_class() -> type:
    from trl import SFTTrainer

    class LeanSFTTrainer(SFTTrainer):  # type: ignore[misc, valid-type]
        """SFTTrainer whose training loss projects only the trained positions, without entropy/accuracy extras."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            add_trained_only_head(base)

        def compute_loss(
            self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            import torch

            if return_outputs or not model.training:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss_sum, n = model(**inputs, trained_only=True)
            denom = n if num_items_in_batch is None else num_items_in_batch
            loss = loss_sum / torch.as_tensor(denom, device=loss_sum.device).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            if "attention_mask" in inputs:
                self._total_train_tokens += int(inputs["attention_mask"].sum())
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return loss

    return LeanSFTTrainer


def pretokenized_dpo_class() -> type:
    from trl import DPOTrainer

    class PreTokenizedDPOTrainer(DPOTrainer):  # type: ignore[misc, valid-type]
        """DPOTrainer that uses rows holding prompt_ids/chosen_ids/rejected_ids as they are."""

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            if {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(dataset.column_names):
                return dataset
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    return PreTokenizedDPOTrainer


def _text(completion: Any) -> str:
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


def reward_functions(plan: Any, tokenizer: Any, root: Path) -> list[Any]:
    """One GRPO reward function per check in ``plan.rewards`` (or implied by its reward_* settings)."""
    import json
    import re

    names = list(plan.rewards)
    implied = [
        ("contains_all", plan.reward_contains),
        ("regex_match", plan.reward_regex),
        ("label_accuracy", plan.reward_labels),
        ("schema_valid", plan.reward_json_schema),
    ]
    names = names or [n for n, setting in implied if setting] or ["token_f1"]
    schema = None
    if plan.reward_json_schema:
        schema = json.loads((root / plan.reward_json_schema).read_text("utf-8"))
    try:
        pattern = re.compile(plan.reward_regex) if plan.reward_regex else None
    except re.error as exc:
        raise ToolError(
            "bad_regex", f"reward_regex does not compile: {exc}", "give a Python regular expression"
        ) from None
    scorer = Scorer(labels=plan.reward_labels, contains=plan.reward_contains, regex=pattern, json_schema=schema)
    funcs = []
    for name in names:

        def reward(prompts: Any, completions: Any, reference: list[str], _name: str = name, **_: Any) -> list[float]:
            texts = [strip_text_end_marker(tokenizer, _text(c)) for c in completions]
            return [float(scorer.score(t, ref).get(_name) or 0.0) for t, ref in zip(texts, reference, strict=True)]

        reward.__name__ = name
        funcs.append(reward)
    return funcs


__all__ = ["add_trained_only_head", "lean_sft_class", "pretokenized_dpo_class", "reward_functions"]
