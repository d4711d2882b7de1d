"""estimate_cost: hand-computed values, the worked examples of research/providers-costs-eval.md 5.2, billing
rules, GPU arithmetic, "never" break-even, unknown and unconfirmed prices said plainly (never computed with),
closed offerings refused by name, payback capped by the days the fine-tune can still be served, and bad input.

OpenAI's training prices are last known only (May 2026) in the shipped data, so the arithmetic tests first treat
them as re-checked (``confirm_last_known_prices``); the tests without it check that they are never used."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tests.support.facts_helpers import confirm_last_known_prices
from tests.support.format_samples import write_jsonl
from tools import knowledge
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.data.tokens import counter_for

PROMPTS = {"base_prompt_tokens": 2000, "ft_prompt_tokens": 300, "output_tokens": 200}
WORKED = {
    "provider": "openai",
    "model": "gpt-4.1-mini",
    "training_tokens": 1_000_000,
    "epochs": 3,
    "base_prompt_tokens": 2000,
    "ft_prompt_tokens": 300,
    "output_tokens": 200,
}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")


@pytest.fixture
def confirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    confirm_last_known_prices(monkeypatch)


def cost(ws: Workspace, **args):
    return registry.call("estimate_cost", args, workspace=ws)


def only(result):
    assert len(result.options) == 1
    return result.options[0]


def test_worked_example_gpt41_mini(ws: Workspace, confirmed: None) -> None:
    o = only(cost(ws, **WORKED, monthly_requests=100_000))
    assert o.training.cost_usd == pytest.approx(15.0)  # 1M x 3 x $5 / 1M
    assert o.training.billed_tokens == 3_000_000
    assert o.inference.base_usd_per_request == pytest.approx(0.00112)  # 2000 x 0.40 + 200 x 1.60, per 1M
    assert o.inference.ft_usd_per_request == pytest.approx(0.00088)  # 300 x 0.80 + 200 x 3.20, per 1M
    assert o.inference.saving_usd_per_request == pytest.approx(0.00024)
    assert o.break_even.requests == pytest.approx(62_500)
    assert o.break_even.months == pytest.approx(0.625)  # 62,500 / 100,000
    assert o.inference.base_usd_per_month == pytest.approx(112.0)
    assert not o.break_even.never and "62,500 requests" in o.break_even.statement
    assert "about 19 days" in o.break_even.statement  # 0.625 x 30 days, not "0.62 months"
    assert o.break_even.days_left == 41 and "serving ends on 2027-01-14, 41 days from today" in o.break_even.statement


def test_worked_example_distillation_from_gpt41(ws: Workspace, confirmed: None) -> None:
    o = only(cost(ws, **WORKED, base_model="gpt-4.1"))
    assert o.inference.base_usd_per_request == pytest.approx(0.0056)  # 2000 x 2 + 200 x 8, per 1M
    assert o.inference.saving_usd_per_request == pytest.approx(0.00472)
    assert o.break_even.requests == pytest.approx(15 / 0.00472, abs=1)  # about 3,200
    assert round(o.break_even.requests, -2) == 3200


def test_worked_example_azure_hosting_fee(ws: Workspace, confirmed: None) -> None:
    o = only(cost(ws, **WORKED, base_model="gpt-4.1", hosting="azure-openai/standard", monthly_requests=100_000))
    assert o.inference.fixed_usd_per_month == pytest.approx(1224.0)  # $1.70 x 720 h
    assert o.break_even.monthly_requests_to_cover_fixed == pytest.approx(1224 / 0.00472, abs=1)  # about 259,000
    assert round(o.break_even.monthly_requests_to_cover_fixed, -3) == 259_000
    assert o.break_even.never and "never" in o.break_even.statement  # 100k x 0.00472 = $472 < $1,224


def test_openai_path_says_who_can_train_and_when_it_closes(ws: Workspace) -> None:
    result = cost(ws, **WORKED)
    o = only(result)
    assert o.eligibility and "only organisations that already use OpenAI fine-tuning" in o.eligibility
    assert any("already use OpenAI fine-tuning" in n for n in result.notes)
    assert any("closes to new jobs on 2027-01-06" in w for w in result.warnings)
    assert any("serving ends on 2027-01-14" in w for w in result.warnings)  # the fine-tune dies with its base model
    assert str(o.closes) == "2027-01-06"
    assert len(result.warnings) == len(set(result.warnings)) <= 4  # each event once, not once per row


def test_never_when_the_fine_tuned_request_is_not_cheaper(ws: Workspace) -> None:
    o = only(cost(ws, **{**WORKED, "ft_prompt_tokens": 2000}))
    assert o.inference.saving_usd_per_request < 0
    assert o.break_even.never and o.break_even.requests is None
    assert o.break_even.statement.startswith("Never: the fine-tuned request costs $0.00224")
    assert "never pays back on cost alone" in o.break_even.statement


def test_sensitivity_moves_with_epochs_volume_and_prompt(ws: Workspace, confirmed: None) -> None:
    result = cost(ws, **WORKED, monthly_requests=100_000)
    rows = {(s.variable, s.value): s for s in result.sensitivity}
    assert rows[("epochs", "1")].training_cost_usd == pytest.approx(5.0)
    assert rows[("epochs", "5")].training_cost_usd == pytest.approx(25.0)
    assert rows[("monthly_requests", "200,000")].break_even_months == pytest.approx(62_500 / 200_000)
    assert rows[("base_prompt_tokens", "4000")].break_even_requests < 62_500
    assert rows[("ft_prompt_tokens", "2000")].break_even_requests is None  # never
    assert {a.what for a in result.assumptions} >= {"training rate openai / gpt-4.1-mini-2025-04-14 (sft)"}
    assert all(a.source.startswith("https://") and a.as_of for a in result.assumptions)


def test_unknown_price_is_said_plainly(ws: Workspace) -> None:
    o = only(cost(ws, provider="bedrock-nova", model="amazon.nova-micro-v1:0", training_tokens=1_000_000))
    assert o.training.cost_usd is None and o.training.price_usd is None and o.training.price_status == "unknown"
    assert o.training.note.startswith("no confirmed training price for bedrock-nova / amazon.nova-micro-v1:0")
    assert o.break_even is None


def test_an_unconfirmed_price_is_shown_and_never_computed_with(ws: Workspace) -> None:
    o = only(cost(ws, **WORKED, monthly_requests=100_000))
    t = o.training
    assert t.cost_usd is None and t.price_usd is None and t.price_status == "unconfirmed"
    assert t.price_text.startswith("last known $5.00 per 1M training tokens on 2026-05-07, unconfirmed")
    assert o.break_even is not None and o.break_even.requests is None and o.break_even.months is None
    assert "not confirmed" in o.break_even.statement


def test_a_price_past_its_expiry_becomes_unconfirmed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """GPU rental prices expire after 30 days: the RunPod H100 offer dated 2026-11-09 is used on 2026-12-04 and
    not on 2026-12-20 (the cheapest offer then is another one, or none)."""
    args = {"provider": "rented-gpu", "gpu": "h100-sxm", "model_params_b": 8, "training_tokens": 1_000_000, "epochs": 1}
    assert only(cost(ws, **args)).gpu_options[0].usd_per_gpu_hour == pytest.approx(2.69)
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-20")
    later = only(cost(ws, **args))
    assert all(g.usd_per_gpu_hour != pytest.approx(2.69) for g in later.gpu_options)
    assert later.training.cost_usd is None and "no GPU offer with a confirmed price" in later.training.note


def test_openai_auto_epochs_follow_the_cookbook_rule(ws: Workspace, confirmed: None) -> None:
    o = only(cost(ws, provider="openai", model="gpt-4o-mini", training_tokens=10_000, examples=20))
    assert o.training.epochs == 5  # 20 x 3 < 100 -> ceil(100 / 20)
    assert o.training.cost_usd == pytest.approx(10_000 * 5 * 3.0 / 1e6)
    o = only(cost(ws, provider="openai", model="gpt-4o-mini", training_tokens=10_000, examples=20_000))
    assert o.training.epochs == 1  # 20,000 x 3 > 25,000 -> 25,000 // 20,000


def test_together_bills_validation_tokens_per_eval(ws: Workspace) -> None:
    o = only(
        cost(
            ws,
            provider="together",
            model="open-weight-up-to-16b",
            training_tokens=2_000_000,
            epochs=2,
            validation_tokens=100_000,
            n_evals=5,
        )
    )
    assert o.training.billed_tokens == 2_000_000 * 2 + 5 * 100_000
    assert o.training.cost_usd == pytest.approx(4.5 * 0.48)


def test_hourly_rft_and_the_azure_cap(confirmed: None) -> None:
    from tools.cost.models import CostRequest
    from tools.cost.parts import training_cost

    def hours(h: float):
        return training_cost(
            "azure-openai", "o4-mini-2025-04-16", "rft", None, None, None, CostRequest(training_hours=h), []
        )

    assert hours(2.5).cost_usd == pytest.approx(250.0) and not hours(2.5).cap_applied
    assert hours(80).cost_usd == pytest.approx(5000.0) and hours(80).cap_applied
    unpriced = training_cost("fireworks", "open-weight-16b-80b", "rft", None, None, None, CostRequest(), [])
    assert unpriced.cost_usd is None and unpriced.unit == "per_gpu_hour"


@pytest.mark.parametrize(
    "args, when",
    [
        ({"provider": "openai", "model": "gpt-4.1-nano-2025-04-14"}, "closed to new jobs on 2026-10-23"),
        ({"provider": "openai", "model": "o4-mini", "method": "rft"}, "closed to new jobs on 2026-10-23"),
        ({"provider": "vertex-gemini", "model": "gemini-2.5-flash"}, "closed to new jobs on 2026-10-16"),
        ({"provider": "fireworks", "model": "open-weight-up-to-16b"}, "sft_lora no longer accepts new jobs"),
        ({"provider": "fireworks", "model": "open-weight-16b-80b", "method": "sft_lora"}, "no longer accepts new jobs"),
        ({"provider": "azure-openai", "model": "o4-mini", "method": "rft"}, "every closing date the sources give"),
        ({"provider": "bedrock-claude-haiku", "model": "anthropic.claude-3-haiku-20240307-v1:0"}, "2026-09-10"),
    ],
)
def test_a_closed_offering_is_refused_even_when_named(ws: Workspace, args: dict, when: str) -> None:
    """Its price may still be in the data (gpt-4.1-nano's $1.50, the 2.5 Flash $5): it is not priced."""
    with pytest.raises(ToolError) as exc:
        cost(ws, training_tokens=1_000_000, **args)
    assert exc.value.code == "offering_ended" and when in exc.value.message
    assert "finetune providers" in exc.value.hint


def test_payback_is_capped_by_the_days_serving_has_left(ws: Workspace, confirmed: None) -> None:
    """At 1,000 requests a month the $15 gpt-4.1-mini training takes 62.5 months to repay, but the fine-tune stops
    serving on 2027-01-14, 41 days after 2026-12-04: it never pays back, and no month figure is quoted."""
    slow = only(cost(ws, **WORKED, monthly_requests=1_000))
    b = slow.break_even
    assert b.never and b.months is None and b.days_left == 41 and str(b.serving_until) == "2027-01-14"
    assert "does not pay back before then" in b.statement
    fast = only(cost(ws, **WORKED, monthly_requests=100_000))
    assert not fast.break_even.never and fast.break_even.months == pytest.approx(0.625)


def test_fireworks_rft_is_free_but_its_fine_tune_needs_a_dedicated_deployment(ws: Workspace) -> None:
    result = cost(
        ws,
        provider="fireworks",
        model="open-weight-up-to-16b",
        method="rft",
        training_tokens=1_000_000,
        base_prompt_tokens=2000,
        ft_prompt_tokens=300,
        output_tokens=200,
    )
    o = only(result)
    assert o.training.cost_usd == 0.0 and o.serving == "dedicated"
    assert o.inference is None and o.break_even is None  # never "pays back from the first request"
    assert any("dedicated deployment billed while it is up" in n for n in result.notes)


def test_together_serverless_price_holds_for_its_listed_bases_only(ws: Workspace) -> None:
    result = cost(ws, provider="together", model="open-weight-up-to-16b", training_tokens=1_000_000, **PROMPTS)
    assert any("Meta-Llama-3.1-8B-Instruct-Reference" in n and "dedicated endpoint" in n for n in result.notes)


def test_durations_and_units_read_as_words() -> None:
    from tools.cost.money import duration_text

    assert duration_text(0.0001) == "under a day"
    assert duration_text(0.625) == "about 19 days"
    assert duration_text(2.4) == "2.4 months"
    assert duration_text(30) == "2.5 years"


def test_rented_gpu_hours_and_dollars_by_hand(ws: Workspace) -> None:
    o = only(cost(ws, provider="rented-gpu", gpu="h100-sxm", model_params_b=8, training_tokens=1_000_000, epochs=1))
    hours = 4 * 8e9 * 1e6 / (989e12 * 0.3) / 3600  # 4 N D / (peak x MFU)
    g = o.gpu_options[0]
    assert g.gpu == "h100-sxm" and g.gpus == 1 and g.fits
    assert g.hours == pytest.approx(hours, abs=1e-3)
    assert g.memory_need_gb == pytest.approx(2 * 8 * 1.1 + 2.5)  # bf16 weights + 10% + activations at 2 x 2048
    assert g.cost_usd == pytest.approx(hours * 2.69, rel=1e-3)  # RunPod community, dated 2026-11-09
    assert o.training.cost_usd == g.cost_usd
    full = only(
        cost(
            ws,
            provider="rented-gpu",
            method="sft_full",
            gpu="h100-sxm",
            model_params_b=8,
            training_tokens=1_000_000,
            epochs=1,
        )
    ).gpu_options[0]
    assert full.gpus == math.ceil(full.memory_need_gb / 80) > 1 and not full.fits
    assert full.hours == pytest.approx(6 * 8e9 * 1e6 / (full.gpus * 989e12 * 0.3) / 3600, abs=1e-3)


def test_dataset_tokens_use_the_chat_billing_overhead(ws: Workspace, confirmed: None) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Answer number {i}."},
            ]
        }
        for i in range(30)
    ]
    write_jsonl(ws.root / "d.jsonl", rows)
    counter = counter_for("gpt-4.1-mini-2025-04-14")
    expected = sum(sum(counter.count(m["content"]) + 3 for m in r["messages"]) + 3 for r in rows)
    result = cost(ws, provider="openai", model="gpt-4.1-mini", dataset="d.jsonl", epochs=2)
    assert result.dataset.tokens_per_epoch == expected and not result.dataset.approximate
    assert only(result).training.cost_usd == pytest.approx(expected * 2 * 5.0 / 1e6)
    assert result.dataset.examples == 30


