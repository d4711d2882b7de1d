"""The parity check: does the exported artefact answer the golden prompts as the adapter on its base does?

Golden prompts are the first prompts of the eval set, rendered with the run's chat template. The reference is
the adapter on its base, unmerged, in the training precision (transformers + peft); the artefact is what was
exported, loaded the way a user would load it: merged weights with their own tokenizer, template and generation
config through transformers; a GGUF through llama.cpp's Python binding when it is installed, else through
transformers' GGUF loader (which dequantises the file: the weights, template and stop tokens that travelled are
checked, not llama.cpp's kernels). Both generate greedily, the reference first (then it is freed).

Reported: token agreement (the reference tokens reproduced before each prompt's first divergence), the first
divergence with both tokens and the reference's top-1 margin there, and whether the template and the stop
tokens travelled. A changed template or stop token always fails the check; so does any divergence when the
precision did not change. After an allowed precision change the agreement is recorded, not gated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.workspace import atomic_writer
from tools.export.models import Divergence, ParityReport
from tools.export.source import RunSource, load_reference


@dataclass
class Generated:
    tokens: list[int]
    margins: list[float] = field(default_factory=list)


@dataclass
class Golden:
    line: int
    messages: list[dict[str, Any]]


@dataclass
class Side:
    """One side of the comparison: how its prompts tokenise and what it stops on."""

    label: str
    prompt_ids: list[list[int]]
    stop_ids: list[int]
    outputs: list[Generated] = field(default_factory=list)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def prompt_ids(tokenizer: Any, goldens: Sequence[Golden], chat_template: str | None = None) -> list[list[int]]:
    out = []
    for g in goldens:
        text = tokenizer.apply_chat_template(
            g.messages, tokenize=False, add_generation_prompt=True, chat_template=chat_template
        )
        out.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def greedy(model: Any, ids: list[int], stop_ids: list[int], pad_id: int | None, max_new: int, dev: str) -> Generated:
    """Greedy continuation of ``ids`` (stop token included when one ends it), with the top-1 margin per step."""
    import torch

    with torch.inference_mode():
        inp = torch.tensor([ids], device=dev)
        out = model.generate(
            input_ids=inp,
            attention_mask=torch.ones_like(inp),
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            eos_token_id=stop_ids,
            pad_token_id=pad_id if pad_id is not None else stop_ids[0],
            output_scores=True,
            return_dict_in_generate=True,
        )
    tokens = out.sequences[0, len(ids) :].tolist()
    margins = []
    for step in out.scores:
        top = torch.topk(step[0].float(), 2).values
        margins.append(round(float(top[0] - top[1]), 4))
    return Generated(tokens[: len(margins)], margins)


def run_reference(
    src: RunSource,
    tokenizer: Any,
    goldens: Sequence[Golden],
    stop_ids: list[int],
    max_new: int,
    precision: str | None = None,
) -> Side:
    """The adapter on its base, unmerged, in ``precision`` (default: the training precision)."""
    dev = device()
    precision = precision or src.precision
    model = load_reference(src, tokenizer, precision).to(dev)
    side = Side(
        f"adapter on {src.base_model} ({precision}, transformers + peft)", prompt_ids(tokenizer, goldens), stop_ids
    )
    side.outputs = [greedy(model, ids, stop_ids, tokenizer.pad_token_id, max_new, dev) for ids in side.prompt_ids]
    del model
    return side


def run_merged(folder: Path, goldens: Sequence[Golden], max_new: int, dtype: Any) -> tuple[Side, Any]:
    """The merged folder as a user loads it: its own tokenizer, chat template and generation config."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    dev = device()
    tok = AutoTokenizer.from_pretrained(str(folder))
    gen = GenerationConfig.from_pretrained(str(folder))
    stops = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(dev).eval()
    side = Side("merged weights (transformers)", prompt_ids(tok, goldens), [int(s) for s in stops if s is not None])
    side.outputs = [greedy(model, ids, side.stop_ids, gen.pad_token_id, max_new, dev) for ids in side.prompt_ids]
    del model
    return side, tok


def run_gguf_transformers(
    gguf: Path, ids: list[list[int]], stop_ids: list[int], pad_id: int | None, max_new: int, dtype: Any
) -> Side:
    """The GGUF dequantised by transformers into ``dtype`` (the training dtype when the file holds it unquantised,
    so the comparison is like for like; float32 otherwise)."""
    from transformers import AutoModelForCausalLM

    dev = device()
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    model = model.to(dev).eval()
    side = Side(
        f"GGUF through transformers' GGUF loader (dequantised to {str(dtype).removeprefix('torch.')})", ids, stop_ids
    )
    side.outputs = [greedy(model, p, stop_ids, pad_id, max_new, dev) for p in ids]
    del model
    return side


