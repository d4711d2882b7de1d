"""run_eval's files: report.md (verdicts, intervals, warnings, probes, example outputs) and deltas.png."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from tools.core.workspace import write_bytes_atomic, write_text_atomic


def number(x: float | None, places: int = 3, *, signed: bool = False) -> str:
    """``x`` with ``places`` decimals, or in scientific notation when the decimals would show a non-zero
    value as 0 (a delta of 3.8e-05 is never printed as 0.000)."""
    if x is None:
        return "-"
    sign = "+" if signed else ""
    if x != 0 and abs(x) < 0.5 * 10.0**-places:
        return format(x, f"{sign}.2e")
    return format(x, f"{sign}.{places}f")


def p_text(p: float | None) -> str:
    """A p-value with three significant digits (3.8e-05, 0.0421); 0 only when it underflowed."""
    if p is None:
        return "-"
    return "< 1e-300 (below float precision)" if p == 0 else format(p, ".3g")


def _clip(text: str, n: int = 160) -> str:
    one = " ".join(text.split())
    return (one[:n] + "...") if len(one) > n else one


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def report_markdown(result: Any, items: list[Any], outputs: dict[str, list[str]], alpha: float) -> str:
    cand = next(s for s in result.systems if s.role == "candidate")
    base = next(s for s in result.systems if s.role == "baseline")
    level = f"{1 - alpha:.0%}"
    lines = [
        f"# Evaluation: {cand.label} vs {base.label}",
        "",
        f"- candidate: {cand.source}" + (f" (API cost about ${cand.cost_usd:.4f})" if cand.cost_usd else ""),
        f"- baseline: {base.source}" + (f" (API cost about ${base.cost_usd:.4f})" if base.cost_usd else ""),
        f"- items: {result.items}"
        + (f" ({len(result.skipped_lines)} unusable lines skipped)" if result.skipped_lines else ""),
        f"- overlap with training data: {result.overlap_exact} exact, {result.overlap_near} near"
        if result.overlap_exact is not None
        else "- overlap with training data: not checked (no training data given)",
        f"- LLM judge: {result.judge_calls} pairwise requests (both answer orders per item)"
        if result.judge_calls
        else "",
        "",
        "## Verdict",
        "",
        result.verdict or "-",
        "",
        "## Metrics",
        "",
        f"Differences are candidate minus baseline with a {level} paired-bootstrap interval; pass/fail metrics are "
        "tested with McNemar's test on the items where the two disagree, rates carry Wilson intervals.",
        "",
        f"| metric | baseline | candidate | delta | {level} interval | p | test | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in result.metrics:
        bi = (
            f" [{number(m.baseline_interval[0], 2)}, {number(m.baseline_interval[1], 2)}]"
            if m.baseline_interval
            else ""
        )
        ci = (
            f" [{number(m.candidate_interval[0], 2)}, {number(m.candidate_interval[1], 2)}]"
            if m.candidate_interval
            else ""
        )
        lines.append(
            f"| {m.metric} | {number(m.baseline)}{bi} | {number(m.candidate)}{ci} | {number(m.delta, signed=True)} | "
            f"[{number(m.ci_low, signed=True)}, {number(m.ci_high, signed=True)}] | {p_text(m.p_value)} | {m.test} | "
            f"**{m.verdict}** |"
        )
    if result.forgetting or result.memorisation:
        lines += ["", "## Probes", ""]
        for p in (result.forgetting, result.memorisation):
            if p:
                lines.append(f"- **{p.name}**{' (flagged)' if p.flagged else ''}: {p.message}")
    if result.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result.warnings]
    lines += ["", "## Examples", "", "| line | reference | baseline | candidate |", "|---|---|---|---|"]
    for i, it in enumerate(items[:5]):
        lines.append(
            f"| {it.line} | {_md_cell(_clip(it.reference))} | {_md_cell(_clip(outputs['baseline'][i]))} | "
            f"{_md_cell(_clip(outputs['candidate'][i]))} |"
        )
    lines += ["", "Every item's outputs and scores are in samples.jsonl.", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def chart(path: Path, result: Any, alpha: float) -> Path | None:
    """Horizontal bars of candidate - baseline per metric with their intervals (lengths left out: other scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [m for m in result.metrics if m.kind != "info"]
    if not rows:
        return None
    colours = {"improvement": "#2a9d3f", "regression": "#c0392b"}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    ys = list(range(len(rows)))[::-1]
    for y, m in zip(ys, rows, strict=False):
        ax.barh(y, m.delta, color=colours.get(m.verdict, "#8c8c8c"))
        ax.errorbar(
            m.delta, y, xerr=[[m.delta - m.ci_low], [m.ci_high - m.delta]], fmt="none", ecolor="black", capsize=3
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, [m.metric for m in rows])
    ax.set_xlabel(f"candidate - baseline ({1 - alpha:.0%} paired bootstrap interval)")
    ax.set_title(
        "candidate vs baseline (green: improvement, red: regression, grey: no detectable difference)", fontsize=8
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(path, buf.getvalue())


def write_outputs(
    folder: Path, result: Any, items: list[Any], outputs: dict[str, list[str]], alpha: float
) -> tuple[Path, Path | None]:
    report = write_text_atomic(folder / "report.md", report_markdown(result, items, outputs, alpha))
    return report, chart(folder / "deltas.png", result, alpha)


__all__ = ["chart", "number", "p_text", "report_markdown", "write_outputs"]
