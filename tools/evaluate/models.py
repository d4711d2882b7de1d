"""run_eval's result: the systems compared, a verdict per metric with its paired interval, the probes, and the
files written; its document is what the CLI prints and the demo shows."""

from __future__ import annotations

from pydantic import BaseModel

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Image, Pairs, Table, Text
from tools.evaluate.probes import ProbeResult, facts
from tools.evaluate.report import number, p_text


class SystemInfo(BaseModel):
    role: str
    label: str
    source: str
    generations: int
    cost_usd: float | None = None


class MetricResult(BaseModel):
    metric: str
    kind: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float | None
    test: str
    verdict: str
    baseline_interval: list[float] | None = None
    candidate_interval: list[float] | None = None


class RunEvalResult(BaseModel):
    ran: bool
    message: str
    items: int
    skipped_lines: list[int]
    systems: list[SystemInfo]
    estimated_generations: int
    judge_calls: int
    estimated_seconds: float | None
    metrics: list[MetricResult]
    verdict: str | None
    forgetting: ProbeResult | None
    memorisation: ProbeResult | None
    overlap_exact: int | None
    overlap_near: int | None
    warnings: list[str]
    out_dir: str | None
    samples: str | None
    report: str | None
    chart: str | None
    seconds: float | None

    @property
    def flagged(self) -> bool:
        """A metric that got worse or a probe that flagged the candidate (the CLI exits 1)."""
        return any(m.verdict == "regression" for m in self.metrics) or any(
            p is not None and p.flagged for p in (self.forgetting, self.memorisation)
        )

    def _systems(self) -> Table:
        rows: list[list[Cell]] = [
            [s.role, s.label, s.source, s.generations, None if s.cost_usd is None else f"${s.cost_usd:.4f}"]
            for s in self.systems
        ]
        return Table(title="Systems", headers=["role", "system", "source", "generations", "API cost"], rows=rows)

    def _metrics(self) -> Table:
        rows: list[list[Cell]] = [
            [
                m.metric,
                m.baseline,
                m.candidate,
                f"{number(m.delta, signed=True)} [{number(m.ci_low, signed=True)}, {number(m.ci_high, signed=True)}]",
                p_text(m.p_value),
                m.test,
                m.verdict,
            ]
            for m in self.metrics
        ]
        return Table(
            title=f"{self.items} items: candidate - baseline",
            headers=[
                "metric",
                "base",
                "fine-tuned",
                f"delta [{1 - facts().alpha.value:.0%} interval]",
                "p",
                "test",
                "verdict",
            ],  # fmt: skip
            rows=rows,
        )

    def _data(self) -> Pairs:
        overlap: Cell = (
            f"{self.overlap_exact} exact, {self.overlap_near} near"
            if self.overlap_exact is not None
            else "not checked (no training data given)"
        )
        items: list[tuple[str, Cell]] = [("eval items", self.items)]
        if self.skipped_lines:
            items.append(("unusable lines skipped", ", ".join(map(str, self.skipped_lines))))
        items.append(("overlap with training data", overlap))
        if self.judge_calls:
            items.append(("LLM judge requests (both answer orders per item)", self.judge_calls))
        if not self.ran:
            items.append(("generations it would make", self.estimated_generations))
        if self.seconds is not None:
            items.append(("seconds", self.seconds))
        return Pairs(title="Data", items=items)

    def _probes(self) -> list[Block]:
        found = [
            Finding(
                severity="warning" if p.flagged else "info",
                where=p.name,
                code="flagged" if p.flagged else None,
                message=p.message,
            )  # fmt: skip
            for p in (self.forgetting, self.memorisation)
            if p is not None
        ]
        return [Findings(title="Probes", items=found)] if found else []

    def document(self) -> Document:
        blocks: list[Block] = [] if self.ran else [Text(text=self.message)]
        blocks += [self._systems(), self._data()]
        if self.metrics:
            blocks.append(self._metrics())
        blocks += self._probes()
        # a flagged probe's message is already among the probes
        probe_lines = {p.message for p in (self.forgetting, self.memorisation) if p is not None}
        warnings = [w for w in self.warnings if w not in probe_lines]
        if warnings:
            blocks.append(Bullets(title="Warnings", items=warnings))
        if self.chart:
            blocks.append(Image(alt="metric deltas", path=self.chart))
        if self.report:
            blocks.append(
                Text(text=f"Full report with example outputs: {self.report}; every item's scores: {self.samples}")
            )
        headline = (
            self.verdict or self.message
            if self.ran
            else f"dry run: would generate {self.estimated_generations} outputs"
            + (f" and make {self.judge_calls} judge requests" if self.judge_calls else "")
            + "; nothing ran"
        )
        return Document(
            title="Fine-tuned vs base",
            status="problems" if self.flagged else "ok",
            headline=headline,
            blocks=blocks,
            files=[f for f in (self.report, self.samples) if f],
        )


__all__ = ["MetricResult", "RunEvalResult", "SystemInfo"]
