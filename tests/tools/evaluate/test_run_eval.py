"""run_eval: metrics against hand-computed values, paired statistics, verdicts, the tool end to end, probes, CLI."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.documents import assert_document_renders
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.data.checks import (
    exact_match,
    json_valid,
    lcs_length,
    macro_f1,
    normalise,
    normalised_exact_match,
    predicted_label,
    rouge_l,
    sacrebleu_metrics,
    schema_valid,
    token_f1,
)
from tools.evaluate.probes import facts, load_probe, probe_pass
from tools.evaluate.stats import (
    IMPROVEMENT,
    NO_DIFFERENCE,
    REGRESSION,
    binom_two_sided,
    compare_binary,
    compare_continuous,
    detectable_effect,
    mcnemar,
    needed_items_paired,
    paired_bootstrap,
    wilson,
)
from tools.export.card import eval_verdict

REPO = Path(__file__).resolve().parent.parent.parent.parent


# ----------------------------------------------------------------------------- metrics (hand-computed)


def test_match_metrics_and_normalisation() -> None:
    assert normalise("The  Cat, sat!") == "cat sat"
    assert exact_match(" Paris\n", "Paris") == 1.0 and exact_match("paris", "Paris") == 0.0
    assert normalised_exact_match("The Paris.", "paris") == 1.0


def test_token_f1_and_rouge_l_by_hand() -> None:
    # "cat sat" vs "cat sat down": 2 common, P = 1, R = 2/3 -> F1 = 0.8
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("x", "y") == 0.0
    # repeated tokens count by multiset: "x x y" vs "x y y": common 2, P = R = 2/3
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    # LCS of "x y z w" and "x z w v" is "x z w" (3): P = R = 3/4
    assert lcs_length("x y z w".split(), "x z w v".split()) == 3
    assert rouge_l("x y z w", "x z w v") == pytest.approx(0.75)
    # order matters for ROUGE-L, not for token F1
    assert rouge_l("w z y x", "x y z w") == pytest.approx(0.25) and token_f1("w z y x", "x y z w") == 1.0


def test_json_labels_and_macro_f1_by_hand() -> None:
    assert json_valid('{"a": 1}') == 1.0 and json_valid("```json\n[1, 2]\n```") == 1.0 and json_valid("{a: 1}") == 0.0
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert schema_valid('{"a": 1}', schema) == 1.0 and schema_valid('{"a": "x"}', schema) == 0.0
    labels = ["positive", "negative", "neutral"]
    assert predicted_label("Negative.", labels) == "negative"
    assert predicted_label("I think it is neutral, maybe positive", labels) == "neutral"
    assert predicted_label("no idea", labels) is None
    # a: tp 1 fp 0 fn 1 -> 2/3; b: tp 2 fp 1 fn 0 -> 4/5; c absent everywhere -> left out
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"]) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_sacrebleu_is_optional() -> None:
    try:
        import sacrebleu  # noqa: F401
    except ImportError:
        assert sacrebleu_metrics() == {}
    else:
        assert set(sacrebleu_metrics()) == {"chrf", "bleu"}


# ----------------------------------------------------------------------------- statistics


def test_wilson_binomial_and_mcnemar_by_hand() -> None:
    low, high = wilson(8, 10, 0.05)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 40, 0.05)[0] == 0.0 and wilson(0, 40, 0.05)[1] == pytest.approx(0.0876, abs=1e-4)
    assert binom_two_sided(0, 5) == pytest.approx(2 / 32)
    assert binom_two_sided(1, 6) == pytest.approx(2 * 7 / 64)
    p, test = mcnemar(1, 5, exact_below=25)
    assert test.startswith("McNemar exact") and p == pytest.approx(2 * 7 / 64)
    p, test = mcnemar(10, 30, exact_below=25)  # (|10-30| - 1)^2 / 40 = 9.025 -> p = 0.002663
    assert "chi-square" in test and p == pytest.approx(0.002663, abs=1e-5)
    assert mcnemar(0, 0, 25)[0] == 1.0


def test_sample_size_by_hand() -> None:
    # Connor (1987): ((1.95996 sqrt(.2) + 0.84162 sqrt(.19))^2) / .01 = 154.6 -> 155
    assert needed_items_paired(0.1, 0.2, 0.05, 0.8) == 155
    mde = detectable_effect(155, 0.2, 0.05, 0.8)
    assert 0.09 < mde <= 0.1 + 1e-3
    assert detectable_effect(40, 0.1, 0.05, 0.8) > detectable_effect(400, 0.1, 0.05, 0.8)


def test_paired_bootstrap_is_seeded_and_brackets_the_delta() -> None:
    rng = random.Random(0)
    base = [rng.random() for _ in range(60)]
    cand = [b + 0.1 + rng.gauss(0, 0.05) for b in base]
    one = paired_bootstrap(base, cand, resamples=500, alpha=0.05, seed=3)
    assert one == paired_bootstrap(base, cand, resamples=500, alpha=0.05, seed=3)
    delta, low, high, p = one
    assert low < delta < high and 0.08 < delta < 0.12 and low > 0 and p < 0.01


def test_verdicts_improvement_regression_and_noise() -> None:
    base = [1.0] * 10 + [0.0] * 30
    better = [1.0] * 35 + [0.0] * 5
    kw = dict(alpha=0.05, resamples=500, seed=0, exact_below=25)
    up = compare_binary("m", base, better, **kw)
    assert up.verdict == IMPROVEMENT and up.discordant == (0, 25) and up.ci_low > 0
    assert compare_binary("m", better, base, **kw).verdict == REGRESSION
    flip = [1.0, 0.0] * 20
    noisy = [0.0, 1.0] * 18 + [1.0, 0.0] * 2  # 18 vs 20 passes; many discordant pairs
    noise = compare_binary("m", flip, noisy, **kw)
    assert noise.verdict == NO_DIFFERENCE and noise.ci_low < 0 < noise.ci_high
    assert compare_continuous("c", [0.5] * 30, [0.5] * 30, alpha=0.05, resamples=200, seed=0).verdict == NO_DIFFERENCE
    shorter = compare_continuous(
        "len", [10.0] * 30, [5.0] * 30, alpha=0.05, resamples=200, seed=0, higher_is_better=False
    )
    assert shorter.verdict == IMPROVEMENT


# ----------------------------------------------------------------------------- facts and probe set


def test_facts_and_probe_set_are_well_formed() -> None:
    f = facts()
    assert 0 < f.alpha.value < 0.5 and f.bootstrap_resamples.value >= 500
    items = load_probe(1000)
    assert len(items) == 40
    for item, accept in items:
        assert accept and item.messages[-1]["role"] == "user"
        assert probe_pass(item.reference, accept) == 1.0, item.reference
    assert probe_pass("The answer is 12.", ["12"]) == 1.0 and probe_pass("112", ["12"]) == 0.0


# ----------------------------------------------------------------------------- the tool on prediction files


def _chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def _write(path: Path, rows: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def pred_ws(ws: Workspace) -> Workspace:
    labels = ["positive", "negative"]
    refs = [labels[i % 2] for i in range(60)]
    _write(ws.root / "eval.jsonl", [_chat(f"review number {i}: is it good?", r) for i, r in enumerate(refs)])
    base = [labels[(i // 2) % 2] for i in range(60)]  # right half the time
    cand = [r if i % 10 else ("negative" if r == "positive" else "positive") for i, r in enumerate(refs)]  # 90%
    _write(ws.root / "base.jsonl", [{"prediction": f"Label: {p}"} for p in base])
    _write(ws.root / "ft.jsonl", [{"output": p} for p in cand])
    _write(
        ws.root / "train.jsonl",
        [_chat("review number 3: is it good?", "negative"), _chat("something else entirely", "positive")],
    )
    return ws


def test_two_prediction_files_give_verdicts_report_samples_and_chart(pred_ws: Workspace) -> None:
    args = {
        "data": "eval.jsonl",
        "candidate": {"predictions": "ft.jsonl"},
        "baseline": {"predictions": "base.jsonl"},
        "labels": ["positive", "negative"],
        "regex": r"^(positive|negative)$",
        "train_data": "train.jsonl",
        "out_dir": "out",
    }
    r = registry.call("run_eval", args, workspace=pred_ws)
    assert r.ran and r.items == 60 and r.estimated_generations == 0
    by = {m.metric: m for m in r.metrics}
    assert by["label_accuracy"].baseline == pytest.approx(0.5) and by["label_accuracy"].candidate == pytest.approx(0.9)
    assert by["label_accuracy"].verdict == IMPROVEMENT and by["label_accuracy"].test.startswith("McNemar")
    assert by["macro_f1"].verdict == IMPROVEMENT and by["macro_f1"].candidate == pytest.approx(0.9, abs=0.01)
    assert by["regex_match"].baseline == 0.0 and by["regex_match"].candidate == 1.0
    assert by["exact_match"].baseline == 0.0 and by["exact_match"].candidate == pytest.approx(0.9)
    assert by["exact_match"].verdict == IMPROVEMENT and by["exact_match"].baseline_interval[1] == pytest.approx(
        0.0602, abs=1e-3
    )
    assert by["length_chars"].verdict == "info only"
    assert "label_accuracy improvement" in r.verdict
    assert r.overlap_exact == 1 and any("repeat a training example" in w for w in r.warnings)
    assert any("fewer than" in w for w in r.warnings)
    rows = [json.loads(x) for x in (pred_ws.root / "out" / "samples.jsonl").read_text().splitlines()]
    assert (
        len(rows) == 60
        and rows[1]["candidate"]["label_pred"] == "negative"
        and rows[0]["baseline"]["output"] == "Label: positive"
    )
    report = (pred_ws.root / "out" / "report.md").read_text()
    assert report.startswith("# Evaluation: candidate vs base\n") and "**Verdict**" in report
    assert "| label_accuracy | 0.500 [0.38, 0.62] | 0.900 [" in report and "**Examples**" in report
    assert eval_verdict(pred_ws.root / "out" / "report.md") == r.verdict  # what export_model puts in the model card
    assert (pred_ws.root / "out" / "deltas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(r.model_dump_json()) < 8000


def test_same_predictions_are_no_detectable_difference_with_a_size_warning(pred_ws: Workspace) -> None:
    r = registry.call(
        "run_eval",
        {
            "data": "eval.jsonl",
            "candidate": {"predictions": "base.jsonl"},
            "baseline": {"predictions": "base.jsonl"},
            "max_items": 20,
        },
        workspace=pred_ws,
    )
    assert r.items == 20 and all(m.verdict in (NO_DIFFERENCE, "info only") for m in r.metrics)
    assert "no detectable difference" in r.verdict
    assert any("needs about" in w for w in r.warnings)


@pytest.mark.parametrize(
    "args, code",
    [
        ({"data": "eval.jsonl"}, "two_systems_needed"),
        (
            {
                "data": "eval.jsonl",
                "candidate": {"predictions": "short.jsonl"},
                "baseline": {"predictions": "base.jsonl"},
            },
            "predictions_short",
        ),
        (
            {
                "data": "eval.jsonl",
                "candidate": {"predictions": "ft.jsonl"},
                "baseline": {"predictions": "base.jsonl"},
                "regex": "(",
            },
            "bad_regex",
        ),
        (
            {"data": "eval.jsonl", "candidate": {"label": "x"}, "baseline": {"predictions": "base.jsonl"}},
            "candidate_empty",
        ),
        ({"data": "eval.jsonl", "run_id": "nope"}, "unknown_run"),
        (
            {
                "data": "eval.jsonl",
                "candidate": {"predictions": "ft.jsonl"},
                "baseline": {"predictions": "base.jsonl"},
                "max_new_tokens": 0,
            },
            "invalid_arguments",
        ),
        (
            {
                "data": "eval.jsonl",
                "candidate": {"predictions": "ft.jsonl", "few_shot": 2},
                "baseline": {"predictions": "base.jsonl"},
            },
            "few_shot_needs_train_data",
        ),
    ],
)
def test_bad_input_gives_clear_errors(pred_ws: Workspace, args: dict, code: str) -> None:
    _write(pred_ws.root / "short.jsonl", [{"prediction": "x"}])
    with pytest.raises(ToolError) as exc:
        registry.call("run_eval", args, workspace=pred_ws)
    assert exc.value.code == code


# ------------------------------------------------------------------- local models: a run's adapter vs its base


@pytest.fixture
def run_ws(ws: Workspace) -> Workspace:
    """A finished-looking run folder: config.json and a LoRA adapter with non-zero weights (no training)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tools.local_models.tiny import build_model, build_tokenizer

    rows = [
        _chat(f"Question {i}: what is {i} plus {i}?", f"The answer is {2 * i}, as {i} and {i} make {2 * i} together.")
        for i in range(12)
    ]
    _write(ws.root / "eval.jsonl", rows[:6])
    _write(ws.root / "train.jsonl", rows[6:])
    tok = build_tokenizer()
    torch.manual_seed(1)
    model = get_peft_model(
        build_model(5, tok), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    folder = ws.root / "runs" / "r1"
    folder.mkdir(parents=True)
    model.save_pretrained(str(folder / "adapter"))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "run_id": "r1",
                "plan": {"base_model": "tiny-random-llama", "seed": 5},
                "data": {"path": str(ws.root / "train.jsonl")},
            }
        )
    )
    (ws.root / "runs" / "r2").mkdir()
    (ws.root / "runs" / "r2" / "config.json").write_text(json.dumps({"plan": {"base_model": "tiny-random-llama"}}))
    return ws


