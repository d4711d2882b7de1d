"""select_provider: hard constraints exclude (with the date when something closes), soft ones add concerns, the
ranking is deterministic and explained, contradictions are refused; bonuses come only from rows a provider's own
page supports, unknown end dates are not "no announced end", and expired prices are unconfirmed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tests.support.facts_helpers import confirm_last_known_prices
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")


def rank(ws: Workspace, **args):
    return registry.call("select_provider", args, workspace=ws)


def paths(result) -> set[tuple[str, str]]:
    return {(o.provider, o.model) for o in result.options}


def option(result, provider: str, model: str):
    return next(o for o in result.options if o.provider == provider and o.model == model)


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
        assert str(e.end_date) == when and f"closed to new jobs on {when}" in e.reason
    (nano,) = excluded(result, "openai", "gpt-4.1-nano-2025-04-14")
    assert str(nano.end_date) == "2026-10-23" and "serving ended on 2026-10-23" in nano.reason
    assert "deprecated" in excluded(result, "mistral")[0].reason
    assert all(o.provider != "openai-evals" for o in result.options)
    assert sum("past their review age" in w or "past its review age" in w for w in result.warnings) <= 1


def test_ranking_is_deterministic(ws: Workspace) -> None:
    args = {"privacy": "eu_personal_data", "region": "eu", "examples": 200}
    assert rank(ws, **args).model_dump() == rank(ws, **args).model_dump()


def test_fireworks_sft_is_closed_and_never_free(ws: Workspace) -> None:
    """Fireworks SFT is billed per token at every size and takes no new managed jobs: it is not ranked (it was
    ranked first as 'free'), and the reason says what replaced it."""
    for method in (None, "sft", "lora"):
        result = rank(ws, method=method) if method else rank(ws)
        assert not any(o.provider == "fireworks" for o in result.options)
        (small,) = excluded(result, "fireworks", "open-weight-up-to-16b")
        assert "no longer accepts new jobs" in small.reason and "Training API" in small.reason
    assert rank(ws).options[0].provider != "fireworks"


def test_fireworks_rft_is_free_but_served_only_on_a_dedicated_deployment(ws: Workspace) -> None:
    result = rank(ws, method="rft")
    small = option(result, "fireworks", "open-weight-up-to-16b")
    assert small.cost_class == "free" and small.method == "rft"
    assert small.serving == "dedicated"
    assert any("dedicated deployment billed while it is up" in c for c in small.concerns)


def test_bedrock_fine_tunes_nova_2_lite_with_rft_and_llama(ws: Workspace) -> None:
    nova = rank(ws, model_family="nova")
    assert ("bedrock-nova", "amazon.nova-2-lite-v1:0") in paths(nova)
    rft = rank(ws, method="rft")
    assert option(rft, "bedrock-nova", "amazon.nova-2-lite-v1:0").method == "rft"
    llama = rank(ws, model_family="llama-3.1")
    eight = option(llama, "bedrock-meta", "meta.llama3-1-8b-instruct-v1:0")
    assert eight.serving == "dedicated" and any("dedicated deployment" in c for c in eight.concerns)


def test_gemini_3_1_flash_lite_and_preference_tuning(ws: Workspace) -> None:
    gemini = rank(ws, model_family="gemini")
    assert {
        ("vertex-gemini", "gemini-3.1-flash-lite"),
        ("vertex-gemini", "gemini-3.5-flash"),
        ("vertex-gemini", "gemini-3.5-flash-lite"),
    } <= paths(gemini)
    (flash25,) = excluded(gemini, "vertex-gemini", "gemini-2.5-flash")
    assert str(flash25.end_date) == "2026-10-16"
    preference = rank(ws, method="dpo", model_family="gemini")
    pref = option(preference, "vertex-gemini", "gemini-preference-tuning")
    assert pref.method == "dpo" and any("2 x prompt tokens" in c for c in pref.concerns)


def test_unknown_end_date_earns_no_bonus(ws: Workspace) -> None:
    """Azure's end dates are unknown (Microsoft's table and LiteLLM disagree): no "+1 no announced end"."""
    result = rank(ws, model_family="gpt-4.1")
    azure = option(result, "azure-openai", "gpt-4.1-2025-04-14")
    assert azure.end_unknown and azure.available_until is None
    assert not any("no announced end" in p for p in azure.score_parts)
    assert any(c.startswith("closing date unknown") and "2027-04-14" in c for c in azure.concerns)
    (o4,) = excluded(rank(ws, method="rft"), "azure-openai", "o4-mini-2025-04-16")
    assert "every closing date the sources give has passed" in o4.reason and str(o4.end_date) == "2026-11-19"


def test_secondary_rows_earn_no_bonus(ws: Workspace) -> None:
    result = rank(ws, model_family="open-weight", model_size_b=8)
    small = option(result, "together", "open-weight-up-to-16b")
    assert small.cost_class == "low"
    assert "+0 cost class low (secondary source: no bonus)" in small.score_parts
    qwen = option(rank(ws, model_family="qwen3"), "together", "Qwen3-235B-A22B")
    assert "+0 no announced end (secondary source: no bonus)" in qwen.score_parts


def test_openai_eligibility_and_unconfirmed_price_per_option(ws: Workspace) -> None:
    result = rank(ws, deadline="2026-12-15", model_family="gpt-4.1")
    for model in ("gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"):
        o = option(result, "openai", model)
        assert o.eligibility and "already use OpenAI fine-tuning" in o.eligibility
        assert any(c.startswith("who can start jobs") for c in o.concerns)
        assert o.cost_class == "unconfirmed" and "last known" in o.training_price and "2026-05-07" in o.training_price
    mini = option(result, "openai", "gpt-4.1-mini-2025-04-14")
    assert str(mini.available_until) == "2027-01-06" and str(mini.serving_until) == "2027-01-14"
    assert any(p.startswith("-3 closes in 33 days") for p in mini.score_parts)
    assert any("serving of the fine-tune ends on 2027-01-14" in c for c in mini.concerns)
    assert any("2027-01-06" in w for w in result.warnings)


def test_deadline_after_openai_cutoff_excludes_openai_with_the_date(ws: Workspace) -> None:
    result = rank(ws, deadline="2027-02-15")
    assert not any(o.provider == "openai" for o in result.options)
    (mini,) = excluded(result, "openai", "gpt-4.1-mini-2025-04-14")
    assert str(mini.end_date) == "2027-01-06" and "before your deadline 2027-02-15" in mini.reason


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
    assert ("together", "open-weight-up-to-16b") in paths(size)
    assert ("together", "open-weight-17b-69b") not in paths(size)
    few = rank(ws, examples=5)
    assert "at least 8" in excluded(few, "bedrock-nova", "amazon.nova-pro-v1:0")[0].reason
    dpo = rank(ws, method="dpo")
    assert all(o.method.startswith("dpo") for o in dpo.options)


def test_budget_with_tokens_prices_and_excludes(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    confirm_last_known_prices(monkeypatch)
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
