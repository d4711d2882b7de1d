"""Request and result models of the export tools: export_model, push_to_hub, try_run, and the parity report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.fields import InputPath, OutputPath

Target = Literal["merged", "gguf", "ollama", "vllm"]
ServeDtype = Literal["float32", "bfloat16", "float16"]


class ExportModelRequest(BaseModel):
    run_id: str = Field(description="The local run to export (runs/<run_id>/ with its adapter/).")
    to: Target = Field(
        description=(
            "merged: base + adapter as safetensors with tokenizer, chat template, generation config and model card; "
            "gguf: a GGUF file made by llama.cpp's converter (and quantiser); ollama: the GGUF plus a Modelfile whose "
            "TEMPLATE and stop tokens match the training template; vllm: the serve command (the adapter through "
            "--enable-lora, or the merged folder) and an OpenAI-compatible client snippet."
        )
    )
    quant: str | None = Field(
        None,
        description=(
            "GGUF type for gguf/ollama: f32, f16, bf16, q8_0 (llama.cpp's converter) or Q4_K_M, Q5_K_M, Q6_K, Q4_0... "
            "(llama.cpp's quantize). Default: the type of the training precision (f32 for an fp32 run). Another type "
            "changes the precision: see allow_precision_change."
        ),
    )
    vllm_mode: Literal["adapter", "merged"] = Field(
        "adapter",
        description="vllm: serve the adapter on its base (multi-LoRA, --enable-lora) or a merged copy.",
    )
    serve_dtype: ServeDtype | None = Field(
        None, description="vllm/merged: dtype to serve or save at. Default: the training precision."
    )
    allow_precision_change: bool = Field(
        False,
        description=(
            "Allow an export that serves at another precision than training (a quantised GGUF, a 16-bit merge of a "
            "QLoRA adapter, another dtype). Without it such an export is refused; with it the parity check runs and "
            "its result is recorded in the export and its model card."
        ),
    )
    parity: bool = Field(
        True,
        description="Run the parity check (golden prompts, adapter on base vs the exported artefact, greedy).",
    )
    parity_data: InputPath | None = Field(
        None,
        description="Eval set whose first prompts are the golden prompts. Default: the run's eval data, else its "
        "training data.",
    )
    parity_prompts: int | None = Field(None, ge=1, le=256, description="Golden prompts (default in export.yaml).")
    max_new_tokens: int | None = Field(
        None, ge=1, le=1024, description="Greedy tokens per golden prompt (default in export.yaml)."
    )
    eval_report: InputPath | None = Field(
        None, description="A run_eval report.md of this run: its verdict goes into the model card."
    )
    model_name: str | None = Field(
        None, description="Name the model is served under (Ollama model, vLLM model/LoRA name). Default: the run id."
    )
    out_dir: OutputPath | None = Field(
        None, description="New folder to write (default exports/<run_id>/<target>[-<type>]); must not exist."
    )


class ExportedFile(BaseModel):
    path: str
    bytes: int


class Divergence(BaseModel):
    prompt: int = Field(description="Index of the golden prompt (0-based).")
    line: int = Field(description="Its line in the eval set.")
    position: int = Field(description="Index of the first generated token that differs.")
    reference_token: str = Field(description="What the adapter on its base generated there ('<end>' when it stopped).")
    artefact_token: str = Field(description="What the exported artefact generated there.")
    reference_margin: float | None = Field(
        None, description="The reference's top-1 minus top-2 logit at that position: small means a near tie."
    )


class ParityReport(BaseModel):
    ran: bool
    skipped_reason: str | None = None
    reference: str = Field("", description="What generated the reference outputs.")
    artefact: str = Field("", description="What generated the artefact's outputs, and with which engine.")
    engine: Literal["transformers", "llama_cpp", "none"] = "none"
    prompts: int = 0
    max_new_tokens: int = 0
    exact_prompts: int = Field(0, description="Golden prompts whose greedy tokens were identical.")
    token_agreement: float | None = Field(
        None, description="Reference tokens reproduced before each prompt's first divergence, over all of them."
    )
    first_divergence: Divergence | None = None
    template_matches: bool | None = None
    stop_tokens_match: bool | None = None
    gate: Literal["exact", "report"] = Field(
        "exact",
        description="exact: every greedy output must be identical (same precision); report: the agreement is "
        "recorded but does not fail the check (an allowed precision change). Template and stop tokens always gate.",
    )
    verdict: Literal["pass", "fail", "reported", "skipped"] = "skipped"
    likely_cause: Literal["eos", "template", "precision"] | None = None
    cause_detail: str | None = None
    samples: str | None = Field(None, description="parity.jsonl: every golden prompt's tokens on both sides.")
    message: str = ""


class ExportModelResult(BaseModel):
    run_id: str
    target: Target
    out_dir: str
    files: list[ExportedFile]
    training_precision: str
    export_precision: str
    precision_changed: bool
    parity: ParityReport
    model_card: str
    commands: list[str] = Field(description="How to use the export (ollama create, vllm serve, ...).")
    notes: list[str] = Field(description="What to know: tokenizer limits, fallbacks, skipped checks, fact warnings.")
    message: str
    seconds: float


class PushToHubRequest(BaseModel):
    repo_id: str = Field(description="The Hub repository to create or update, as owner/name.")
    folder: InputPath | None = Field(
        None, description="Folder to upload: an export folder (exports/...). Default with run_id: runs/<id>/adapter."
    )
    run_id: str | None = Field(None, description="Upload this run's adapter folder when folder is not given.")
    private: bool = Field(True, description="Create the repository private (an existing one keeps its visibility).")
    endpoint: str | None = Field(
        None, description="Hub endpoint (default HF_ENDPOINT or https://huggingface.co): a self-hosted hub."
    )
    commit_message: str | None = Field(None, description="Commit message (default: 'finetune-skill export ...').")
    confirm: StrictBool = Field(
        False,
        description=(
            "Must be true to upload (it sends the weights, and whatever else the folder holds, to a third party); "
            "without it the tool lists what it would upload and where."
        ),
    )


class PushToHubResult(BaseModel):
    uploaded: bool
    repo_id: str
    endpoint: str
    folder: str
    files: list[ExportedFile]
    skipped: list[str] = Field(description="Files left out of the upload, with the reason.")
    total_bytes: int
    repo_url: str | None
    commit_url: str | None
    message: str


class TryRunRequest(BaseModel):
    run_id: str = Field(description="The local run whose fine-tune to try next to its base.")
    prompt: str = Field(description="The person's prompt (one user turn).")
    system: str | None = Field(None, description="An optional system prompt for both models.")
    max_new_tokens: int | None = Field(None, ge=1, le=2048, description="Tokens per answer (default in export.yaml).")


class TryRunResult(BaseModel):
    run_id: str
    base_model: str
    prompt: str
    base_answer: str
    fine_tuned_answer: str
    base_tokens: int
    fine_tuned_tokens: int
    same: bool = Field(description="True when both answers are the same text.")
    seconds: float
    note: str = Field(description="How the answers were made (greedy, precision, device).")


__all__ = [
    "Divergence",
    "ExportModelRequest",
    "ExportModelResult",
    "ExportedFile",
    "ParityReport",
    "PushToHubRequest",
    "PushToHubResult",
    "Target",
    "TryRunRequest",
    "TryRunResult",
]
