"""The request and result models of prepare_data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Cell, Document, Finding, Findings, Table, Text
from tools.core.fields import InputPath, OutputPath
from tools.data.formats import FormatName

SKIPPED_SHOWN = 10
Field_ = Literal["system", "prompt", "completion", "text", "chosen", "rejected"]
ChatRole = Literal["system", "user", "assistant", "tool"]


class ColumnMap(BaseModel):
    field: Field_ = Field(
        description="What the column holds: system, prompt (user turn), completion (assistant "
        "turn), text, chosen or rejected."
    )
    column: str = Field(description="The column (CSV header, JSON key, Parquet column) to read it from.")


class RoleMap(BaseModel):
    name: str = Field(description="A role name as the input spells it, e.g. customer, agent, bot_reply.")
    role: ChatRole = Field(description="The chat role it stands for: system, user, assistant or tool.")


class PrepareRequest(BaseModel):
    path: InputPath = Field(description="Input: .csv, .tsv, .json (array or object of arrays), .jsonl or .parquet.")
    out: OutputPath = Field(description="The JSONL file to write (a new file; the input is never changed).")
    to: FormatName = Field("openai_chat", description="Output format.")
    input_type: Literal["csv", "tsv", "json", "jsonl", "parquet"] | None = Field(
        None, description="Input file type; default: from the extension."
    )
    from_format: FormatName | None = Field(
        None, description="Format of the input rows when they already are a chat format; default: detected per row."
    )
    mapping: list[ColumnMap] | None = Field(
        None, description="Column mapping, e.g. prompt=question, completion=answer."
    )
    mapping_file: InputPath | None = Field(None, description="JSON or YAML file {field: column} instead of mapping.")
    roles: list[RoleMap] | None = Field(
        None,
        description="Role names of the input that are not system/user/assistant/tool, mapped to those "
        "(e.g. customer=user, agent=assistant).",
    )
    delimiter: str | None = Field(
        None,
        description="CSV/TSV field separator (one character, or 'tab'); default: sniffed from the file "
        "(comma, semicolon, tab or pipe).",
    )
    system: str | None = Field(None, description="System prompt to put in every example that has none.")
    target: str | None = Field(None, description="Training target whose rules the output is validated against.")
    validate_output: bool = Field(True, description="Validate the written file (validate_jsonl) on the way out.")


class Dropped(BaseModel):
    """Something the output format cannot hold (e.g. tool calls in a text-only format)."""

    what: str
    examples: int
    first_row: int


class DroppedField(BaseModel):
    """An input column or key with a value that no part of the output carries."""

    field: str = Field(description="Column name, or key path such as metadata or messages[].timestamp.")
    rows: int = Field(description="Rows in which it held a non-empty value that was left out.")
    first_row: int = Field(description="First such row (the line number for CSV, TSV and JSONL).")


class Skipped(BaseModel):
    row: int = Field(description="The line number for CSV, TSV and JSONL; the row number for JSON and Parquet.")
    reason: str


class PrepareResult(BaseModel):
    out: str
    to: str
    rows: int
    written: int
    row_unit: Literal["line", "row"] = Field(description="What skipped and dropped row numbers count.")
    delimiter: str | None = Field(None, description="The CSV/TSV separator used, and whether it was sniffed.")
    skipped: list[Skipped]
    skipped_total: int
    dropped: list[Dropped]
    dropped_fields: list[DroppedField] = Field(
        default_factory=list, description="Input columns and keys with values that the output does not carry."
    )
    lossless: bool = Field(
        description="True only when every row was written, every non-empty input field is read into the output, "
        "and the output format holds everything that was read."
    )
    validation_ok: bool | None = None
    validation_errors: int | None = None
    validation_report: str | None = None

    def _n(self, count: int) -> str:
        return f"{count:,} {self.row_unit}{'' if count == 1 else 's'}"

    def _skipped(self) -> list[Block]:
        unit = self.row_unit
        items = [
            Finding(severity="warning", where=f"{unit} {s.row}", message=s.reason) for s in self.skipped[:SKIPPED_SHOWN]
        ]
        blocks: list[Block] = [Findings(title=f"Skipped {self._n(self.skipped_total)}", items=items)]
        if self.skipped_total > len(items):
            blocks.append(
                Text(
                    text=f"{self.skipped_total - len(items):,} more skipped {unit}s; the first "
                    f"{len(self.skipped)} are in the JSON result (--json)."
                )
            )
        return blocks

    def _left_out(self) -> list[Block]:
        unit = self.row_unit
        blocks: list[Block] = []
        if self.dropped_fields:
            rows: list[list[Cell]] = [[f.field, f.rows, f.first_row] for f in self.dropped_fields]
            blocks.append(
                Table(
                    title="Input fields left out of the output (map them, or they are lost)",
                    headers=["field", f"{unit}s with a value", f"first {unit}"],
                    rows=rows,
                )
            )
        if self.dropped:
            rows = [[d.what, d.examples, d.first_row] for d in self.dropped]
            blocks.append(
                Table(
                    title=f"Not kept by the {self.to} format", headers=["what", "examples", f"first {unit}"], rows=rows
                )
            )
        return blocks

    def document(self) -> Document:
        blocks: list[Block] = []
        if self.delimiter:
            blocks.append(Text(text=f"Read as CSV, separator {self.delimiter}; override it with --delimiter."))
        if self.skipped_total:
            blocks += self._skipped()
        blocks += self._left_out()
        if self.lossless:
            blocks.append(
                Text(
                    text=f"Lossless: all {self._n(self.rows)} written; every non-empty input field was "
                    f"read into the output and {self.to} holds all of it."
                )
            )
        if self.validation_ok is not None:
            state = "valid" if self.validation_ok else f"{self.validation_errors} errors"
            blocks.append(Text(text=f"Validation of the output: {state}; its report is listed below."))
        problems = self.validation_ok is False or self.written == 0
        files = [self.out] + ([self.validation_report] if self.validation_report else [])
        return Document(
            title="Data conversion",
            status="problems" if problems else "ok",
            headline=f"wrote {self.out}: {self.written:,} of {self._n(self.rows)} as {self.to}",
            blocks=blocks,
            files=files,
        )
