"""run_eval's files: report.md (verdicts, intervals, warnings, probes, example outputs) and deltas.png."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tools.core.document import Block, Bullets, Cell, Document, Pairs, Table, Text, to_markdown
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


def _with_interval(value: float, interval: list[float] | None) -> str:
    return number(value) + (f" [{number(interval[0], 2)}, {number(interval[1], 2)}]" if interval else "")


def _compared(result: Any, cand: Any, base: Any) -> Pairs:
    def side(s: Any) -> str:
        return s.source + (f" (API cost about ${s.cost_usd:.4f})" if s.cost_usd else "")

    skipped = f" ({len(result.skipped_lines)} unusable lines skipped)" if result.skipped_lines else ""
    overlap = (
        f"{result.overlap_exact} exact, {result.overlap_near} near"
        if result.overlap_exact is not None
        else "not checked (no training data given)"
    )
    items: list[tuple[str, Cell]] = [
        ("candidate", side(cand)),
        ("baseline", side(base)),
        ("items", f"{result.items}{skipped}"),
        ("overlap with training data", overlap),
    ]
    if result.judge_calls:
        items.append(("LLM judge", f"{result.judge_calls} pairwise requests (both answer orders per item)"))
    return Pairs(title="Compared", items=items)


def _metrics(result: Any, level: str) -> Table:
    rows: list[list[Cell]] = [
        [
            m.metric,
            _with_interval(m.baseline, m.baseline_interval),
            _with_interval(m.candidate, m.candidate_interval),
            number(m.delta, signed=True),
            f"[{number(m.ci_low, signed=True)}, {number(m.ci_high, signed=True)}]",
            p_text(m.p_value),
            m.test,
            m.verdict,
        ]
        for m in result.metrics
    ]
    headers = ["metric", "baseline", "candidate", "delta", f"{level} interval", "p", "test", "verdict"]
    return Table(title="Metrics", headers=headers, rows=rows)


def report_document(result: Any, items: list[Any], outputs: dict[str, list[str]], alpha: float) -> Document:
    """report.md: the result's document at length (both sides' sources and costs, rates with their Wilson
    intervals, the method) and the first example outputs, which the result itself does not carry."""
    short = result.document()
    cand = next(s for s in result.systems if s.role == "candidate")
    base = next(s for s in result.systems if s.role == "baseline")
    level = f"{1 - alpha:.0%}"
    method = (
        f"Differences are candidate minus baseline with a {level} paired-bootstrap interval; pass/fail metrics are "
        "tested with McNemar's test on the items where the two disagree, rates carry Wilson intervals."
    )
    blocks: list[Block] = [
        _compared(result, cand, base),
        Bullets(title="Verdict", items=[result.verdict or "-"]),
        Text(text=method),
        _metrics(result, level),
    ]
    blocks += [b for b in short.blocks if getattr(b, "title", None) in ("Probes", "Warnings")]
    examples: list[list[Cell]] = [
        [it.line, _clip(it.reference), _clip(outputs["baseline"][i]), _clip(outputs["candidate"][i])]
        for i, it in enumerate(items[:5])
    ]
    blocks += [
        Table(title="Examples", headers=["line", "reference", "baseline", "candidate"], rows=examples),
        Text(text="Every item's outputs and scores are in samples.jsonl."),
    ]
    return Document(
        title=f"Evaluation: {cand.label} vs {base.label}", status=short.status, headline=short.headline, blocks=blocks
    )


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
    doc = report_document(result, items, outputs, alpha)
    report = write_text_atomic(folder / "report.md", to_markdown(doc, level=1))
    return report, chart(folder / "deltas.png", result, alpha)


__all__ = ["chart", "number", "p_text", "report_document", "write_outputs"]
