"""The request and result models of select_provider (scoring.py ranks, select_provider.py is the tool)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Table, Text
from tools.decide.checklist import Privacy

REASONS_SHOWN = 2


class ProviderRequest(BaseModel):
    """Constraints; every one is optional. Hard ones exclude options, soft ones add concerns."""

    data_may_leave: bool | None = Field(
        None, description="false: the data may not leave our machines (self-hosted only)"
    )
    privacy: Privacy | None = Field(
        None,
        description="the checklist's privacy answer; must_stay_on_premises implies data_may_leave=false, health "
        "implies a HIPAA BAA",
    )
    region: str | None = Field(None, description="required processing region, e.g. eu, us, us-east-1")
    zero_retention: bool | None = Field(None, description="the provider must offer zero data retention")
    hipaa_baa: bool | None = Field(None, description="a HIPAA BAA must cover the fine-tuning path")
    training_budget_usd: float | None = Field(
        None, ge=0, description="exclude options whose training costs more (needs training_tokens)"
    )
    training_tokens: int | None = Field(None, ge=0, description="tokens per epoch, to price options against the budget")
    model_family: str | None = Field(None, description="open-weight, gpt, gpt-4.1, nova, gemini, qwen3, any")
    model_size_b: float | None = Field(None, description="open-weight model size in billions, to pick the size class")
    method: str | None = Field(None, description="sft, dpo, rft, lora, full... (default: supervised fine-tuning)")
    needs_tool_calling: bool | None = Field(None, description="the fine-tuned model must call tools")
    needs_vision: bool | None = Field(None, description="the fine-tuned model must read images")
    deadline: date | None = Field(None, description="the model must be trained and in production by this date")
    examples: int | None = Field(None, ge=0, description="how many training examples we have")


class Option(BaseModel):
    rank: int
    provider: str
    provider_name: str
    model: str
    method: str
    kind: str
    score: int
    score_parts: list[str]
    fits: list[str] = Field(description="why it fits")
    concerns: list[str] = Field(description="why not, or what to check")
    cost_class: Literal["free", "low", "medium", "high", "gpu_hours", "unconfirmed", "unpriced"]
    training_price: str = Field(description="the training price in words, or why there is none")
    training_cost_usd: float | None = Field(None, description="with training_tokens: the estimated training cost")
    available_until: date | None = Field(
        None, description="the day it closes to new jobs (null: no known date; see end_unknown)"
    )
    serving_until: date | None = Field(None, description="the day inference on the fine-tune stops, when known")
    end_unknown: bool = Field(False, description="true when the sources leave the closing date unknown")
    serving: str = Field(description="how the fine-tune is served: serverless, dedicated, self-managed...")
    eligibility: str | None = Field(None, description="who may still start jobs, when not everyone may")


class Excluded(BaseModel):
    provider: str
    model: str | None
    reason: str
    end_date: date | None = Field(
        None, description="the day the service or model ended or closes, when that is the reason"
    )


class ProviderRanking(BaseModel):
    options: list[Option]
    excluded: list[Excluded]
    ranking: str = Field(description="how the score is made")
    constraints: list[str] = Field(description="the constraints as understood")
    findings: list[str] = Field(description="contradictions or doubtful constraints")
    warnings: list[str]

    def _options_blocks(self) -> list[Block]:
        rows: list[list[Cell]] = [
            [
                o.rank,
                f"{o.provider} / {o.model}",
                o.method,
                o.score,
                o.cost_class,
                "unknown" if o.end_unknown else str(o.available_until or "-"),
            ]
            for o in self.options
        ]
        table = Table(
            title="Options, best first",
            rows=rows,
            headers=["#", "provider / model", "method", "score", "cost", "no new jobs from"],
        )
        why: list[Finding] = []
        for o in self.options:
            if o.fits:
                why.append(
                    Finding(severity="info", where=f"#{o.rank}", code="fits", message="; ".join(o.fits[:REASONS_SHOWN]))
                )
            if o.concerns:
                why.append(
                    Finding(
                        severity="warning",
                        where=f"#{o.rank}",
                        code="concerns",
                        message="; ".join(o.concerns[:REASONS_SHOWN]),
                    )
                )
        title = f"Why and why not (the first {REASONS_SHOWN} reasons of each)"
        return [table, Findings(title=title, items=why)] if why else [table]

    def document(self) -> Document:
        blocks: list[Block] = [Text(text="Constraints: " + "; ".join(self.constraints))] if self.constraints else []
        if self.options:
            blocks += self._options_blocks()
        blocks.append(Text(text=self.ranking))
        if self.excluded:
            blocks.append(
                Bullets(
                    title="Excluded",
                    items=[
                        f"{e.provider}" + (f" / {e.model}" if e.model else "") + f": {e.reason}" for e in self.excluded
                    ],
                )
            )
        notes = [Finding(severity="warning", code="check", message=f) for f in self.findings]
        notes += [Finding(severity="warning", message=w) for w in self.warnings]
        if notes:
            blocks.append(Findings(title="Notes", items=notes))
        top = self.options[0] if self.options else None
        headline = f"top: {top.provider} / {top.model} ({top.method})" if top else "no option fits the constraints"
        return Document(title="Where to train", status="ok" if top else "problems", headline=headline, blocks=blocks)