FAST = {"data": "eval.jsonl", "run_id": "r1", "max_new_tokens": 6, "batch_size": 4}


def test_without_confirm_nothing_is_generated(run_ws: Workspace) -> None:
    r = registry.call("run_eval", {**FAST, "forgetting_probe": True, "probe_items": 3}, workspace=run_ws)
    assert not r.ran and r.metrics == [] and r.out_dir is None
    assert r.estimated_generations == 6 * 2 + 3 * 2 and r.estimated_seconds is not None
    assert [s.label for s in r.systems] == ["fine-tuned", "base"] and "confirm=true" in r.message
    assert not (run_ws.root / "evals").exists()
    assert_document_renders(run_ws, "run_eval", r)
    assert r.document().headline == "dry run: would generate 18 outputs; nothing ran"


def test_adapter_vs_base_is_deterministic_and_probes_run(run_ws: Workspace) -> None:
    args = {**FAST, "confirm": True, "forgetting_probe": True, "memorisation_probe": True, "probe_items": 3}
    one = registry.call("run_eval", {**args, "out_dir": "e1"}, workspace=run_ws)
    two = registry.call("run_eval", {**args, "out_dir": "e2"}, workspace=run_ws)
    s1 = [json.loads(x) for x in (run_ws.root / "e1" / "samples.jsonl").read_text().splitlines()]
    s2 = [json.loads(x) for x in (run_ws.root / "e2" / "samples.jsonl").read_text().splitlines()]
    assert s1 == s2 and len(s1) == 6
    assert [r["candidate"]["output"] for r in s1] != [
        r["baseline"]["output"] for r in s1
    ]  # the adapter changes outputs
    assert one.metrics == two.metrics and one.ran and one.overlap_exact == 0
    assert one.forgetting is not None and one.forgetting.items == 3 and one.forgetting.baseline is not None
    assert one.memorisation is not None and one.memorisation.items == 3
    assert (run_ws.root / "e1" / "report.md").is_file()
    assert_document_renders(run_ws, "run_eval", one)
    probes = next(b for b in one.document().blocks if getattr(b, "title", None) == "Probes")
    assert [f.where for f in probes.items] == ["forgetting", "memorisation"]  # type: ignore[union-attr]


