"""decide_fit: the decision checklist -> prompt engineering / few-shot / RAG / fine-tune / RAG + fine-tune /
not yet, with the rules that fired, confidence, what would change the verdict and what to do next.

The rules are data (``reference/data/decision.yaml``); this module only evaluates them. A rule fires
when every condition holds. An unanswered or "unknown" field makes a condition *open*: a rule with
an open condition neither fires nor is ruled out, and its open fields are the questions whose
answers could change the verdict.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools import knowledge
from tools.core.document import Block, Bullets, Document, Finding, Findings, Text
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.decide.checklist import ChecklistAnswers
from tools.knowledge.decision import Condition, Rule

VERDICT_LABELS = {
    "prompt_engineering": "prompt engineering",
    "few_shot": "few-shot prompting",
    "rag": "RAG (retrieval)",
    "fine_tune": "fine-tune (LoRA first)",
    "rag_plus_fine_tune": "RAG + fine-tune",
    "not_yet": "not yet",
}
CORE = (
    "failure_mode",
    "quality_examples",
    "monthly_requests",
    "privacy",
    "training_budget_usd",
    "monthly_inference_budget_usd",
)
FORMAT_WORDS = re.compile(r"\b(format|json|schema|structure[d]?|template|fields?|numbered steps|sign-?off)\b", re.I)
FRESH_WORDS = re.compile(
    r"\b(latest|up[- ]to[- ]date|changes? (daily|weekly|often)|fresh|real[- ]time|new products?)\b", re.I
)
PRINCIPLES_BY_VERDICT = {
    "fine_tune": (
        "evals_first",
        "baseline_first",
        "quality_over_quantity",
        "held_out_split",
        "lora_first",
        "same_precision",
        "expect_iterations",
        "pii_before_training",
        "portable_paths",
    ),
    "rag_plus_fine_tune": (
        "evals_first",
        "baseline_first",
        "quality_over_quantity",
        "held_out_split",
        "lora_first",
        "same_precision",
        "expect_iterations",
        "pii_before_training",
        "portable_paths",
    ),
    "not_yet": ("evals_first", "baseline_first", "quality_over_quantity", "held_out_split"),
    "few_shot": ("evals_first", "baseline_first", "quality_over_quantity"),
    "prompt_engineering": ("evals_first", "baseline_first"),
    "rag": ("evals_first", "baseline_first"),
}


class DecideFitRequest(ChecklistAnswers):
    """The checklist answers (as record_answers keeps them) plus two optional details."""

    format_also_fails: bool | None = Field(
        None,
        description=(
            "with failure_mode knowledge: does the output format or style fail too? (default: read from failure_detail)"
        ),
    )
    needs_fresh_facts: bool | None = Field(
        None,
        description=(
            "must answers use facts that change after training (prices, stock, news)? (default: read from "
            "failure_detail)"
        ),
    )


class FiredRule(BaseModel):
    id: str
    verdict: str
    priority: int
    decisive: bool = Field(description="true for the rule that set the verdict")
    reason: str
    next_step: str
    source: str


class Change(BaseModel):
    field: str
    now: str = Field(description="the current answer, or 'unknown'")
    would_need: str = Field(description="the answer that would make the rule fire")
    verdict: str
    rule: str
    reason: str


class NextStep(BaseModel):
    step: str
    tool: str | None = Field(None, description="the tool (or CLI command) to run for it")


class PrincipleOut(BaseModel):
    id: str
    text: str
    source: str


class DecideFitResult(BaseModel):
    recommendation: str = Field(
        description="what to do: prompt engineering, few-shot prompting, RAG, fine-tune, RAG + fine-tune or not yet"
    )
    verdict: str = Field(description="the verdict id from decision.yaml")
    summary: str
    rules_fired: list[FiredRule]
    confidence: Literal["high", "medium", "low"]
    confidence_reasons: list[str]
    what_would_change: list[Change]
    next_steps: list[NextStep]
    principles: list[PrincipleOut]
    unknown: list[str] = Field(description="checklist fields not answered or answered 'unknown'")
    assumptions: list[str]
    findings: list[str] = Field(
        description="problems with the answers themselves (contradictions, implausible numbers)"
    )
    warnings: list[str]

    def document(self) -> Document:
        blocks: list[Block] = [
            Text(text=f"{self.summary} (confidence {self.confidence}: {'; '.join(self.confidence_reasons)})"),
            Bullets(
                title="Rules that fired (* decided the verdict)",
                items=[
                    f"{'* ' if r.decisive else ''}{r.id} -> {r.verdict}: {r.reason} ({r.source})"
                    for r in self.rules_fired
                ],
            ),
        ]
        if self.what_would_change:
            blocks.append(
                Bullets(
                    title="What would change the verdict",
                    items=[
                        f"{c.field} (now {c.now}) {c.would_need} -> {c.verdict} ({c.rule})"
                        for c in self.what_would_change
                    ],
                )
            )
        blocks.append(
            Bullets(
                title="Next steps",
                items=[f"{i}. {s.step}" + (f" ({s.tool})" if s.tool else "") for i, s in enumerate(self.next_steps, 1)],
            )
        )
        if self.principles:
            blocks.append(Bullets(title="Keep in mind", items=[p.text for p in self.principles]))
        notes = [Finding(severity="warning", message=m, code="answers") for m in self.findings]
        notes += [
            Finding(severity="info", message=m) for m in self.warnings + [f"assumed: {a}" for a in self.assumptions]
        ]
        if notes:
            blocks.append(Findings(title="Notes", items=notes))
        return Document(
            title="Decision", status="problems" if self.findings else "ok",
            headline=f"{self.recommendation} (confidence {self.confidence})", blocks=blocks,
        )  # fmt: skip


def _values(req: DecideFitRequest) -> tuple[dict[str, Any], list[str], list[str]]:
    """Answers as the rules see them (None = unknown), the unknown fields, assumptions made."""
    data = req.model_dump()
    fields = set(ChecklistAnswers.model_fields) - {"unknown"}
    said_unknown = list(req.unknown or [])
    bad = sorted(set(said_unknown) - fields - {"format_also_fails", "needs_fresh_facts"})
    if bad:
        raise ToolError(
            "unknown_field",
            f"unknown lists {', '.join(bad)}, which are not checklist questions",
            "use field names from: " + ", ".join(sorted(fields)),
        )
    both = sorted(f for f in said_unknown if data.get(f) is not None)
    if both:
        raise ToolError(
            "contradicting_answers",
            f"{', '.join(both)} answered and also listed as unknown",
            "give the answer or list the field under unknown, not both",
        )
    values = {k: v for k, v in data.items() if k != "unknown"}
    for key in ("failure_mode", "privacy"):
        if values.get(key) == "unknown":
            values[key] = None
    assumptions: list[str] = []
    detail = req.failure_detail or ""
    if values["format_also_fails"] is None and detail and values.get("failure_mode") == "knowledge":
        if FORMAT_WORDS.search(detail):
            values["format_also_fails"] = True
            assumptions.append("format_also_fails=true: the failure detail mentions the output format")
    if values["needs_fresh_facts"] is None and detail and FRESH_WORDS.search(detail):
        values["needs_fresh_facts"] = True
        assumptions.append("needs_fresh_facts=true: the failure detail mentions facts that change")
    unknown = [
        f
        for f in CORE + ("requirements_change_often", "eval_set_in_place", "current_prompt_tokens")
        if values.get(f) is None
    ]
    return values, unknown, assumptions


def _operand(cond: Condition) -> Any:
    if cond.threshold is not None:
        return knowledge.decision().threshold(cond.threshold).value
    return cond.value


def _holds(cond: Condition, value: Any) -> bool | None:
    """True / False, or None when the answer is unknown."""
    if cond.op == "unknown":
        return value is None
    if value is None:
        return None
    want = _operand(cond)
    if cond.op == "eq":
        return bool(value == want)
    if cond.op == "ne":
        return bool(value != want)
    if cond.op == "in":
        return value in (want if isinstance(want, list) else [want])
    ops = {"lt": value < want, "lte": value <= want, "gt": value > want, "gte": value >= want}
    return bool(ops[cond.op])


def _describe(cond: Condition) -> str:
    want = _operand(cond)
    if isinstance(want, float) and want.is_integer():
        want = int(want)
    words = {
        "eq": "=",
        "ne": "!=",
        "in": "one of",
        "lt": "<",
        "lte": "<=",
        "gt": ">",
        "gte": ">=",
        "unknown": "unknown",
    }
    if cond.op == "in":
        return f"{words['in']} {', '.join(map(str, want))}"
    if isinstance(want, bool):
        return str(want).lower()
    return f"{words[cond.op]} {want:,}" if isinstance(want, int | float) else f"{words[cond.op]} {want}"


def _now(value: Any) -> str:
    if value is None:
        return "unknown"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _findings(req: DecideFitRequest) -> list[str]:
    dec = knowledge.decision()
    found: list[str] = []
    checks = (
        ("monthly_requests", "absurd_monthly_requests"),
        ("quality_examples", "absurd_examples"),
        ("current_prompt_tokens", "absurd_prompt_tokens"),
    )
    for field, threshold in checks:
        value = getattr(req, field)
        limit = dec.threshold(threshold)
        if value is not None and value > limit.value:
            found.append(
                f"{field}={value:,} is implausible ({limit.rationale}); the verdict treats it as given - check it"
            )
    if req.privacy == "must_stay_on_premises" and req.region:
        found.append(
            f"region={req.region!r} with privacy=must_stay_on_premises: the data stays on your machines, "
            "so only self-hosted paths apply and the region is where those machines are"
        )
    if req.training_budget_usd == 0 and req.failure_mode in ("format", "style", "cost", "latency"):
        found.append(
            "training_budget_usd=0: only free paths (self-hosted GPUs you own, free small-model tuning) remain"
        )
    if req.quality_examples is not None and req.quality_examples == 0 and req.eval_set_in_place:
        found.append("eval_set_in_place=true but quality_examples=0: an eval set needs checked examples too")
    return found


def _next_steps(verdict: str, decisive: Rule, values: dict[str, Any]) -> list[NextStep]:
    steps = [NextStep(step=decisive.next_step)]
    if verdict == "not_yet":
        if values.get("eval_set_in_place") is not True:
            steps.append(
                NextStep(step="split off a held-out eval set (near-duplicates kept together)", tool="split_dataset")
            )
        steps.append(NextStep(step="score the current prompt (and few-shot) on it: that is the baseline to beat"))
    elif verdict in ("fine_tune", "rag_plus_fine_tune"):
        steps += [
            NextStep(step="check the training data: format, duplicates, token lengths", tool="validate_jsonl"),
            NextStep(step="scan for personal data and secrets before anything leaves your machines", tool="scan_pii"),
            NextStep(step="split 80/10/10 with near-duplicates in one split", tool="split_dataset"),
            NextStep(
                step="rank where to train under your privacy, region and deadline constraints", tool="select_provider"
            ),
            NextStep(
                step="price training, inference and the break-even from the real token counts", tool="estimate_cost"
            ),
            NextStep(step="choose LoRA hyperparameters and export the config", tool="configure_training"),
        ]
    else:
        steps.append(NextStep(step="measure the change on the held-out eval set against the current prompt"))
    if values.get("privacy") == "must_stay_on_premises" and verdict in ("fine_tune", "rag_plus_fine_tune"):
        steps.append(
            NextStep(
                step="train on your own GPUs only (select_provider with data_may_leave=false)", tool="select_provider"
            )
        )
    return steps


Pending = list[tuple[Rule, list[Condition]]]
Near = list[tuple[Rule, Condition]]


def _evaluate(rules: list[Rule], values: dict[str, Any]) -> tuple[list[Rule], Pending, Near]:
    """The rules that fire; those held only by unknown answers; those one known answer away."""
    fired: list[Rule] = []
    pending: Pending = []
    near: Near = []
    for rule in rules:
        results = [(c, _holds(c, values.get(c.field))) for c in rule.conditions]
        if all(r is True for _, r in results):
            fired.append(rule)
            continue
        false = [c for c, r in results if r is False]
        open_ = [c for c, r in results if r is None]
        if not false:
            pending.append((rule, open_))
        elif len(false) == 1 and not open_:
            near.append((rule, false[0]))
    return fired, pending, near


def _changes(decisive: Rule, fired: list[Rule], pending: Pending, near: Near, values: dict[str, Any]) -> list[Change]:
    """The answers that would change the verdict: open ones, known ones one step away, and the decisive rule's own."""
    verdict = decisive.verdict
    changes: list[Change] = []
    for rule, open_ in pending:
        if rule.priority > decisive.priority and rule.verdict != verdict:
            changes += [
                Change(
                    field=c.field,
                    now="unknown",
                    would_need=_describe(c),
                    verdict=rule.verdict,
                    rule=rule.id,
                    reason=rule.reason,
                )  # fmt: skip
                for c in open_
            ]
    for rule, cond in near:
        if rule.priority > decisive.priority and rule.verdict != verdict:
            changes.append(
                Change(
                    field=cond.field,
                    now=_now(values.get(cond.field)),
                    would_need=_describe(cond),
                    verdict=rule.verdict,
                    rule=rule.id,
                    reason=rule.reason,
                )  # fmt: skip
            )
    runner = next((r for r in fired[1:] if r.verdict != verdict and r.conditions), None)
    if runner is not None:
        changes += [
            Change(
                field=c.field,
                now=_now(values.get(c.field)),
                would_need=f"not {_describe(c)}",
                verdict=runner.verdict,
                rule=runner.id,
                reason=f"without {decisive.id}, {runner.id} decides: {runner.reason}",
            )  # fmt: skip
            for c in decisive.conditions
        ]
    return changes


