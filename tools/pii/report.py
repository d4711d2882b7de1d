"""The reports ``scan_pii`` writes: the full JSON and a Markdown page for people (samples masked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.pii.models import ReviewSample, ScanPiiResult


def relative(ws: Any, path: Path) -> str:
    try:
        return ws.relative(path)
    except ValueError:
        return str(path)


def write(path: Path, result: ScanPiiResult, findings: list[dict[str, Any]], review: list[ReviewSample]) -> None:
    from tools.core.workspace import write_text_atomic

    data = result.model_dump(mode="json")
    data["findings"] = findings
    if data.get("redaction"):
        data["redaction"]["review"] = [r.model_dump(mode="json") for r in review]
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(path.with_suffix(".md"), render_markdown(result, findings, review))


def _summary(result: ScanPiiResult) -> list[str]:
    out = [f"# PII and secrets scan: {result.path}", ""]
    out.append(
        f"- format: {result.format or 'unknown'}; {result.lines} lines, {result.examples} examples, "
        f"{result.texts_scanned} strings, keys and numbers ({result.unique_texts} distinct); {result.workers} workers"
    )
    out.append(
        f"- detector: {result.detector} ({'names detected' if result.names_detected else 'NO name detection'}),"
        f" language {result.language}"
    )
    out.append(f"- found: {result.found_total} in {result.lines_with_findings} lines")
    if result.redaction:
        r = result.redaction
        out.append(
            f"- redacted copy: {r.path} (mode {r.mode}): {r.known_values} known values searched for everywhere, "
            f"{r.replaced} replacements in {r.lines_changed} lines ({r.second_look_lines} of them lines where the "
            "scan itself had detected nothing)"
        )
        out.append(f"- re-scan: {r.statement}")
    out.append("")
    out += [f"> **warning:** {w}" for w in result.warnings]
    return out


def render_markdown(result: ScanPiiResult, findings: list[dict[str, Any]], review: list[ReviewSample]) -> str:
    """The human report: summary, warnings, per-entity table, line problems, findings, review samples."""
    out = _summary(result)
    if result.template_findings:
        out += [
            "",
            "Not counted (names/places in a system prompt shared by many examples; check they are "
            "brand or product names):",
        ]
        out += [f"- {t.entity} `{t.sample}` in {t.lines} lines" for t in result.template_findings]
    if result.entities:
        out += ["", "| entity | kind | found | lines | by role |", "|---|---|---:|---:|---|"]
        for e in result.entities:
            roles = ", ".join(f"{r.role} {r.count}" for r in e.by_role)
            out.append(f"| {e.entity} | {e.kind} | {e.count} | {e.lines} | {roles} |")
    if result.line_problems:
        out += ["", f"## Lines not read, not parsed or not fully scanned ({result.line_problems_total})", ""]
        out += [f"- line {p.line} ({p.kind}): {p.message}" for p in result.line_problems]
    if findings:
        out += [
            "",
            "## Findings (samples masked)",
            "",
            "| line | role | entity | score | sample |",
            "|---:|---|---|---:|---|",
        ]
        out += [
            f"| {f['line']} | {f['role']} | {f['entity']} | {f['score']} | `{f['sample']}` |" for f in findings[:200]
        ]
        if len(findings) > 200:
            out.append(f"\n... {len(findings) - 200} more in the JSON report")
    if review:
        out += [
            "",
            "## Review: replacements as they read in the redacted copy",
            "",
            "| line | where | chars | entity | found by | redacted text |",
            "|---:|---|---|---|---|---|",
        ]
        for r in review:
            text = r.text.replace("|", "\\|").replace("\n", " ")
            by = "second look" if r.second_look else "scan"
            out.append(f"| {r.line} | `{r.where}` | {r.start}-{r.end} | {r.entity} | {by} | {text} |")
    out += [
        "",
        "Detection is statistical: no detection lowers the risk of training on personal data; it does not prove "
        "there is none.",
        "",
    ]
    return "\n".join(out)
