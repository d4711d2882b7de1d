"""Running the parity check on an export: the golden prompts, the reference side, the artefact side (merged folder
or GGUF), and whether the chat template and the stop tokens travelled."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.evaluate.generate import read_items
from tools.export.gguf import GgufInfo
from tools.export.models import ParityReport
from tools.export.parity import (
    Golden,
    Side,
    compare,
    prompt_ids,
    run_gguf_llama_cpp,
    run_gguf_transformers,
    run_merged,
    run_reference,
    write_samples,
)
from tools.export.source import RunSource, stop_token_ids, torch_dtype


@dataclass
class ParityJob:
    src: RunSource
    tokenizer: Any
    goldens: list[Golden]
    max_new_tokens: int
    gate: str
    samples: Path


def golden_prompts(ws: Workspace, src: RunSource, raw: str | None, n: int) -> tuple[list[Golden], str]:
    """The first ``n`` prompts of the eval set (``raw``, else the run's eval data, else its training data)."""
    if raw:
        path = ws.input_file(raw, what="parity data")
    else:
        path = src.data_path("eval_data") or src.data_path("data")
        if path is None:
            raise ToolError(
                "parity_data_missing",
                f"run {src.run_id}'s eval and training files are no longer where it recorded them",
                "give the golden prompts' eval set with --parity-data FILE (parity_data), or skip with --no-parity",
            )
        path = ws.input_file(path, what="the run's eval data")
    label = ws.relative(path)
    items, _, _ = read_items(path, label)
    return [Golden(it.line, it.messages) for it in items[:n]], label


def _reference(job: ParityJob) -> Side:
    stops = stop_token_ids(job.src, job.tokenizer)
    return run_reference(job.src, job.tokenizer, job.goldens, stops, job.max_new_tokens)


def check_merged(job: ParityJob, folder: Path, precision: str) -> ParityReport:
    """The merged folder, loaded on its own (tokenizer, template, generation config), against the adapter."""
    ref = _reference(job)
    art, _ = run_merged(folder, job.goldens, job.max_new_tokens, torch_dtype(precision))
    template_ok = art.prompt_ids == ref.prompt_ids
    stops_ok = set(art.stop_ids) == set(ref.stop_ids)
    report = compare(ref, art, job.goldens, job.tokenizer, template_ok=template_ok, stops_ok=stops_ok, gate=job.gate)
    return _finish(job, report, ref, art)


def check_adapter_at(job: ParityJob, precision: str) -> ParityReport:
    """The unmerged adapter on its base at another precision (what vLLM would serve) against the training one."""
    ref = _reference(job)
    art = run_reference(job.src, job.tokenizer, job.goldens, ref.stop_ids, job.max_new_tokens, precision)
    art.label = f"adapter on its base at {precision} (transformers + peft; vLLM's kernels are not run here)"
    report = compare(ref, art, job.goldens, job.tokenizer, template_ok=True, stops_ok=True, gate=job.gate)
    return _finish(job, report, ref, art)


def llama_cpp_prompt(ids: list[int], info: GgufInfo) -> list[int]:
    """The ids llama.cpp feeds for a rendered prompt: with ``tokenizer.ggml.add_bos_token`` it strips a BOS the
    template wrote and tokenizes with BOS added, so the prompt starts with exactly one (common/chat.cpp)."""
    if not info.add_bos or info.bos_token_id is None:
        return ids
    body = ids[1:] if ids[:1] == [info.bos_token_id] else ids
    return [info.bos_token_id, *body]


def check_gguf(job: ParityJob, gguf: Path, info: GgufInfo) -> tuple[ParityReport, list[str]]:
    """The GGUF against the adapter: its template, BOS rule and EOS from its metadata, its weights through
    llama.cpp's binding when installed, else transformers' GGUF loader."""
    notes: list[str] = []
    ref = _reference(job)
    template = info.chat_template
    rendered = prompt_ids(job.tokenizer, job.goldens, chat_template=template) if template else None
    gguf_ids = [llama_cpp_prompt(p, info) for p in rendered] if rendered else ref.prompt_ids
    template_ok = rendered is not None and gguf_ids == ref.prompt_ids
    gguf_stops = [i for i in (info.eos_token_id, info.eot_token_id) if i is not None]
    turn_end = job.tokenizer.eos_token_id
    stops_ok = turn_end in gguf_stops and all(i in ref.stop_ids for i in gguf_stops)
    art_stops = gguf_stops or ref.stop_ids
    if importlib.util.find_spec("llama_cpp") is not None and info.llama_cpp_loads_tokenizer:
        art = run_gguf_llama_cpp(gguf, gguf_ids, art_stops, job.max_new_tokens)
        engine = "llama_cpp"
    else:
        why = (
            "llama-cpp-python is not installed (pip install 'finetune-skill[llama-cpp]' builds llama.cpp from source)"
            if importlib.util.find_spec("llama_cpp") is None
            else "llama.cpp cannot load this GGUF's tokenizer"
        )
        notes.append(
            f"the GGUF was checked through transformers' GGUF loader, not llama.cpp: {why}; the weights, template, "
            "BOS rule and stop tokens in the file were checked, llama.cpp's own kernels were not"
        )
        same = job.gate == "exact"  # the file holds the training precision, unquantised
        dtype = torch_dtype(job.src.precision if same else "fp32")
        art = run_gguf_transformers(gguf, gguf_ids, art_stops, job.tokenizer.pad_token_id, job.max_new_tokens, dtype)
        engine = "transformers"
    report = compare(ref, art, job.goldens, job.tokenizer, template_ok=template_ok, stops_ok=stops_ok, gate=job.gate)
    report.engine = engine  # type: ignore[assignment]
    if not template_ok:
        report.cause_detail = _template_detail(template, rendered, gguf_ids, ref.prompt_ids, info)
    elif not stops_ok:
        report.cause_detail = (
            f"the GGUF stops on token ids {gguf_stops or 'none'}, but the run's answers end with {turn_end} "
            f"({job.tokenizer.convert_ids_to_tokens(turn_end)!r})"
        )
    return _finish(job, report, ref, art), notes


def _template_detail(
    template: str | None, rendered: list[list[int]] | None, fed: list[list[int]], ref: list[list[int]], info: GgufInfo
) -> str:
    if template is None or rendered is None:
        return "the GGUF carries no chat template (tokenizer.chat_template)"
    if rendered == ref and fed != ref:
        return (
            "llama.cpp puts a BOS token before every prompt (the GGUF's tokenizer.ggml.add_bos_token is true) but the "
            "training prompts had none: set it false (gguf-set-metadata) or give the template a leading bos_token"
        )
    return "the GGUF's chat template renders the golden prompts into other tokens than the training template"


def _finish(job: ParityJob, report: ParityReport, ref: Side, art: Side) -> ParityReport:
    if report.engine == "none":
        report.engine = "transformers"
    report.max_new_tokens = job.max_new_tokens
    write_samples(job.samples, ref, art, job.goldens, job.tokenizer)
    report.samples = job.samples.name
    return report


__all__ = ["ParityJob", "check_adapter_at", "check_gguf", "check_merged", "golden_prompts", "llama_cpp_prompt"]
