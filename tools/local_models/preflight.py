"""The preflight: what a run would train, checked before any compute is spent.

:func:`preflight` renders every example with the model's chat template and our masks
(:mod:`tools.local_models.render`) and reports:

- a few examples token by token, each token marked trained or not;
- whether each trained assistant turn ends with a token the model's generation stops on (its generation
  config's EOS ids): a model trained on turns that end elsewhere never learns to stop;
- how many examples ``max_seq_len`` cuts, and how many have nothing left to train.

It refuses (``ToolError``) when nothing would be trained, or when more than ``max_truncated_share`` of the
examples would be cut. launch_lora runs it at every launch and for ``--preview``; validate can call it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.local_models.render import IGNORE, Rendered, render_messages, render_text

SHOWN_TOKENS = 160


@dataclass
class Example:
    """One example to check: a chat (``messages``) or a plain text, and its line in the file."""

    line: int
    messages: list[dict[str, Any]] | None = None
    text: str | None = None


class TokenView(BaseModel):
    token: str
    trained: bool


class SampleView(BaseModel):
    line: int
    tokens: int = Field(description="tokens in the example (after truncation)")
    trained_tokens: int
    first_shown: int = Field(description="index of the first token shown (the end of the example is shown)")
    shown: list[TokenView]
    marked: str = Field(description="the shown text with each trained span between ⟦ and ⟧")


class PreflightReport(BaseModel):
    template: str
    examples: int
    tokens: int
    trained_tokens: int
    stop_tokens: list[str] = Field(description="what the model's generation stops on (generation config EOS)")
    turns: int = Field(description="trained assistant turns that were not cut by max_seq_len")
    turns_ending_with_stop: int
    no_stop_lines: list[int] = Field(description="lines whose trained turn does not end with a stop token (first 10)")
    truncated: int
    truncated_lines: list[int]
    nothing_trained: int
    nothing_trained_lines: list[int]
    template_fallback: int = Field(description="examples whose template rewrites earlier turns: last turn trained")
    samples: list[SampleView]
    warnings: list[str]


def _runs(labels: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) index ranges of consecutive trained labels."""
    out: list[tuple[int, int]] = []
    start = None
    for i, lab in enumerate(labels):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(labels)))
    return out


def _sample(tokenizer: Any, r: Rendered) -> SampleView:
    first_trained = next((i for i, lab in enumerate(r.labels) if lab != IGNORE), 0)
    first = max(0, first_trained - 24, len(r.input_ids) - SHOWN_TOKENS)  # the end of the turn (its EOS) is shown
    shown = [
        TokenView(token=tokenizer.decode([t]), trained=r.labels[i] != IGNORE)
        for i, t in enumerate(r.input_ids[first:], start=first)
    ][:SHOWN_TOKENS]
    marked = ""
    inside = False
    for tv in shown:
        if tv.trained != inside:
            marked += "⟦" if tv.trained else "⟧"
            inside = tv.trained
        marked += tv.token
    return SampleView(
        line=r.line,
        tokens=len(r.input_ids),
        trained_tokens=r.trained,
        first_shown=first,
        shown=shown,
        marked=marked + ("⟧" if inside else ""),
    )


def render_example(tokenizer: Any, ex: Example, max_seq_len: int) -> Rendered:
    if ex.messages is not None:
        return render_messages(tokenizer, ex.messages, max_seq_len, ex.line)
    return render_text(tokenizer, ex.text or "", max_seq_len, ex.line)


def preflight(
    tokenizer: Any,
    examples: Iterable[Example],
    *,
    max_seq_len: int,
    stop_ids: Sequence[int],
    max_truncated_share: float,
    template: str = "tokenizer",
    samples: int = 2,
    label: str = "the data",
) -> PreflightReport:
    """Check what would be trained on ``examples``; ToolError when nothing would be or most would be cut."""
    stop = set(stop_ids)
    n = tokens = trained = turns = ending = fallback = 0
    truncated: list[int] = []
    empty: list[int] = []
    no_stop: list[int] = []
    views: list[SampleView] = []
    for ex in examples:
        r = render_example(tokenizer, ex, max_seq_len)
        n += 1
        tokens += len(r.input_ids)
        trained += r.trained
        fallback += int(r.fallback)
        if r.truncated:
            truncated.append(r.line)
        if r.trained == 0:
            empty.append(r.line)
            continue
        if len(views) < samples:
            views.append(_sample(tokenizer, r))
        for _start, end in _runs(r.labels):
            if r.truncated and end == len(r.labels):
                continue  # cut by max_seq_len: counted as truncated
            turns += 1
            if r.input_ids[end - 1] in stop:
                ending += 1
            elif len(no_stop) < 10 and (not no_stop or no_stop[-1] != r.line):
                no_stop.append(r.line)
    stop_tokens = [tokenizer.decode([i]) for i in sorted(stop)]
    if n == 0 or trained == 0:
        raise ToolError(
            "nothing_to_train",
            f"{label}: nothing would be trained: {n} examples, {len(empty)} without any assistant token after "
            f"rendering and truncation to max_seq_len={max_seq_len}",
            "each example needs an assistant answer with weight other than 0; raise max_seq_len if the answers "
            "are cut off",
        )
    if len(truncated) / n > max_truncated_share:
        raise ToolError(
            "most_examples_truncated",
            f"{label}: {len(truncated)} of {n} examples are longer than max_seq_len={max_seq_len} and would be cut "
            f"(first lines: {', '.join(map(str, truncated[:5]))})",
            f"raise max_seq_len (configure_training measures the 99th percentile) or shorten the examples; more "
            f"than {max_truncated_share:.0%} cut is refused",
        )
    warnings = []
    if turns and ending < turns:
        warnings.append(
            f"{turns - ending} of {turns} trained assistant turns do not end with a token the model stops on "
            f"({', '.join(repr(s) for s in stop_tokens) or 'none set'}), first lines {no_stop[:5]}: the fine-tuned "
            "model may not learn to stop; use a chat template whose assistant turn ends with the model's EOS"
        )
    if truncated:
        warnings.append(
            f"{len(truncated)} of {n} examples are longer than max_seq_len={max_seq_len} and will be cut "
            f"(first lines {truncated[:5]})"
        )
    if empty:
        warnings.append(f"{len(empty)} examples have nothing to train after rendering (first lines {empty[:5]})")
    if fallback:
        warnings.append(
            f"{fallback} examples: the chat template rewrites earlier turns, so only their last assistant turn is "
            "trained"
        )
    return PreflightReport(
        template=template,
        examples=n,
        tokens=tokens,
        trained_tokens=trained,
        stop_tokens=stop_tokens,
        turns=turns,
        turns_ending_with_stop=ending,
        no_stop_lines=no_stop,
        truncated=len(truncated),
        truncated_lines=truncated[:10],
        nothing_trained=len(empty),
        nothing_trained_lines=empty[:10],
        template_fallback=fallback,
        samples=views,
        warnings=warnings,
    )


__all__ = ["Example", "PreflightReport", "SampleView", "TokenView", "preflight", "render_example"]
