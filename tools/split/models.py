"""The request and result models of split_dataset."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Table, Text
from tools.core.fields import InputPath, OutputPath
from tools.data.formats import FormatName

SPLITS = ("train", "val", "test")
LINES_SHOWN = 20


class SplitRequest(BaseModel):
    path: InputPath = Field(description="The JSONL dataset to split (it is not changed).")
    ratios: list[float] | None = Field(
        None,
        description="Shares of train, validation and test, summing to 1; default [0.8, 0.1, 0.1]. Two values mean "
        "no test split.",
    )
    seed: int = Field(0, description="Seed; the same seed and file always give the same split.")
    stratify: str | None = Field(
        None,
        description="Top-level field (dotted path allowed, e.g. meta.task) to "
        "stratify by, so each split keeps its mix. Every line must have it.",
    )
    group_near_duplicates: bool = Field(True, description="Keep each group of near-duplicates in one split.")
    format: FormatName | None = Field(None, description="Force the line format instead of detecting it.")
    train_out: OutputPath | None = Field(None, description="Default: <name>.train.jsonl beside the input.")
    val_out: OutputPath | None = Field(None, description="Default: <name>.val.jsonl beside the input.")
    test_out: OutputPath | None = Field(None, description="Default: <name>.test.jsonl beside the input.")
    manifest: OutputPath | None = Field(None, description="Default: <name>.split.json beside the input.")
    force: bool = Field(
        False, description="Overwrite split files that a training run in runs/ used (their data would be lost)."
    )


class SplitPart(BaseModel):
    split: str
    path: str
    examples: int
    groups: int = Field(description="Distinct duplicate/near-duplicate groups in this split (its effective size).")
    sha256: str
    content_sha256: str
    strata: list[str] | None = None


class SplitResult(BaseModel):
    parts: list[SplitPart]
    examples: int
    groups: int
    grouped_examples: int
    skipped_lines: list[int]
    seed: int
    manifest: str
    replaced: list[str] = Field(
        default_factory=list, description="Existing files that were replaced (a run's files only with force)."
    )
    leftovers_removed: list[str] = Field(
        default_factory=list, description="Temporary files of an earlier, interrupted split that were cleaned up."
    )

    def _parts_table(self) -> Table:
        stratified = any(p.strata for p in self.parts)
        headers = ["split", "file", "examples", "groups", "sha256"] + (["strata"] if stratified else [])
        rows: list[list[Cell]] = []
        for p in self.parts:
            row: list[Cell] = [p.split, p.path, p.examples, p.groups, p.sha256[:12]]
            rows.append(row + ([", ".join(p.strata or [])] if stratified else []))
        return Table(headers=headers, rows=rows)

    def document(self) -> Document:
        blocks: list[Block] = [
            self._parts_table(),
            Text(
                text=f"{self.examples:,} examples in {self.groups:,} groups; {self.grouped_examples:,} examples share "
                f"a group with a duplicate or near-duplicate and stay in one split (seed {self.seed})."
            ),
        ]
        if self.skipped_lines:
            shown = ", ".join(map(str, self.skipped_lines[:LINES_SHOWN]))
            more = f" and {len(self.skipped_lines) - LINES_SHOWN} more" if len(self.skipped_lines) > LINES_SHOWN else ""
            blocks.append(Text(text=f"Lines left out (not usable examples): {shown}{more}."))
        if self.replaced:
            blocks.append(Bullets(title="Replaced", items=self.replaced))
        if self.leftovers_removed:
            blocks.append(
                Bullets(title="Removed: files of an earlier, interrupted split", items=self.leftovers_removed)
            )
        blocks.append(
            Text(text=f"The manifest {self.manifest} is written last: the split is complete only when it is there.")
        )
        headline = " / ".join(f"{p.split} {p.examples:,}" for p in self.parts) + " examples"
        return Document(
            title="Train / validation / test split",
            status="ok",
            headline=headline,
            blocks=blocks,
            files=[p.path for p in self.parts] + [self.manifest],
        )
