"""Dataset-level findings of validate_jsonl: duplicates, leakage, contradictions, outliers, refusals, system
prompts, and the content checks' dataset findings; near-duplicates come from tools/validate/near.py."""

from __future__ import annotations

from typing import Any

from tools.validate.models import Finding
from tools.validate.scan import FileState, ScanRun, fmt_lines, lines_of


def _equal_groups(column: Any, *, skip_zero: bool = False, part_rows: int = 100_000) -> Any:
    """Index arrays of rows with equal values (groups of 2 or more) in a uint64 hash column.

    Rows are processed in partitions by the top bits of the hash, so the temporaries of the sort stay
    small whatever the number of rows (memory flat in the file size)."""
    import numpy as np

    parts = 1
    while parts * part_rows < len(column) and parts < 1024:
        parts *= 2
    shift = np.uint64(64 - parts.bit_length() + 1) if parts > 1 else None
    for p in range(parts):
        if shift is None:
            idx = np.flatnonzero(column != 0) if skip_zero else np.arange(len(column))
        else:
            idx = np.flatnonzero((column >> shift) == np.uint64(p))
            if skip_zero:
                idx = idx[column[idx] != 0]
        if len(idx) < 2:
            continue
        values = column[idx]
        order = np.argsort(values, kind="stable")
        sv = values[order]
        bounds = np.flatnonzero(np.concatenate(([True], sv[1:] != sv[:-1], [True])))
        for i in np.flatnonzero(np.diff(bounds) > 1):
            yield idx[order[bounds[i] : bounds[i + 1]]]


class _Out:
    """The dataset findings being gathered; ``add`` takes (file, line) pairs and keeps the first 1000 lines."""

    def __init__(self, files: list[FileState]) -> None:
        self.items: list[Finding] = []
        self.multi = len(files) > 1
        self.first = files[0].shown if len(files) == 1 else "(all files)"

    def add(self, code: str, severity: str, message: str, pairs: list[tuple[str, int]] | None = None) -> None:
        file = pairs[0][0] if pairs and not self.multi else self.first
        self.items.append(
            Finding(
                code=code,
                severity=severity,  # type: ignore[arg-type]
                file=file,
                line=pairs[0][1] if pairs else None,
                message=message,
                lines=[n for _, n in pairs[:1000]] if pairs else None,
            )
        )


def dataset_findings(
    run: ScanRun, files: list[FileState], recs: Any, F: Any, limit: int | None, near: bool, content: Any
) -> list[Finding]:
    """Every finding about the dataset as a whole (duplicates, leakage, contradictions, outliers, near-duplicates,
    refusals, system prompts and the content checks), from the records and tallies of the scan."""
    from tools.validate import content_findings
    from tools.validate.near import near_duplicates

    out = _Out(files)
    dup_of: dict[int, int] = {}
    if len(recs):
        dup_of = _exact(run, files, recs, out)
        _contradictions(run, files, recs, out)
        _lengths(files, recs, F, out)
        content_findings.repeated_answers(
            recs, content, lambda g: lines_of(recs, g, files), out.multi, _equal_groups, out.add
        )
    if near and len(recs) > 1:
        out.items += near_duplicates(run, recs, files, F, dup_of, out.multi)
    _answers(run, F, out)
    _system_prompts(run, out)
    if run.content is not None:
        content_findings.findings(run.content.tallies, content, out.multi, out.add)
    return out.items


def _exact(run: ScanRun, files: list[FileState], recs: Any, out: _Out) -> dict[int, int]:
    """Exact duplicates and exact leakage; returns each duplicate's first copy (by record index)."""
    groups = sorted(_equal_groups(recs["full"]), key=lambda g: int(g[0]))
    file_col = recs["file"]
    leak = [g for g in groups if len(set(file_col[g].tolist())) > 1]
    inner = [g for g in groups if len(set(file_col[g].tolist())) == 1]
    dup_of: dict[int, int] = {}
    for g in groups:
        for j in g[1:]:
            dup_of[int(j)] = int(g[0])
    run.keep_groups("duplicate", inner, recs, files)
    run.keep_groups("leakage_exact", leak, recs, files)
    if inner:
        listing = "; ".join(fmt_lines(lines_of(recs, g, files), out.multi, 6) for g in inner[:8])
        out.add(
            "duplicate",
            "warning",
            f"{sum(len(g) - 1 for g in inner)} exact duplicate examples in {len(inner)} groups "
            f"(lines {listing}{' ...' if len(inner) > 8 else ''}); keep one of each",
            [p for g in inner for p in lines_of(recs, g, files)],
        )
    if leak:
        listing = "; ".join(fmt_lines(lines_of(recs, g, files), True, 6) for g in leak[:8])
        out.add(
            "leakage_exact",
            "error",
            f"{len(leak)} examples appear in more than one file ({listing}); evaluation would be inflated",
            [p for g in leak for p in lines_of(recs, g, files)],
        )
    return dup_of


