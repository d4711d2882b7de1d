"""The request and result models of the migrate tools: openai_inventory, record_golden_outputs,
choose_replacement and migration_report (one module each; facts.py holds the dates and prices they use)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.document import Bullets, Document, Pairs, Table, Text
from tools.core.fields import InputPath, OutputPath
from tools.evaluate.systems import Candidate

ModelStatus = Literal["serving", "ending", "ended", "unknown"]

# ----------------------------------------------------------------------------- inventory


class OpenAIInventoryRequest(BaseModel):
    """Which fine-tunes to list: every one the OpenAI key's organisation owns, or one described from local files."""

    model: str | None = Field(
        None,
        description="Only this fine-tuned model (ft:...). With training_file: described from the local file, no API "
        "call (for a key that is gone, or a model another team owns).",
    )
    training_file: InputPath | None = Field(
        None, description="The training JSONL the model was fine-tuned on (needs model); nothing is downloaded."
    )
    download: bool = Field(
        True,
        description="Download each model's training and validation files into migrations/<model>/ (free; the files "
        "stay at OpenAI).",
    )


class FineTune(BaseModel):
    model: str = Field(description="the fine-tuned model id (ft:...)")
    base: str = Field(description="the base snapshot it was tuned from")
    status: ModelStatus = Field(description="serving, ending (has a known serving end), ended, or unknown")
    closes: date | None = Field(None, description="the day OpenAI takes no new fine-tuning jobs for this base")
    serving_until: date | None = Field(None, description="the day the fine-tune stops answering (from the facts)")
    days_left: int | None = Field(None, description="days from today to serving_until")
    api_shutdown_date: str | None = Field(None, description="the shutdown_date /v1/models gives, when it gives one")
    job_id: str | None = None
    created: date | None = Field(None, description="the day the job was created")
    method: str | None = Field(None, description="supervised, dpo or reinforcement")
    hyperparameters: str | None = Field(None, description="as the job recorded them, e.g. n_epochs=3, batch_size=1")
    trained_tokens: int | None = None
    training_file_id: str | None = None
    validation_file_id: str | None = None
    training_file: str | None = Field(None, description="the local copy (workspace path), once downloaded or given")
    validation_file: str | None = None
    folder: str = Field(description="migrations/<model>/: where this model's migration files go")
    notes: list[str] = []


class OpenAIInventoryResult(BaseModel):
    source: Literal["openai", "local"]
    today: date
    models: list[FineTune]
    jobs_seen: int
    truncated: bool = Field(description="true when the organisation has more jobs than were read")
    file: str = Field(description="the full inventory as JSON")
    warnings: list[str]

    def document(self) -> Document:
        rows: list[list[str | int | None]] = [
            [m.model, m.base, m.status, str(m.serving_until or "unknown"), m.days_left, m.training_file or "-"]
            for m in self.models
        ]
        notes = [f"{m.model}: {n}" for m in self.models for n in m.notes]
        ended = sum(1 for m in self.models if m.status == "ended")
        headline = f"{len(self.models)} fine-tuned model(s) ({self.source}), {ended} no longer serving"
        blocks: list[Table | Bullets] = [
            Table(
                title=f"fine-tunes on {self.today}",
                headers=["model", "base", "status", "serving until", "days left", "training file"],
                rows=rows,  # type: ignore[arg-type]
            )
        ]
        if notes or self.warnings:
            blocks.append(Bullets(title="notes", items=notes + self.warnings))
        return Document(
            title="OpenAI fine-tunes",
            status="problems" if ended else "ok",
            headline=headline,
            blocks=blocks,  # type: ignore[arg-type]
            files=[self.file],
        )


# ----------------------------------------------------------------------------- golden outputs

GoldenMode = Literal["batch", "sync"]
GoldenState = Literal["dry_run", "submitted", "in_progress", "partial", "recorded"]