def test_compare_mode_excludes_closed_paths_with_the_date(ws: Workspace) -> None:
    result = cost(ws, training_tokens=500_000, examples=400)
    assert any("gpt-4.1-nano" in e and "closed to new jobs on 2026-10-23" in e for e in result.excluded)
    assert any("gemini-2.5-flash" in e and "2026-10-16" in e for e in result.excluded)
    assert any("fireworks" in e and "no longer accepts new jobs" in e for e in result.excluded)
    providers = {o.provider for o in result.options}
    assert {"openai", "together", "vertex-gemini", "bedrock-nova", "self-hosted", "rented-gpu"} <= providers
    assert "fireworks" not in providers
    known = [o.training.cost_usd for o in result.options if o.training.cost_usd is not None]
    assert known == sorted(known)
    assert all(not o.warnings for o in result.options) and result.warnings
    assert sum("review age" in w for w in result.warnings) <= 1


def test_compare_mode_family_filter_and_budget(ws: Workspace) -> None:
    result = cost(
        ws,
        family="open-weight",
        training_tokens=50_000_000,
        examples=5000,
        training_budget_usd=10,
        monthly_requests=150_000,
        base_prompt_tokens=1800,
        ft_prompt_tokens=100,
        output_tokens=150,
    )
    assert {o.provider for o in result.options} == {"together", "self-hosted", "rented-gpu"}
    together = next(o for o in result.options if o.provider == "together")
    assert together.training.cost_usd == pytest.approx(50 * 2 * 0.48)  # 5,000 examples -> 2 epochs
    assert any("exceeds the training budget" in x for x in together.over_budget)
    assert together.inference.ft_usd_per_request == pytest.approx((100 + 150) * 0.20 / 1e6)


