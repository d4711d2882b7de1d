"""The thresholds of the content checks (reference/data/content_checks.yaml), each with its source and reason."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.knowledge.core import Fact, load_facts

Severity = Literal["error", "warning", "info"]


class CheckFact(Fact):
    severity: Severity = "warning"


class MojibakeFact(CheckFact):
    min_lost_apostrophes: int = Field(ge=1)


class FillerFact(CheckFact):
    max_words: int = Field(ge=1)
    max_letters: int = Field(ge=1)


class PhraseFact(CheckFact):
    min_words: int = Field(ge=1)
    max_words: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)
    min_answers: int = Field(ge=2)


class RepeatedAnswerFact(CheckFact):
    min_prompts: int = Field(ge=2)


class LabelFact(CheckFact):
    max_words: int = Field(ge=1)
    max_labels: int = Field(ge=2)
    label_share: float = Field(gt=0, le=1)
    min_answers: int = Field(ge=2)
    max_ratio: float = Field(gt=1)


class RepetitionFact(CheckFact):
    min_bytes: int = Field(ge=1)
    max_compression_ratio: float = Field(gt=1)


class TruncationFact(Fact):
    min_words: int = Field(ge=1)
    warn_share: float = Field(ge=0, le=1)


class ScriptFact(CheckFact):
    majority_share: float = Field(gt=0.5, le=1)
    min_letters: int = Field(ge=1)


class ContentFacts(BaseModel):
    invisible_characters: CheckFact
    mojibake: MojibakeFact
    contact_details: CheckFact
    filler_prompt: FillerFact
    repeated_phrase: PhraseFact
    repeated_answer: RepeatedAnswerFact
    label_imbalance: LabelFact
    degenerate_repetition: RepetitionFact
    truncated_answer: TruncationFact
    language_mix: ScriptFact


def content_facts() -> ContentFacts:
    return load_facts("content_checks", ContentFacts)
