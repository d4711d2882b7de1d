"""Request and result models of the provider-job tools (launch_provider_job, provider_job_status), and the
documents the CLI prints and the demo shows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Pairs, Table, Text
from tools.core.fields import InputPath

Provider = Literal["openai", "together"]
Method = Literal["supervised", "dpo"]


class LaunchProviderJobRequest(BaseModel):
    """Which provider, base model, data and method; confirm=true sends the data and starts a paid job."""

    provider: Provider = Field(description="openai (self-serve fine-tuning API) or together (LoRA fine-tuning).")
    model: str = Field(
        description="The provider's base model id, e.g. gpt-4.1-mini-2025-04-14 or "
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference."
    )
    data: InputPath = Field(
        description="Training JSONL in the provider's format (OpenAI chat for supervised, "
        "OpenAI preference for dpo); run validate_jsonl first."
    )
    validation_data: InputPath | None = Field(
        None, description="Validation JSONL (OpenAI: free; Together bills its tokens per evaluation)."
    )
    method: Method = Field("supervised", description="supervised (SFT) or dpo (preference pairs).")
    epochs: int | None = Field(
        None, ge=1, le=50, description="Passes over the data; default: the provider's auto rule."
    )
    batch_size: int | None = Field(None, ge=1, description="Examples per batch; default: the provider's.")
    learning_rate_multiplier: float | None = Field(
        None, gt=0, description="OpenAI only: multiplier on the base learning rate."
    )
    learning_rate: float | None = Field(None, gt=0, description="Together only: peak learning rate.")
    lora_r: int | None = Field(None, ge=1, le=256, description="Together only: LoRA rank (alpha = 2 x rank).")
    dpo_beta: float | None = Field(
        None, gt=0, description="dpo only: beta (strength of the pull towards the reference model)."
    )
    seed: int | None = Field(None, description="OpenAI only: seed for reproducibility.")
    suffix: str | None = Field(
        None, max_length=40, description="A name part for the output model; the idempotency key is appended."
    )
    run_name: str | None = Field(
        None, description="A short name for the run id; change it to launch the same data again on purpose."
    )
    confirm: StrictBool = Field(
        False,
        description=(
            "Must be true to upload the data and create the job (it costs money and sends the data to the provider); "
            "without it the tool only returns the plan and the cost estimate."
        ),
    )


class ProviderJobInfo(BaseModel):
    run_id: str
    provider: str
    model: str | None
    method: str | None
    job_id: str | None
    state: str = Field(description="queued, running, completed, failed or stopped (cancelled)")
    provider_state: str | None = Field(None, description="the provider's own status word")
    output_model: str | None = Field(None, description="the fine-tuned model id once the job succeeded")
    error: str | None
    step: int
    total_steps: int | None
    latest_loss: float | None
    latest_eval_loss: float | None
    recent_events: list[str]
    metrics_file: str | None
    folder: str

    def row(self) -> list[Cell]:
        steps = f"{self.step}/{self.total_steps or '?'}" if self.step else None
        return [self.run_id, self.provider, self.job_id or "(not created)", self.state, self.provider_state,
                self.model, self.method, steps, self.latest_loss, self.latest_eval_loss, self.output_model]  # fmt: skip

    def pairs(self) -> Pairs:
        items: list[tuple[str, Cell]] = [
            ("provider", self.provider),
            ("job", self.job_id or "(not created)"),
            ("state", self.state),
            ("provider state", self.provider_state),
            ("model", self.model),
            ("method", self.method),
        ]
        if self.step:
            items += [("step", f"{self.step}/{self.total_steps or '?'}"), ("loss", self.latest_loss)]
            if self.latest_eval_loss is not None:
                items.append(("eval loss", self.latest_eval_loss))
        items += [(k, v) for k, v in (("output model", self.output_model), ("metrics", self.metrics_file)) if v]
        items.append(("folder", self.folder))
        return Pairs(title=f"Run {self.run_id}", items=items)

    def details(self) -> list[Block]:
        """The job's error and its last events."""
        blocks: list[Block] = []
        if self.error:
            blocks.append(Findings(items=[Finding(severity="error", where=self.run_id, message=self.error)]))
        if self.recent_events:
            blocks.append(Bullets(title=f"Recent events ({self.run_id})", items=self.recent_events[-3:]))
        return blocks


