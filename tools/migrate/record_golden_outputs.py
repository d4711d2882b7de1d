"""record_golden_outputs: the old fine-tune's answers on held-out prompts, recorded while it still serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic
from tools.cost.money import money
from tools.evaluate.generate import read_items
from tools.migrate import golden_calls as calls
from tools.migrate.facts import ModelDates, Rates, base_of, folder_of, model_dates, rates, refuse_if_ended, setting
from tools.migrate.golden_prompts import HELDOUT, Prompt, PromptSet, select
from tools.migrate.models import GoldenPrice, RecordGoldenOutputsRequest, RecordGoldenOutputsResult

META = "golden.json"
GOLDEN = "golden.jsonl"
REFERENCES = "golden.references.jsonl"
PREDICTIONS = "golden.predictions.jsonl"
WEAKER = (
    "the prompts were sampled from the training file: the old model was trained on these very examples, so its "
    "answers show what it memorised as much as what it generalises; a held-out set (eval_data) proves more. The "
    "replacement is trained on {rest} (the training file without them)."
)


def read_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / META
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _prices(ps: PromptSet, all_rates: list[Rates], max_tokens: int) -> list[GoldenPrice]:
    prompt = sum(p.prompt_tokens for p in ps.prompts)
    expected = sum(min(p.reference_tokens, max_tokens) for p in ps.prompts) if ps.has_references else None
    at_most = max_tokens * len(ps.prompts)
    out = []
    for r in all_rates:
        mode = "batch" if r.tier == "batch" else "sync"
        out.append(
            GoldenPrice(
                mode=mode,  # type: ignore[arg-type]
                rates=r.text,
                status=r.status,
                expected_usd=None if expected is None else r.cost(prompt, expected),
                at_most_usd=r.cost(prompt, at_most),
                basis=r.basis,
            )
        )
    return out


def _price_text(price: GoldenPrice | None) -> str:
    if price is None:
        return "an unknown amount (no price in pricing.yaml)"
    if price.at_most_usd is None:
        return f"an unknown amount ({price.rates})"
    expected = f"about {money(price.expected_usd)}, " if price.expected_usd is not None else ""
    return f"{expected}at most {money(price.at_most_usd)}"


def _write_golden(
    ws: Workspace, folder: Path, ps: PromptSet, answers: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> list[str]:
    """golden.jsonl (prompt + the old model's answer), golden.references.jsonl (prompt + the source's answer, same
    order), golden.predictions.jsonl (the answers as run_eval predictions) and golden.json; only answered prompts."""
    answered = [p for p in ps.prompts if "message" in answers.get(p.custom_id, {})]
    golden_lines, ref_lines = [], []
    for p in answered:
        golden_lines.append(json.dumps({**p.body, "messages": p.body["messages"] + [answers[p.custom_id]["message"]]}))
        if p.reference is not None:
            ref_lines.append(json.dumps({**p.body, "messages": p.body["messages"] + [p.reference]}))
    write_text_atomic(folder / GOLDEN, "\n".join(golden_lines) + "\n")
    files = [folder / GOLDEN]
    if ps.has_references:
        write_text_atomic(folder / REFERENCES, "\n".join(ref_lines) + "\n")
        files.append(folder / REFERENCES)
    items, _, _ = read_items(folder / GOLDEN, ws.relative(folder / GOLDEN))
    preds = [
        json.dumps({"prediction": it.reference, "custom_id": p.custom_id, "line": p.line}, ensure_ascii=False)
        for it, p in zip(items, answered, strict=True)
    ]
    write_text_atomic(folder / PREDICTIONS, "\n".join(preds) + "\n")
    files.append(folder / PREDICTIONS)
    write_text_atomic(folder / META, json.dumps(meta, indent=2) + "\n")
    files.append(folder / META)
    return [ws.relative(f) for f in files]


def _usage(ps: PromptSet, answers: dict[str, dict[str, Any]]) -> tuple[int, int, int, int, int]:
    """(answered, failed, cut at max_tokens, input tokens, output tokens) of the prompts asked so far."""
    done = [answers[p.custom_id] for p in ps.prompts if p.custom_id in answers]
    good = [a for a in done if "message" in a]
    return (
        len(good),
        len(done) - len(good),
        sum(1 for a in good if a.get("finish_reason") == "length"),
        sum(int(a.get("prompt_tokens") or 0) for a in good),
        sum(int(a.get("completion_tokens") or 0) for a in good),
    )


def _check_batch_window(dates: ModelDates) -> None:
    hours = float(setting("batch_window_hours"))
    left = dates.days_left
    # A date is a whole day: with one day left the end may come in under a day, inside the batch's window.
    if left is not None and left * 24 <= hours:
        raise ToolError(
            "batch_outlasts_serving",
            f"the Batch API may take up to {hours:g} hours, but {dates.base} stops serving on {dates.serving_until} "
            f"({left} day(s) left)",
            "use mode=sync: each answer comes back at once (at the standard price)",
        )


class _Run:
    """One call of the tool: its inputs resolved, its prompts chosen, its prices known."""

    def __init__(self, req: RecordGoldenOutputsRequest) -> None:
        self.req = req
        self.ws = current()
        self.usage = knowledge.FactUsage()
        self.base = base_of(req.model)
        self.dates = model_dates(self.base, self.usage)
        refuse_if_ended(self.dates, req.model, "its answers can no longer be recorded")
        self.max_tokens = int(req.max_tokens or setting("golden_max_tokens"))
        self.temperature = float(setting("golden_temperature"))
        self.folder = self.ws.resolve(folder_of(req.model), what="migration folder")
        self.ps = select(
            self.ws,
            self.folder,
            model=req.model,
            base=self.base,
            eval_data=req.eval_data,
            training_data=req.training_data,
            sample=req.sample,
            seed=req.seed,
        )
        self.rates = rates(self.base, self.usage)
        self.prices = _prices(self.ps, self.rates, self.max_tokens)
        assert self.ps.heldout is not None
        self.key = calls.request_key(req.model, req.mode, self.max_tokens, self.temperature, self.ps.heldout)
        self.warnings: list[str] = []
        if not self.dates.known:
            self.warnings.append(self.dates.describe())
        if self.ps.skipped:
            self.warnings.append(
                f"{len(self.ps.skipped)} line(s) without a user turn were left out: "
                f"{', '.join(map(str, self.ps.skipped[:10]))}"
            )
        if self.ps.approximate:
            self.warnings.append(f"token counts are approximate ({self.ps.counter})")

    @property
    def price(self) -> GoldenPrice | None:
        return next((p for p in self.prices if p.mode == self.req.mode), None)

    def files(self) -> list[str]:
        out = [self.ws.relative(self.folder / HELDOUT)]
        if self.ps.train_rest is not None:
            out.append(self.ws.relative(self.ps.train_rest))
        return out

    def result(self, state: str, message: str, **extra: Any) -> RecordGoldenOutputsResult:
        rest = self.ws.relative(self.ps.train_rest) if self.ps.train_rest else None
        return RecordGoldenOutputsResult(
            model=self.req.model,
            base=self.base,
            state=state,  # type: ignore[arg-type]
            mode=self.req.mode,
            source=self.ps.source,
            weaker=WEAKER.format(rest=rest) if self.ps.source == "training_sample" else None,
            serving_until=self.dates.serving_until,
            days_left=self.dates.days_left,
            items=len(self.ps.prompts),
            has_references=self.ps.has_references,
            prompt_tokens=sum(p.prompt_tokens for p in self.ps.prompts),
            expected_output_tokens=sum(min(p.reference_tokens, self.max_tokens) for p in self.ps.prompts),
            max_output_tokens=self.max_tokens * len(self.ps.prompts),
            prices=self.prices,
            message=message,
            warnings=(self.warnings + self.usage.notices())[:12],
            files=extra.pop("files", None) or self.files(),
            **extra,
        )

    def missing(self, answers: dict[str, dict[str, Any]]) -> list[Prompt]:
        return [p for p in self.ps.prompts if p.custom_id not in answers]

    def recorded(self, answers: dict[str, dict[str, Any]], batch: dict[str, Any] | None) -> RecordGoldenOutputsResult:
        done, failed, cut, used_in, used_out = _usage(self.ps, answers)
        mode_rates = next((r for r in self.rates if (r.tier == "batch") == (self.req.mode == "batch")), None)
        cost = mode_rates.cost(used_in, used_out) if mode_rates else None
        meta = {
            "model": self.req.model,
            "base": self.base,
            "key": self.key,
            "mode": self.req.mode,
            "source": self.ps.source,
            "source_file": self.ws.relative(self.ps.path),
            "has_references": self.ps.has_references,
            "items": len(self.ps.prompts),
            "recorded": done,
            "failed": failed,
            "truncated": cut,
            "input_tokens": used_in,
            "output_tokens": used_out,
            "cost_usd": cost,
            "recorded_on": str(self.dates.today),
            "serving_until": str(self.dates.serving_until) if self.dates.serving_until else None,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "train_rest": self.ws.relative(self.ps.train_rest) if self.ps.train_rest else None,
            "errors": [
                f"line {p.line}: {answers[p.custom_id]['error']}"
                for p in self.ps.prompts
                if "error" in answers.get(p.custom_id, {})
            ][:20],
        }
        if done == 0:
            raise ToolError(
                "no_golden_answers",
                f"OpenAI answered none of the {len(self.ps.prompts)} prompts: {'; '.join(meta['errors'][:3])}",
                "check the errors (the model id, the prompts' format) and call again",
            )
        files = self.files() + _write_golden(self.ws, self.folder, self.ps, answers, meta)
        if cut:
            self.warnings.append(
                f"{cut} answer(s) were cut at max_tokens={self.max_tokens}: raise max_tokens and record again"
            )
        if failed:
            self.warnings.append(f"{failed} prompt(s) failed and are left out: {'; '.join(meta['errors'][:3])}")
        cost_text = money(cost) if cost is not None else "an unknown amount"
        return self.result(
            "recorded",
            f"recorded {done} answer(s) of {self.req.model} ({self.req.mode}) for {cost_text}; compare the "
            f"replacement with migration_report",
            batch_id=(batch or {}).get("id"),
            batch_status=(batch or {}).get("status"),
            recorded=done,
            failed=failed,
            truncated=cut,
            input_tokens_used=used_in,
            output_tokens_used=used_out,
            cost_usd=cost,
            files=files,
        )


def _already(run: _Run) -> RecordGoldenOutputsResult | None:
    """The result of an earlier recording of exactly this request; a ToolError when another one is there."""
    meta = read_meta(run.folder)
    if meta is None:
        state = calls.read_state(run.folder)
        if state.get("key") not in (None, run.key) and calls.read_answers(run.folder):
            run.ps.discard()
            raise ToolError(
                "golden_mismatch",
                f"{folder_of(run.req.model)} holds answers being recorded with other prompts or settings",
                "call with the same arguments to finish that recording, or move its golden.* files away",
            )
        run.ps.commit(run.folder)
        return None
    if meta.get("key") != run.key:
        run.ps.discard()
        raise ToolError(
            "golden_mismatch",
            f"{folder_of(run.req.model)}/{META} holds golden outputs recorded with other prompts or settings "
            f"({meta.get('items')} prompts from {meta.get('source_file')}, {meta.get('mode')})",
            "use them (migration_report), or move the golden.* files of that folder away to record again",
        )
    run.ps.commit(run.folder)
    return run.result(
        "recorded",
        f"already recorded on {meta.get('recorded_on')}: {meta.get('recorded')} answer(s); nothing was sent again",
        recorded=int(meta.get("recorded") or 0),
        failed=int(meta.get("failed") or 0),
        truncated=int(meta.get("truncated") or 0),
        input_tokens_used=meta.get("input_tokens"),
        output_tokens_used=meta.get("output_tokens"),
        cost_usd=meta.get("cost_usd"),
    )


def _dry_run(run: _Run) -> RecordGoldenOutputsResult:
    prices = {p.mode: p for p in run.prices}
    batch, sync = prices.get("batch"), prices.get("sync")
    offer = ""
    if batch is not None and run.req.mode == "sync":
        offer = f" The Batch API costs {_price_text(batch)} instead (results within its completion window)."
    elif sync is not None and run.req.mode == "batch":
        offer = f" (sync, at once: {_price_text(sync)}.)"
    what = "held-out prompts" if run.ps.source == "eval_data" else "prompts sampled from the training file"
    return run.result(
        "dry_run",
        f"would send {len(run.ps.prompts)} {what} to {run.req.model} ({run.req.mode}, up to {run.max_tokens} answer "
        f"tokens each) for {_price_text(run.price)}.{offer} The prompts are in "
        f"{run.ws.relative(run.folder / HELDOUT)}. Call again with confirm=true to send them (OpenAI bills "
        "the organisation that owns the key).",
    )


@tool(effect="spend", stage="migrate", duration="minutes")
def record_golden_outputs(req: RecordGoldenOutputsRequest) -> RecordGoldenOutputsResult:
    """Record a fine-tuned OpenAI model's answers (the golden outputs) on held-out prompts while it still serves, so
    that its open-weight replacement can be compared with it after it is gone. Without eval_data, prompts are sampled
    from the training file (weaker, and said so; the rest becomes the replacement's training file).

    Without confirm it writes the prompts it would send (migrations/<model>/heldout.jsonl) and returns the estimated
    cost for the Batch API (the lower price; results within 24 hours: call again to collect them) and for sync calls;
    with confirm=true it sends them. Resumable and idempotent: answers are kept as they arrive and a batch is found
    again, so calling again never pays twice. Refused with the date once the model no longer serves (dates from
    reference/data). Writes golden.jsonl, golden.predictions.jsonl (run_eval's baseline) and golden.json."""
    run = _Run(req)
    done = _already(run)
    if done is not None:
        return done
    if not req.confirm:
        return _dry_run(run)
    if req.mode == "batch":
        _check_batch_window(run.dates)
    state = calls.read_state(run.folder)
    answers = calls.read_answers(run.folder)
    state["key"] = run.key
    calls.write_state(run.folder, state)
    missing = run.missing(answers)
    batch = None
    if missing and req.mode == "sync":
        calls.run_sync(run.folder, missing, req.model, run.max_tokens, run.temperature)
    elif missing or state.get("active_batch"):
        batch = calls.run_batch(run.folder, state, missing, req.model, run.max_tokens, run.temperature)
    answers = calls.read_answers(run.folder)
    left = run.missing(answers)
    if not left and not state.get("active_batch"):
        return run.recorded(answers, batch)
    done, failed, _, _, _ = _usage(run.ps, answers)
    status = (batch or {}).get("status")
    counts = (batch or {}).get("request_counts") or {}
    why = "; ".join(calls.batch_errors(batch or {})[:3])
    message = (
        f"batch {batch.get('id')} is {status} ({counts.get('completed', 0)}/{counts.get('total', len(missing))} "
        f"done); call again with the same arguments to collect the answers (nothing is sent twice)"
        if batch and status not in calls.TERMINAL
        else f"{done} of {len(run.ps.prompts)} answered, {len(left)} still missing"
        + (f" (the batch {status}: {why})" if why else "")
        + "; call again with the same arguments to ask for the rest"
    )
    waiting = batch is not None and status not in calls.TERMINAL
    return run.result(
        "submitted" if waiting and status == "validating" else "in_progress" if waiting else "partial",
        message,
        batch_id=(batch or {}).get("id"),
        batch_status=status,
        recorded=done,
        failed=failed,
    )


__all__ = [
    "GOLDEN",
    "META",
    "PREDICTIONS",
    "REFERENCES",
    "RecordGoldenOutputsRequest",
    "RecordGoldenOutputsResult",
    "read_meta",
    "record_golden_outputs",
]
