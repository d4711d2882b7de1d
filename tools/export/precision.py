"""The precision rule: serve at the precision the run trained in, or say so and measure it.

A run trains in one precision (fp32 on a CPU, bf16 or fp16 on a GPU); a QLoRA run trains its adapter against a
4-bit NF4 base. An export that serves at another precision (a 16-bit merge of a QLoRA adapter, an fp16 or
quantised GGUF of an fp32 run, vLLM at another dtype) changes the numbers the adapter was fitted to: outputs
can change. Such an export is refused unless the caller allows the change, and then the parity check runs
and its result is recorded with the export.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.core.errors import ToolError
from tools.export.facts import export_facts
from tools.export.source import RunSource


@dataclass(frozen=True)
class PrecisionDecision:
    training: str
    serving: str
    changed: bool
    reason: str


def training_label(src: RunSource) -> str:
    """How the weights the adapter was fitted to were held: fp32/bf16/fp16, or nf4 + the compute dtype (QLoRA)."""
    return f"nf4 base + {src.precision} adapter (QLoRA)" if src.method == "qlora" else src.precision


def gguf_precision(src: RunSource, quant: str | None) -> str:
    """The GGUF type to write: ``quant`` when given, else the one that keeps the training precision."""
    facts = export_facts()
    if quant:
        return facts.gguf_type(quant).name
    same = next((t for t in facts.gguf_types if t.precision == src.precision), None)
    assert same is not None, "export.yaml lists a GGUF type for fp32, fp16 and bf16"
    return same.name


def decide(src: RunSource, serving: str, *, what: str) -> PrecisionDecision:
    """Whether serving ``what`` at ``serving`` (fp32, bf16, fp16, nf4, or a GGUF type) changes the precision."""
    if src.method == "qlora":
        changed = serving != "nf4"
        reason = (
            f"{what} holds the QLoRA adapter on a {serving} base, but it was trained against a 4-bit NF4 base: the "
            "merge rounds the adapter into other weights than the ones it learned on"
            if changed
            else ""
        )
    else:
        type_row = next((t for t in export_facts().gguf_types if t.name == serving), None)
        served = type_row.precision if type_row else serving
        changed = served != src.precision
        reason = f"{what} serves at {serving}, but run {src.run_id} trained in {src.precision}" if changed else ""
    return PrecisionDecision(training_label(src), serving, changed, reason)


def enforce(decision: PrecisionDecision, allow: bool, same_precision_hint: str) -> None:
    """Refuse a precision change unless ``allow``; the hint names the export that keeps the precision."""
    if decision.changed and not allow:
        raise ToolError(
            "precision_change_refused",
            decision.reason + "; outputs may differ from what was trained and evaluated",
            f"{same_precision_hint}, or pass --allow-precision-change (allow_precision_change=true): the export is "
            "then made and the parity check's result is recorded with it",
        )


__all__ = ["PrecisionDecision", "decide", "enforce", "gguf_precision", "training_label"]