def _confidence(
    decisive: Rule, fired: list[Rule], changes: list[Change], unknown: list[str]
) -> tuple[Literal["high", "medium", "low"], list[str]]:
    verdict = decisive.verdict
    details = ("format_also_fails", "needs_fresh_facts")  # optional details: listed, but they do not lower confidence
    blocking = [c for c in changes if c.now == "unknown" and c.field not in details]
    reasons: list[str] = []
    core_unknown = [f for f in CORE if f in unknown]
    if core_unknown:
        reasons.append(f"{len(core_unknown)} core answer(s) unknown: {', '.join(core_unknown)}")
    if blocking:
        reasons.append(
            "unknown answers could change the verdict: "
            + ", ".join(sorted({f"{c.field} ({VERDICT_LABELS[c.verdict]})" for c in blocking}))
        )
    if not decisive.conditions:
        reasons.append("no rule points clearly anywhere; this is the default")
    support = [r for r in fired[1:] if r.verdict == verdict]
    if support:
        reasons.append("supported by " + ", ".join(r.id for r in support))
    rivals = sorted({r.verdict for r in fired[1:] if r.conditions} - {verdict})
    if rivals:
        reasons.append("lower-priority rules point elsewhere: " + ", ".join(VERDICT_LABELS[v] for v in rivals))
    score = len(core_unknown) + 2 * len({c.rule for c in blocking}) + (0 if decisive.conditions else 1)
    confidence: Literal["high", "medium", "low"] = "high" if score == 0 else "medium" if score <= 2 else "low"
    if not reasons:
        reasons.append("every core answer is known and no open question could change the verdict")
    return confidence, reasons


