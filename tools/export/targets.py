"""The four export targets, each written into a staged folder: merged weights, a GGUF file, a GGUF with an Ollama
Modelfile, and a vLLM serve script with its client. Each returns what it made, how to use it, and its parity
report."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.progress import report
from tools.export import gguf as gguf_files
from tools.export import ollama, vllm
from tools.export.checks import ParityJob, check_adapter_at, check_gguf, check_merged
from tools.export.facts import export_facts
from tools.export.merge import merge_to
from tools.export.models import ParityReport
from tools.export.parity import skipped
from tools.export.source import RunSource, load_base, model_ref, stop_token_ids
from tools.local_models import loader
from tools.local_models.tiny import is_tiny


@dataclass
class Job:
    src: RunSource
    tokenizer: Any
    folder: Path
    shown: str
    name: str
    precision: str
    parity: ParityJob | None
    skip_reason: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Built:
    artefact: str
    commands: list[str]
    parity: ParityReport


def _parity_merged(job: Job, folder: Path) -> ParityReport:
    if job.parity is None:
        return skipped(job.skip_reason)
    report("parity check", None, "parity: golden prompts on the adapter and on the merged weights")
    return check_merged(job.parity, folder, job.precision)


def build_merged(job: Job) -> Built:
    report("merge", None, f"merging the adapter into {job.src.base_model} ({job.precision})")
    merge_to(job.src, job.folder, job.precision, job.tokenizer)
    return Built(
        f"merged weights (safetensors, {job.precision})",
        [
            f"transformers: AutoModelForCausalLM.from_pretrained({job.shown!r})",
            f"vllm serve {job.shown} --dtype {vllm.DTYPES[job.precision]}",
        ],
        _parity_merged(job, job.folder),
    )


def _write_gguf(job: Job, quant: str) -> tuple[Path, gguf_files.GgufInfo]:
    """Merge in the training precision, convert with llama.cpp's converter, quantise when asked; the file."""
    facts = export_facts()
    qtype = facts.gguf_type(quant)
    hf = job.folder / ".merged-for-gguf"
    hf.mkdir()
    log = job.folder / "convert.log"
    source_precision = job.src.precision
    report("merge", None, f"merging the adapter ({source_precision}) for llama.cpp's converter")
    merge_to(job.src, hf, source_precision, job.tokenizer)
    stem = job.name
    if qtype.via == "converter":
        out = job.folder / f"{stem}-{qtype.name}.gguf"
        report("convert", None, f"llama.cpp's converter: {qtype.name}")
        job.notes += gguf_files.convert(hf, out, qtype.name, log)
    else:
        base_type = next(t for t in facts.gguf_types if t.precision == source_precision and t.via == "converter")
        step = job.folder / f".{stem}-{base_type.name}.gguf"
        report("convert", None, f"llama.cpp's converter: {base_type.name}")
        job.notes += gguf_files.convert(hf, step, base_type.name, log)
        out = job.folder / f"{stem}-{qtype.name}.gguf"
        report("quantize", None, f"llama.cpp's quantize: {qtype.name}")
        gguf_files.quantize(step, out, qtype, log)
        step.unlink()
        fallback = gguf_files.fallback_note(log)
        if fallback:
            job.notes.append(fallback)
    shutil.rmtree(hf)
    info = gguf_files.inspect(out)
    job.notes += info.notes
    job.notes.append(
        f"{out.name}: {info.tensors} tensors of types {', '.join(info.tensor_types)} ({info.architecture})"
    )
    return out, info


def _parity_gguf(job: Job, out: Path, info: gguf_files.GgufInfo) -> ParityReport:
    if job.parity is None:
        return skipped(job.skip_reason)
    report("parity check", None, "parity: golden prompts on the adapter and on the GGUF")
    result, notes = check_gguf(job.parity, out, info)
    job.notes += notes
    return result


def build_gguf(job: Job, quant: str) -> Built:
    out, info = _write_gguf(job, quant)
    commands = [f"llama-cli -m {job.shown}/{out.name}", f"llama-server -m {job.shown}/{out.name}"]
    return Built(f"GGUF {out.name}{_loads(info)}", commands, _parity_gguf(job, out, info))