class RecordGoldenOutputsRequest(BaseModel):
    """Whose answers to record, on which prompts, how; confirm=true sends the prompts to OpenAI and pays for them."""

    model: str = Field(description="The fine-tuned model whose answers are the golden outputs (ft:...).")
    eval_data: InputPath | None = Field(
        None,
        description="Held-out prompts (JSONL in any format validate_jsonl reads; a last assistant turn is kept as the "
        "reference answer). Without it, prompts are sampled from the training file (weaker: the old model saw them).",
    )
    training_data: InputPath | None = Field(
        None, description="Training JSONL to sample from when there is no eval_data (default: the inventory's copy)."
    )
    sample: int | None = Field(
        None, ge=1, description="Prompts to sample from the training file (default: its held-out share, training.yaml)."
    )
    mode: GoldenMode = Field(
        "batch",
        description="batch: the Batch API (a lower price, results within its completion window; call again to "
        "collect); sync: one chat completion per prompt now, at the standard price.",
    )
    max_tokens: int | None = Field(
        None, ge=1, le=4096, description="Answer tokens per prompt (default in migration.yaml; run_eval's limit)."
    )
    seed: int = Field(0, description="Seed of the sample drawn from the training file.")
    confirm: StrictBool = Field(
        False,
        description="Must be true to send the prompts to OpenAI (it costs money); without it the tool writes the "
        "prompts it would send and returns the estimated cost of both modes.",
    )


class GoldenPrice(BaseModel):
    mode: GoldenMode
    rates: str = Field(description="the per-token rates in words, or why they cannot be used")
    status: str = Field(description="confirmed, unconfirmed or unknown")
    expected_usd: float | None = Field(None, description="with answers as long as the reference answers")
    at_most_usd: float | None = Field(None, description="with every answer at max_tokens")
    basis: str = ""


class RecordGoldenOutputsResult(BaseModel):
    model: str
    base: str
    state: GoldenState
    mode: GoldenMode
    source: Literal["eval_data", "training_sample"]
    weaker: str | None = Field(None, description="why these golden outputs prove less, when they do")
    serving_until: date | None
    days_left: int | None
    items: int
    has_references: bool
    prompt_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    prices: list[GoldenPrice]
    batch_id: str | None = None
    batch_status: str | None = None
    recorded: int = 0
    failed: int = 0
    truncated: int = Field(0, description="answers cut at max_tokens")
    input_tokens_used: int | None = None
    output_tokens_used: int | None = None
    cost_usd: float | None = Field(None, description="what the recorded answers cost, from their usage")
    files: list[str]
    message: str
    warnings: list[str]

    def document(self) -> Document:
        price_rows = [[p.mode, p.rates, p.expected_usd, p.at_most_usd, p.status] for p in self.prices]  # type: ignore[misc]
        pairs: list[tuple[str, str | int | float | None]] = [
            ("prompts", self.items),
            ("from", self.source.replace("_", " ")),
            ("prompt tokens", self.prompt_tokens),
            ("answer tokens (expected / at most)", f"{self.expected_output_tokens:,} / {self.max_output_tokens:,}"),
            ("serving until", str(self.serving_until or "unknown")),
        ]
        if self.state != "dry_run":
            pairs += [("recorded", self.recorded), ("failed", self.failed), ("cut at max_tokens", self.truncated)]
            if self.cost_usd is not None:
                pairs.append(("cost of the recorded answers (USD)", round(self.cost_usd, 6)))
        blocks: list[Pairs | Table | Bullets] = [
            Pairs(items=pairs),
            Table(
                title="price",
                headers=["mode", "rates", "expected USD", "at most USD", "price"],
                rows=price_rows,  # type: ignore[arg-type]
            ),
        ]
        notes = ([self.weaker] if self.weaker else []) + self.warnings
        if notes:
            blocks.append(Bullets(title="notes", items=notes))
        return Document(
            title=f"golden outputs of {self.model}",
            status="ok" if self.state in ("recorded", "dry_run") else "skipped",
            headline=self.message,
            blocks=blocks,  # type: ignore[arg-type]
            files=self.files,
        )