def run_gguf_llama_cpp(gguf: Path, ids: list[list[int]], stop_ids: list[int], max_new: int) -> Side:
    """The GGUF in llama.cpp itself (llama-cpp-python), greedy (temperature 0, top-k 1)."""
    from llama_cpp import Llama  # type: ignore[import-not-found]

    longest = max(len(p) for p in ids) + max_new + 8
    llm = Llama(model_path=str(gguf), n_ctx=longest, verbose=False, seed=0)
    side = Side("GGUF in llama.cpp (llama-cpp-python)", ids, stop_ids)
    for p in ids:
        tokens: list[int] = []
        for token in llm.generate(p, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            tokens.append(int(token))
            if token in stop_ids or llm.token_eos() == token or len(tokens) >= max_new:
                break
        side.outputs.append(Generated(tokens))
    return side


# ----------------------------------------------------------------------------- comparing


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _text(tokenizer: Any, tokens: list[int], at: int) -> str:
    return repr(tokenizer.decode([tokens[at]])) if at < len(tokens) else "<end>"


def compare(
    ref: Side,
    art: Side,
    goldens: Sequence[Golden],
    tokenizer: Any,
    *,
    template_ok: bool,
    stops_ok: bool,
    gate: str,
) -> ParityReport:
    """Agreement, first divergence, verdict and likely cause of ``art`` against ``ref``."""
    agreed = total = exact = 0
    first: Divergence | None = None
    for i, (r, a) in enumerate(zip(ref.outputs, art.outputs, strict=True)):
        common = _common(r.tokens, a.tokens)
        agreed += min(common, len(r.tokens))
        total += len(r.tokens)
        if r.tokens == a.tokens:
            exact += 1
        elif first is None:
            first = Divergence(
                prompt=i,
                line=goldens[i].line,
                position=common,
                reference_token=_text(tokenizer, r.tokens, common),
                artefact_token=_text(tokenizer, a.tokens, common),
                reference_margin=r.margins[common] if common < len(r.margins) else None,
            )
    agreement = round(agreed / total, 4) if total else 1.0
    report = ParityReport(
        ran=True,
        reference=ref.label,
        artefact=art.label,
        prompts=len(goldens),
        exact_prompts=exact,
        token_agreement=agreement,
        first_divergence=first,
        template_matches=template_ok,
        stop_tokens_match=stops_ok,
        gate=gate,  # type: ignore[arg-type]
    )
    return _verdict(report)


def _verdict(r: ParityReport) -> ParityReport:
    div = r.first_divergence
    where = (
        f"first divergence: prompt {div.prompt} (eval line {div.line}), token {div.position}: reference "
        f"{div.reference_token}, export {div.artefact_token}"
        + (f" (reference top-1 margin {div.reference_margin:g} logits)" if div.reference_margin is not None else "")
        if div
        else "no divergence"
    )
    agreement = f"{r.exact_prompts}/{r.prompts} prompts identical, token agreement {r.token_agreement:.1%}"
    if not r.template_matches:
        r.verdict, r.likely_cause = "fail", "template"
        r.cause_detail = "the exported chat template renders the golden prompts into other tokens than the training one"
    elif not r.stop_tokens_match:
        r.verdict, r.likely_cause = "fail", "eos"
        r.cause_detail = (
            "the export stops on other tokens than the run's answers end with: it may never stop, or stop early"
        )
    elif div is None:
        r.verdict = "pass" if r.gate == "exact" else "reported"
    elif r.gate == "exact":
        r.verdict, r.likely_cause = "fail", "precision"
        r.cause_detail = (
            "template and stop tokens travelled, so the weights compute differently (merge rounding, dtype or "
            "quantisation); serve the adapter unmerged, or merge and serve in float32"
        )
    else:
        r.verdict, r.likely_cause = "reported", "precision"
        r.cause_detail = "the precision changed (allowed): the numbers differ from the ones the adapter was trained on"
    r.message = f"parity {r.verdict}: {agreement}; {where}" + (
        f"; likely cause: {r.likely_cause}" if r.likely_cause else ""
    )
    return r


def write_samples(path: Path, ref: Side, art: Side, goldens: Sequence[Golden], tokenizer: Any) -> None:
    with atomic_writer(path) as fh:
        for i, (g, r, a) in enumerate(zip(goldens, ref.outputs, art.outputs, strict=True)):
            row = {
                "prompt": i,
                "line": g.line,
                "reference": {"tokens": r.tokens, "text": tokenizer.decode(r.tokens)},
                "export": {"tokens": a.tokens, "text": tokenizer.decode(a.tokens)},
                "identical": r.tokens == a.tokens,
                "common_prefix": _common(r.tokens, a.tokens),
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def skipped(reason: str) -> ParityReport:
    return ParityReport(ran=False, skipped_reason=reason, verdict="skipped", message=f"parity check skipped: {reason}")


__all__ = [
    "Generated",
    "Golden",
    "Side",
    "compare",
    "prompt_ids",
    "run_gguf_llama_cpp",
    "run_gguf_transformers",
    "run_merged",
    "run_reference",
    "skipped",
    "write_samples",
]
