"""run_eval: compare a fine-tuned model with its base (or any two systems) on a held-out set, with paired statistics."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, atomic_writer, current
from tools.data.checks import Scorer, macro_f1, parse_json
from tools.evaluate import probes
from tools.evaluate.generate import EvalItem, read_items, read_predictions
from tools.evaluate.models import MetricResult, RunEvalResult, SystemInfo
from tools.evaluate.report import number
from tools.evaluate.stats import (
    NO_DIFFERENCE,
    REGRESSION,
    Comparison,
    compare_binary,
    compare_continuous,
    detectable_effect,
    needed_items_paired,
)
from tools.evaluate.systems import Candidate, Models, System, generate_for, pick_systems
from tools.local_models.tiny import is_tiny
from tools.train.runs import read_json, run_dir


class RunEvalRequest(BaseModel):
    data: InputPath = Field(
        description="Held-out eval set (JSONL in any format validate_jsonl reads); the last assistant turn of each "
        "line is the reference."
    )
    run_id: str | None = Field(
        None, description="Shortcut: compare this run's adapter (candidate) with its base model (baseline)."
    )
    candidate: Candidate | None = Field(
        None, description="The system under test (default with run_id: the run's adapter)."
    )
    baseline: Candidate | None = Field(
        None, description="The system to beat (default with run_id: the run's base model)."
    )
    train_data: InputPath | None = Field(
        None,
        description="Training data: overlap warning, memorisation probe, few-shot examples. Default: the run's data.",
    )
    labels: list[str] | None = Field(None, description="Classification label set: adds label accuracy and macro-F1.")
    contains: list[str] | None = Field(None, description="Strings every output must contain (assertion metric).")
    regex: str | None = Field(None, description="A regular expression every output must match (assertion metric).")
    json_schema_file: InputPath | None = Field(
        None, description="A JSON schema the outputs must satisfy (adds json_valid and schema_valid)."
    )
    max_items: int | None = Field(None, ge=1, description="Use only the first N eval items (keeps CPU runs short).")
    max_new_tokens: int = Field(128, ge=1, le=4096, description="Tokens generated per item (greedy).")
    max_prompt_tokens: int = Field(1024, ge=8, description="Prompt tokens kept (the end of longer prompts).")
    batch_size: int = Field(8, ge=1, le=256, description="Prompts generated together.")
    seed: int = Field(0, description="Seed for generation and the bootstrap.")
    min_effect: float | None = Field(
        None, gt=0, lt=1, description="Pass-rate difference you want to be able to detect (default in evaluation.yaml)."
    )
    forgetting_probe: bool = Field(
        False, description="Also score both models on the built-in general-capability probe set and flag a drop."
    )
    memorisation_probe: bool = Field(
        False, description="Also prompt the candidate with training-answer prefixes and flag verbatim continuations."
    )
    probe_items: int | None = Field(None, ge=1, description="Items per probe (defaults in evaluation.yaml).")
    judge_provider: Literal["anthropic", "openai"] | None = Field(
        None,
        description=(
            "Also judge every item pairwise with this API model (both answer orders, rubric "
            "prompts/judge_pairwise.md); "
            "sends the eval items and both outputs to the provider and costs money."
        ),
    )
    judge_model: str | None = Field(
        None, description="The judge's model id (default: the provider's default agent model)."
    )
    judge_base_url: str | None = Field(None, description="With judge_provider 'openai': an OpenAI-compatible server.")
    out_dir: OutputPath | None = Field(
        None, description="Folder for samples.jsonl, report.md and deltas.png (default evals/<time>/)."
    )
    confirm: StrictBool = Field(
        False,
        description=(
            "Must be true to generate with models (minutes); without it the tool only says what would run. "
            "Two prediction files are compared at once without confirm."
        ),
    )


# ----------------------------------------------------------------------------- the tool


def _gen(
    req: RunEvalRequest,
    models: Models,
    system: System,
    prompts: list[list[dict[str, Any]]],
    prefixes: list[str] | None = None,
) -> list[str]:
    return generate_for(
        models,
        system,
        prompts,
        max_new_tokens=req.max_new_tokens,
        batch_size=req.batch_size,
        seed=req.seed,
        max_prompt_tokens=req.max_prompt_tokens,
        prefixes=prefixes,
    )


def _metric(c: Comparison) -> MetricResult:
    """The comparison at full precision: a p of 3.8e-05 stays 3.8e-05 in the JSON (reports format it)."""
    r = float
    return MetricResult(
        metric=c.metric,
        kind=c.kind,
        baseline=r(c.base_mean),
        candidate=r(c.cand_mean),
        delta=r(c.delta),
        ci_low=r(c.ci_low),
        ci_high=r(c.ci_high),
        p_value=None if c.p_value is None else r(c.p_value),
        test=c.test,
        verdict=c.verdict,
        baseline_interval=[r(x) for x in c.base_interval] if c.base_interval else None,
        candidate_interval=[r(x) for x in c.cand_interval] if c.cand_interval else None,
    )


def _scorer(ws: Workspace, req: RunEvalRequest, items: list[EvalItem]) -> Scorer:
    pattern = None
    if req.regex:
        try:
            pattern = re.compile(req.regex)
        except re.error as exc:
            raise ToolError(
                "bad_regex", f"regex {req.regex!r} does not compile: {exc}", "give a Python regular expression"
            ) from None
    schema = None
    if req.json_schema_file:
        path = ws.input_file(req.json_schema_file, what="JSON schema")
        try:
            schema = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise ToolError(
                "schema_invalid", f"{req.json_schema_file}: not JSON ({exc})", "give a JSON schema file"
            ) from None
    json_refs = (
        sum(1 for it in items if parse_json(it.reference)[0] and it.reference.strip()[:1] in "{[") > len(items) / 2
    )
    return Scorer(labels=req.labels, contains=req.contains, regex=pattern, json_schema=schema, json_refs=json_refs)


def _train_path(ws: Workspace, req: RunEvalRequest) -> Path | None:
    if req.train_data:
        return ws.input_file(req.train_data, what="training data")
    if req.run_id:
        raw = (read_json(run_dir(ws, req.run_id) / "config.json").get("data") or {}).get("path")
        if raw and Path(raw).is_file():
            return Path(raw)
    return None


def _overlap(items: list[EvalItem], train_items: list[Any], f: Any, warnings: list[str]) -> tuple[list, list]:
    """Eval items that repeat (exactly or nearly) a training example; a warning for each kind found."""
    exact, near = probes.overlap(items, train_items, f.near_duplicate_similarity.value) if train_items else ([], [])
    if exact:
        warnings.append(
            f"{len(exact)} eval items repeat a training example (eval line {exact[0][0]} = train line {exact[0][1]}): "
            "scores on them measure memory, not generalisation; drop them from the eval set"
        )
    if near:
        warnings.append(
            f"{len(near)} eval items are near duplicates of training examples (Jaccard >= "
            f"{f.near_duplicate_similarity.value:g}; eval line {near[0][0]} ~ train line {near[0][1]})"
        )
    return exact, near


def _estimate(
    req: RunEvalRequest, cand: System, base: System, n_items: int, n_train: int, f: Any, warnings: list[str]
) -> tuple[int, list[System], int, float | None]:
    """(generations, the systems that generate, judge requests, seconds when it can be estimated)."""
    n_probe = req.probe_items or int(f.probe_items.value)
    n_mem = req.probe_items or int(f.memorisation_items.value)
    gens = sum(n_items for s in (cand, base) if s.generates)
    local_systems = [s for s in (cand, base) if s.generates]
    if any(s.api for s in local_systems):
        warnings.append(
            "API models: the eval prompts are sent to the provider and billed; outputs may vary between calls "
            "(the backends set no temperature), so keep samples.jsonl and compare within one run"
        )
    if req.forgetting_probe and local_systems:
        gens += n_probe * len(local_systems)
    if req.memorisation_probe and cand.generates and not cand.api and n_train:
        gens += min(n_mem, n_train) * (1 + base.generates)
    tiny = all(not s.api and is_tiny(s.model_name) for s in local_systems) and local_systems
    judge_calls = 2 * n_items if req.judge_provider else 0
    if req.judge_provider:
        warnings.append(
            f"LLM judge: {judge_calls} requests to {req.judge_provider} with the eval items and both outputs (billed)"
        )
    seconds = (
        round(gens * req.max_new_tokens * f.seconds_per_token_tiny_cpu.value + 10 * len(local_systems), 1)
        if tiny
        else None
    )
    return gens, local_systems, judge_calls, seconds


def _compare(req: RunEvalRequest, scorer: Scorer, rows: dict[str, list], n_items: int, f: Any) -> list[Comparison]:
    """Candidate against baseline on every metric: McNemar for pass/fail, paired bootstrap for the rest."""
    alpha, resamples = f.alpha.value, int(f.bootstrap_resamples.value)
    comps: list[Comparison] = []
    for spec in scorer.specs():
        a = [float(r[spec.name]) for r in rows["baseline"]]  # type: ignore[arg-type]
        b = [float(r[spec.name]) for r in rows["candidate"]]  # type: ignore[arg-type]
        if spec.kind == "binary":
            comps.append(
                compare_binary(
                    spec.name,
                    a,
                    b,
                    alpha=alpha,
                    resamples=resamples,
                    seed=req.seed,
                    exact_below=int(f.mcnemar_exact_below.value),
                )
            )
        else:
            c = compare_continuous(
                spec.name, a, b, alpha=alpha, resamples=resamples, seed=req.seed, higher_is_better=spec.higher_is_better
            )
            if spec.kind == "info":
                c.kind, c.verdict, c.p_value, c.test = "info", "info only", None, "paired bootstrap (interval only)"
            comps.append(c)
    if req.labels:
        gold = [r["label_gold"] for r in rows["candidate"]]
        pa, pb = [r["label_pred"] for r in rows["baseline"]], [r["label_pred"] for r in rows["candidate"]]
        labels = list(req.labels)

        def stat(_a: Any, _b: Any, idx: Any) -> float:
            g = [gold[i] for i in idx]
            return macro_f1(g, [pb[i] for i in idx], labels) - macro_f1(g, [pa[i] for i in idx], labels)

        comps.append(
            compare_continuous(
                "macro_f1",
                [0.0] * n_items,
                [0.0] * n_items,
                alpha=alpha,
                resamples=min(resamples, 1000),
                seed=req.seed,
                statistic=stat,
                means=(macro_f1(gold, pa, labels), macro_f1(gold, pb, labels)),
            )
        )
    return comps


def _judge(
    req: RunEvalRequest,
    items: list[EvalItem],
    outputs: dict[str, list[str]],
    rows: dict[str, list],
    f: Any,
    warnings: list[str],
) -> Comparison:
    """The LLM judge's pairwise preference (both answer orders) as one more compared metric."""
    alpha, resamples = f.alpha.value, int(f.bootstrap_resamples.value)
    from tools.evaluate.generate import api_backend
    from tools.evaluate.judge import run_judge

    judge = api_backend(req.judge_provider, req.judge_model, req.judge_base_url)
    jscores, unreadable, inconsistent, _cost = run_judge(judge, items, outputs["baseline"], outputs["candidate"])
    for row, sc in zip(rows["candidate"], jscores, strict=False):
        row["judge_preference"] = sc
    for row, sc in zip(rows["baseline"], jscores, strict=False):
        row["judge_preference"] = 1 - sc
    c = compare_continuous(
        "judge_preference", [1 - x for x in jscores], jscores, alpha=alpha, resamples=resamples, seed=req.seed
    )
    c.test = f"paired bootstrap over items ({judge.label}, both orders)"
    if unreadable > f.judge_max_error_rate.value * 2 * len(items):
        warnings.append(
            f"the judge gave no readable verdict in {unreadable} of {2 * len(items)} answers (counted as ties)"
        )
    if inconsistent:
        warnings.append(
            f"the judge changed its mind when the answers were swapped on {inconsistent} items (position bias; "
            f"counted as ties)"
        )
    return c


