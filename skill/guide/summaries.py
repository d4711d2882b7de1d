"""What the guide says about a tool result: the counts, the top findings with their lines, the file with the rest.

Each function reads the JSON form of a result (as the agent loop hands it back, possibly shortened with
``truncated``), so every field is read with a default. They say what the tool measured and with what; a tool
that found nothing says what it looked with, never "clean".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

TOP = 5


def _usd(value: Any) -> str:
    if not isinstance(value, int | float):
        return "unpriced"
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The entries of a list field; a result shortened by the agent loop ends its lists with a "... more" note."""
    value = data.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _more(total: int, shown: int, where: str | None) -> list[str]:
    return [f"  ... {total - shown} more in {where or 'the full report'}"] if total > shown else []


def validate(data: dict[str, Any]) -> list[str]:
    lines = []
    for f in _items(data, "files"):
        lines.append(
            f"{f.get('path')}: {f.get('lines')} lines, {f.get('examples')} usable examples ({f.get('format')}); "
            f"{f.get('errors')} errors, {f.get('warnings')} warnings."
        )
    tokens = data.get("tokens") or {}
    if isinstance(tokens, dict) and tokens.get("billed_sum") is not None:
        lines.append(f"{tokens['billed_sum']:,} billed tokens per epoch, counted with {tokens.get('method')}.")
    findings = _items(data, "findings")
    if findings:
        lines.append("Top findings:")
        for f in findings[:TOP]:
            where = f"line {f['line']}" if f.get("line") else "whole file"
            lines.append(f"  {where} ({f.get('severity')}, {f.get('code')}): {f.get('message')}")
        lines += _more(data.get("findings_total", len(findings)), min(TOP, len(findings)), data.get("report_markdown"))
    elif _items(data, "files"):
        lines.append("No rule of the validator fired on these files.")
    if data.get("report_markdown"):
        lines.append(f"Full report: {data['report_markdown']}")
    return lines


def scan_pii(data: dict[str, Any]) -> list[str]:
    head = (
        f"{data.get('path')}: scanned {data.get('texts_scanned')} texts on {data.get('lines')} lines with Presidio "
        f"and the spaCy model {data.get('nlp_model')}."
    )
    if not data.get("found_total"):
        return [
            head,
            "It found no personal data or secrets (detection is statistical: this lowers the risk, it does not "
            "prove absence).",
        ]
    lines = [head, f"{data['found_total']} findings on {data.get('lines_with_findings')} lines:"]
    for e in _items(data, "entities"):
        lines.append(f"  {e.get('entity')} ({e.get('label')}): {e.get('count')} on {e.get('lines')} lines")
    shown = _items(data, "findings")[:TOP]
    if shown:
        lines.append("First findings (samples masked):")
        lines += [f"  line {f.get('line')} ({f.get('role')}): {f.get('entity')} {f.get('sample')}" for f in shown]
    redaction = data.get("redaction")
    if redaction:
        lines.append(
            f"Redacted copy {redaction.get('path')} ({redaction.get('mode')}): {redaction.get('replaced')} "
            f"replacements on {redaction.get('lines_changed')} lines; a re-scan finds {redaction.get('rescan_found')}."
        )
    if data.get("report_markdown"):
        lines.append(f"Full report: {data['report_markdown']}")
    return lines


def decide(data: dict[str, Any]) -> list[str]:
    lines = [f"Recommendation: {data.get('recommendation')} (confidence {data.get('confidence')})."]
    lines.append(str(data.get("summary", "")))
    fired = _items(data, "rules_fired")
    if fired:
        lines.append("Rules that fired:")
        lines += [
            f"  {'*' if r.get('decisive') else '-'} {r.get('id')} -> {r.get('verdict')}: {r.get('reason')}"
            for r in fired
        ]
    lines += [f"  ({reason})" for reason in data.get("confidence_reasons", [])[:3]]
    changes = _items(data, "what_would_change")
    if changes:
        lines.append("What would change it:")
        lines += [
            f"  - {c.get('field')} {c.get('would_need')} (now {c.get('now')}) -> {c.get('verdict')}"
            for c in changes[:TOP]
        ]
    lines += [f"Check: {f}" for f in _items(data, "findings")]
    return lines


def next_steps(data: dict[str, Any]) -> list[str]:
    steps = _items(data, "next_steps")
    return ["Next steps:"] + [
        f"  {i}. {s.get('step')}" + (f" ({s['tool']})" if s.get("tool") else "") for i, s in enumerate(steps, 1)
    ]


