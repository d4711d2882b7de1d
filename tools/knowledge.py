"""Loads the machine-readable facts in ``reference/data/*.yaml`` and validates them on load.

Every fact row carries ``source`` (an http(s) URL) and ``as_of`` (a date); loading fails loudly, naming
the file and the row, when one lacks them. Tools compute only with numbers that come through here.

Facts age. Two things are checked against *today's* date (not the data's):

- a row whose ``as_of`` is older than the allowed age (default 120 days, ``FINETUNE_FACTS_MAX_AGE_DAYS``)
  is *stale*: re-verify it at its source;
- an offering whose ``available_until`` (or ``serving_until``) has passed has *ended*; one that ends
  within the horizon (default 90 days) is *closing*.

Tools that use a row call :func:`warnings_for` (or :func:`warning_texts`) and put the result in their
output. ``FINETUNE_TODAY=YYYY-MM-DD`` pins today's date (tests, reproducible demos).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.errors import ToolError
from tools.resources import reference_data_dir

DEFAULT_MAX_AGE_DAYS = 120
DEFAULT_HORIZON_DAYS = 90
UNTIL_FIELDS = ("available_until", "serving_until")

Basis = Literal["primary", "secondary", "derived", "heuristic"]


class Fact(BaseModel):
    """Base of every fact row: where it comes from and when it was true.

    ``basis`` says how direct the source is: ``primary`` (the vendor's or author's own page),
    ``secondary`` (a third-party compilation; verify before relying on it), ``derived`` (our arithmetic
    on cited numbers) or ``heuristic`` (a rule of thumb with its rationale).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    as_of: date
    basis: Basis = "primary"
    note: str | None = None
    review_days: int | None = Field(
        default=None, ge=0, description="days after as_of before this row needs re-checking; default: the global limit"
    )

    @field_validator("source")
    @classmethod
    def _source_is_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"source must be an http(s) URL, got {value[:60]!r}")
        return value


class Dated(Fact):
    """A fact about an offering that starts and may end (a service, a model, a price)."""

    available_from: date | None = None
    available_until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        if self.available_from and self.available_until and self.available_until < self.available_from:
            raise ValueError("available_until is before available_from")
        return self


Facts = TypeVar("Facts", bound=BaseModel)


class KnowledgeError(ToolError):
    def __init__(self, message: str, hint: str = "fix the YAML file; every row needs source and as_of") -> None:
        super().__init__("knowledge_invalid", message, hint)


def data_path(name: str) -> Path:
    return reference_data_dir() / f"{name}.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: missing", "reinstall finetune-skill; reference/data ships with it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise KnowledgeError(f"{path}{where}: not valid YAML ({exc})") from None


def validate_facts(raw: Any, model: type[Facts], label: str) -> Facts:
    """Validate already-parsed YAML with ``model``; errors name the file, the row and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False, include_input=False)
        for err in errors[:5]:
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise KnowledgeError(f"{label}: " + "; ".join(problems) + more) from None


@cache
def load_facts(name: str, model: type[Facts]) -> Facts:
    """Read ``reference/data/<name>.yaml`` and validate it with ``model`` (cached per process)."""
    path = data_path(name)
    return validate_facts(_read_yaml(path), model, path.name)


def load_facts_file(path: Path, model: type[Facts]) -> Facts:
    """Like :func:`load_facts` for any file (not cached): tests and `facts refresh` use it."""
    return validate_facts(_read_yaml(path), model, path.name)


# --------------------------------------------------------------------------------------------------
# Today's date, the allowed age, warnings
# --------------------------------------------------------------------------------------------------


def today() -> date:
    """Today's date, or ``FINETUNE_TODAY`` when set (YYYY-MM-DD)."""
    pinned = os.environ.get("FINETUNE_TODAY", "").strip()
    if pinned:
        try:
            return date.fromisoformat(pinned)
        except ValueError:
            raise ToolError("bad_today", f"FINETUNE_TODAY={pinned!r} is not a date", "use YYYY-MM-DD") from None
    return date.today()


