"""select_provider: hard constraints exclude (with the date when something ends), soft ones add concerns, the
ranking is deterministic and explained, contradictions are refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-11-24")


def rank(ws: Workspace, **args):
    return registry.call("select_provider", args, workspace=ws)


def paths(result) -> set[tuple[str, str]]:
    return {(o.provider, o.model) for o in result.options}


def excluded(result, provider: str, model: str | None = None):
    return [e for e in result.excluded if e.provider == provider and (model is None or e.model == model)]


def test_no_constraints_lists_live_options_and_explains_the_ranking(ws: Workspace) -> None:
    result = rank(ws)
    assert result.options and [o.rank for o in result.options] == list(range(1, len(result.options) + 1))
    scores = [o.score for o in result.options]
    assert scores == sorted(scores, reverse=True)
    assert "score" in result.ranking and all(o.score_parts for o in result.options)
    for provider, when in (
        ("cohere", "2025-09-15"),
        ("databricks-fmft", "2026-08-14"),
        ("bedrock-claude-haiku", "2026-09-10"),
    ):
        (e,) = excluded(result, provider)
        assert str(e.end_date) == when and when in e.reason
    (nano,) = excluded(result, "openai", "gpt-4.1-nano-2025-04-14")
    assert str(nano.end_date) == "2026-10-23"
    assert "deprecated" in excluded(result, "mistral")[0].reason
    assert all(o.provider != "openai-evals" for o in result.options)


def test_ranking_is_deterministic(ws: Workspace) -> None:
    args = {"privacy": "eu_personal_data", "region": "eu", "examples": 200}
    assert rank(ws, **args).model_dump() == rank(ws, **args).model_dump()


def test_on_premises_leaves_only_self_hosted(ws: Workspace) -> None:
    result = rank(ws, data_may_leave=False)
    assert paths(result) == {("self-hosted", "open-weight-any")}
    assert excluded(result, "rented-gpu")[0].reason == "the data would leave your machines"
    assert "+3 data stays" in result.options[0].score_parts


def test_privacy_on_premises_implies_it_and_contradiction_is_refused(ws: Workspace) -> None:
    assert paths(rank(ws, privacy="must_stay_on_premises")) == {("self-hosted", "open-weight-any")}
    with pytest.raises(ToolError) as exc:
        rank(ws, privacy="must_stay_on_premises", data_may_leave=True)
    assert exc.value.code == "contradicting_constraints" and "data_may_leave" in exc.value.message


def test_deadline_after_openai_cutoff_excludes_openai_with_the_date(ws: Workspace) -> None:
    result = rank(ws, deadline="2027-02-15")
    assert not any(o.provider == "openai" for o in result.options)
    (mini,) = excluded(result, "openai", "gpt-4.1-mini-2025-04-14")
    assert str(mini.end_date) == "2027-01-06" and "before your deadline 2027-02-15" in mini.reason


def test_deadline_before_cutoff_keeps_openai_as_closing(ws: Workspace) -> None:
    result = rank(ws, deadline="2026-12-15", model_family="gpt-4.1")
    mini = next(o for o in result.options if o.provider == "openai" and o.model == "gpt-4.1-mini-2025-04-14")
    assert str(mini.available_until) == "2027-01-06" and str(mini.serving_until) == "2027-01-14"
    assert any(p.startswith("-3 closes in 43 days") for p in mini.score_parts)
    assert any("2026-05-07" in c for c in mini.concerns)  # no new tenants since then
    assert any("2027-01-06" in w for w in result.warnings)


def test_health_requires_a_baa(ws: Workspace) -> None:
    result = rank(ws, privacy="health")
    assert "HIPAA BAA required" in result.constraints
    assert excluded(result, "openai") and "HIPAA" in excluded(result, "openai")[0].reason
    assert ("bedrock-nova", "amazon.nova-lite-v1:0") in paths(result)
    nova = next(o for o in result.options if o.provider == "bedrock-nova")
    assert any(f.startswith("HIPAA") for f in nova.fits)


def test_region_excludes_providers_that_cannot_process_there(ws: Workspace) -> None:
    result = rank(ws, region="eu")
    assert "eu" in excluded(result, "bedrock-nova")[0].reason
    azure = [o for o in result.options if o.provider == "azure-openai"]
    assert azure and all("processes in eu" in o.fits for o in azure)
    together = next(o for o in result.options if o.provider == "together")
    assert any(c.startswith("region 'eu'") for c in together.concerns)


def test_capabilities_family_size_and_examples(ws: Workspace) -> None:
    tools = rank(ws, needs_tool_calling=True)
    assert "tool calling" in excluded(tools, "bedrock-nova", "amazon.nova-micro-v1:0")[0].reason
    vision = rank(ws, needs_vision=True)
    assert ("openai", "gpt-4o-2024-08-06") in paths(vision)
    assert ("openai", "gpt-4.1-mini-2025-04-14") not in paths(vision)
    family = rank(ws, model_family="nova")
    assert {p for p, _ in paths(family)} == {"bedrock-nova"}
    size = rank(ws, model_family="open-weight", model_size_b=8)
    assert ("together", "open-weight-up-to-16b") in paths(size) and ("together", "open-weight-17b-69b") not in paths(
        size
    )
    few = rank(ws, examples=5)
    assert "at least 8" in excluded(few, "bedrock-nova", "amazon.nova-pro-v1:0")[0].reason
    dpo = rank(ws, method="dpo")
    assert all(o.method.startswith("dpo") for o in dpo.options)


def test_budget_with_tokens_prices_and_excludes(ws: Workspace) -> None:
    result = rank(ws, training_tokens=2_000_000, training_budget_usd=25, model_family="gpt-4.1", deadline="2026-12-20")
    kept = {o.model: o.training_cost_usd for o in result.options if o.provider == "openai"}
    assert kept == {"gpt-4.1-mini-2025-04-14": pytest.approx(2 * 2 * 5.0)}  # 2M tokens x 2 epochs x $5 per 1M
    (big,) = excluded(result, "openai", "gpt-4.1-2025-04-14")
    assert "over the budget" in big.reason
    alone = rank(ws, training_budget_usd=5)
    assert any("without training_tokens" in f for f in alone.findings)


@pytest.mark.parametrize(
    "args, code, word",
    [
        ({"deadline": "2020-01-01"}, "bad_deadline", "2020-01-01"),
        ({"model_size_b": -3}, "bad_model_size", "model_size_b"),
        ({"examples": -1}, "invalid_arguments", "examples"),
        ({"privacy": "secret"}, "invalid_arguments", "privacy"),
    ],
)
def test_bad_input(ws: Workspace, args: dict, code: str, word: str) -> None:
    with pytest.raises(ToolError) as exc:
        rank(ws, **args)
    assert exc.value.code == code and word in exc.value.message


def test_nothing_fits_is_a_finding(ws: Workspace) -> None:
    result = rank(ws, data_may_leave=False, model_family="nova")
    assert not result.options and any("no option" in f for f in result.findings)


def test_cli_providers(in_ws: Workspace) -> None:
    result = CliRunner().invoke(app, ["providers", "--on-premises", "--json"])
    assert result.exit_code == 0, result.output
    assert [o["provider"] for o in json.loads(result.stdout)["options"]] == ["self-hosted"]
    human = CliRunner().invoke(app, ["providers", "--region", "eu", "--deadline", "2027-02-15"])
    assert human.exit_code == 0 and "Excluded" in human.stdout
    none = CliRunner().invoke(app, ["providers", "--on-premises", "--family", "nova"])
    assert none.exit_code == 1
    bad = CliRunner().invoke(app, ["providers", "--deadline", "soon"])
    assert bad.exit_code == 2
