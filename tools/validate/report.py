"""Token statistics and the result of validate_jsonl: inline findings, the JSON report and its markdown twin (the
result's report document)."""

from __future__ import annotations

import json
from typing import Any

from tools.core.document import to_markdown
from tools.validate.models import (
    CodeCount,
    Distribution,
    FileSummary,
    Finding,
    TokenStats,
    ValidateRequest,
    ValidateResult,
)
from tools.validate.scan import FileState, ScanRun

_SEV_ORDER = {"error": 0, "warning": 1, "info": 2}


def _dist(values: Any) -> Distribution:
    import numpy as np

    return Distribution(
        min=int(values.min()),
        median=float(np.median(values)),
        p95=float(np.percentile(values, 95)),
        max=int(values.max()),
        mean=round(float(values.mean()), 1),
    )


def token_stats(recs: Any, counter: Any, limit: int | None) -> TokenStats | None:
    if not len(recs):
        return None
    total, asst, billed = recs["total"], recs["asst"], recs["billed"]
    return TokenStats(
        method=counter.method,
        approximate=counter.approximate,
        examples=len(recs),
        total=_dist(total),
        assistant=_dist(asst),
        billed=_dist(billed),
        billed_sum=int(billed.astype("int64").sum() if not limit else billed.clip(max=limit).astype("int64").sum()),
        assistant_share=round(float(asst.sum()) / max(float(total.sum()), 1.0), 4),
        limit=limit,
        over_limit=int((billed > limit).sum()) if limit else 0,
    )


def finish_findings(
    run: ScanRun,
    files: list[FileState],
    dataset: list[Finding],
    tokens: TokenStats | None,
    spool_name: str,
    req: ValidateRequest,
    ws: Any,
    notes: list[str] | None = None,
) -> ValidateResult:
    from tools.core.workspace import atomic_writer

    for f in dataset:
        run.counts[(f.code, f.severity)] += 1
    counts = sorted(
        (CodeCount(code=c, severity=s, count=n) for (c, s), n in run.counts.items()),  # type: ignore[arg-type]
        key=lambda c: (_SEV_ORDER[c.severity], -c.count, c.code),
    )
    ranked = sorted(dataset + run.kept, key=lambda f: (_SEV_ORDER[f.severity], f.line is not None, f.file, f.line or 0))
    errors = sum(c.count for c in counts if c.severity == "error")
    summaries = [
        FileSummary(
            path=fs.shown,
            format=fs.fmt,
            target=fs.target.id,
            lines=fs.lines,
            examples=fs.examples,
            errors=sum(n for (c, s), n in fs.counts.items() if s == "error"),
            warnings=sum(n for (c, s), n in fs.counts.items() if s == "warning"),
        )
        for fs in files
    ]
    for f in dataset:
        for s in summaries:
            if f.file == s.path or f.file == "(all files)":
                if f.severity == "error":
                    s.errors += 1
                elif f.severity == "warning":
                    s.warnings += 1
    if req.report:
        report = ws.output_file(req.report, inputs=tuple(fs.path for fs in files))
    else:
        report = ws.state_dir / "reports" / f"{files[0].path.stem}.validation.json"
    md_path = report.with_suffix(".md")
    head = {
        "ok": errors == 0,
        "files": [s.model_dump() for s in summaries],
        "counts": [c.model_dump() for c in counts],
        "tokens": tokens.model_dump() if tokens else None,
        "notes": notes or [],
        "dataset_findings": [f.model_dump() for f in dataset],
        "groups": run.groups,
    }
    total_findings = sum(run.counts.values())
    with atomic_writer(report) as out:
        body = json.dumps(head, indent=1)
        out.write(body[:-2] + ',\n "line_findings": [\n')
        with open(spool_name, encoding="utf-8") as spool:
            first = True
            for row in spool:
                out.write(("" if first else ",\n") + row.rstrip("\n"))
                first = False
        out.write("\n ]\n}\n")
    result = ValidateResult(
        ok=errors == 0,
        files=summaries,
        counts=counts,
        findings=ranked[: req.max_findings],
        findings_total=total_findings,
        tokens=tokens,
        report_json=ws.relative(report),
        report_markdown=ws.relative(md_path),
        notes=notes or [],
    )
    lines, more = _line_findings(spool_name)
    with atomic_writer(md_path) as md:
        md.write(to_markdown(result.report_document(dataset, lines, more), level=1))
    return result


def _line_findings(spool_name: str, limit: int = 500) -> tuple[list[Finding], bool]:
    """The first ``limit`` line findings of the spool, and whether there are more."""
    found: list[Finding] = []
    with open(spool_name, encoding="utf-8") as spool:
        for row in spool:
            if len(found) == limit:
                return found, True
            found.append(Finding.model_validate_json(row))
    return found, False