# ----------------------------------------------------------------------------- the replacement


class ChooseReplacementRequest(BaseModel):
    """What the replacement must do: the old model, its data and traffic, and the constraints on where it may run."""

    model: str = Field(description="The fine-tuned OpenAI model to replace (ft:...), or its base snapshot.")
    training_data: InputPath | None = Field(
        None, description="Training JSONL (tokens are counted from it); default: the inventory's copy."
    )
    monthly_requests: int | None = Field(None, ge=0, description="Requests per month the model serves today.")
    monthly_budget_usd: float | None = Field(
        None, ge=0, description="Serving budget per month: options whose serving costs more are flagged."
    )
    open_weight_model: str | None = Field(
        None, description="Hugging Face id of the open-weight base to use (default: by size, migration.yaml)."
    )
    model_size_b: float | None = Field(
        None, gt=0, description="Size class in billions to start from (default: by the OpenAI base, migration.yaml)."
    )
    region: str | None = Field(None, description="Required processing region (eu, us, ...).")
    data_may_leave: bool | None = Field(None, description="false: only your own machines (self-hosted).")
    options: int = Field(5, ge=1, le=12, description="Options priced with estimate_cost.")


class ReplacementOption(BaseModel):
    rank: int
    provider: str
    path: str = Field(description="the provider's model or size class")
    method: str
    base: str = Field(description="the open-weight base to fine-tune")
    serving: str
    training_usd: float | None
    training_price: str
    per_request_usd: float | None = Field(None, description="serving one request after the move")
    monthly_usd: float | None = Field(None, description="serving a month after the move, fixed fees included")
    fixed_fees: list[str] = []
    closes: date | None = None
    over_budget: list[str] = []
    notes: list[str] = []


class ChooseReplacementResult(BaseModel):
    model: str
    base: str
    serving_until: date | None
    days_left: int | None
    size_b: float
    size_reason: str
    bases: list[str] = Field(description="open-weight bases of that size (migration.yaml), with their licences")
    mean_prompt_tokens: float
    mean_output_tokens: float
    now_rates: str
    now_per_request_usd: float | None
    now_monthly_usd: float | None
    options: list[ReplacementOption]
    excluded: list[str]
    file: str
    report: str
    warnings: list[str]

    def document(self) -> Document:
        rows = [
            [
                o.rank,
                f"{o.provider} / {o.path}",
                o.base,
                o.serving,
                o.training_usd,
                o.monthly_usd,
                "; ".join(o.over_budget) or "",
            ]
            for o in self.options
        ]
        now = f"{self.now_monthly_usd:,.2f} USD/month" if self.now_monthly_usd is not None else "unknown per month"
        headline = (
            f"replace {self.model} (serving ends {self.serving_until or 'unknown'}) with a ~{self.size_b:g}B "
            f"open-weight LoRA; today {now} at {self.now_rates}"
        )
        blocks: list[Table | Bullets | Text] = [
            Text(text=self.size_reason),
            Table(
                title="replacement paths",
                headers=["rank", "path", "base", "serving", "training USD", "USD/month after", "over budget"],
                rows=rows,  # type: ignore[arg-type]
            ),
        ]
        notes = [n for o in self.options[:3] for n in o.notes] + self.warnings
        if notes:
            blocks.append(Bullets(title="notes", items=notes[:12]))
        return Document(
            title="replacement", status="ok", headline=headline, blocks=blocks, files=[self.file, self.report]
        )  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the migration report

ParityVerdict = Literal["not_run", "no_detectable_regression", "regression", "agreement_only"]


