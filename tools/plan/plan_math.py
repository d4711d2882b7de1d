"""Shared arithmetic of the planning tools (estimate_cost, select_provider, configure_training).

Nothing numeric lives here: every rate, size and rule comes from ``reference/data`` through
:mod:`tools.knowledge`. This module only turns those facts plus a request into numbers: model
sizes from names, dataset token statistics, training memory and compute, model-id aliases.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from tools import knowledge
from tools.core.errors import ToolError

PER_MILLION = 1_000_000
TERA = 1_000_000_000_000
SECONDS_IN_HOUR = 3600
MINUTES_IN_HOUR = 60
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")

MEMORY_RULES = {"lora": ("sft_lora", "bf16"), "qlora": ("sft_qlora", "nf4"), "full": ("sft_full", "mixed_fp16_adamw")}
GPU_METHOD_OF = {"sft_lora": "lora", "sft_qlora": "qlora", "sft_full": "full"}
FLOPS_CONSTANT = {
    "lora": "flops_per_param_token_lora",
    "qlora": "flops_per_param_token_lora",
    "full": "flops_per_param_token_full",
}


def constant(name: str) -> float:
    return knowledge.training().constant(name).value


def params_from_name(model: str | None) -> float | None:
    """``Qwen/Qwen3-8B`` -> 8.0, ``Llama-3.1-70B-Instruct`` -> 70.0; None when the name gives no size."""
    if not model:
        return None
    from tools.local_models.tiny import is_tiny

    if is_tiny(model):
        return 0.0
    sizes = [float(m) for m in _SIZE.findall(model.split("/")[-1])]
    return sizes[-1] if sizes else None


def model_size(model: str | None, given: float | None) -> tuple[float, str]:
    """(billions of parameters, where the number came from)."""
    if given is not None:
        if given <= 0:
            raise ToolError(
                "bad_model_size",
                f"model_params_b must be positive, got {given}",
                "give the base model's size in billions, e.g. 8",
            )
        if given > 10_000:
            raise ToolError(
                "bad_model_size",
                f"model_params_b={given:g} is not a plausible model size in billions",
                "give the size in billions of parameters (8 for an 8B model)",
            )
        return given, "given"
    parsed = params_from_name(model)
    if parsed is not None:
        return parsed, f"read from the model name {model!r}"
    row = knowledge.training().constant("default_model_params_b")
    return row.value, f"assumed ({row.note}); give model_params_b"


def match_model_id(candidates: list[str], wanted: str) -> str | None:
    """Exact id, else the one dated snapshot of an alias (``gpt-4.1-mini`` -> ``gpt-4.1-mini-2025-04-14``)."""
    from tools.data.tokens import normalise_model

    wanted = normalise_model(wanted)
    if wanted in candidates:
        return wanted
    lowered = {c.lower(): c for c in candidates}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    dated = [c for c in candidates if c.startswith(wanted) and _DATED.fullmatch(c[len(wanted) :] or "x")]
    return dated[0] if len(dated) == 1 else None


def size_class_bounds(model_id: str) -> tuple[float, float] | None:
    """Bounds in billions of a size-class id: ``open-weight-17b-69b``, ``...-up-to-16b``, ``...-above-16b``."""
    m = re.search(r"(\d+(?:\.\d+)?)b-(\d+(?:\.\d+)?)b$", model_id)
    if m:
        return float(m.group(1)), float(m.group(2))
    m = re.search(r"up-to-(\d+(?:\.\d+)?)b$", model_id)
    if m:
        return 0.0, float(m.group(1))
    m = re.search(r"above-(\d+(?:\.\d+)?)b$", model_id)
    if m:
        return float(m.group(1)), math.inf
    return None


def fits_size_class(model_id: str, params_b: float) -> bool | None:
    bounds = size_class_bounds(model_id)
    if bounds is None:
        return None
    low, high = bounds
    # classes are written with whole-number edges ("17b-69b" after "up-to-16b"): 16.5B belongs to the upper one
    return (low - 1 < params_b <= high) if low > 0 else params_b <= high


# --------------------------------------------------------------------------------------------------
# Dataset tokens
# --------------------------------------------------------------------------------------------------


@dataclass
class DatasetTokens:
    path: str
    examples: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # file line of each example
    billed: list[int] = field(default_factory=list)  # per example, with the chat-format overhead
    prompt: list[int] = field(default_factory=list)  # everything before the last assistant turn
    output: list[int] = field(default_factory=list)  # the last assistant turn
    system: list[int] = field(default_factory=list)  # system messages
    counter: str = ""
    approximate: bool = True

    @property
    def total(self) -> int:
        return sum(self.billed)

    def mean(self, values: list[int]) -> float:
        return sum(values) / len(values) if values else 0.0


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0 for none."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def count_dataset(path: Path, shown: str, model: str | None, *, cap: int | None = None) -> DatasetTokens:
    """Token counts per example of a dataset with the chat billing overhead of formats.yaml.

    Per example: every message's tokens (content and tool calls) plus ``tokens_per_message`` (and
    ``tokens_per_name``), plus ``reply_priming`` once - the OpenAI cookbook's count, which reproduces
    OpenAI's billed training tokens. ``cap`` clips each example (what a provider trains on at most).
    """
    from tools.data.formats import facts as format_facts
    from tools.data.formats import read_conversations
    from tools.data.tokens import counter_for
    from tools.local_models.tiny import is_tiny

    overhead = format_facts().chat_overhead
    if model and is_tiny(model):
        count = lambda text: len(text.encode("utf-8"))  # noqa: E731 - the tiny model's byte tokenizer
        method, approximate = "bytes (tiny-random-llama byte tokenizer)", False
    else:
        counter = counter_for(model)
        count, method, approximate = counter.count, counter.method, counter.approximate
    out = DatasetTokens(path=shown, counter=method, approximate=approximate)
    for rec in read_conversations(path):
        conv = rec.conversation
        if conv is None:
            out.skipped_lines.append(rec.line)
            continue
        if conv.is_plain_text:
            n = count(conv.text)
            out.lines.append(rec.line)
            out.billed.append(min(n, cap) if cap else n)
            out.prompt.append(0)
            out.output.append(n)
            out.system.append(0)
            out.examples += 1
            continue
        per_message: list[tuple[str, int]] = []
        for m in conv.messages:
            n = count(m.content) + sum(count(f"{c.name} {c.arguments}") for c in m.tool_calls or ())
            per_message.append((m.role, n + overhead.tokens_per_message + (overhead.tokens_per_name if m.name else 0)))
        for m in conv.rejected or ():
            per_message.append(("rejected", count(m.content) + overhead.tokens_per_message))
        billed = sum(n for _, n in per_message) + overhead.reply_priming
        last = max((i for i, (role, _) in enumerate(per_message) if role == "assistant"), default=len(per_message))
        out.lines.append(rec.line)
        out.billed.append(min(billed, cap) if cap else billed)
        out.prompt.append(sum(n for _, n in per_message[:last]) + overhead.reply_priming)
        out.output.append(per_message[last][1] if last < len(per_message) else 0)
        out.system.append(sum(n for role, n in per_message if role == "system"))
        out.examples += 1
    if out.examples == 0:
        raise ToolError(
            "empty_dataset",
            f"{shown}: no usable examples"
            + (f" (unusable lines: {', '.join(map(str, out.skipped_lines[:10]))})" if out.skipped_lines else ""),
            "check the file with `finetune validate`",
        )
    return out


# --------------------------------------------------------------------------------------------------
# Memory and compute
# --------------------------------------------------------------------------------------------------


@dataclass
class MemoryNeed:
    method: str
    params_b: float
    bytes_per_param: float
    weights_gb: float
    overhead_gb: float
    activations_gb: float
    total_gb: float
    rows: list[knowledge.Fact]


def training_memory(method: str, params_b: float, tokens_per_micro_batch: int | None = None) -> MemoryNeed:
    """GB a single-GPU run needs: weights (+ optimizer) bytes per parameter, overhead, activations."""
    train = knowledge.training()
    rule_method, precision = MEMORY_RULES[method]
    rule = train.bytes_per_param(rule_method, precision)
    over = train.constant("training_memory_overhead")
    act = train.constant("activation_memory_gb")
    ref = train.constant("activation_reference_tokens")
    weights = rule.bytes_per_param * params_b
    overhead = weights * over.value
    tokens = tokens_per_micro_batch if tokens_per_micro_batch is not None else ref.value
    size_ref = train.constant("activation_reference_params_b")
    exponent = train.constant("activation_size_exponent")
    scale = (params_b / size_ref.value) ** exponent.value if params_b > 0 else 0.0
    activations = act.value * tokens / ref.value * scale
    total = weights + overhead + activations
    return MemoryNeed(
        method,
        params_b,
        rule.bytes_per_param,
        weights,
        overhead,
        activations,
        total,
        [rule, over, act, ref, size_ref, exponent],
    )


def training_flops(method: str, params_b: float, tokens: float) -> tuple[float, knowledge.Constant]:
    row = knowledge.training().constant(FLOPS_CONSTANT[method])
    return row.value * params_b * 1e9 * tokens, row


def gpus_needed(need_gb: float, gpu_memory_gb: float) -> int:
    return max(1, math.ceil(need_gb / gpu_memory_gb))


# --------------------------------------------------------------------------------------------------
# Epochs and model families
# --------------------------------------------------------------------------------------------------


def epochs_for(examples: int | None) -> tuple[float, str]:
    """Epochs by dataset size (training.yaml): 3 below the small-set bound, 1 above the large one, else 2."""
    train = knowledge.training()
    row = train.hyper("any", "epochs")
    if examples is None:
        return row.default, f"default {row.default:g} epochs ({row.note}); {row.source}"
    small = train.constant("epochs_small_dataset_below")
    large = train.constant("epochs_large_dataset_above")
    if examples < small.value:
        return row.high, f"{examples:,} examples < {small.value:,.0f}: {row.high:g} epochs ({small.note})"
    if examples > large.value:
        return row.low, f"{examples:,} examples > {large.value:,.0f}: {row.low:g} epoch ({large.note})"
    return row.default, f"{examples:,} examples: {row.default:g} epochs ({row.note})"


def openai_auto_epochs(examples: int) -> tuple[int, str]:
    """What OpenAI's n_epochs=auto picks (the cookbook rule with training.yaml's constants)."""
    train = knowledge.training()
    target = int(train.constant("openai_target_epochs").value)
    low = train.constant("openai_min_target_examples").value
    high = train.constant("openai_max_target_examples").value
    most = int(train.constant("openai_max_default_epochs").value)
    epochs = target
    if examples * target < low:
        epochs = min(most, math.ceil(low / examples))
    elif examples * target > high:
        epochs = max(1, int(high // examples))
    return epochs, (
        f"OpenAI n_epochs=auto for {examples:,} examples: {epochs} (target {target}, "
        f"examples x epochs kept within {low:,.0f}..{high:,.0f})"
    )


def family_matches(provider: knowledge.Provider, model: knowledge.ProviderModel, family: str | None) -> bool:
    """Does ``family`` (gpt, gpt-4.1, nova, gemini, open-weight, qwen3, any...) describe this path?"""
    if not family or family.strip().lower() in ("any", "unknown", "none"):
        return True
    want = family.strip().lower()
    fam = (model.family or "").lower()
    if want in ("open-weight", "open_weight", "open weights", "open-weights", "open"):
        return provider.kind in ("open_weight_api", "self_hosted", "rented_gpu") or fam == "open-weight"
    if fam.startswith(want) or want.startswith(fam) and fam:
        return True
    if provider.kind in ("self_hosted", "rented_gpu", "open_weight_api") and fam == "open-weight":
        # any open-weight family (llama, qwen, mistral, gemma, gpt-oss) trains on these paths
        return want in ("llama", "qwen", "qwen3", "mistral", "gemma", "gpt-oss", "phi", "deepseek", "olmo")
    return want in provider.id.lower()