def test_report_is_written(ws: Workspace, confirmed: None) -> None:
    result = cost(ws, **WORKED, report="cost.md")
    text = (ws.root / "cost.md").read_text()
    assert result.report == "cost.md" and "| openai / gpt-4.1-mini-2025-04-14 | sft | 3 | $15.00 |" in text
    assert text.startswith("# Cost estimate\n") and "**Assumptions**" in text
    assert "per_1m_tokens" not in text and "0.00 months" not in text


@pytest.mark.parametrize(
    "args, code, word",
    [
        ({"provider": "acme", "model": "x"}, "unknown_provider", "acme"),
        ({"provider": "openai", "model": "gpt-9"}, "unknown_model", "gpt-9"),
        ({"provider": "openai"}, "missing_model", "openai"),
        ({"training_tokens": -1}, "invalid_arguments", "training_tokens"),
        ({"monthly_requests": -10}, "invalid_arguments", "monthly_requests"),
        ({"monthly_requests": 10**13}, "bad_monthly_requests", "monthly_requests"),
        ({"epochs": 0}, "invalid_arguments", "epochs"),
        ({"epochs": 500}, "bad_epochs", "epochs"),
        ({"mfu": 1.5, "provider": "rented-gpu"}, "bad_mfu", "mfu"),
        ({"model_params_b": -8, "provider": "rented-gpu", "training_tokens": 10}, "bad_model_size", "model_params_b"),
        ({"dataset": "d.jsonl", "training_tokens": 5}, "contradicting_inputs", "training_tokens"),
        ({"provider": "openai", "model": "gpt-4.1-mini", "hosting": "azure-openai/gold"}, "unknown_hosting", "gold"),
        ({"provider": "openai-evals", "model": "x"}, "not_a_training_path", "openai-evals"),
    ],
)
def test_bad_input_names_the_input(ws: Workspace, args: dict, code: str, word: str) -> None:
    write_jsonl(
        ws.root / "d.jsonl", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    )
    with pytest.raises(ToolError) as exc:
        cost(ws, **{"training_tokens": 1000, **args} if "dataset" not in args else args)
    assert exc.value.code == code and word in exc.value.message + (exc.value.hint or "")