def test_base_model_variants_without_a_run(run_ws: Workspace) -> None:
    """Two plain local models: base + a production prompt vs base + few-shot (no adapter anywhere)."""
    args = {
        "data": "eval.jsonl",
        "max_new_tokens": 4,
        "confirm": True,
        "train_data": "train.jsonl",
        "max_items": 3,
        "candidate": {"model": "tiny-random-llama", "seed": 5, "few_shot": 2, "label": "few-shot"},
        "baseline": {"model": "tiny-random-llama", "seed": 5, "system_prompt": "Answer briefly.", "label": "prompted"},
    }
    r = registry.call("run_eval", args, workspace=run_ws)
    assert r.ran and [s.label for s in r.systems] == ["few-shot", "prompted"]
    assert "2-shot" in r.systems[0].source and "system prompt" in r.systems[1].source


def test_a_run_without_adapter_is_a_clear_error(run_ws: Workspace) -> None:
    with pytest.raises(ToolError) as exc:
        registry.call("run_eval", {**FAST, "run_id": "r2"}, workspace=run_ws)
    assert exc.value.code == "adapter_missing" and "run_status" in exc.value.hint


# ----------------------------------------------------------------------------- CLI


def test_cli_eval_exit_codes(pred_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.cli import app

    monkeypatch.chdir(pred_ws.root)
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "eval",
            "eval.jsonl",
            "--predictions",
            "ft.jsonl",
            "--base-predictions",
            "base.jsonl",
            "--labels",
            "positive,negative",
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ran"] and any(m["metric"] == "macro_f1" for m in data["metrics"])
    worse = runner.invoke(
        app,
        [
            "eval",
            "eval.jsonl",
            "--predictions",
            "base.jsonl",
            "--base-predictions",
            "ft.jsonl",
            "--labels",
            "positive,negative",
        ],
    )
    assert worse.exit_code == 1 and "regression" in worse.output
    for shown in ("Fine-tuned vs base", "Systems", "candidate - baseline", "label_accuracy", "McNemar", "report.md"):
        assert shown in worse.output, shown
    bad = runner.invoke(app, ["eval", "eval.jsonl"])
    assert bad.exit_code == 2 and "two_systems_needed" in bad.output


def test_chart_and_report_names_are_stable() -> None:
    text = (REPO / "tools" / "evaluate" / "report.py").read_text()
    assert re.search(r'"deltas\.png"', text) and math.isfinite(1.0)


# ----------------------------------------------------------------------------- API models (local stub, no network)


def test_api_candidates_anthropic_vs_openai_compatible_server(
    pred_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.llm_stub import LLMStub, anthropic_message, openai_completion, text_block

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    refs = ["positive", "negative", "positive", "negative"]
    with LLMStub() as claude, LLMStub() as server:
        for r in refs:
            claude.reply(anthropic_message([text_block(r)]))
            server.reply(openai_completion("neutral"))
        args = {
            "data": "eval.jsonl",
            "max_items": 4,
            "max_new_tokens": 5,
            "labels": ["positive", "negative"],
            "candidate": {
                "provider": "anthropic",
                "model": "claude-sonnet-5-5",
                "base_url": claude.url,
                "system_prompt": "Answer with one label.",
            },
            "baseline": {"provider": "openai", "model": "llama3", "base_url": server.url + "/v1"},
        }
        dry = registry.call("run_eval", args, workspace=pred_ws)
        assert not dry.ran and dry.estimated_generations == 8 and claude.requests == []
        assert any("billed" in w for w in dry.warnings)
        r = registry.call("run_eval", {**args, "confirm": True}, workspace=pred_ws)
        assert len(claude.requests) == 4 and len(server.requests) == 4
        body = claude.requests[0].body
        assert body["max_tokens"] == 5 and "one label" in json.dumps(body["system"])
        assert body["messages"][-1]["content"][0]["text"].startswith(
            "review number 0"
        ) or "review number 0" in json.dumps(body["messages"])
    by = {m.metric: m for m in r.metrics}
    assert by["label_accuracy"].candidate == 1.0 and by["label_accuracy"].baseline == 0.0
    assert r.systems[0].source.startswith("anthropic API: claude-sonnet-5-5")


def test_judge_verdicts_cancel_position_bias() -> None:
    from tools.evaluate.judge import item_scores, parse_verdict

    assert parse_verdict("A is closer.\nVERDICT: B") == "B" and parse_verdict("**VERDICT: tie**") == "TIE"
    assert parse_verdict("no idea") is None
    # item 1: candidate wins both orders; item 2: the judge always picks A (position bias) -> tie;
    # item 3: baseline wins both; item 4: one unreadable answer
    scores, unreadable, inconsistent = item_scores(["B", "A", "A", "A", "A", "B", None, "A"])
    assert scores == [1.0, 0.5, 0.0, 0.75] and unreadable == 1 and inconsistent == 1


def test_llm_judge_runs_both_orders_on_prediction_files(pred_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.llm_stub import LLMStub, openai_completion

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LLMStub() as server:
        for _ in range(3):  # the candidate (B first, then A) wins both orders on every item
            server.reply(openai_completion("Closer to the reference.\nVERDICT: B"))
            server.reply(openai_completion("VERDICT: A"))
        args = {
            "data": "eval.jsonl",
            "max_items": 3,
            "candidate": {"predictions": "ft.jsonl"},
            "baseline": {"predictions": "base.jsonl"},
            "judge_provider": "openai",
            "judge_model": "llama3",
            "judge_base_url": server.url + "/v1",
            "out_dir": "judged",
        }
        dry = registry.call("run_eval", args, workspace=pred_ws)
        assert not dry.ran and dry.judge_calls == 6 and server.requests == []
        r = registry.call("run_eval", {**args, "confirm": True}, workspace=pred_ws)
        assert len(server.requests) == 6
        first, second = (json.dumps(server.requests[i].body) for i in (0, 1))
        assert first.index("Label: positive") < first.index("## Answer B") < second.index("Label: positive")
    judge = next(m for m in r.metrics if m.metric == "judge_preference")
    assert judge.candidate == 1.0 and judge.baseline == 0.0 and judge.delta == 1.0
    rows = [json.loads(x) for x in (pred_ws.root / "judged" / "samples.jsonl").read_text().splitlines()]
    assert rows[0]["candidate"]["judge_preference"] == 1.0


def test_statistics_agree_with_scipy_and_sklearn() -> None:
    stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 5), (3, 17), (8, 10), (12, 24)):
        assert binom_two_sided(min(k, n - k), n) == pytest.approx(stats.binomtest(k, n, 0.5).pvalue)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n, 0.05) == pytest.approx((ci.low, ci.high), abs=1e-9)
    p, _ = mcnemar(12, 31, exact_below=25)
    assert p == pytest.approx(stats.chi2.sf((abs(12 - 31) - 1) ** 2 / 43, 1))
    metrics = pytest.importorskip("sklearn.metrics")
    gold = ["a", "b", "c", "a", "b", "c", "a", "a"]
    pred = ["a", "c", "c", "b", "b", "c", "a", "c"]
    assert macro_f1(gold, pred, ["a", "b", "c"]) == pytest.approx(metrics.f1_score(gold, pred, average="macro"))