def _size_warnings(comps: list[Comparison], n_items: int, req: RunEvalRequest, f: Any, warnings: list[str]) -> None:
    """What the set's size can and cannot detect."""
    alpha = f.alpha.value
    md = req.min_effect or f.min_effect.value
    primary = next(c for c in comps if c.kind == "binary")
    disc = sum(primary.discordant or (0, 0)) / max(1, n_items)
    need = needed_items_paired(md, max(disc, md), alpha, f.power.value)
    if n_items < need:
        warnings.append(
            f"{n_items} items detect a pass-rate difference of about "
            f"{detectable_effect(n_items, max(disc, md), alpha, f.power.value):.0%} "
            f"at {f.power.value:.0%} power; detecting {md:.0%} needs about {need} items: 'no detectable difference' "
            f"is not 'no difference'"
        )
    if n_items < f.small_set_items.value:
        warnings.append(
            f"fewer than {int(f.small_set_items.value)} items: rates carry Wilson intervals and differences "
            f"paired-bootstrap intervals "
            "(normal-approximation intervals are too narrow on small sets)"
        )


def _verdict(comps: list[Comparison], cand_label: str, base_label: str, n_items: int) -> str:
    """One line: every metric with a decided difference, or that none was found."""
    decided = [c for c in comps if c.kind != "info" and c.verdict != NO_DIFFERENCE]
    verdict = f"{cand_label} vs {base_label}: " + (
        ", ".join(f"{c.metric} {c.verdict} ({number(c.delta, signed=True)})" for c in decided)
        if decided
        else f"no detectable difference on any metric ({n_items} items)"
    )
    if any(c.verdict == REGRESSION for c in decided):
        verdict += "; check the regressions before shipping"
    return verdict


