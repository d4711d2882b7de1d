"""Reading what a person typed to the guide: an answer to the question asked, a command, a request to run a
tool, a question for the reference, and any data file they mention.

Answers are read per field kind: a choice from its words, yes/no, or an amount (``amounts.parse_amount``,
ranges and currencies kept). What the guide understood is said back in the words of ``prompts/questions.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from skill.guide.amounts import Amount, parse_amount, to_usd
from tools.core.resources import prompts_dir
from tools.decide.checklist import ChecklistAnswers, Question, questions

DONT_KNOW = re.compile(
    r"\b(don'?t know|do not know|not sure|no idea|unknown|dunno|no clue|can'?t say|skip)\b|^\s*\?\s*$", re.I
)
FAILURE_WORDS = {
    "format": ("format", "json", "structure", "schema", "template", "parser", "fields"),
    "style": ("style", "tone", "voice", "brand", "persona", "sound", "sounds", "robot", "wording"),
    "knowledge": ("knowledge", "facts", "know", "domain", "documents", "hallucinat", "outdated", "wrong answers"),
    "cost": ("cost", "expensive", "price", "cheaper", "money", "tokens", "bill"),
    "latency": ("latency", "slow", "fast", "speed", "time", "seconds"),
    "other": ("other", "something else"),
}
PRIVACY_WORDS = {
    "must_stay_on_premises": (
        "premises",
        "on-prem",
        "onprem",
        "our machines",
        "our own machines",
        "our servers",
        "our own servers",
        "air-gapped",
        "air gapped",
        "local only",
        "cannot leave",
        "can't leave",
        "must not leave",
        "stay in house",
        "in-house",
    ),
    "health": ("health", "hipaa", "medical", "patient", "patients", "phi", "clinical"),
    "eu_personal_data": ("gdpr", "personal", "eu ", "europe", "customer data", "names", "emails", "pii", "addresses"),
    "none": ("no", "none", "nothing", "public", "nope"),
}
NEGATED = re.compile(
    r"\b(no|not any|without|nothing|none|zero)\b[^.,;]{0,30}\b(personal|pii|health|sensitive|private|customer)", re.I
)
YES = re.compile(
    r"^\W*(y|yes|yeah|yep|yup|sure|true|correct|right|we do|it does|they do|of course|definitely|absolutely|"
    r"often|monthly|weekly|all the time|ja|oui)\b",
    re.I,
)
NO = re.compile(
    r"^\W*(n|no|nope|false|not really|not yet|we don'?t|it doesn'?t|they don'?t|never|rarely|hardly)\b", re.I
)
FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:jsonl|json|csv|parquet|tsv|txt|log))\b", re.I)
QUESTION_START = re.compile(
    r"^\W*(what|what's|whats|how|why|when|where|which|who|is|are|can|could|should|do|does|did|will|would|"
    r"explain|tell me|define|difference)\b",
    re.I,
)
CHANGE = re.compile(r"^\W*(?:please\s+)?(?:change|update|correct|fix|edit|redo)\b(?:\s+(?:my|the))?\s*(.*)$", re.I)

REQUESTS: tuple[tuple[str, str], ...] = (
    ("validate_jsonl", r"\b(validate|validation|check (?:the |my |this |that )?(?:data|file|dataset))\b"),
    ("scan_pii", r"\b(scan|redact|pseudonymi[sz]e)\b|\bcheck\b.{0,30}\b(pii|personal data)\b"),
    ("split_dataset", r"\bsplit\b"),
    (
        "estimate_cost",
        r"\b(would it cost|will it cost|does it cost|cost me|price it|estimate the cost|cost with|"
        r"what would [\w\s]{0,40}cost)\b",
    ),
    ("diagnose_loss", r"\b(diagnose|loss curve)\b"),
    ("configure_training", r"\b(configure|hyperparameters)\b"),
    (
        "launch_lora",
        r"\b(train it|train the model|train now|start training|start the training|launch|fine-?tune it|"
        r"start the run|train on it)\b",
    ),
    ("run_status", r"\b(run status|status of the run|how is the run|is the run done|training status)\b"),
    ("decide_fit", r"\b(decide now|give me the verdict|your recommendation|recommend now)\b"),
)
ASKING = re.compile(r"^\W*(how|why|what is|what are|what's|when|where|which|who|explain|define|tell me about)\b", re.I)


@cache
def guide_texts() -> dict[str, Any]:
    return dict(yaml.safe_load((prompts_dir() / "guide.yaml").read_text("utf-8")))


def say(key: str, **fields: Any) -> str:
    return str(guide_texts()["texts"][key]).format(**fields)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[.!]+$", "", text.strip().lower()))


def command(text: str) -> str | None:
    """help, back, start_over, answers, why, next or no, when the whole message is one of their phrases."""
    said = _normal(text)
    for name, phrases in guide_texts()["commands"].items():
        if said in {str(p).lower() for p in phrases}:
            return str(name)
    return None


def is_question(text: str) -> bool:
    return bool(QUESTION_START.search(text)) or (text.strip().endswith("?") and len(text.split()) > 2)


def change_target(text: str) -> tuple[Question | None, str | None] | None:
    """For "change the budget to 500": (the question, "500"); None when the message is not a change."""
    match = CHANGE.match(text)
    if not match:
        return None
    parts = re.split(r"\s+(?:to|=|:)\s+", match.group(1).strip(), maxsplit=1)
    return find_question(parts[0]), (parts[1].strip() or None) if len(parts) > 1 else None


def find_question(words: str) -> Question | None:
    said = _normal(words)
    if not said:
        return None
    best: tuple[int, Question] | None = None
    for q in questions():
        for name in [q.field, q.field.replace("_", " "), *q.names]:
            if re.search(rf"\b{re.escape(name.lower())}\b", said) and (best is None or len(name) > best[0]):
                best = (len(name), q)
    return best[1] if best else None


def mentioned_files(text: str) -> list[str]:
    return [m.group(1) for m in FILE.finditer(text)]


@dataclass
class Understood:
    """An answer as the guide will record it and say it back."""

    field: str
    value: Any = None
    unknown: bool = False
    what: str = ""
    note: str = ""
    detail: str | None = None

    def args(self) -> dict[str, Any]:
        if self.unknown:
            return {"unknown": [self.field]}
        args: dict[str, Any] = {self.field: self.value}
        if self.detail:
            args["failure_detail"] = self.detail
        return args


def says(question: Question, value: Any) -> str:
    template = question.says
    if isinstance(template, dict):
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return template.get(key, str(value))
    return template.format(value=value) if template else str(value)


def _choice(text: str, words: dict[str, tuple[str, ...]]) -> str | None:
    lowered = f" {text.lower()} "
    for choice, keys in words.items():
        if any(re.search(rf"(?<![a-z]){re.escape(k.strip())}(?![a-z])", lowered) for k in keys):
            return choice
    return None


def _bool(text: str) -> bool | None:
    return True if YES.search(text) else False if NO.search(text) else None


def _amount_value(question: Question, amount: Amount) -> tuple[float, float, str] | None:
    """(low, high) in the field's unit (per month, US dollars) and a note on any conversion made."""
    low, high, notes = amount.low, amount.high, []
    if question.field.startswith("monthly_") and amount.per and amount.per != "month":
        low, high = amount.per_month(low), amount.per_month(high)
        notes.append(f"{amount.low:,.0f} a {amount.per} is about {low:,.0f} a month")
    if question.field.endswith("_usd") and amount.currency and amount.currency != "USD":
        low_usd, high_usd = to_usd(low, amount.currency), to_usd(high, amount.currency)
        if low_usd is None or high_usd is None:
            return None
        notes.append(say("converted", amount=f"{low:,.0f} {amount.currency}", usd=low_usd[0], date=low_usd[1]))
        low, high = low_usd[0], high_usd[0]
    return low, high, "; ".join(notes)


