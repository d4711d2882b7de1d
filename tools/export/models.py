"""Request and result models of the export tools: export_model, push_to_hub, try_run, and the parity report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Pairs, Table, Text
from tools.core.fields import InputPath, OutputPath

FILES_SHOWN = 30
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


def files_table(files: list[ExportedFile], title: str) -> list[Block]:
    """The first files as a table, and how many more there are."""
    rows: list[list[Cell]] = [[f.path, f.bytes] for f in files[:FILES_SHOWN]]
    blocks: list[Block] = [Table(title=title, headers=["file", "bytes"], rows=rows)] if rows else []
    if len(files) > FILES_SHOWN:
        blocks.append(Text(text=f"... and {len(files) - FILES_SHOWN} more files."))
    return blocks


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

    def pairs(self) -> Pairs:
        items: list[tuple[str, Cell]] = [("verdict", self.verdict)]
        if self.ran:
            items += [
                ("reference", self.reference),
                ("artefact", self.artefact),
                ("golden prompts (greedy, up to tokens each)", f"{self.prompts} ({self.max_new_tokens})"),
                ("prompts with identical tokens", f"{self.exact_prompts} of {self.prompts}"),
                ("token agreement", self.token_agreement),
                ("chat template matches", self.template_matches),
                ("stop tokens match", self.stop_tokens_match),
                ("gate", self.gate),
            ]
        return Pairs(title="Parity check", items=items)

    def findings(self) -> list[Block]:
        severity = {"fail": "error", "reported": "warning"}.get(self.verdict, "info")
        found = [Finding(severity=severity, message=self.message)]  # type: ignore[arg-type]
        if self.cause_detail:
            found.append(
                Finding(severity="warning", where=f"likely cause ({self.likely_cause})", message=self.cause_detail)
            )
        d = self.first_divergence
        if d is not None:
            found.append(
                Finding(
                    severity="info",
                    where=f"prompt {d.prompt} (line {d.line})",
                    code="first divergence",
                    message=f"token {d.position}: reference {d.reference_token!r}, export {d.artefact_token!r}"
                    + (f"; reference margin {d.reference_margin:.3g}" if d.reference_margin is not None else ""),
                )
            )
        return [Findings(items=found)]


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

    def document(self) -> Document:
        p = self.parity
        blocks: list[Block] = [
            Pairs(
                items=[
                    ("run", self.run_id),
                    ("target", self.target),
                    ("folder", self.out_dir),
                    ("precision (training -> export)", f"{self.training_precision} -> {self.export_precision}"),
                    ("model card", self.model_card),
                    ("seconds", self.seconds),
                ]
            ),
            p.pairs(),
            *p.findings(),
        ]
        if p.samples:
            blocks.append(Text(text=f"Every golden prompt's tokens on both sides: {p.samples}"))
        if self.commands:
            blocks.append(Bullets(title="Use it", items=self.commands))
        if self.notes:
            blocks.append(Bullets(title="Notes", items=self.notes))
        blocks += files_table(self.files, f"{len(self.files)} files in {self.out_dir}")
        return Document(
            title="Export",
            status="problems" if p.verdict == "fail" else "ok",
            headline=f"run {self.run_id} exported as {self.target} to {self.out_dir}; parity {p.verdict}",
            blocks=blocks,
            files=[f for f in (self.model_card, p.samples) if f],
        )


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

    def document(self) -> Document:
        items: list[tuple[str, Cell]] = [
            ("repository", self.repo_id),
            ("endpoint", self.endpoint),
            ("folder", self.folder),
            ("bytes", self.total_bytes),
        ]
        items += [(k, v) for k, v in (("repository page", self.repo_url), ("commit", self.commit_url)) if v]
        blocks: list[Block] = [Pairs(items=items), *files_table(self.files, f"{len(self.files)} files")]
        if self.skipped:
            blocks.append(Bullets(title="Left out", items=self.skipped))
        return Document(
            title="Hub upload",
            status="ok",
            headline=f"{'uploaded' if self.uploaded else 'dry run'}: {self.message}",
            blocks=blocks,
        )


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

    def document(self) -> Document:
        prompt = " ".join(self.prompt.split())
        answers = Table(
            headers=[f"base ({self.base_model})", f"fine-tuned (run {self.run_id})"],
            rows=[[self.base_answer or "(empty)", self.fine_tuned_answer or "(empty)"]],
        )
        tokens = Pairs(
            items=[
                ("prompt", self.prompt),
                ("tokens (base, fine-tuned)", f"{self.base_tokens}, {self.fine_tuned_tokens}"),
                ("seconds", self.seconds),
            ]
        )
        return Document(
            title="Base vs fine-tuned",
            status="ok",
            headline=f"{'the same answer' if self.same else 'different answers'} to: "
            + (prompt if len(prompt) <= 80 else prompt[:77] + "..."),
            blocks=[answers, tokens, Text(text=self.note)],
        )


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
