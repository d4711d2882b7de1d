"""decide_fit: one case per rule of decision.yaml, mixed cases, confidence, what-would-change, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tools import knowledge
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.decide.checklist import ChecklistAnswers
from tools.decide.decide_fit import DecideFitRequest

CRITICAL = {
    "quality_over_quantity",
    "lora_first",
    "held_out_split",
    "same_precision",
    "baseline_first",
    "expect_iterations",
}
BASE = {
    "eval_set_in_place": True,
    "requirements_change_often": False,
    "privacy": "none",
    "training_budget_usd": 500,
    "monthly_inference_budget_usd": 1000,
}

# (case id, answers over BASE, decisive rule, verdict)
RULE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "no_eval_set",
        {"failure_mode": "style", "quality_examples": 200, "monthly_requests": 50_000, "eval_set_in_place": False},
        "no_eval_set",
        "not_yet",
    ),
    (
        "too_few_examples",
        {"failure_mode": "format", "quality_examples": 5, "monthly_requests": 50_000},
        "too_few_examples",
        "not_yet",
    ),
    (
        "requirements_change",
        {
            "failure_mode": "style",
            "quality_examples": 300,
            "monthly_requests": 50_000,
            "requirements_change_often": True,
        },
        "requirements_change",
        "prompt_engineering",
    ),
    (
        "knowledge_and_format",
        {"failure_mode": "knowledge", "quality_examples": 200, "monthly_requests": 50_000, "format_also_fails": True},
        "knowledge_and_format",
        "rag_plus_fine_tune",
    ),
    (
        "missing_knowledge",
        {"failure_mode": "knowledge", "quality_examples": 200, "monthly_requests": 50_000},
        "missing_knowledge",
        "rag",
    ),
    (
        "fresh_facts",
        {"failure_mode": "style", "quality_examples": 200, "monthly_requests": 50_000, "needs_fresh_facts": True},
        "fresh_facts",
        "rag",
    ),
    (
        "few_examples_format",
        {"failure_mode": "format", "quality_examples": 30, "monthly_requests": 50_000},
        "few_examples_format",
        "few_shot",
    ),
    (
        "format_style",
        {"failure_mode": "style", "quality_examples": 200, "monthly_requests": 50_000},
        "format_style",
        "fine_tune",
    ),
    (
        "cost_high_volume",
        {"failure_mode": "cost", "quality_examples": 200, "monthly_requests": 250_000},
        "cost_high_volume",
        "fine_tune",
    ),
    (
        "cost_low_volume",
        {"failure_mode": "latency", "quality_examples": 200, "monthly_requests": 2_000},
        "cost_low_volume",
        "prompt_engineering",
    ),
    (
        "long_prompt_volume",
        {"failure_mode": "other", "quality_examples": 100, "monthly_requests": 200_000, "current_prompt_tokens": 2_500},
        "long_prompt_volume",
        "fine_tune",
    ),
    (
        "default_prompt_first",
        {"failure_mode": "other", "quality_examples": 100, "monthly_requests": 50_000},
        "default_prompt_first",
        "prompt_engineering",
    ),
]


def decide(ws: Workspace, **answers: Any):
    return registry.call("decide_fit", answers, workspace=ws)


def test_every_rule_of_decision_yaml_has_a_case() -> None:
    assert {r.id for r in knowledge.decision().rules} == {case[2] for case in RULE_CASES}


@pytest.mark.parametrize("case, answers, rule, verdict", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_each_rule_decides_its_case(ws: Workspace, case: str, answers: dict, rule: str, verdict: str) -> None:
    result = decide(ws, **{**BASE, **answers})
    decisive = [r for r in result.rules_fired if r.decisive]
    assert [r.id for r in decisive] == [rule]
    assert result.verdict == verdict
    assert decisive[0].reason and decisive[0].source.startswith("https://")
    assert result.next_steps[0].step == decisive[0].next_step
    if verdict == "not_yet":
        assert result.recommendation.startswith("not yet")
        assert ("eval" in result.recommendation) == (rule == "no_eval_set")


def test_mixed_no_eval_set_beats_a_clear_fine_tune_case(ws: Workspace) -> None:
    result = decide(
        ws,
        **{
            **BASE,
            "failure_mode": "style",
            "quality_examples": 500,
            "monthly_requests": 300_000,
            "current_prompt_tokens": 3000,
            "eval_set_in_place": False,
        },
    )
    fired = [r.id for r in result.rules_fired]
    assert result.verdict == "not_yet" and fired[0] == "no_eval_set"
    assert {"format_style", "long_prompt_volume"} <= set(fired)
    assert any(s.tool == "split_dataset" for s in result.next_steps)


def test_mixed_juniper_example_is_a_confident_fine_tune(ws: Workspace) -> None:
    result = decide(
        ws,
        failure_mode="style",
        quality_examples=196,
        monthly_requests=150_000,
        privacy="eu_personal_data",
        training_budget_usd=300,
        monthly_inference_budget_usd=1500,
        requirements_change_often=False,
        eval_set_in_place=True,
        current_prompt_tokens=1800,
        region="eu",
        model_family="open-weight",
        deadline="2027-02-15",
        failure_detail="drifts from the house style",
    )
    assert result.recommendation == "fine-tune (LoRA first)" and result.verdict == "fine_tune"
    assert result.confidence == "high"
    assert [r.id for r in result.rules_fired if r.verdict == "fine_tune"] == ["format_style", "long_prompt_volume"]
    tools = [s.tool for s in result.next_steps if s.tool]
    assert tools[:6] == [
        "validate_jsonl",
        "scan_pii",
        "split_dataset",
        "select_provider",
        "estimate_cost",
        "configure_training",
    ]
    assert CRITICAL <= {p.id for p in result.principles}
    changes = {(c.field, c.verdict) for c in result.what_would_change}
    assert ("requirements_change_often", "prompt_engineering") in changes and (
        "quality_examples",
        "few_shot",
    ) in changes


def test_mixed_knowledge_with_format_words_in_the_detail(ws: Workspace) -> None:
    result = decide(
        ws,
        **{
            **BASE,
            "failure_mode": "knowledge",
            "quality_examples": 120,
            "monthly_requests": 10_000,
            "failure_detail": "it lacks our product facts and the JSON schema breaks",
        },
    )
    assert result.verdict == "rag_plus_fine_tune"
    assert any("format_also_fails" in a for a in result.assumptions)


def test_mixed_requirements_change_overrides_high_volume_cost(ws: Workspace) -> None:
    result = decide(
        ws,
        **{
            **BASE,
            "failure_mode": "cost",
            "quality_examples": 1000,
            "monthly_requests": 5_000_000,
            "requirements_change_often": True,
        },
    )
    assert result.verdict == "prompt_engineering"
    assert {"requirements_change", "cost_high_volume"} <= {r.id for r in result.rules_fired}
    assert "lower-priority rules point elsewhere" in " ".join(result.confidence_reasons)


def test_all_unknown_is_low_confidence_and_names_the_questions(ws: Workspace) -> None:
    result = decide(
        ws,
        unknown=[
            "failure_mode",
            "quality_examples",
            "monthly_requests",
            "privacy",
            "training_budget_usd",
            "monthly_inference_budget_usd",
        ],
    )
    assert result.verdict == "prompt_engineering" and result.confidence == "low"
    fields = {c.field for c in result.what_would_change if c.now == "unknown"}
    assert {"eval_set_in_place", "quality_examples", "failure_mode"} <= fields
    assert "failure_mode" in result.unknown


def test_failure_mode_unknown_counts_as_unknown(ws: Workspace) -> None:
    result = decide(ws, **{**BASE, "failure_mode": "unknown", "quality_examples": 200, "monthly_requests": 50_000})
    assert "failure_mode" in result.unknown and result.confidence != "high"


def test_principles_follow_the_verdict(ws: Workspace) -> None:
    ids = {
        p.id
        for p in decide(
            ws, **{**BASE, "failure_mode": "format", "quality_examples": 30, "monthly_requests": 1000}
        ).principles
    }
    assert "evals_first" in ids and "lora_first" not in ids


def test_accepts_what_record_answers_returns(ws: Workspace) -> None:
    state = registry.call(
        "record_answers",
        {
            "failure_mode": "style",
            "quality_examples": 196,
            "monthly_requests": 150000,
            "privacy": "eu_personal_data",
            "training_budget_usd": 300,
            "monthly_inference_budget_usd": 1500,
            "deadline": "2027-02-15",
            "unknown": ["current_prompt_tokens"],
        },
        workspace=ws,
    )
    args = {k: v for k, v in json.loads(state.model_dump_json())["answers"].items() if v is not None}
    assert registry.call("decide_fit", args, workspace=ws).verdict == "fine_tune"
    assert set(ChecklistAnswers.model_fields) <= set(DecideFitRequest.model_fields)


def test_answer_also_listed_as_unknown_is_refused(ws: Workspace) -> None:
    with pytest.raises(ToolError) as exc:
        decide(ws, quality_examples=10, unknown=["quality_examples"])
    assert exc.value.code == "contradicting_answers" and "quality_examples" in exc.value.message


def test_unknown_names_a_field_that_is_not_a_question(ws: Workspace) -> None:
    with pytest.raises(ToolError) as exc:
        decide(ws, unknown=["colour"])
    assert exc.value.code == "unknown_field" and "colour" in exc.value.message


@pytest.mark.parametrize(
    "field", ["quality_examples", "monthly_requests", "training_budget_usd", "current_prompt_tokens"]
)
def test_negative_numbers_are_refused_naming_the_field(ws: Workspace, field: str) -> None:
    with pytest.raises(ToolError) as exc:
        decide(ws, **{field: -5})
    assert exc.value.code == "invalid_arguments" and field in exc.value.message


def test_absurd_numbers_are_findings(ws: Workspace) -> None:
    result = decide(ws, **{**BASE, "failure_mode": "cost", "quality_examples": 200, "monthly_requests": 10**12})
    assert any(f.startswith("monthly_requests=") and "implausible" in f for f in result.findings)


def test_on_premises_adds_a_self_hosted_step(ws: Workspace) -> None:
    result = decide(
        ws,
        **{
            **BASE,
            "failure_mode": "style",
            "quality_examples": 200,
            "monthly_requests": 50_000,
            "privacy": "must_stay_on_premises",
            "region": "eu",
        },
    )
    assert any("data_may_leave=false" in s.step for s in result.next_steps)
    assert any("region" in f for f in result.findings)


def test_cli_decide_with_answers_file(in_ws: Workspace) -> None:
    (in_ws.root / "answers.yaml").write_text(
        "failure_mode: format\nquality_examples: 20\nmonthly_requests: 1000\n"
        "privacy: none\ntraining_budget_usd: 100\nmonthly_inference_budget_usd: 50\n"
        "eval_set_in_place: true\n"
    )
    result = CliRunner().invoke(app, ["decide", "--answers", "answers.yaml", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "few_shot"
    human = CliRunner().invoke(app, ["decide", "--answers", "answers.yaml", "--examples", "400"])
    assert human.exit_code == 0 and "Decision: fine-tune" in human.stdout


def test_cli_decide_bad_flag_value_exits_2(in_ws: Workspace) -> None:
    result = CliRunner().invoke(app, ["decide", "--failure-mode", "vibes"])
    assert result.exit_code == 2 and "failure_mode" in result.stderr