@tool(effect="spend", stage="evaluate", duration="minutes")
def run_eval(req: RunEvalRequest) -> RunEvalResult:
    """Compare a fine-tuned model with its base (or any two systems: a run, a local model with or without a LoRA
    adapter, a JSONL of predictions made elsewhere) on a held-out eval set, and say per metric whether the
    difference is a real improvement, a regression or noise.

    Metrics per item (exact and normalised match, token F1, ROUGE-L, JSON/schema validity, label accuracy
    and macro-F1, contains/regex assertions, length) go to samples.jsonl; pass/fail metrics are compared
    with McNemar, continuous ones with a seeded paired bootstrap, rates get Wilson intervals. Warns when
    the set is too small for the difference asked (min_effect) and when eval items overlap the training
    data. Optional probes: forgetting (a general-capability probe set) and memorisation (training-answer
    prefixes). Writes report.md and deltas.png. Generation is greedy and batched: call without confirm
    first to see what would run. Not for training loss (diagnose_loss) or data checks (validate_jsonl)."""
    started = time.perf_counter()
    ws = current()
    f = probes.facts()
    alpha, resamples = f.alpha.value, int(f.bootstrap_resamples.value)
    data_path = ws.input_file(req.data, what="eval data")
    items, skipped, _fmt = read_items(data_path, ws.relative(data_path))
    if req.max_items:
        items = items[: req.max_items]
    cand, base = pick_systems(ws, req.run_id, req.candidate, req.baseline)
    train_path = _train_path(ws, req)
    train_items = probes.read_train_items(train_path) if train_path else []
    warnings: list[str] = []
    if (cand.cand.few_shot or base.cand.few_shot) and not train_items:
        raise ToolError("few_shot_needs_train_data", "few_shot needs training examples to show", "give train_data")
    exact, near = _overlap(items, train_items, f, warnings)
    n_probe = req.probe_items or int(f.probe_items.value)
    n_mem = req.probe_items or int(f.memorisation_items.value)
    gens, local_systems, judge_calls, seconds = _estimate(req, cand, base, len(items), len(train_items), f, warnings)
    systems = [
        SystemInfo(role=s.role, label=s.label, source=s.source, generations=len(items) if s.generates else 0)
        for s in (cand, base)
    ]
    empty = dict(
        metrics=[],
        verdict=None,
        forgetting=None,
        memorisation=None,
        out_dir=None,
        samples=None,
        report=None,
        chart=None,
        overlap_exact=len(exact) if train_items else None,
        overlap_near=len(near) if train_items else None,
    )
    if (gens or judge_calls) and not req.confirm:
        when = f"about {seconds:g} s" if seconds is not None else "unknown (depends on the model and the machine)"
        return RunEvalResult(
            ran=False,
            judge_calls=judge_calls,
            message=(
                f"would generate {gens} outputs ({len(items)} eval items x {len(local_systems)} models"
                f"{', plus probes' if gens > len(items) * len(local_systems) else ''}, up to {req.max_new_tokens} "
                f"tokens each)"
                f"{f', {judge_calls} judge requests' if judge_calls else ''}; time {when}. "
                + say("confirm_to_start", tool="run_eval", command="finetune eval", chat="evaluate it", action="run")
            ),
            items=len(items),
            skipped_lines=skipped[:20],
            systems=systems,
            estimated_generations=gens,
            estimated_seconds=seconds,
            warnings=warnings[:10],
            seconds=None,
            **empty,
        )

    # generate: plain models first (an adapter changes its base in place)
    models = Models()
    shots = train_items[:16]
    outputs: dict[str, list[str]] = {}
    order = sorted((cand, base), key=lambda s: s.adapter is not None)
    probe_set = probes.load_probe(n_probe) if req.forgetting_probe else []
    mem_set = (
        probes.memorisation_items(train_items, n_mem, f.memorisation_prefix_fraction.value, req.seed)
        if req.memorisation_probe and not cand.api
        else []
    )
    probe_out: dict[str, list[str]] = {}
    mem_out: dict[str, list[str]] = {}
    for s in order:
        if not s.generates:
            assert s.predictions_path is not None
            outputs[s.role] = read_predictions(s.predictions_path, ws.relative(s.predictions_path), len(items))
            continue
        outputs[s.role] = _gen(req, models, s, [s.messages(it, shots) for it in items])
        if probe_set:
            probe_out[s.role] = _gen(req, models, s, [s.messages(it, []) for it, _ in probe_set])
        if mem_set and not s.api:
            mem_out[s.role] = _gen(req, models, s, [t.messages for t, _, _ in mem_set], [p for _, p, _ in mem_set])

    for info, s in zip(systems, (cand, base), strict=False):
        info.cost_usd = s.cost_usd if s.api else None

    # score and compare
    scorer = _scorer(ws, req, items)
    rows = {role: [scorer.score(outputs[role][i], it.reference) for i, it in enumerate(items)] for role in outputs}
    comps = _compare(req, scorer, rows, len(items), f)
    if req.judge_provider:
        comps.append(_judge(req, items, outputs, rows, f, warnings))
    _size_warnings(comps, len(items), req, f, warnings)

    forgetting = memorisation = None
    if probe_out:
        forgetting = probes.forgetting_result(probe_set, probe_out, f, alpha, resamples, req.seed)
    if mem_out:
        memorisation = probes.memorisation_result(mem_set, mem_out, f)
    for pr in (forgetting, memorisation):
        if pr and pr.flagged:
            warnings.append(pr.message)
    verdict = _verdict(comps, cand.label, base.label, len(items))
    # write
    from tools.evaluate.report import write_outputs

    folder = (
        ws.resolve(req.out_dir, what="output folder")
        if req.out_dir
        else ws.root / "evals" / time.strftime("%Y%m%d-%H%M%S")
    )
    folder.mkdir(parents=True, exist_ok=True)
    samples = folder / "samples.jsonl"
    with atomic_writer(samples) as fh:
        for i, it in enumerate(items):
            rec = {
                "index": i,
                "line": it.line,
                "reference": it.reference,
                "baseline": {"output": outputs["baseline"][i], **rows["baseline"][i]},
                "candidate": {"output": outputs["candidate"][i], **rows["candidate"][i]},
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    metrics = [_metric(c) for c in comps]
    result = RunEvalResult(
        ran=True,
        judge_calls=judge_calls,
        message=verdict,
        items=len(items),
        skipped_lines=skipped[:20],
        systems=systems,
        estimated_generations=gens,
        estimated_seconds=seconds,
        metrics=metrics,
        verdict=verdict,
        forgetting=forgetting,
        memorisation=memorisation,
        overlap_exact=empty["overlap_exact"],
        overlap_near=empty["overlap_near"],
        warnings=warnings[:10],
        out_dir=ws.relative(folder),
        samples=ws.relative(samples),
        report=None,
        chart=None,
        seconds=None,
    )
    report, chart = write_outputs(folder, result, items, outputs, alpha)
    result.report = ws.relative(report)
    result.chart = ws.relative(chart) if chart else None
    result.seconds = round(time.perf_counter() - started, 1)
    return result


__all__ = ["Candidate", "RunEvalRequest", "RunEvalResult", "run_eval"]