def test_prices_come_from_pricing_yaml(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    row = knowledge.pricing().training_price("openai", "gpt-4.1-mini-2025-04-14", "sft")
    monkeypatch.setattr(row, "price_usd", 7.0)
    o = only(cost(ws, **WORKED))
    assert o.training.cost_usd == pytest.approx(21.0)
    assert all("per_1m_tokens" not in a.value for a in cost(ws, **WORKED).assumptions)


def test_cli_cost_json_and_human(in_ws: Workspace, confirmed: None) -> None:
    args = [
        "cost",
        "--provider",
        "openai",
        "--model",
        "gpt-4.1-mini",
        "--tokens",
        "1000000",
        "--epochs",
        "3",
        "--base-prompt-tokens",
        "2000",
        "--ft-prompt-tokens",
        "300",
        "--output-tokens",
        "200",
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["options"][0]["break_even"]["requests"] == pytest.approx(62_500)
    human = CliRunner().invoke(app, args)
    assert human.exit_code == 0 and "62,500 requests" in human.stdout
    assert (in_ws.root / "cost-report.md").is_file() and "cost-report.md" in human.stdout
    bad = CliRunner().invoke(app, ["cost", "--provider", "acme", "--model", "x", "--tokens", "5"])
    assert bad.exit_code == 2 and "acme" in bad.stderr
    closed = CliRunner().invoke(app, ["cost", "--provider", "openai", "--model", "gpt-4.1-nano-2025-04-14", "--json"])
    assert closed.exit_code == 2
    assert "closed to new jobs on 2026-10-23" in json.loads(closed.stdout)["error"]["message"]


def test_cli_cost_comparison_is_short_and_the_rest_is_in_the_report(in_ws: Workspace) -> None:
    """Comparing every path prints a table and a few lines; assumptions, sensitivity, GPU options and every note
    go to the report (it used to print about 40 warnings)."""
    args = ["cost", "--tokens", "1000000", "--monthly-requests", "100000", *[f"--{k.replace('_', '-')}" for k in ()]]
    args += ["--base-prompt-tokens", "2000", "--ft-prompt-tokens", "300", "--output-tokens", "200"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Assumptions" not in out and "Sensitivity" not in out
    assert out.count("  warning ") <= 6 and "0.00 months" not in out and "per_1m_tokens" not in out
    assert len(out.splitlines()) < 45
    report = (in_ws.root / "cost-report.md").read_text("utf-8")
    assert "**Assumptions**" in report and "**Notes**" in report and "**Excluded**" in report
    assert "**Sensitivity (" in report


def test_minimum_fee_applies(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    row = knowledge.pricing().training_price("together", "open-weight-up-to-16b", "sft_lora")
    monkeypatch.setattr(row, "min_fee_usd", 4.0)
    o = only(cost(ws, provider="together", model="open-weight-up-to-16b", training_tokens=1_000_000, epochs=1))
    assert o.training.cost_usd == pytest.approx(4.0) and o.training.min_fee_applied  # 0.48 < the 4.00 minimum


def test_per_unit_hosting_and_storage_are_fixed_fees(ws: Workspace, confirmed: None) -> None:
    o = only(cost(ws, **WORKED, hosting="bedrock-import/custom_model_import", hosting_units=2))
    fixed = 0.05718 * 60 * 2 * 720 + 1.95 * 2  # per model unit per minute x 2 units x 720 h + storage per unit
    assert o.inference.fixed_usd_per_month == pytest.approx(fixed)
    assert any("storage" in item for item in o.inference.fixed_items)
    assert o.break_even.monthly_requests_to_cover_fixed == pytest.approx(fixed / 0.00024, rel=1e-3)


def test_an_unknown_fixed_fee_blocks_the_payback_time(ws: Workspace) -> None:
    """Bedrock's provisioned-throughput rate for custom models is unknown: the fee is listed, not counted, and no
    payback time is claimed."""
    o = only(cost(ws, **WORKED, hosting="bedrock-nova/provisioned_throughput", monthly_requests=100_000))
    assert o.inference.fixed_unknown and o.inference.fixed_usd_per_month == pytest.approx(1.95)  # storage only
    assert any("provisioned_throughput: unknown" in item and "not counted" in item for item in o.inference.fixed_items)
    assert o.break_even.months is None and "no payback time is computed" in o.break_even.statement
