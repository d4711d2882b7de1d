"""The request and result models of split_dataset."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.core.fields import InputPath, OutputPath
from tools.data.formats import FormatName

SPLITS = ("train", "val", "test")


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