def _loads(info: gguf_files.GgufInfo) -> str:
    return (
        "" if info.llama_cpp_loads_tokenizer else " (it will not load in llama.cpp or Ollama: tokenizer without merges)"
    )


def build_ollama(job: Job, quant: str, header: list[str]) -> Built:
    fmt = ollama.chat_format(job.tokenizer)  # before the slow conversion: a template that cannot travel stops here
    out, info = _write_gguf(job, quant)
    eos = [job.tokenizer.convert_ids_to_tokens(i) for i in stop_token_ids(job.src, job.tokenizer)]
    stops = ollama.stop_strings(fmt, [t for t in eos if isinstance(t, str)])
    (job.folder / "Modelfile").write_text(ollama.modelfile(out.name, fmt, stops, header), "utf-8")
    job.notes += fmt.notes
    job.notes.append(f"Modelfile stop tokens: {', '.join(stops)}")
    commands = [f"cd {job.shown} && ollama create {job.name} -f Modelfile", f"ollama run {job.name}"]
    return Built(f"Ollama model ({out.name} + Modelfile){_loads(info)}", commands, _parity_gguf(job, out, info))


def build_vllm(job: Job, mode: str, header: list[str]) -> Built:
    dtype = vllm.DTYPES[job.precision]
    (job.folder / "chat_template.jinja").write_text(job.tokenizer.chat_template, "utf-8")
    stops = stop_token_ids(job.src, job.tokenizer)
    if mode == "merged":
        merged = job.folder / "merged"
        merged.mkdir()
        report("merge", None, f"merging the adapter into {job.src.base_model} ({job.precision})")
        merge_to(job.src, merged, job.precision, job.tokenizer)
        argv = vllm.merged_command("./merged", job.name, dtype, "./chat_template.jinja")
        parity = _parity_merged(job, merged)
        artefact = f"vLLM serve script for the merged weights ({dtype})"
    else:
        shutil.copytree(job.src.adapter, job.folder / "adapter")
        base = _base_for_vllm(job)
        argv = vllm.adapter_command(
            base, "./adapter", job.name, job.src.lora_rank, dtype, "./chat_template.jinja", job.src.method == "qlora"
        )
        parity = _parity_adapter(job)
        artefact = f"vLLM serve script for the adapter on its base (--enable-lora, {dtype})"
    (job.folder / "serve.sh").write_text(vllm.serve_script(argv, header), "utf-8")
    (job.folder / "serve.sh").chmod(0o755)
    (job.folder / "client.py").write_text(vllm.client_snippet(job.name, stops), "utf-8")
    commands = [f"sh {job.shown}/serve.sh   # {shlex_join(argv)}", f"python {job.shown}/client.py"]
    return Built(artefact, commands, parity)


def _parity_adapter(job: Job) -> ParityReport:
    if job.precision == job.src.precision or job.src.method == "qlora":
        return skipped(
            "vLLM serves the adapter as trained, on its base (multi-LoRA) at the training precision: there is no "
            "converted artefact to compare, and vLLM itself is not installed here"
        )
    if job.parity is None:
        return skipped(job.skip_reason)
    report("parity check", None, f"parity: the adapter at {job.precision} against {job.src.precision}")
    return check_adapter_at(job.parity, job.precision)


def shlex_join(argv: list[str]) -> str:
    return vllm.VllmServe(argv, "", "").command


def _base_for_vllm(job: Job) -> str:
    """What ``vllm serve`` loads as the base: a saved copy of the built-in tiny model, the packaged model's local
    folder (its weights exist nowhere online in that form), else the run's base."""
    ref = model_ref(job.src)
    if ref.kind == "packaged":
        folder = loader.source(ref)
        job.notes.append(f"the base is the packaged model's local folder {folder}; copy it to the server")
        return folder
    if not is_tiny(job.src.base_model):
        return job.src.base_model
    base = job.folder / "base"
    model = load_base(job.src, job.tokenizer, job.precision)
    model.save_pretrained(str(base))
    job.tokenizer.save_pretrained(str(base))
    job.notes.append(f"base/ holds the built-in tiny base model (seed {job.src.plan.seed}), which exists nowhere else")
    return "./base"


__all__ = ["Built", "Job", "build_gguf", "build_merged", "build_ollama", "build_vllm"]