def _number(question: Question, text: str) -> Understood | None:
    amount = parse_amount(text)
    if amount is None:
        return None
    converted = _amount_value(question, amount)
    if converted is None:
        return Understood(question.field, note=say("no_usd_rate", currency=amount.currency))
    low, high, note = converted
    annotation = str(ChecklistAnswers.model_fields[question.field].annotation)
    value: int | float = int(round(low)) if "int" in annotation else round(low, 2)
    what = says(question, value)
    if amount.is_range:
        unit = "$" if question.field.endswith("_usd") else ""
        what = what.replace(f"{value:,.0f}", f"{low:,.0f} to {unit}{high:,.0f}", 1)
    if not re.fullmatch(r"[\s$€£,.\d]+", text.strip()):
        what += f' (from "{text.strip()}")'
    return Understood(question.field, value=value, what=what, note=note)


def understand(question: Question, text: str) -> Understood | None:
    """What an answer to ``question`` says; ``unknown=True`` for "don't know"; None when it is unclear."""
    field = question.field
    if DONT_KNOW.search(text):
        return Understood(field, unknown=True)
    annotation = ChecklistAnswers.model_fields[field].annotation
    value: Any
    if field == "failure_mode":
        value = _choice(text, FAILURE_WORDS)
        detail = text.strip() if value and len(text.split()) > 1 else None
        return Understood(field, value, what=says(question, value), detail=detail) if value else None
    if field == "privacy":
        value = (
            "none"
            if NEGATED.search(text) and not _choice(text, {"x": PRIVACY_WORDS["must_stay_on_premises"]})
            else None
        )
        value = value or _choice(text, PRIVACY_WORDS)
        return Understood(field, value, what=says(question, value)) if value else None
    if annotation in (bool | None,):
        value = _bool(text)
        return Understood(field, value, what=says(question, value)) if value is not None else None
    return _number(question, text)


def kind_of(question: Question) -> str:
    kinds = guide_texts()["kinds"]
    if question.choices:
        return str(kinds["choice"]).format(choices=", ".join(c for c in question.choices if c != "unknown"))
    annotation = ChecklistAnswers.model_fields[question.field].annotation
    if annotation in (bool | None,):
        return str(kinds["yes_no"])
    return str(kinds["money"] if question.field.endswith("_usd") else kinds["number"])


def requests_in(text: str) -> list[str]:
    """The tools a message asks to run, in the order it names them; none for a how/why question."""
    found = [(m.start(), name) for name, pattern in REQUESTS if (m := re.search(pattern, text, re.I))]
    names = [name for _, name in sorted(found)]
    if ASKING.search(text) and "estimate_cost" not in names:
        return []
    return names
