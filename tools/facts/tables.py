"""Markdown tables generated from reference/data, for the reference/*.md files.

A table lives between two marker comments in a markdown file::

    <!-- facts:begin pricing_training -->
    ...generated, do not edit...
    <!-- facts:end pricing_training -->

:func:`render_text` replaces every such block with a fresh rendering; `finetune facts render` writes the
files and a test fails when a file differs from its rendering (the tables drifted from the YAML).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

from tools import knowledge
from tools.core.errors import ToolError

MARKER = re.compile(
    r"(?P<begin><!-- facts:begin (?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(?P<end><!-- facts:end (?P=name) -->)",
    re.DOTALL,
)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:g}" if (abs(value) < 1e-3 and value) else f"{value:,.4f}".rstrip("0").rstrip(".")
        return text
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    whole, _, frac = f"{value:,.5f}".rstrip("0").partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _src(row: knowledge.Fact) -> str:
    """The source link, the page's own date when it has one, the day we read it, and the basis when not primary."""
    host = urlparse(row.source).netloc.removeprefix("www.") or row.source
    page = f"page {row.source_date}, " if row.source_date else ""
    mark = "" if row.basis == "primary" else f" ({row.basis})"
    return f"[{host}]({row.source}) {page}checked {row.checked}{mark}"


def _price(value: float | None, last: knowledge.LastKnown | None) -> str:
    if value is not None:
        return _money(value)
    if last is not None:
        return f"last known {_money(last.value)} ({last.dated}), unconfirmed"
    return "unknown"


def _until(value: object) -> str:
    return "-" if value is None else str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else _cell(c) for c in row) + " |")
    return "\n".join(lines)


def _footer(*files: str) -> str:
    names = ", ".join(f"`reference/data/{f}.yaml`" for f in files)
    return f"\n\n*Generated from {names} by `finetune facts render`; edit the YAML, not this table.*"


# ---------------------------------------------------------------------------------------------- tables


def providers_status() -> str:
    prov = knowledge.providers()
    rows = []
    for p in prov.providers:
        rows.append(
            [
                p.name,
                p.kind,
                p.status,
                _until(p.available_until),
                knowledge.serving_text(p.serving),
                "yes" if p.data_leaves_your_machines else "no",
                _src(p),
            ]
        )
    return _table(
        ["path", "kind", "status", "no new jobs from", "fine-tunes served", "data leaves you", "source"], rows
    ) + _footer("providers")


def providers_models() -> str:
    prov = knowledge.providers()
    rows = []
    for p in prov.providers:
        for m in p.models:
            if not m.methods:
                continue
            closed = ", ".join(f"{c.method} (closed)" for c in m.methods_closed)
            rows.append(
                [
                    p.id,
                    f"`{m.id}`",
                    _cell(m.methods) + (f"; {closed}" if closed else ""),
                    _cell(m.min_examples),
                    _cell(m.max_examples),
                    _cell(m.max_tokens_per_example),
                    _until(m.available_until if m.available_until is not None else p.available_until),
                    _until(m.serving_until),
                    _src(m),
                ]
            )
    return _table(
        [
            "provider",
            "model",
            "methods",
            "min ex.",
            "max ex.",
            "tokens/example",
            "no new jobs from",
            "serving ends",
            "source",
        ],
        rows,
    ) + _footer("providers")


def compliance_matrix() -> str:
    prov = knowledge.providers()
    rows = []
    for p in prov.providers:
        if p.status == "ended" or p.kind == "eval_service" or p.status == "deprecated":
            continue
        rows.append(
            [
                p.name,
                "yes" if p.data_leaves_your_machines else "no",
                p.trains_on_customer_data,
                p.zdr,
                p.hipaa_baa,
                _cell(p.residency),
                _src(p),
            ]
        )
    return _table(
        ["path", "data leaves you", "trains on your data", "zero retention", "HIPAA BAA", "residency", "source"], rows
    ) + _footer("providers")


def pricing_training() -> str:
    price = knowledge.pricing()
    unit_names = knowledge.UNIT_TEXT
    rows = []
    for r in price.training:
        rows.append(
            [
                r.provider,
                f"`{r.model}`",
                r.method,
                "free" if r.unit == "free" else _price(r.price_usd, r.last_known),
                unit_names[r.unit],
                _money(r.min_fee_usd) if r.min_fee_usd else "-",
                _until(r.available_until),
                _src(r),
            ]
        )
    return _table(
        ["provider", "model", "method", "price", "unit", "min fee", "no new jobs from", "source"], rows
    ) + _footer("pricing")


def pricing_inference() -> str:
    price = knowledge.pricing()
    rows = []
    for r in price.inference:
        rows.append(
            [
                r.provider,
                f"`{r.model}`",
                r.tier,
                _cell(r.base_input),
                _cell(r.base_output),
                _cell(r.ft_input),
                _cell(r.ft_cached_input),
                _cell(r.ft_output),
                knowledge.serving_text(r.serving),
                _until(r.serving_until),
                _src(r),
            ]
        )
    return (
        _table(
            [
                "provider",
                "model",
                "tier",
                "base in",
                "base out",
                "FT in",
                "FT cached in",
                "FT out",
                "fine-tune served",
                "serving ends",
                "source",
            ],
            rows,
        )
        + "\n\nAll prices in US dollars per 1M tokens."
        + _footer("pricing")
    )


def pricing_fixed() -> str:
    price = knowledge.pricing()
    rows = []
    for h in price.hosting:
        rows.append(
            [
                "hosting",
                h.provider,
                h.deployment,
                _price(h.price_usd, h.last_known),
                h.unit.replace("_", " "),
                _cell(h.note),
                _src(h),
            ]
        )
    for s in price.storage:
        rows.append(
            [
                "storage",
                s.provider,
                "-",
                _price(s.price_usd, s.last_known),
                s.unit.replace("_", " "),
                _cell(s.note),
                _src(s),
            ]
        )
    return _table(["fee", "provider", "deployment", "price", "unit", "note", "source"], rows) + _footer("pricing")