JOB_HEADERS = ["run", "provider", "job", "state", "provider state", "model", "method", "step", "loss", "eval loss",
               "output model"]  # fmt: skip


def jobs_table(jobs: list[ProviderJobInfo]) -> Table:
    return Table(title="Jobs", headers=JOB_HEADERS, rows=[j.row() for j in jobs])


class LaunchProviderJobResult(BaseModel):
    started: bool = Field(description="a job exists at the provider for this request (new or found again)")
    reused: bool = Field(
        description="an earlier launch with the same idempotency key was found; no new job was created"
    )
    run_id: str | None
    folder: str | None
    provider: str
    model: str
    method: str
    examples: int
    data_bytes: int
    idempotency_key: str
    estimated_cost_usd: float | None
    cost_basis: str
    available_until: str | None
    job: ProviderJobInfo | None
    message: str
    warnings: list[str]

    def document(self) -> Document:
        items: list[tuple[str, Cell]] = [
            ("provider", self.provider),
            ("base model", self.model),
            ("method", self.method),
            ("examples", self.examples),
            ("data bytes", self.data_bytes),
            (
                "estimated training cost (USD)",
                "unknown" if self.estimated_cost_usd is None else self.estimated_cost_usd,
            ),
            ("cost basis", self.cost_basis),
        ]
        if self.available_until:
            items.append(("offering takes new jobs until", self.available_until))
        items += [("run", self.run_id)] if self.run_id else []
        items.append(("idempotency key", self.idempotency_key))
        blocks: list[Block] = [Text(text=self.message), Pairs(items=items)]
        if self.warnings:
            blocks.append(Bullets(title="Warnings", items=self.warnings))
        if self.job is not None:
            blocks += [self.job.pairs(), *self.job.details()]
        if self.started and self.job is not None:
            how = "found again (no new job)" if self.reused else "started"
            headline = f"{how}: {self.provider} job {self.job.job_id} for {self.model}, state {self.job.state}"
        else:
            headline = (
                f"dry run: {self.provider} {self.model} ({self.method}) on {self.examples} examples; nothing sent"
            )
        failed = self.job is not None and self.job.state == "failed"
        return Document(title="Provider job", status="problems" if failed else "ok", headline=headline, blocks=blocks)


class ProviderJobStatusRequest(BaseModel):
    """Which provider run to refresh."""

    run_id: str | None = Field(None, description="The run id launch_provider_job returned; empty: every provider run.")
    refresh: bool = Field(
        True, description="Ask the provider for the job's state, events and metrics (false: read the folder only)."
    )


class ProviderJobStatusResult(BaseModel):
    jobs: list[ProviderJobInfo]

    def document(self) -> Document:
        if not self.jobs:
            return Document(
                title="Provider jobs",
                status="ok",
                headline="no provider jobs in runs/ yet",
                blocks=[Text(text="Start one with launch_provider_job (finetune job launch DATA --provider ...).")],
            )
        counts: dict[str, int] = {}
        for j in self.jobs:
            counts[j.state] = counts.get(j.state, 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in counts.items())
        blocks: list[Block] = [self.jobs[0].pairs() if len(self.jobs) == 1 else jobs_table(self.jobs)]
        for j in self.jobs:
            blocks += j.details()
        return Document(
            title="Provider jobs",
            status="problems" if "failed" in counts else "ok",
            headline=f"{len(self.jobs)} provider job{'s' if len(self.jobs) != 1 else ''}: {states}",
            blocks=blocks,
        )
