"""The request and result models of estimate_cost (tools/cost/parts.py does the arithmetic) and how the estimate
reads: ``CostEstimate.document()`` for the CLI and the demo, ``report_document()`` for the markdown report."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Table, Text
from tools.core.fields import InputPath, OutputPath
from tools.cost.money import duration_text, money

NOTES_SHOWN = 3


class Assumption(BaseModel):
    what: str
    value: str
    source: str
    as_of: str


class TrainingCost(BaseModel):
    unit: str | None = Field(
        None, description="per_1m_tokens, per_hour, per_gpu_hour, free, or gpu (computed from GPU hours)"
    )
    price_usd: float | None = Field(None, description="the confirmed rate in that unit; null: none to compute with")
    price_status: str = Field(
        "unknown", description="confirmed, unconfirmed (past its expiry: last known only), unknown"
    )
    price_text: str = Field("", description="the rate in words, or its last known value and date")
    epochs: float = 1
    epochs_reason: str = ""
    billed_tokens: int | None = None
    hours: float | None = None
    cost_usd: float | None = None
    min_fee_applied: bool = False
    cap_applied: bool = False
    billing: str | None = None
    note: str | None = None


class GpuOption(BaseModel):
    gpu: str
    gpus: int
    memory_need_gb: float
    gpu_memory_gb: float
    fits: bool
    hours: float | None = Field(None, description="wall-clock hours at the planning MFU")
    measured_hours: float | None = Field(None, description="hours from a measured tokens/s row, where one matches")
    vendor: str | None = None
    tier: str | None = None
    usd_per_gpu_hour: float | None = None
    cost_usd: float | None = None


class InferenceCost(BaseModel):
    base_model: str
    ft_model: str
    tier: str
    base_prompt_tokens: int
    ft_prompt_tokens: int
    output_tokens: int
    base_usd_per_request: float
    ft_usd_per_request: float
    saving_usd_per_request: float
    monthly_requests: int | None
    base_usd_per_month: float | None
    ft_usd_per_month: float | None = Field(None, description="fine-tuned token cost per month, without fixed fees")
    fixed_usd_per_month: float = Field(0, description="confirmed fixed fees per month")
    fixed_items: list[str] = []
    fixed_unknown: bool = Field(False, description="true when a fixed fee is unknown or unconfirmed (not counted)")


class BreakEven(BaseModel):
    never: bool
    statement: str
    requests: float | None = Field(None, description="requests to recover the training cost")
    months: float | None = Field(
        None, description="30-day months at the given volume, fixed fees included; null when it never pays back"
    )
    monthly_requests_to_cover_fixed: float | None = None
    serving_until: date | None = Field(None, description="the day serving of the fine-tune ends, when known")
    days_left: int | None = Field(None, description="days from today to serving_until: the payback must fit in them")


class CostOption(BaseModel):
    provider: str
    model: str
    method: str
    closes: date | None = Field(None, description="the day it closes to new jobs, when known")
    serving: str = Field("", description="how the fine-tune is served")
    eligibility: str | None = Field(None, description="who may still start jobs, when not everyone may")
    training: TrainingCost
    gpu_options: list[GpuOption] = []
    inference: InferenceCost | None = None
    break_even: BreakEven | None = None
    over_budget: list[str] = []
    warnings: list[str] = []


def break_even_cell(b: BreakEven | None) -> str:
    if b is None:
        return "-"
    if b.never:
        return "never"
    if b.months is not None:
        return duration_text(b.months)
    return f"{b.requests:,.0f} req" if b.requests is not None else "-"


def training_cell(o: CostOption) -> str:
    t = o.training
    if t.cost_usd is not None:
        return money(t.cost_usd)
    if t.unit == "gpu":
        return "your GPUs" if o.provider == "self-hosted" else "no confirmed offer"
    return "unconfirmed" if t.price_status == "unconfirmed" else "unknown"


def _money_or(x: float | None, missing: str = "-") -> str:
    return missing if x is None else money(x)


def options_table(options: list[CostOption]) -> Table:
    """One row per path: inference per month when a monthly volume was given, else per request."""
    monthly = any(o.inference and o.inference.monthly_requests for o in options)
    per = "month" if monthly else "request"
    rows: list[list[Cell]] = []
    for o in options:
        i = o.inference
        row: list[Cell] = [f"{o.provider} / {o.model}", o.method, o.training.epochs, training_cell(o)]
        if i is None:
            row += ["-", "-", "-"]
        else:
            base, ft = (
                (i.base_usd_per_month, i.ft_usd_per_month)
                if monthly
                else (i.base_usd_per_request, i.ft_usd_per_request)
            )
            row += [
                _money_or(base),
                _money_or(ft),
                money(i.fixed_usd_per_month) + (" + unconfirmed" if i.fixed_unknown else ""),
            ]
        rows.append(row + [break_even_cell(o.break_even)])
    headers = ["provider / model", "method", "epochs", "training", f"base / {per}", f"ft / {per}", "fixed / month"]
    return Table(title="Training and inference", headers=headers + ["break-even"], rows=rows)


def option_details(o: CostOption) -> Bullets:
    items = [f"training price: {o.training.price_text or o.training.note or 'unknown'}"]
    if o.training.note and o.training.price_text and not o.training.note.startswith("no confirmed"):
        items.append(o.training.note)
    items.append(f"served: {o.serving or 'not documented'}")
    if o.closes:
        items.append(f"closes to new jobs on {o.closes}")
    if o.eligibility:
        items.append(f"who can start jobs: {o.eligibility}")
    if o.inference:
        i = o.inference
        items.append(f"per request: base {money(i.base_usd_per_request)}, fine-tuned {money(i.ft_usd_per_request)}")
        items += [f"fixed fee: {item}" for item in i.fixed_items]
    if o.break_even:
        items.append(f"break-even: {o.break_even.statement}")
    for g in o.gpu_options:
        hours = f"{g.hours} h" if g.hours is not None else "hours unknown (no throughput figure)"
        price = f", {money(g.cost_usd)} at {g.vendor}" if g.cost_usd is not None else ""
        items.append(f"{g.gpus}x {g.gpu}: need {g.memory_need_gb} GB, {hours}{price}")
    items += [f"over budget: {line}" for line in o.over_budget]
    return Bullets(title=f"{o.provider} / {o.model} ({o.method})", items=items)


class Sensitivity(BaseModel):
    variable: str
    value: str
    training_cost_usd: float | None
    break_even_requests: float | None
    break_even_months: float | None


class CostRequest(BaseModel):
    """What to price. Give a dataset (tokens are counted) or token totals; leave provider empty to compare paths."""

    dataset: InputPath | None = Field(
        None, description="training JSONL; its tokens are counted with the target's billing rules"
    )
    validation_dataset: InputPath | None = Field(
        None, description="validation JSONL (billed by Together, free on OpenAI)"
    )
    training_tokens: int | None = Field(None, ge=0, description="tokens per epoch, when no dataset is given")
    validation_tokens: int | None = Field(
        None, ge=0, description="validation tokens per evaluation, when no validation_dataset"
    )
    examples: int | None = Field(None, ge=0, description="number of training examples, when no dataset is given")
    provider: str | None = Field(
        None,
        description="providers.yaml id (openai, together, fireworks, self-hosted, rented-gpu...); empty: compare "
        "every live path",
    )
    model: str | None = Field(
        None, description="the provider's model id or alias (gpt-4.1-mini); size classes for open-weight APIs"
    )
    method: str | None = Field(
        None, description="sft, sft_lora, sft_qlora, sft_full, dpo, rft...; default: the path's SFT method"
    )
    family: str | None = Field(
        None, description="when comparing: only paths of this family (open-weight, gpt, nova, gemini)"
    )
    epochs: float | None = Field(None, gt=0, description="default: OpenAI's auto rule for OpenAI, else by dataset size")
    n_evals: int | None = Field(
        None, ge=0, description="evaluations during training (Together bills validation tokens each time)"
    )
    training_hours: float | None = Field(None, ge=0, description="wall-clock hours for hourly-billed methods (RFT)")
    open_weight_model: str | None = Field(
        None, description="Hugging Face id of the open-weight base (its size is read from the name)"
    )
    model_params_b: float | None = Field(
        None, description="open-weight model size in billions (default: from the name, else 8)"
    )
    gpu: str | None = Field(None, description="gpus.yaml id to price GPU training on (default: every GPU that fits)")
    mfu: float | None = Field(
        None, description="model FLOPs utilisation for GPU time (default: training.yaml mfu_planning)"
    )
    monthly_requests: int | None = Field(None, ge=0, description="expected requests per month")
    base_prompt_tokens: int | None = Field(
        None,
        ge=0,
        description="prompt tokens per request today (instructions + few-shots); default: the dataset's mean prompt",
    )
    ft_prompt_tokens: int | None = Field(
        None,
        ge=0,
        description="prompt tokens per request after fine-tuning; default: the dataset's mean prompt without the "
        "system prompt",
    )
    output_tokens: int | None = Field(
        None, ge=0, description="output tokens per request; default: the dataset's mean answer"
    )
    base_model: str | None = Field(
        None, description="the model serving today if not the one being tuned (distillation), e.g. gpt-4.1"
    )
    base_provider: str | None = Field(None, description="provider of base_model (default: provider)")
    inference_model: str | None = Field(
        None, description="pricing row that serves the fine-tune, when its id differs from model"
    )
    tier: str | None = Field(None, description="inference tier: standard (default), batch, serverless...")
    hosting: str | None = Field(
        None, description="fixed hosting fee as provider/deployment, e.g. azure-openai/standard"
    )
    hosting_units: int | None = Field(None, ge=1, description="model units for per-unit hosting (default 1)")
    training_budget_usd: float | None = Field(None, ge=0, description="flag options whose training costs more")
    monthly_inference_budget_usd: float | None = Field(
        None, ge=0, description="flag options whose monthly inference costs more"
    )
    report: OutputPath | None = Field(None, description="write the full estimate as markdown here")


class DatasetSummary(BaseModel):
    path: str
    examples: int
    skipped_lines: list[int]
    tokens_per_epoch: int
    mean_prompt_tokens: float
    mean_system_tokens: float
    mean_output_tokens: float
    counter: str
    approximate: bool


class CostEstimate(BaseModel):
    dataset: DatasetSummary | None
    options: list[CostOption] = Field(description="one per provider path, cheapest known training first")
    excluded: list[str] = Field(description="paths left out of the comparison, with the reason and date")
    sensitivity: list[Sensitivity] = Field(
        description="how the numbers of the first priced option with inference move with epochs, volume and prompt "
        "length"
    )
    sensitivity_option: str | None = None
    assumptions: list[Assumption]
    notes: list[str]
    warnings: list[str]
    report: str | None

    def _headline(self) -> str:
        priced = [o for o in self.options if o.training.cost_usd is not None]
        paths = f"{len(self.options)} path{'s' if len(self.options) != 1 else ''}"
        if not priced:
            return f"{paths}; no training cost could be computed from confirmed prices"
        cheapest = min(priced, key=lambda o: o.training.cost_usd or 0.0)
        return (
            f"{paths}; training priced for {len(priced)}, cheapest {cheapest.provider} / {cheapest.model} at "
            f"{training_cell(cheapest)}"
        )

    def _dataset_text(self) -> list[Block]:
        d = self.dataset
        if d is None:
            return []
        approx = ", approximate" if d.approximate else ""
        return [
            Text(
                text=f"Dataset {d.path}: {d.examples:,} examples, {d.tokens_per_epoch:,} tokens per epoch "
                f"({d.counter}{approx})."
            )
        ]

    def _assumptions(self) -> Bullets:
        return Bullets(
            title="Assumptions", items=[f"{a.what}: {a.value} ({a.source}, dated {a.as_of})" for a in self.assumptions]
        )

    def _notices(self) -> list[Block]:
        if not self.warnings:
            return []
        return [Findings(title="Notices", items=[Finding(severity="warning", message=w) for w in self.warnings])]

    def document(self) -> Document:
        """A short table and the lines that change a decision; with a report written, the assumptions, sensitivity,
        GPU options, excluded paths and every note are left to it."""
        blocks: list[Block] = [*self._dataset_text(), options_table(self.options)]
        if len(self.options) == 1:
            blocks.append(option_details(self.options[0]))
        over = [
            Finding(severity="warning", where=f"{o.provider} / {o.model}", code="over budget", message=line)
            for o in self.options
            for line in o.over_budget
        ]
        if over and len(self.options) > 1:
            blocks.append(Findings(title="Over budget", items=over))
        short = self.report is not None
        notes = self.notes[:NOTES_SHOWN] if short else self.notes
        if notes:
            blocks.append(Bullets(title="Notes", items=notes))
        if short:
            left = [f"{len(self.notes) - NOTES_SHOWN} more notes"] if len(self.notes) > NOTES_SHOWN else []
            left += (
                [f"{len(self.excluded)} paths left out (closed to new jobs or not offered)"] if self.excluded else []
            )
            left.append("the assumptions, the sensitivity and the GPU options")
            blocks.append(Text(text=f"In the full estimate ({self.report}): {'; '.join(left)}."))
        else:
            blocks.append(self._assumptions())
            if self.excluded:
                blocks.append(Bullets(title="Excluded", items=self.excluded))
        blocks += self._notices()
        return Document(
            title="Cost and break-even",
            status="ok",
            headline=self._headline(),
            blocks=blocks,
            files=[self.report] if self.report else [],
        )

    def report_document(self) -> Document:
        """The full estimate: every path in detail, the sensitivity, assumptions, excluded paths and every note."""
        blocks: list[Block] = [*self._dataset_text(), options_table(self.options)]
        blocks += [option_details(o) for o in self.options]
        if self.sensitivity:
            rows: list[list[Cell]] = [
                [
                    s.variable,
                    s.value,
                    _money_or(s.training_cost_usd),
                    f"{s.break_even_requests:,.0f}" if s.break_even_requests is not None else "-",
                    duration_text(s.break_even_months) if s.break_even_months is not None else "-",
                ]
                for s in self.sensitivity
            ]
            blocks.append(
                Table(
                    title=f"Sensitivity ({self.sensitivity_option})",
                    rows=rows,
                    headers=["variable", "value", "training", "break-even requests", "payback time"],
                )
            )
        blocks.append(self._assumptions())
        if self.excluded:
            blocks.append(Bullets(title="Excluded", items=self.excluded))
        if self.notes:
            blocks.append(Bullets(title="Notes", items=self.notes))
        blocks += self._notices()
        return Document(title="Cost estimate", status="ok", headline=self._headline(), blocks=blocks)