@tool(effect="read", stage="decide")
def decide_fit(req: DecideFitRequest) -> DecideFitResult:
    """Decides from the checklist answers whether to fine-tune: returns one recommendation (prompt engineering,
    few-shot prompting, RAG, fine-tune, RAG + fine-tune, or "not yet: build an eval set / collect data"), the
    decision rules that fired with their reasons and sources, a confidence, the questions whose answers would change
    the verdict, and the next steps with the tool for each.

    Call it once the core checklist questions are answered (record_answers says when); "unknown" is a
    valid answer and lowers the confidence. It computes only with reference/data/decision.yaml. Do not
    use it to choose a provider, price a run or pick hyperparameters: select_provider, estimate_cost and
    configure_training do that.
    """
    values, unknown, assumptions = _values(req)
    dec = knowledge.decision()
    fired, pending, near = _evaluate(sorted(dec.rules, key=lambda r: (-r.priority, r.id)), values)
    decisive = fired[0]  # the default rule has no conditions, so something always fires
    verdict = decisive.verdict
    label = VERDICT_LABELS[verdict]
    if verdict == "not_yet":
        label = "not yet: build an eval set first" if decisive.id == "no_eval_set" else "not yet: collect data first"
    rules_fired = [
        FiredRule(
            id=r.id,
            verdict=r.verdict,
            priority=r.priority,
            decisive=r is decisive,
            reason=r.reason,
            next_step=r.next_step,
            source=r.source,
        )  # fmt: skip
        for r in fired
    ]
    changes = _changes(decisive, fired, pending, near, values)
    confidence, reasons = _confidence(decisive, fired, changes, unknown)
    wanted = PRINCIPLES_BY_VERDICT[verdict]
    principles = [PrincipleOut(id=p.id, text=p.text, source=p.source) for p in dec.principles if p.id in wanted]
    warnings = knowledge.warning_texts(
        list(fired) + [dec.threshold(c.threshold) for r in fired for c in r.conditions if c.threshold],
        file="decision.yaml",
    )
    summary = f"{label[0].upper()}{label[1:]}: {decisive.reason}"
    return DecideFitResult(
        recommendation=label,
        verdict=verdict,
        summary=summary,
        rules_fired=rules_fired,
        confidence=confidence,
        confidence_reasons=reasons,
        what_would_change=changes[:10],
        next_steps=_next_steps(verdict, decisive, values),
        principles=principles,
        unknown=unknown,
        assumptions=assumptions,
        findings=_findings(req),
        warnings=warnings,
    )
