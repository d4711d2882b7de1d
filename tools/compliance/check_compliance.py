"""The ``check_compliance`` tool: which fine-tuning paths a set of constraints allows, and what to do first.

Deterministic: the same constraints and facts give the same verdict. Provider facts (regions, retention,
BAA, whether the provider trains on your data, whether data leaves your machines) are read from
``reference/data/providers.yaml`` through :func:`tools.knowledge.providers` - that is the only place this
module touches them (:func:`_provider_facts`). How a constraint reads those facts, the actions required
before training and the EU AI Act constants come from ``reference/data/compliance.yaml``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Document, Finding, Findings, Pairs, Severity, Table, Text
from tools.core.errors import ToolError
from tools.core.fields import InputPath
from tools.core.registry import tool
from tools.core.workspace import current
from tools.knowledge.core import Fact, load_facts
from tools.knowledge.usage import FactUsage

Regime = Literal["gdpr", "hipaa", "none"]
VerdictKind = Literal["allowed", "conditional", "not_allowed"]


class FieldRule(Fact):
    id: str
    constraint: Literal["zero_retention", "hipaa", "personal_data"]
    field: str
    allowed: list[str]
    conditional: list[str]
    not_allowed: list[str]
    reason: str
    condition: str


class ActionFact(Fact):
    id: str
    applies: list[str]
    required: bool
    title: str
    detail: str


class ConstantFact(Fact):
    id: str
    value: float
    meaning: str


class ComplianceFacts(BaseModel):
    field_rules: list[FieldRule]
    actions: list[ActionFact]
    constants: list[ConstantFact]

    def constant(self, cid: str) -> ConstantFact:
        for c in self.constants:
            if c.id == cid:
                return c
        raise ToolError("knowledge_invalid", f"compliance.yaml has no constant {cid!r}", "fix the YAML file")


def facts() -> ComplianceFacts:
    return load_facts("compliance", ComplianceFacts)


class ComplianceRequest(BaseModel):
    """Constraints on where the training data may go."""

    regimes: list[Regime] = Field(default_factory=lambda: ["none"], description="gdpr, hipaa, or none")
    residency: str | None = Field(None, description="region the data must stay in, e.g. eu, us, us-east-1")
    zero_retention: bool = Field(False, description="the provider must keep nothing after the job")
    on_premises: bool = Field(False, description="the data must never leave machines you control")
    personal_data: bool | None = Field(
        None,
        description="does the data hold personal data? (default: from the "
        "PII scan; true when no scan is given and gdpr/hipaa apply)",
    )
    pii_report: InputPath | None = Field(None, description="the JSON report of `finetune pii` for the dataset")
    providers: list[str] | None = Field(None, description="only judge these provider ids")
    eu_ai_act: bool | None = Field(None, description="the model is placed on the EU market (default: gdpr given)")
    finetune_flop: float | None = Field(None, description="compute of your fine-tuning run, in FLOP")
    base_model_flop: float | None = Field(None, description="compute used to train the base model, in FLOP")


class ProviderVerdict(BaseModel):
    provider: str
    name: str
    verdict: VerdictKind
    reasons: list[str] = Field(description="why it is not allowed, or what is unverified")
    conditions: list[str] = Field(description="what must be true before using it")


class Action(BaseModel):
    id: str
    required: bool
    title: str
    detail: str
    source: str


class PiiStatus(BaseModel):
    scanned: bool
    found: int = 0
    secrets: int = 0
    redacted_no_detections: bool = Field(
        default=False,
        description="a redacted copy was written and its re-scan detected nothing (not proof of absence)",
    )
    redacted_rescan: str | None = Field(default=None, description="the scan's own words on the re-scan, if any")
    report: str | None = None


class ComplianceResult(BaseModel):
    regimes: list[str]
    allowed: list[str]
    conditional: list[str]
    not_allowed: list[str]
    providers: list[ProviderVerdict]
    actions: list[Action]
    pii: PiiStatus
    ai_act: str | None
    warnings: list[str]
    ok: bool = Field(description="at least one path is allowed (or conditional) and no PII or secret is unresolved")

    def _pii_state(self) -> str:
        pii = self.pii
        if not pii.scanned:
            return "none given (run `finetune pii DATA.jsonl` first)"
        if pii.redacted_no_detections:
            state = f"redacted copy: {pii.redacted_rescan or 'its re-scan detected nothing'}"
        else:
            state = "NOT remediated" if pii.found else "none detected"
        return f"{pii.found} findings ({pii.secrets} secrets); {state}"

    def _provider_blocks(self) -> list[Block]:
        table = Table(
            title="Provider paths",
            headers=["provider", "verdict"],
            rows=[[v.provider, v.verdict] for v in self.providers],
        )
        notes: list[Finding] = []
        for v in self.providers:
            severity: Severity = "error" if v.verdict == "not_allowed" else "warning"
            notes += [Finding(severity=severity, where=v.provider, message=why) for why in v.reasons]
            notes += [Finding(severity="warning", where=v.provider, message=c) for c in v.conditions]
        blocks: list[Block] = [table]
        if notes:
            blocks.append(Findings(title="Why not, and on what conditions", items=notes))
        return blocks

    def document(self) -> Document:
        blocks: list[Block] = [Pairs(items=[("regimes", ", ".join(self.regimes)), ("PII scan", self._pii_state())])]
        blocks += self._provider_blocks()
        if self.actions:
            blocks.append(
                Bullets(
                    title="Before training",
                    items=[
                        f"{'must' if a.required else 'should'}: {a.title}. {a.detail} ({a.source})"
                        for a in self.actions
                    ],
                )
            )
        if self.ai_act:
            blocks.append(Text(text=f"EU AI Act: {self.ai_act}"))
        if self.warnings:
            blocks.append(
                Findings(title="Notices", items=[Finding(severity="warning", message=w) for w in self.warnings])
            )
        blocks.append(Text(text="A checklist grounded in cited sources, not legal advice."))
        headline = (
            f"{len(self.allowed)} allowed, {len(self.conditional)} conditional, {len(self.not_allowed)} not allowed"
        )
        return Document(title="Compliance", status="ok" if self.ok else "problems", headline=headline, blocks=blocks)


def _provider_facts(wanted: list[str] | None) -> tuple[list[Any], FactUsage]:
    """The provider rows to judge (training paths only) and the facts used: the one seam to providers.yaml."""
    from tools import knowledge

    rows = [p for p in knowledge.providers().providers if p.kind != "eval_service"]
    if wanted:
        known = {p.id for p in rows}
        missing = [w for w in wanted if w not in known]
        if missing:
            raise ToolError(
                "unknown_provider", f"unknown provider ids: {', '.join(missing)}", "known: " + ", ".join(sorted(known))
            )
        rows = [p for p in rows if p.id in wanted]
    return rows, FactUsage().add(rows, file="providers.yaml")


def _read_pii(raw: str | None) -> PiiStatus:
    if raw is None:
        return PiiStatus(scanned=False)
    ws = current()
    path = ws.input_file(raw, what="PII report")
    try:
        data = json.loads(path.read_text("utf-8"))
        found = int(data["found_total"])
        secrets = sum(int(e["count"]) for e in data.get("entities", []) if e.get("kind") == "secret")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ToolError(
            "bad_pii_report",
            f"{raw} is not a report written by `finetune pii`",
            "pass the .json report path that `finetune pii` printed",
        ) from None
    red = data.get("redaction") or {}
    none_left = bool(red) and red.get("rescan_found") == 0 and not data.get("unreadable_total")
    said = red.get("statement") if isinstance(red.get("statement"), str) else None
    return PiiStatus(
        scanned=True,
        found=found,
        secrets=secrets,
        redacted_no_detections=none_left,
        redacted_rescan=said,
        report=ws.relative(path),
    )


def _region_match(wanted: str, regions: list[str], residency: str | None) -> tuple[VerdictKind, str]:
    w = wanted.lower()
    tokens = [r.lower() for r in regions]
    if "anywhere" in tokens:
        return "allowed", ""
    for r in tokens:
        parts = re.split(r"[-_]", r)
        if r == w or r.startswith(w + "-") or w in parts or (w.startswith(r + "-")):
            return "allowed", ""
    if "vendor-dependent" in tokens:
        return "conditional", f"choose a vendor region in {wanted} and get it in writing"
    if not tokens and residency:
        return "conditional", f"no region list documented; verify the job and storage stay in {wanted}"
    listed = ", ".join(regions) or "none documented"
    return "not_allowed", f"cannot keep data in {wanted} (regions: {listed})"


def _judge(p: Any, req: ComplianceRequest, rules: list[FieldRule], personal: bool) -> ProviderVerdict:
    reasons: list[str] = []
    conditions: list[str] = []
    verdict: VerdictKind = "allowed"

    def worse(kind: VerdictKind) -> None:
        nonlocal verdict
        order = ["allowed", "conditional", "not_allowed"]
        if order.index(kind) > order.index(verdict):
            verdict = kind

    if p.status == "ended":
        worse("not_allowed")
        reasons.append(
            f"the service closed to new jobs on {p.available_until}" if p.available_until else "the service has ended"
        )
    elif p.status in ("closing", "deprecated"):
        worse("conditional")
        conditions.append(
            f"the service is {p.status}"
            + (f" (closes to new jobs on {p.available_until})" if p.available_until else "")
        )
    if req.on_premises and p.data_leaves_your_machines:
        worse("not_allowed")
        reasons.append("the data would leave your machines")
    if req.residency:
        kind, why = _region_match(req.residency, list(p.regions), p.residency)
        worse(kind)
        (reasons if kind == "not_allowed" else conditions).extend([why] if why else [])
    active = {"zero_retention": req.zero_retention, "hipaa": "hipaa" in req.regimes, "personal_data": personal}
    for rule in rules:
        if not active[rule.constraint]:
            continue
        value = str(getattr(p, rule.field, "unknown"))
        if value in rule.allowed:
            continue
        if value in rule.not_allowed:
            worse("not_allowed")
            reasons.append(f"{rule.reason} ({rule.field}: {value})")
        else:
            worse("conditional")
            conditions.append(f"{rule.condition} ({rule.field}: {value})")
    return ProviderVerdict(provider=p.id, name=p.name, verdict=verdict, reasons=reasons, conditions=conditions)


def _ai_act(req: ComplianceRequest, cf: ComplianceFacts) -> str | None:
    share = cf.constant("ai_act_modifier_share").value
    if req.finetune_flop is None or req.base_model_flop is None:
        return None
    if req.base_model_flop <= 0 or req.finetune_flop < 0:
        raise ToolError("bad_compute", "finetune_flop must be >= 0 and base_model_flop > 0", "give FLOP counts")
    ratio = req.finetune_flop / req.base_model_flop
    if ratio > share:
        return (
            f"your fine-tuning compute is {ratio:.2%} of the base model's, above one third: you become the "
            "provider of a new general-purpose AI model (Art. 53 duties limited to your modification)"
        )
    return (
        f"your fine-tuning compute is {ratio:.4%} of the base model's, below one third: you do not become "
        "the provider of a new GPAI model; keep this estimate as evidence"
    )


@tool(effect="read", stage="provider")
def check_compliance(req: ComplianceRequest) -> ComplianceResult:
    """Says which fine-tuning provider paths GDPR/HIPAA, residency, zero-retention and on-premises constraints
    allow, and what must be done before training.

    Use it after `scan_pii` and before choosing a provider: it reads provider facts (regions, retention,
    BAA, training use) from reference data and lists, per path, allowed / conditional / not allowed with
    reasons, plus the required actions (lawful basis, DPA or BAA, erasure plan with dataset lineage, PII
    remediation, secret rotation, the EU AI Act one-third compute rule). It is a checklist grounded in
    cited sources, not legal advice.
    """
    cf = facts()
    rows, usage = _provider_facts(req.providers)
    warnings: list[str] = []
    regimes = [r for r in dict.fromkeys(req.regimes) if r != "none"]
    pii = _read_pii(req.pii_report)
    personal = req.personal_data if req.personal_data is not None else (pii.found > 0 if pii.scanned else bool(regimes))
    gdpr, hipaa = "gdpr" in regimes, "hipaa" in regimes
    eu_ai_act = req.eu_ai_act if req.eu_ai_act is not None else gdpr
    verdicts = [_judge(p, req.model_copy(update={"regimes": regimes}), cf.field_rules, personal) for p in rows]
    usable = [v for v in verdicts if v.verdict != "not_allowed"]
    leaves = (
        any(next(p for p in rows if p.id == v.provider).data_leaves_your_machines for v in usable)
        if usable
        else not req.on_premises
    )
    pii_unresolved = pii.scanned and pii.found > 0 and not pii.redacted_no_detections
    conditions = {
        "always": True,
        "gdpr": gdpr,
        "hipaa": hipaa,
        "eu_ai_act": eu_ai_act,
        "personal_data": personal,
        "pii_found": pii.found > 0,
        "pii_unresolved": pii_unresolved,
        "secrets_found": pii.secrets > 0,
        "no_scan": not pii.scanned,
        "data_leaves": leaves and not req.on_premises,
        "on_premises": req.on_premises,
    }
    actions = [
        Action(id=a.id, required=a.required, title=a.title, detail=a.detail, source=a.source)
        for a in cf.actions
        if all(conditions.get(c, False) for c in a.applies)
    ]
    ai_act = _ai_act(req, cf) if eu_ai_act else None
    usage.add(cf.actions + cf.field_rules + cf.constants, file="compliance.yaml")
    if pii.scanned and pii.found and pii.redacted_no_detections:
        warnings.append("PII was found in the original; train only on the redacted copy")
    warnings = usage.notices() + warnings
    return ComplianceResult(
        regimes=regimes or ["none"],
        allowed=[v.provider for v in verdicts if v.verdict == "allowed"],
        conditional=[v.provider for v in verdicts if v.verdict == "conditional"],
        not_allowed=[v.provider for v in verdicts if v.verdict == "not_allowed"],
        providers=verdicts,
        actions=actions,
        pii=pii,
        ai_act=ai_act,
        warnings=warnings,
        ok=bool(usable) and not pii_unresolved,
    )
