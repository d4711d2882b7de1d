"""The model decides the rules: which training target a ``--model`` implies, and how its tokens are counted.

An OpenAI model id (tiktoken knows it, ``ft:`` ids included) means OpenAI's rules and its own encoding. A
provider model listed in reference/data/formats.yaml ``models`` (Bedrock Claude Haiku, Vertex Gemini) means
that provider's target. An open-weight model, a Hugging Face id (``org/name``) or a local model folder, trains
with TRL: TRL's rules, counted with the model's own tokenizer when its files are on disk (the folder, or the
Hugging Face cache, offline), else with the family's approximation from formats.yaml ``families``, labelled
as such. Anything else keeps the file format's default target and an approximate o200k count.

For a local open-weight model, validate also renders the examples with its chat template: tools/validate/
template_check.py runs the training engine's preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tools.data.formats import FormatFacts, TargetFact
from tools.data.tokens import TokenCounter, counter_for, encoding_for_model, tiktoken_length
from tools.local_models import gemma
from tools.local_models.tiny import is_tiny


@dataclass
class ModelRules:
    """What ``--model`` decides: the target (None: by format), the counter, the per-example limit, and notes."""

    target: TargetFact | None
    counter: TokenCounter
    limit: int | None
    open_weight: bool = False
    notes: list[str] = field(default_factory=list)


def _open_weight(model: str, folder: Path | None) -> bool:
    if folder is not None or is_tiny(model) or gemma.is_gemma(model):
        return True
    return "/" in model and not model.startswith(("http:", "https:", "ft:")) and not model.startswith("/")


def rules_for(model: str | None, F: FormatFacts, folder: Path | None = None) -> ModelRules | None:
    """The rules ``model`` implies (``folder``: the model's local folder, when it is one); None without a model."""
    if not model:
        return None
    row = F.model(model)
    encoding, exact = encoding_for_model(model)
    if encoding is not None and exact:
        target = F.target(row.target) if row is not None and row.target else F.target("openai")
        limit = row.max_tokens_per_example if row else target.max_tokens_per_example
        return ModelRules(target, counter_for(model), limit, notes=[f"{model}: {target.label} rules"])
    if row is not None and row.target:
        target = F.target(row.target)
        counter = counter_for(model)
        return ModelRules(
            target,
            counter,
            row.max_tokens_per_example,
            notes=[f"{model}: {target.label} rules; tokens approximated with {counter.method}"],
        )
    if _open_weight(model, folder):
        return _open_weight_rules(model, F, folder)
    return None


def _open_weight_rules(model: str, F: FormatFacts, folder: Path | None) -> ModelRules:
    target = F.target("trl")
    packaged = gemma.converted() if gemma.is_gemma(model) else None
    name = str(folder) if folder is not None else str(packaged) if packaged is not None else model
    own = counter_for(name)
    notes = [f"{model} is an open-weight model: it trains with TRL, so TRL's rules apply (not a provider's)"]
    if not own.approximate:
        notes.append(f"tokens counted with {model}'s own tokenizer (found on disk)")
        return ModelRules(target, TokenCounter(model, f"hf:{model}", False, own._length), None, True, notes)
    family = F.family(model)
    if family is not None:
        counter = TokenCounter(
            model, f"approx:{family.encoding} ({family.label})", True, tiktoken_length(family.encoding)
        )
        notes.append(
            f"{model}'s tokenizer is not on disk: tokens approximated with {family.encoding}, {family.label}; "
            "download the model (or pass its folder) for exact counts"
        )
    else:
        counter = TokenCounter(
            model, "approx:o200k_base (no family approximation)", True, tiktoken_length("o200k_base")
        )
        notes.append(
            f"{model}'s tokenizer is not on disk and its family is unknown: tokens approximated with o200k_base; "
            "download the model (or pass its folder) for exact counts"
        )
    return ModelRules(target, counter, None, True, notes)