def max_age_days() -> int:
    """Allowed age of a fact in days: ``FINETUNE_FACTS_MAX_AGE_DAYS`` or 120."""
    raw = os.environ.get("FINETUNE_FACTS_MAX_AGE_DAYS", "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    try:
        value = int(raw)
    except ValueError:
        raise ToolError("bad_max_age", f"FINETUNE_FACTS_MAX_AGE_DAYS={raw!r} is not a whole number",
                        "give a number of days, e.g. 120") from None
    if value < 0:
        raise ToolError("bad_max_age", "FINETUNE_FACTS_MAX_AGE_DAYS must not be negative", "e.g. 120")
    return value


WarningKind = Literal["stale", "ended", "closing", "serving_ended", "serving_closing", "not_yet_available"]


class FactWarning(BaseModel):
    """One reason to distrust or re-check a fact a tool used."""

    kind: WarningKind
    file: str | None = None
    row: str
    parent: str | None = Field(default=None, description="the row this one sits in (e.g. the provider of a model)")
    date: date
    days: int = Field(description="days from today to `date` (negative: in the past)")
    summary: str = Field(description="one line: what ends or aged, and when")
    message: str = Field(description="the summary plus the reason, when the row gives one")
    source: str


def row_label(row: Mapping[str, Any] | BaseModel) -> str:
    """A short human name for a fact row: its provider, model, id, method... whatever it has."""
    data = row.model_dump() if isinstance(row, BaseModel) else row
    parts: list[str] = []
    for key in ("provider", "name", "id", "model", "gpu", "vendor", "instance", "task", "method",
                "deployment", "tier", "event"):
        value = data.get(key)
        if isinstance(value, str | int | float) and str(value) not in parts:
            parts.append(str(value))
    if "name" in data and "id" in data and len(parts) > 1 and data["name"] in parts:
        parts.remove(str(data["id"]))
    return " / ".join(parts[:4]) if parts else "(row)"


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def row_warnings(
    row: Mapping[str, Any] | BaseModel,
    *,
    file: str | None = None,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
    context: str | None = None,
) -> list[FactWarning]:
    """Warnings for one row: stale ``as_of``, ended or closing ``available_until`` / ``serving_until``.

    ``context`` prefixes the row's label (e.g. the provider of a model row).
    """
    data = row.model_dump() if isinstance(row, BaseModel) else dict(row)
    now = on or today()
    own_limit = data.get("review_days")
    limit = max_age if max_age is not None else own_limit if isinstance(own_limit, int) else max_age_days()
    label = row_label(data)
    if context and not label.startswith(context):
        label = f"{context} / {label}"
    source = str(data.get("source", ""))
    found: list[FactWarning] = []

    def add(kind: WarningKind, when: date, summary: str, why: str = "") -> None:
        message = f"{summary} - {why}" if why else summary
        found.append(FactWarning(kind=kind, file=file, row=label, parent=context, date=when,
                                 days=(when - now).days, summary=summary, message=message, source=source))

    why = data.get("until_note") or data.get("note") or ""
    for field in UNTIL_FIELDS:
        until = _as_date(data.get(field))
        if until is None:
            continue
        if field == "serving_until" and until == _as_date(data.get("available_until")):
            continue
        what = "serving" if field == "serving_until" else "available"
        if until <= now:
            kind: WarningKind = "serving_ended" if field == "serving_until" else "ended"
            text = f"{label}: {'inference stopped' if what == 'serving' else 'ended'} on {until}"
            add(kind, until, text, why)
        elif (until - now).days <= horizon:
            kind = "serving_closing" if field == "serving_until" else "closing"
            days = (until - now).days
            verb = ("inference stops" if what == "serving" else
                    "shuts down" if data.get("kind") == "eval_service" else "closes to new jobs")
            text = f"{label}: {verb} on {until} (in {days} days)"
            add(kind, until, text, why)
    start = _as_date(data.get("available_from"))
    if start is not None and start > now:
        add("not_yet_available", start, f"{label}: available only from {start}")
    as_of = _as_date(data.get("as_of"))
    if as_of is not None and (now - as_of).days > limit:
        age = (now - as_of).days
        add("stale", as_of, f"{label}: fact dated {as_of} is {age} days old (limit {limit}); re-check {source}")
    return found


def warnings_for(
    rows: Iterable[Mapping[str, Any] | BaseModel | None],
    *,
    file: str | None = None,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
    context: str | None = None,
) -> list[FactWarning]:
    """Warnings for every row a tool used (None rows are skipped); put them in the tool's output."""
    out: list[FactWarning] = []
    seen: set[tuple[str, str, date]] = set()
    for row in rows:
        if row is None:
            continue
        for warning in row_warnings(row, file=file, on=on, max_age=max_age, horizon=horizon, context=context):
            key = (warning.kind, warning.row, warning.date)
            if key not in seen:
                seen.add(key)
                out.append(warning)
    return out


def warning_texts(rows: Iterable[Mapping[str, Any] | BaseModel | None], **kwargs: Any) -> list[str]:
    """:func:`warnings_for` as plain sentences, for outputs that carry ``warnings: list[str]``."""
    return [w.message for w in warnings_for(rows, **kwargs)]


def iter_rows(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in parsed YAML that carries ``source`` or ``as_of`` (a fact row), with its path."""
    if isinstance(node, dict):
        if "source" in node or "as_of" in node:
            yield path or "(root)", node
        for key, value in node.items():
            yield from iter_rows(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_rows(value, f"{path}[{i}]")


def iter_facts(model: BaseModel, path: str = "") -> Iterator[tuple[str, Fact]]:
    """Every :class:`Fact` inside a validated model, with its path."""
    if isinstance(model, Fact):
        yield path or "(root)", model
    for name in type(model).model_fields:
        value = getattr(model, name)
        where = f"{path}.{name}" if path else name
        if isinstance(value, BaseModel):
            yield from iter_facts(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from iter_facts(item, f"{where}[{i}]")


# --------------------------------------------------------------------------------------------------
# providers.yaml
# --------------------------------------------------------------------------------------------------

Method = Literal[
    "sft", "sft_lora", "sft_qlora", "sft_full", "vision_sft", "dpo", "dpo_lora", "dpo_full", "rft",
    "grpo_lora", "grpo_full", "distillation",
]
ProviderKind = Literal["managed_api", "cloud_platform", "open_weight_api", "self_hosted", "rented_gpu", "eval_service"]
Status = Literal["active", "closing", "ended", "deprecated"]
Hosting = Literal[
    "per_token", "hourly_hosting", "provisioned_throughput", "dedicated_endpoint", "self_managed",
    "per_model_unit_minute", "none",
]
Tristate = Literal["yes", "no", "on_request", "limited", "opt_in", "unclear", "unknown", "not_applicable"]


class Milestone(Fact):
    date: date
    event: str


class ProviderModel(Dated):
    id: str
    family: str | None = None
    params_b: float | None = Field(default=None, description="parameter count in billions (size class upper bound)")
    methods: list[Method]
    formats: list[str] = []
    min_examples: int | None = None
    recommended_examples: int | None = None
    max_examples: int | None = None
    max_validation_examples: int | None = None
    max_tokens_per_example: int | None = None
    context_tokens: int | None = None
    modalities: list[str] = ["text"]
    tool_calling: bool | None = None
    serving_until: date | None = None


class Provider(Dated):
    id: str
    name: str
    kind: ProviderKind
    status: Status
    until_note: str | None = None
    milestones: list[Milestone] = []
    hosting: list[Hosting]
    hosting_note: str | None = None
    regions: list[str] = []
    residency: str | None = None
    data_leaves_your_machines: bool
    retention: str | None = None
    zdr: Tristate = "unknown"
    zdr_note: str | None = None
    trains_on_customer_data: Tristate = "unknown"
    trains_note: str | None = None
    hipaa_baa: Tristate = "unknown"
    hipaa_note: str | None = None
    certifications: list[str] = []
    max_file_mb: float | None = None
    formats: list[str] = []
    models: list[ProviderModel] = []

    def model(self, model_id: str) -> ProviderModel:
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(m.id for m in self.models) or "none"
        raise ToolError("unknown_model", f"{self.id} has no fine-tunable model {model_id!r}",
                        f"known models for {self.id}: {known}")

    def model_until(self, model: ProviderModel) -> date | None:
        """When new training jobs for ``model`` stop: the earlier of the model's and the service's end."""
        dates = [d for d in (model.available_until, self.available_until) if d is not None]
        return min(dates) if dates else None


class ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: list[Provider]

    @model_validator(mode="after")
    def _unique(self) -> ProvidersFile:
        ids = [p.id for p in self.providers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate provider ids: {', '.join(dupes)}")
        for p in self.providers:
            mids = [m.id for m in p.models]
            dupes = sorted({i for i in mids if mids.count(i) > 1})
            if dupes:
                raise ValueError(f"provider {p.id}: duplicate model ids: {', '.join(dupes)}")
        return self

    def provider(self, provider_id: str) -> Provider:
        for p in self.providers:
            if p.id == provider_id:
                return p
        known = ", ".join(p.id for p in self.providers)
        raise ToolError("unknown_provider", f"no provider {provider_id!r} in providers.yaml", f"known: {known}")


# --------------------------------------------------------------------------------------------------
# pricing.yaml
# --------------------------------------------------------------------------------------------------

TrainingUnit = Literal["per_1m_tokens", "per_hour", "per_gpu_hour", "free"]


class TrainingPrice(Dated):
    provider: str
    model: str
    method: Method
    unit: TrainingUnit
    price_usd: float | None = Field(description="null: not found in a trusted source; tools must say so")
    min_fee_usd: float | None = None
    max_fee_usd: float | None = None
    billing: str | None = None


class InferencePrice(Dated):
    """Per 1M tokens: the base model and the fine-tuned model on the same path, side by side."""

    provider: str
    model: str
    tier: str = "standard"
    base_input: float | None = None
    base_cached_input: float | None = None
    base_output: float | None = None
    ft_input: float | None = None
    ft_cached_input: float | None = None
    ft_output: float | None = None
    litellm_base_key: str | None = None
    litellm_ft_key: str | None = None
    litellm_price_suffix: str = ""


class HostingPrice(Dated):
    provider: str
    deployment: str
    unit: Literal["per_hour", "per_minute", "per_model_unit_hour", "per_model_unit_minute"]
    price_usd: float | None
    commitment: str | None = None
    residency: str | None = None


class StoragePrice(Dated):
    provider: str
    unit: Literal["per_model_month", "per_model_unit_month"]
    price_usd: float | None


class Discount(Dated):
    provider: str
    applies_to: Literal["training", "inference"]
    kind: str
    fraction_off: float
    fraction_off_max: float | None = None


class PricingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    training: list[TrainingPrice]
    inference: list[InferencePrice]
    hosting: list[HostingPrice]
    storage: list[StoragePrice]
    discounts: list[Discount] = []

    @model_validator(mode="after")
    def _non_negative(self) -> PricingFile:
        for section in ("training", "inference", "hosting", "storage"):
            for i, row in enumerate(getattr(self, section)):
                for name, value in row.model_dump().items():
                    if isinstance(value, float | int) and not isinstance(value, bool) and value < 0:
                        raise ValueError(f"{section}[{i}].{name} is negative")
        return self

    def training_price(self, provider: str, model: str, method: str | None = None) -> TrainingPrice:
        rows = [r for r in self.training if r.provider == provider and r.model == model
                and (method is None or r.method == method)]
        if not rows:
            known = sorted({f"{r.model} ({r.method})" for r in self.training if r.provider == provider})
            raise ToolError("unknown_price", f"no training price for {provider} / {model}"
                            + (f" / {method}" if method else ""),
                            f"priced for {provider}: {', '.join(known) or 'nothing'}")
        return rows[0]

    def inference_price(self, provider: str, model: str, tier: str = "standard") -> InferencePrice:
        for r in self.inference:
            if r.provider == provider and r.model == model and r.tier == tier:
                return r
        known = sorted({f"{r.model} ({r.tier})" for r in self.inference if r.provider == provider})
        raise ToolError("unknown_price", f"no inference price for {provider} / {model} / {tier}",
                        f"priced for {provider}: {', '.join(known) or 'nothing'}")

    def hosting_for(self, provider: str) -> list[HostingPrice]:
        return [r for r in self.hosting if r.provider == provider]

    def storage_for(self, provider: str) -> list[StoragePrice]:
        return [r for r in self.storage if r.provider == provider]


# --------------------------------------------------------------------------------------------------
# gpus.yaml
# --------------------------------------------------------------------------------------------------


class Gpu(Fact):
    id: str
    name: str
    memory_gb: float
    bf16_dense_tflops: float | None


class GpuOffer(Dated):
    gpu: str
    vendor: str
    tier: str
    usd_per_gpu_hour: float
    gpus_per_instance: int = 1
    instance: str | None = None
    region: str | None = None


class GpusFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpus: list[Gpu]
    offers: list[GpuOffer]

    @model_validator(mode="after")
    def _known_gpus(self) -> GpusFile:
        ids = {g.id for g in self.gpus}
        for i, offer in enumerate(self.offers):
            if offer.gpu not in ids:
                raise ValueError(f"offers[{i}]: unknown gpu {offer.gpu!r}")
        return self

    def gpu(self, gpu_id: str) -> Gpu:
        for g in self.gpus:
            if g.id == gpu_id:
                return g
        raise ToolError("unknown_gpu", f"no GPU {gpu_id!r} in gpus.yaml",
                        "known: " + ", ".join(g.id for g in self.gpus))

    def offers_for(self, gpu_id: str) -> list[GpuOffer]:
        return sorted((o for o in self.offers if o.gpu == gpu_id), key=lambda o: o.usd_per_gpu_hour)


# --------------------------------------------------------------------------------------------------
# training.yaml
# --------------------------------------------------------------------------------------------------

TrainMethod = Literal["sft_lora", "sft_qlora", "sft_full", "dpo_lora", "dpo_full", "grpo_lora", "grpo_full", "any"]


class Hyperparameter(Fact):
    method: TrainMethod
    name: str
    default: float
    low: float
    high: float

    @model_validator(mode="after")
    def _in_range(self) -> Hyperparameter:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"{self.method}/{self.name}: default {self.default} outside {self.low}..{self.high}")
        return self


class Choice(Fact):
    name: str
    value: str


class DatasetSize(Fact):
    task: str
    min_examples: int
    start_examples: int
    good_examples: int
    rationale: str


class MemoryRule(Fact):
    method: TrainMethod
    precision: str
    bytes_per_param: float


class Throughput(Fact):
    model_params_b: float
    method: TrainMethod
    gpu: str
    gpus: int
    tokens_per_second: float
    peak_memory_gib: float | None = None


class Constant(Fact):
    id: str
    value: float
    unit: str


def _propagate_review_days(model: BaseModel, days: int | None) -> None:
    if days is None:
        return
    for _, fact in iter_facts(model):
        if fact.review_days is None:
            fact.review_days = days


class TrainingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_days: int | None = Field(default=None, ge=0, description="default review_days for every row")
    hyperparameters: list[Hyperparameter]
    choices: list[Choice]
    dataset_sizes: list[DatasetSize]
    memory: list[MemoryRule]
    measured_throughput: list[Throughput]
    constants: list[Constant]

    @model_validator(mode="after")
    def _review(self) -> TrainingFile:
        _propagate_review_days(self, self.review_days)
        return self

    def hyper(self, method: str, name: str) -> Hyperparameter:
        """The row for ``method`` and ``name``, else the ``any`` row for ``name``."""
        for wanted in (method, "any"):
            for h in self.hyperparameters:
                if h.method == wanted and h.name == name:
                    return h
        raise ToolError("unknown_hyperparameter", f"no default for {name} with {method}",
                        "known: " + ", ".join(sorted({h.name for h in self.hyperparameters})))

    def constant(self, constant_id: str) -> Constant:
        for c in self.constants:
            if c.id == constant_id:
                return c
        raise ToolError("unknown_constant", f"no constant {constant_id!r} in training.yaml",
                        "known: " + ", ".join(c.id for c in self.constants))

    def bytes_per_param(self, method: str, precision: str | None = None) -> MemoryRule:
        for m in self.memory:
            if m.method == method and (precision is None or m.precision == precision):
                return m
        raise ToolError("unknown_memory_rule", f"no memory rule for {method}" + (f"/{precision}" if precision else ""),
                        "known: " + ", ".join(f"{m.method}/{m.precision}" for m in self.memory))

    def dataset_size(self, task: str) -> DatasetSize:
        for d in self.dataset_sizes:
            if d.task == task:
                return d
        raise ToolError("unknown_task", f"no dataset-size guidance for task {task!r}",
                        "known: " + ", ".join(d.task for d in self.dataset_sizes))


# --------------------------------------------------------------------------------------------------
# decision.yaml
# --------------------------------------------------------------------------------------------------

Verdict = Literal["prompt_engineering", "few_shot", "rag", "fine_tune", "rag_plus_fine_tune", "not_yet"]


class Threshold(Fact):
    id: str
    value: float
    unit: str
    rationale: str


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    op: Literal["eq", "ne", "in", "lt", "lte", "gt", "gte", "unknown"]
    value: bool | int | float | str | list[str] | None = None
    threshold: str | None = None

    @model_validator(mode="after")
    def _one_operand(self) -> Condition:
        if self.op != "unknown" and (self.value is None) == (self.threshold is None):
            raise ValueError(f"condition on {self.field}: give exactly one of value and threshold")
        return self


class Rule(Fact):
    id: str
    conditions: list[Condition]
    verdict: Verdict
    priority: int
    reason: str
    next_step: str


class Principle(Fact):
    id: str
    text: str


class DecisionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_days: int | None = Field(default=None, ge=0, description="default review_days for every row")
    thresholds: list[Threshold]
    rules: list[Rule]
    principles: list[Principle]

    @model_validator(mode="after")
    def _thresholds_exist(self) -> DecisionFile:
        _propagate_review_days(self, self.review_days)
        known = {t.id for t in self.thresholds}
        for rule in self.rules:
            for cond in rule.conditions:
                if cond.threshold is not None and cond.threshold not in known:
                    raise ValueError(f"rule {rule.id}: unknown threshold {cond.threshold!r}")
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        return self

    def threshold(self, threshold_id: str) -> Threshold:
        for t in self.thresholds:
            if t.id == threshold_id:
                return t
        raise ToolError("unknown_threshold", f"no threshold {threshold_id!r} in decision.yaml",
                        "known: " + ", ".join(t.id for t in self.thresholds))


# --------------------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------------------

FACT_MODELS: dict[str, type[BaseModel]] = {
    "providers": ProvidersFile,
    "pricing": PricingFile,
    "gpus": GpusFile,
    "training": TrainingFile,
    "decision": DecisionFile,
}
"""The files this module validates. Other modules' files (formats, diagnose) are checked for dates only,
unless they add their model here."""


def providers() -> ProvidersFile:
    return load_facts("providers", ProvidersFile)


def pricing() -> PricingFile:
    return load_facts("pricing", PricingFile)


def gpus() -> GpusFile:
    return load_facts("gpus", GpusFile)


def training() -> TrainingFile:
    return load_facts("training", TrainingFile)


def decision() -> DecisionFile:
    return load_facts("decision", DecisionFile)


def cross_check(prov: ProvidersFile, price: PricingFile, gpu: GpusFile, train: TrainingFile) -> list[str]:
    """References between files that must resolve: pricing providers, throughput GPUs."""
    problems: list[str] = []
    provider_ids = {p.id for p in prov.providers}
    for section in ("training", "inference", "hosting", "storage", "discounts"):
        for i, row in enumerate(getattr(price, section)):
            if row.provider not in provider_ids:
                problems.append(f"pricing.yaml {section}[{i}]: unknown provider {row.provider!r}")
    gpu_ids = {g.id for g in gpu.gpus}
    for i, row in enumerate(train.measured_throughput):
        if row.gpu not in gpu_ids:
            problems.append(f"training.yaml measured_throughput[{i}]: unknown gpu {row.gpu!r}")
    return problems


def offering_warnings(provider_id: str, model_id: str | None = None, *, on: date | None = None,
                      max_age: int | None = None, horizon: int = DEFAULT_HORIZON_DAYS) -> list[FactWarning]:
    """Warnings for a provider path (and one of its models): the service, the model, and every price row
    for them - what select_provider / estimate_cost attach when they recommend or price that path."""
    prov = providers().provider(provider_id)
    rows: list[Fact] = [prov]
    found = warnings_for(rows, file="providers.yaml", on=on, max_age=max_age, horizon=horizon)
    price = pricing()
    price_rows: list[Fact] = [r for r in price.hosting_for(provider_id)] + price.storage_for(provider_id)
    if model_id is not None:
        model = prov.model(model_id)
        found += warnings_for([model], file="providers.yaml", on=on, max_age=max_age, horizon=horizon,
                              context=provider_id)
        price_rows += [r for r in price.training if r.provider == provider_id and r.model == model_id]
        price_rows += [r for r in price.inference if r.provider == provider_id and r.model == model_id]
    found += warnings_for(price_rows, file="pricing.yaml", on=on, max_age=max_age, horizon=horizon)
    return found