def gpu_offers() -> str:
    g = knowledge.gpus()
    rows = []
    for o in sorted(g.offers, key=lambda o: (o.gpu, o.usd_per_gpu_hour is None, o.usd_per_gpu_hour or 0)):
        spec = g.gpu(o.gpu)
        rows.append(
            [
                spec.name,
                _cell(spec.memory_gb),
                _cell(spec.bf16_dense_tflops),
                o.vendor,
                o.tier + (f" ({o.instance})" if o.instance else ""),
                _price(o.usd_per_gpu_hour, o.last_known),
                _cell(o.gpus_per_instance),
                _src(o),
            ]
        )
    return _table(
        ["GPU", "memory GB", "BF16 dense TFLOPS", "vendor", "tier", "$/GPU-hour", "GPUs/instance", "source"], rows
    ) + _footer("gpus")


def training_hyperparameters() -> str:
    t = knowledge.training()
    rows = [
        [
            h.method,
            h.name,
            _cell(h.default),
            f"{_cell(h.low)} - {_cell(h.high)}",
            _cell(h.note),
            _src(h),
        ]
        for h in t.hyperparameters
    ]
    rows += [["-", c.name, c.value, "-", _cell(c.note), _src(c)] for c in t.choices]
    return _table(["method", "setting", "default", "range", "note", "source"], rows) + _footer("training")


def training_dataset_sizes() -> str:
    t = knowledge.training()
    rows = [
        [
            d.task,
            _cell(d.min_examples),
            _cell(d.start_examples),
            _cell(d.good_examples),
            d.rationale,
            _src(d),
        ]
        for d in t.dataset_sizes
    ]
    return _table(["task", "minimum", "first run", "gains flatten around", "why", "source"], rows) + _footer("training")


def training_memory() -> str:
    t = knowledge.training()
    rows = [
        [
            m.method,
            m.precision,
            _cell(m.bytes_per_param),
            f"{m.bytes_per_param * 8:g} GB",
            _cell(m.note),
            _src(m),
        ]
        for m in t.memory
    ]
    return _table(
        ["method", "precision", "bytes/param", "8B model (before activations)", "note", "source"], rows
    ) + _footer("training")


def training_throughput() -> str:
    t = knowledge.training()
    g = knowledge.gpus()
    rows = [
        [
            f"{r.model_params_b:g}B",
            r.method,
            f"{r.gpus} x {g.gpu(r.gpu).name}",
            _cell(r.tokens_per_second),
            _cell(r.peak_memory_gib),
            _src(r),
        ]
        for r in t.measured_throughput
    ]
    return _table(["model", "method", "GPUs", "tokens/s", "peak GiB", "source"], rows) + _footer("training", "gpus")


def _condition_text(cond: knowledge.Condition, dec: knowledge.DecisionFile) -> str:
    ops = {"eq": "=", "ne": "!=", "in": "in", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "unknown": "unknown"}
    if cond.threshold is not None:
        t = dec.threshold(cond.threshold)
        operand = f"{t.value:g} ({t.id})"
    else:
        operand = _cell(cond.value)
    return f"{cond.field} {ops[cond.op]} {operand}" if cond.op != "unknown" else f"{cond.field} unknown"


def decision_rules() -> str:
    dec = knowledge.decision()
    rows = []
    for r in sorted(dec.rules, key=lambda r: -r.priority):
        when = " and ".join(_condition_text(c, dec) for c in r.conditions) or "otherwise"
        rows.append([r.id, when, f"**{r.verdict}**", r.reason, _src(r)])
    return _table(["rule", "when", "verdict", "why", "source"], rows) + _footer("decision")


def decision_thresholds() -> str:
    dec = knowledge.decision()
    rows = [[t.id, f"{t.value:,g} {t.unit}", t.rationale, _src(t)] for t in dec.thresholds]
    return _table(["threshold", "value", "rationale", "source"], rows) + _footer("decision")


def decision_principles() -> str:
    dec = knowledge.decision()
    rows = [[p.id, p.text, _src(p)] for p in dec.principles]
    return _table(["rule", "what", "source"], rows) + _footer("decision")


TABLES: dict[str, Callable[[], str]] = {
    "providers_status": providers_status,
    "providers_models": providers_models,
    "compliance_matrix": compliance_matrix,
    "pricing_training": pricing_training,
    "pricing_inference": pricing_inference,
    "pricing_fixed": pricing_fixed,
    "gpu_offers": gpu_offers,
    "training_hyperparameters": training_hyperparameters,
    "training_dataset_sizes": training_dataset_sizes,
    "training_memory": training_memory,
    "training_throughput": training_throughput,
    "decision_rules": decision_rules,
    "decision_thresholds": decision_thresholds,
    "decision_principles": decision_principles,
}


def render_text(text: str, where: str = "markdown") -> str:
    """``text`` with every marked block regenerated; an unknown table name is an error."""
    cache: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise ToolError(
                "unknown_table", f"{where}: no generated table named {name!r}", "known tables: " + ", ".join(TABLES)
            )
        if name not in cache:
            cache[name] = TABLES[name]()
        return f"{match.group('begin')}{cache[name]}\n{match.group('end')}"

    return MARKER.sub(replace, text)


def tables_in(text: str) -> list[str]:
    return [m.group("name") for m in MARKER.finditer(text)]


def render_file(path: Path) -> tuple[str, str]:
    """(current text, rendered text) of one markdown file."""
    text = path.read_text("utf-8")
    return text, render_text(text, path.name)