def test_probe_flags_from_synthetic_outputs() -> None:
    from tools.evaluate.generate import EvalItem
    from tools.evaluate.probes import forgetting_result, memorisation_items, memorisation_result

    f = facts()
    probe = load_probe(20)
    right = [item.reference for item, _ in probe]
    wrong = ["I do not know."] * 20
    lost = forgetting_result(probe, {"baseline": right, "candidate": wrong}, f, 0.05, 500, 0)
    assert lost.flagged and lost.message.startswith("forgetting:") and lost.delta == -1.0 and lost.ci_high < 0
    same = forgetting_result(probe, {"baseline": right, "candidate": right}, f, 0.05, 500, 0)
    assert not same.flagged and same.delta == 0.0
    answer = "Your order ships from our Leeds warehouse within two working days and arrives by courier soon after."
    train = [
        EvalItem(i, i + 1, [{"role": "user", "content": f"q{i}"}], answer.replace("Leeds", f"Leeds{i}"))
        for i in range(5)
    ]
    mem = memorisation_items(train, 5, f.memorisation_prefix_fraction.value, 0)
    assert len(mem) == 5 and all(t.reference == (p + r).strip() or t.reference == p + r for t, p, r in mem)
    verbatim = [rest for _, _, rest in mem]
    flagged = memorisation_result(mem, {"candidate": verbatim, "baseline": ["something else"] * 5}, f)
    assert (
        flagged.flagged
        and flagged.candidate == 1.0
        and flagged.baseline == 0.0
        and flagged.message.startswith("memorisation:")
    )
    assert not memorisation_result(mem, {"candidate": ["no"] * 5}, f).flagged


def test_export_reads_the_verdict_of_a_report_written_before_it_was_a_document(tmp_path: Path) -> None:
    old = tmp_path / "report.md"
    old.write_text("# Evaluation\n\n## Verdict\n\ncandidate vs base: exact_match improvement\n\n## Metrics\n")
    assert eval_verdict(old) == "candidate vs base: exact_match improvement"
    old.write_text("# Evaluation: a vs b\n\nno verdict here\n")
    assert eval_verdict(old) is None