def _contradictions(run: ScanRun, files: list[FileState], recs: Any, out: _Out) -> None:
    """The same prompt with different answers."""
    import numpy as np

    answer_col = recs["answer"]
    contra = sorted(
        (np.sort(g) for g in _equal_groups(recs["prompt"], skip_zero=True) if len(set(answer_col[g].tolist())) > 1),
        key=lambda g: int(g[0]),
    )
    run.keep_groups("contradiction", contra, recs, files)
    if contra:
        listing = "; ".join(fmt_lines(lines_of(recs, g, files), out.multi, 6) for g in contra[:8])
        out.add(
            "contradiction",
            "warning",
            f"{len(contra)} prompts appear with different answers (lines {listing}); "
            "make the answers consistent or keep the best one",
            [p for g in contra for p in lines_of(recs, g, files)],
        )


def _lengths(files: list[FileState], recs: Any, F: Any, out: _Out) -> None:
    """Length outliers and the share of tokens that train."""
    import numpy as np

    totals = recs["total"]
    if len(recs) >= 20:
        med = float(np.median(totals))
        p99 = float(np.percentile(totals, 99))
        mult = F.quality.outlier_median_multiple
        big = np.flatnonzero((totals > p99) & (totals > mult * max(med, 1.0)))
        if len(big):
            big = big[np.argsort(-totals[big])]
            out.add(
                "length_outlier",
                "info",
                f"{len(big)} examples are over {mult:g}x the median length ({med:.0f} tokens) and above p99 "
                f"(lines {fmt_lines(lines_of(recs, big, files), out.multi)}); check they are intended",
                lines_of(recs, big, files),
            )
    asst_share = float(recs["asst"].sum()) / max(float(totals.sum()), 1.0)
    if asst_share < F.quality.min_assistant_share:
        out.add(
            "low_assistant_share",
            "warning",
            f"only {asst_share:.1%} of tokens are assistant tokens that train; most of the cost is prompt",
        )


def _answers(run: ScanRun, F: Any, out: _Out) -> None:
    """Refusals and very short answers."""
    if run.refusal_count:
        share = run.refusal_count / max(run.assistant_turns, 1)
        sev = "warning" if share > F.refusals.max_share else "info"
        out.add(
            "refusal",
            sev,
            f"{run.refusal_count} assistant turns ({share:.1%}) are refusals or AI boilerplate "
            f"(lines {fmt_lines(run.refusals, out.multi)}); "
            + (
                "above the " + f"{F.refusals.max_share:.0%} share that teaches the model to refuse"
                if sev == "warning"
                else "keep them only if the model should answer that way"
            ),
            run.refusals,
        )
    if run.short_count:
        out.add(
            "short_assistant",
            "warning",
            f"{run.short_count} assistant turns have fewer than {F.quality.min_assistant_tokens} tokens "
            f"(lines {fmt_lines(run.short, out.multi)})",
            run.short,
        )


def _system_prompts(run: ScanRun, out: _Out) -> None:
    distinct = len(run.systems)
    with_sys = sum(e[0] for e in run.systems.values())
    if not (distinct > 1 or (distinct == 1 and run.no_system[0])) or distinct > 20:
        return
    ranked = sorted(run.systems.values(), key=lambda e: -e[0])
    parts = [f"{e[0]} use prompt #{k + 1} ({e[2]} chars, first at line {e[1][0][1]})" for k, e in enumerate(ranked[:4])]
    if run.no_system[0]:
        parts.append(f"{run.no_system[0]} have none (lines {fmt_lines(run.no_system[1], out.multi)})")
    rare = [p for e in ranked[1:] for p in e[1]] + run.no_system[1]
    out.add(
        "inconsistent_system_prompt",
        "warning",
        f"{distinct} different system prompts across {with_sys + run.no_system[0]} examples: "
        + "; ".join(parts)
        + ". Train with the system prompt you will use at inference.",
        rare,
    )