def cost(data: dict[str, Any]) -> list[str]:
    ds = data.get("dataset") or {}
    lines = [
        f"Priced {ds.get('path')}: {ds.get('examples')} examples, {ds.get('tokens_per_epoch')} tokens per epoch "
        f"(counted with {ds.get('counter')})."
        if ds
        else "Priced from the numbers given."
    ]
    options = _items(data, "options")
    lines.append(
        f"{len(options)} options priced, in the order estimate_cost ranks them:"
        if options
        else "No option could be priced."
    )
    for o in options[:TOP]:
        inference = o.get("inference") or {}
        be = (o.get("break_even") or {}).get("statement")
        lines.append(
            f"  {o.get('provider')} {o.get('model')}: training {_usd((o.get('training') or {}).get('cost_usd'))}"
            + (
                f", inference {_usd(inference.get('ft_usd_per_month'))}/month fine-tuned vs "
                f"{_usd(inference.get('base_usd_per_month'))} base at {inference.get('monthly_requests'):,} "
                "requests"
                if inference.get("monthly_requests")
                else ""
            )
        )
        if be:
            lines.append(f"    {be}")
    dates = sorted({a.get("as_of") for a in _items(data, "assumptions") if a.get("as_of")})
    if dates:
        lines.append(f"Prices as of {dates[0]} to {dates[-1]} (reference/data/pricing.yaml).")
    return lines


def providers(data: dict[str, Any]) -> list[str]:
    options = _items(data, "options")
    lines = [f"{len(options)} places to train fit, best first:" if options else "No provider fits the constraints."]
    for o in options[:TOP]:
        fits = "; ".join(o.get("fits", [])[:2])
        lines.append(f"  {o.get('rank')}. {o.get('provider')} {o.get('model')} ({o.get('method')})" + f": {fits}")
    excluded = _items(data, "excluded")
    if excluded:
        lines.append(f"{len(excluded)} excluded, e.g. {excluded[0].get('provider')}: {excluded[0].get('reason')}")
    return lines


def configure(data: dict[str, Any]) -> list[str]:
    plan = data.get("plan") or {}
    memory = data.get("memory") or {}
    return [
        f"Plan: {plan.get('base_model')} {plan.get('method')} r={plan.get('lora_r')} alpha={plan.get('lora_alpha')} "
        f"lr={plan.get('learning_rate')} for {plan.get('num_epochs')} epochs, {data.get('total_steps')} steps.",
        f"Memory: {memory.get('breakdown') or memory.get('note') or 'not estimated'}.",
        f"Written to {data.get('plan_file')} (and {len(data.get('exports', []))} exports for other trainers).",
    ]


def launch(data: dict[str, Any]) -> list[str]:
    plan = data.get("plan") or {}
    return [
        ("Started " + str(data.get("run_id")) if data.get("started") else "Dry run: nothing started")
        + f": {plan.get('base_model')} on {data.get('train_examples')} examples, {data.get('estimated_steps')} steps, "
        f"{data.get('precision')} on {data.get('device')}.",
        str(data.get("message", "")),
    ] + [f"  warning: {w}" for w in data.get("warnings", [])[:3]]


def split(data: dict[str, Any]) -> list[str]:
    parts = ", ".join(f"{p.get('split')} {p.get('examples')} ({p.get('path')})" for p in _items(data, "parts"))
    return [f"Split: {parts}; {data.get('groups')} groups of near-duplicates kept within one split."]


def diagnose(data: dict[str, Any]) -> list[str]:
    lines = [str(data.get("headline", ""))]
    for f in _items(data, "findings")[:TOP]:
        lines.append(f"  {f.get('severity')}: {f.get('title')}: {f.get('summary')}")
    if data.get("report_md"):
        lines.append(f"Full report: {data['report_md']}")
    return lines


def compliance(data: dict[str, Any]) -> list[str]:
    required = [a for a in _items(data, "actions") if a.get("required")]
    lines = [
        f"Compliance ({', '.join(data.get('regimes', []))}): {len(data.get('allowed', []))} paths allowed, "
        f"{len(data.get('conditional', []))} conditional, {len(data.get('not_allowed', []))} not allowed."
    ]
    lines += [f"  required: {a.get('title')}: {a.get('detail')}" for a in required[:TOP]]
    return lines


def run_status(data: dict[str, Any]) -> list[str]:
    runs = _items(data, "runs")
    if not runs:
        return ["No training runs yet."]
    return [
        f"{r.get('run_id')}: {r.get('state')}, step {r.get('step')}/{r.get('total_steps') or '?'}"
        + (f", loss {(r.get('latest') or {}).get('loss')}" if r.get("latest") else "")
        for r in runs[:TOP]
    ]


def generic(data: dict[str, Any]) -> list[str]:
    for key in ("message", "headline", "summary", "recommendation"):
        if isinstance(data.get(key), str):
            return [data[key]]
    scalars = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    return [json.dumps(scalars, ensure_ascii=False)[:400]]


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "validate_jsonl": validate,
    "scan_pii": scan_pii,
    "decide_fit": decide,
    "estimate_cost": cost,
    "select_provider": providers,
    "configure_training": configure,
    "launch_lora": launch,
    "split_dataset": split,
    "diagnose_loss": diagnose,
    "check_compliance": compliance,
    "run_status": run_status,
}


def summarise(name: str, data: dict[str, Any]) -> list[str]:
    """The lines the guide says about one successful result of tool ``name``."""
    lines = SUMMARIES.get(name, generic)(data)
    if data.get("truncated") and data.get("full_result"):
        lines.append(f"(shortened; the whole result is in {data['full_result']})")
    return lines