class MigrationReportRequest(BaseModel):
    """The replacement to compare with the golden outputs, and where to write the report."""

    model: str = Field(description="The OpenAI fine-tune being replaced (ft:...); its golden outputs must exist.")
    run_id: str | None = Field(None, description="A launch_lora run: its adapter is the replacement (the usual case).")
    candidate: Candidate | None = Field(
        None,
        description="Any other system run_eval takes (a local model + adapter, predictions made elsewhere, an "
        "OpenAI-compatible server); instead of run_id.",
    )
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="Tokens the replacement may generate (default: the golden outputs' limit)."
    )
    batch_size: int = Field(8, ge=1, le=256, description="Prompts generated together.")
    report: OutputPath | None = Field(
        None, description="Markdown report to write (default migrations/<model>/migration-report.md)."
    )
    confirm: StrictBool = Field(
        False,
        description="Must be true to generate the replacement's answers (minutes); without it the tool says what "
        "would run.",
    )


class Agreement(BaseModel):
    metric: str
    value: float = Field(description="the replacement's score with the old model's answer as the reference")
    low: float
    high: float
    interval: str = Field(description="how the interval is made")


class ParityMetric(BaseModel):
    metric: str
    old: float
    new: float
    delta: float
    low: float
    high: float
    p_value: float | None
    test: str
    verdict: str


class MigrationReportResult(BaseModel):
    model: str
    ran: bool
    verdict: ParityVerdict
    verdict_text: str
    items: int
    serving_until: date | None
    days_left: int | None
    replacement: str | None = Field(None, description="the system compared")
    metrics: list[ParityMetric]
    agreement: list[Agreement]
    now_monthly_usd: float | None = None
    after_monthly_usd: float | None = Field(None, description="the cheapest path choose_replacement priced per month")
    after_path: str | None = None
    export_commands: list[str]
    eval_dir: str | None
    report: str | None
    message: str
    warnings: list[str]

    def document(self) -> Document:
        blocks: list[Table | Bullets | Pairs] = []
        if self.metrics:
            blocks.append(
                Table(
                    title="against the reference answers: replacement - old model",
                    headers=["metric", "old", "new", "delta", "interval", "p", "verdict"],
                    rows=[
                        [m.metric, m.old, m.new, m.delta, f"[{m.low:+.3f}, {m.high:+.3f}]", m.p_value, m.verdict]
                        for m in self.metrics
                    ],  # type: ignore[arg-type]
                )
            )
        if self.agreement:
            blocks.append(
                Table(
                    title="agreement with the old model's answers",
                    headers=["metric", "replacement", "interval"],
                    rows=[[a.metric, a.value, f"[{a.low:.3f}, {a.high:.3f}]"] for a in self.agreement],  # type: ignore[misc]
                )
            )
        if self.now_monthly_usd is not None or self.after_monthly_usd is not None:
            now = f"{self.now_monthly_usd:,.2f}" if self.now_monthly_usd is not None else "unknown"
            after = f"{self.after_monthly_usd:,.2f}" if self.after_monthly_usd is not None else "unknown"
            blocks.append(
                Pairs(
                    title="serving cost per month (USD, choose_replacement)",
                    items=[("now (OpenAI)", now), (f"after ({self.after_path or 'no priced path'})", after)],
                )
            )
        if self.export_commands:
            blocks.append(Bullets(title="export", items=self.export_commands))
        if self.warnings:
            blocks.append(Bullets(title="notes", items=self.warnings))
        status = {"regression": "problems", "not_run": "skipped"}.get(self.verdict, "ok")
        return Document(
            title=f"migration of {self.model}",
            status=status,  # type: ignore[arg-type]
            headline=self.message,
            blocks=blocks,  # type: ignore[arg-type]
            files=[f for f in (self.report,) if f],
        )


__all__ = [
    "Agreement",
    "FineTune",
    "GoldenMode",
    "GoldenPrice",
    "RecordGoldenOutputsRequest",
    "RecordGoldenOutputsResult",
    "OpenAIInventoryRequest",
    "OpenAIInventoryResult",
    "MigrationReportRequest",
    "MigrationReportResult",
    "ParityMetric",
    "ParityVerdict",
    "ReplacementOption",
    "ChooseReplacementRequest",
    "ChooseReplacementResult",
]
