"""The request and result models of facts_check, and how the check reads (``FactsCheckReport.document()``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Table, Text
from tools.knowledge.core import FactWarning

MAX_LISTED = 40
STALE_SHOWN = 15
PROVIDERS_FILE = "providers.yaml"


def _count(listed: list[FactWarning]) -> str:
    """How many, with "at least" when the list was cut at MAX_LISTED."""
    return f"at least {len(listed)}" if len(listed) >= MAX_LISTED else str(len(listed))


class FactsCheckRequest(BaseModel):
    today: date | None = Field(
        default=None, description="Date to check against (YYYY-MM-DD); default: today (or FINETUNE_TODAY)."
    )
    max_age_days: int | None = Field(
        default=None,
        ge=0,
        description="Overrides every row's review age (by default each row's own, from its file's expiry, else 120 "
        "days or FINETUNE_FACTS_MAX_AGE_DAYS).",
    )
    horizon_days: int | None = Field(
        default=None, ge=0, description="Offerings ending within this many days are listed as closing; default 90."
    )


class FactFileSummary(BaseModel):
    file: str
    rows: int
    validated: bool = Field(description="true when a pydantic model checked the whole file")
    error: str | None = None


class FactsCheckReport(BaseModel):
    today: date
    max_age_days: int
    horizon_days: int
    files: list[FactFileSummary]
    rows_checked: int
    secondary_rows: int = Field(description="rows whose source is a third-party compilation")
    headline: list[str] = Field(description="the most important sentences, closing and ended paths first")
    closing: list[FactWarning] = Field(description="close to new jobs, or stop serving, within the horizon")
    ended: list[FactWarning] = Field(description="closed to new jobs, or stopped serving")
    unknown_ends: list[FactWarning] = Field(description="live offerings whose end date the sources leave unknown")
    deprecated: list[str] = Field(description="offerings marked deprecated without an end date")
    stale: list[FactWarning] = Field(
        description=f"rows past their review age, oldest first (at most {MAX_LISTED}); ended offerings are left out"
    )
    stale_total: int
    expired_in_use: list[str] = Field(
        description="ranking or pricing rows past their expiry that still carry a value a tool would use"
    )
    negative_violations: list[str] = Field(description="rows that bring back a claim negative_facts.yaml forbids")
    invalid: list[str]
    ok: bool = Field(description="false when a file is invalid, a fact is stale or a negative fact is violated")

    def _end_tables(self) -> list[Block]:
        """Offerings that close or closed, from providers.yaml (the price rows that end with them are in the JSON)."""
        blocks: list[Block] = []
        closing: list[list[Cell]] = [[str(w.date), w.days, w.summary] for w in self.closing if w.file == PROVIDERS_FILE]
        if closing:
            blocks.append(
                Table(
                    title=f"Closing soon ({PROVIDERS_FILE}; the price rows that end with them are in the JSON result)",
                    headers=["date", "in days", "what"],
                    rows=closing,
                )
            )
        ended: list[list[Cell]] = [[str(w.date), w.summary] for w in self.ended if w.file == PROVIDERS_FILE]
        if ended:
            blocks.append(
                Table(
                    title=f"Closed to new jobs or no longer served ({PROVIDERS_FILE})",
                    headers=["date", "what"],
                    rows=ended,
                )
            )
        unknown = [
            Finding(severity="warning", message=w.message) for w in self.unknown_ends if w.file == PROVIDERS_FILE
        ]
        if unknown:
            blocks.append(Findings(title="End date unknown", items=unknown))
        if self.deprecated:
            blocks.append(Bullets(title="Deprecated, no end date", items=self.deprecated))
        return blocks

    def _problem_blocks(self) -> list[Block]:
        blocks: list[Block] = []
        if self.stale:
            shown = self.stale[:STALE_SHOWN]
            rows: list[list[Cell]] = [[str(w.date), f"{w.file}: {w.row}", w.source] for w in shown]
            blocks.append(
                Table(
                    title=f"{self.stale_total} facts past their review age (oldest first, {len(shown)} shown)",
                    headers=["date", "row", "source"],
                    rows=rows,
                )
            )
        problems = [
            Finding(severity="warning", code="past expiry, still carries a value", message=line)
            for line in self.expired_in_use
        ]
        problems += [
            Finding(severity="error", code="brings back a wrong claim", message=line)
            for line in self.negative_violations
        ]
        problems += [Finding(severity="error", code="invalid", message=line) for line in self.invalid]
        if problems:
            blocks.append(Findings(title="Problems", items=problems))
        return blocks

    def document(self) -> Document:
        blocks: list[Block] = [
            Text(
                text=f"Review ages from each file's expiry, else {self.max_age_days} days; horizon "
                f"{self.horizon_days} days; {self.secondary_rows} rows from secondary sources."
            ),
        ]
        if self.headline:
            blocks.append(Bullets(title="What matters most", items=self.headline))
        blocks += self._end_tables() + self._problem_blocks()
        if self.ok:
            blocks.append(Text(text="Every fact is within its review age and every file validates."))
        headline = (
            f"{self.rows_checked} rows in {len(self.files)} files on {self.today}: {_count(self.ended)} rows ended, "
            f"{_count(self.closing)} close within {self.horizon_days} days, {self.stale_total} past their review age"
        )
        return Document(title="Dated facts", status="ok" if self.ok else "problems", headline=headline, blocks=blocks)
