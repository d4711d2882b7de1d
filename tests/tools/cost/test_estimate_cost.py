"""estimate_cost: hand-computed values, the worked examples of research/providers-costs-eval.md 5.2, billing
rules, GPU arithmetic, "never" break-even, unknown prices said plainly, and bad input."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tests.support.format_samples import write_jsonl
from tools import knowledge
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.data.tokens import counter_for

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
    monkeypatch.setenv("FINETUNE_TODAY", "2026-11-24")


def cost(ws: Workspace, **args):
    return registry.call("estimate_cost", args, workspace=ws)


def only(result):
    assert len(result.options) == 1
    return result.options[0]


def test_worked_example_gpt41_mini(ws: Workspace) -> None:
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


def test_worked_example_distillation_from_gpt41(ws: Workspace) -> None:
    o = only(cost(ws, **WORKED, base_model="gpt-4.1"))
    assert o.inference.base_usd_per_request == pytest.approx(0.0056)  # 2000 x 2 + 200 x 8, per 1M
    assert o.inference.saving_usd_per_request == pytest.approx(0.00472)
    assert o.break_even.requests == pytest.approx(15 / 0.00472, abs=1)  # about 3,200
    assert round(o.break_even.requests, -2) == 3200


def test_worked_example_azure_hosting_fee(ws: Workspace) -> None:
    o = only(cost(ws, **WORKED, base_model="gpt-4.1", hosting="azure-openai/standard", monthly_requests=100_000))
    assert o.inference.fixed_usd_per_month == pytest.approx(1224.0)  # $1.70 x 720 h
    assert o.break_even.monthly_requests_to_cover_fixed == pytest.approx(1224 / 0.00472, abs=1)  # about 259,000
    assert round(o.break_even.monthly_requests_to_cover_fixed, -3) == 259_000
    assert o.break_even.never and "never" in o.break_even.statement  # 100k x 0.00472 = $472 < $1,224


def test_openai_path_warns_it_takes_no_new_jobs_after_2027_01_06(ws: Workspace) -> None:
    result = cost(ws, **WORKED)
    text = " ".join(result.warnings + result.notes)
    assert "2027-01-06" in text and "legacy" in text
    assert any("2027-01-14" in w for w in result.warnings)  # the fine-tune dies with its base model


def test_never_when_the_fine_tuned_request_is_not_cheaper(ws: Workspace) -> None:
    o = only(cost(ws, **{**WORKED, "ft_prompt_tokens": 2000}))
    assert o.inference.saving_usd_per_request < 0
    assert o.break_even.never and o.break_even.requests is None
    assert o.break_even.statement.startswith("Never: the fine-tuned request costs $0.00224")
    assert "never pays back on cost alone" in o.break_even.statement


def test_sensitivity_moves_with_epochs_volume_and_prompt(ws: Workspace) -> None:
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
    assert o.training.cost_usd is None and o.training.price_usd is None
    assert o.training.note.startswith("no trusted training price for bedrock-nova / amazon.nova-micro-v1:0")
    assert o.break_even is None


def test_openai_auto_epochs_follow_the_cookbook_rule(ws: Workspace) -> None:
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


def test_hourly_rft_and_the_azure_cap(ws: Workspace) -> None:
    o = only(cost(ws, provider="azure-openai", model="o4-mini", method="rft", training_hours=2.5))
    assert o.training.cost_usd == pytest.approx(250.0) and not o.training.cap_applied
    o = only(cost(ws, provider="azure-openai", model="o4-mini", method="rft", training_hours=80))
    assert o.training.cost_usd == pytest.approx(5000.0) and o.training.cap_applied
    o = only(cost(ws, provider="openai", model="o4-mini", method="rft"))
    assert o.training.cost_usd is None and "training_hours" in o.training.note


def test_rented_gpu_hours_and_dollars_by_hand(ws: Workspace) -> None:
    o = only(cost(ws, provider="rented-gpu", gpu="h100-sxm", model_params_b=8, training_tokens=1_000_000, epochs=1))
    hours = 4 * 8e9 * 1e6 / (989e12 * 0.3) / 3600  # 4 N D / (peak x MFU)
    g = o.gpu_options[0]
    assert g.gpu == "h100-sxm" and g.gpus == 1 and g.fits
    assert g.hours == pytest.approx(hours, abs=1e-3)
    assert g.memory_need_gb == pytest.approx(2 * 8 * 1.1 + 4.0)  # bf16 weights + 10% + activations at 2 x 2048
    assert g.cost_usd == pytest.approx(hours * 2.69, rel=1e-3)
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


def test_dataset_tokens_use_the_chat_billing_overhead(ws: Workspace) -> None:
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


def test_compare_mode_excludes_ended_paths_with_the_date(ws: Workspace) -> None:
    result = cost(ws, training_tokens=500_000, examples=400)
    assert any("gpt-4.1-nano" in e and "2026-10-23" in e for e in result.excluded)
    assert any("gemini-2.5-flash" in e and "2026-10-20" in e for e in result.excluded)
    providers = {o.provider for o in result.options}
    assert {"openai", "together", "fireworks", "self-hosted", "rented-gpu"} <= providers
    known = [o.training.cost_usd for o in result.options if o.training.cost_usd is not None]
    assert known == sorted(known)
    assert all(not o.warnings for o in result.options) and result.warnings


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
    assert {o.provider for o in result.options} == {"together", "fireworks", "self-hosted", "rented-gpu"}
    together = next(o for o in result.options if o.provider == "together")
    assert together.training.cost_usd == pytest.approx(50 * 2 * 0.48)  # 5,000 examples -> 2 epochs
    assert any("exceeds the training budget" in x for x in together.over_budget)
    assert together.inference.ft_usd_per_request == pytest.approx((100 + 150) * 0.20 / 1e6)


def test_report_is_written(ws: Workspace) -> None:
    result = cost(ws, **WORKED, report="cost.md")
    text = (ws.root / "cost.md").read_text()
    assert result.report == "cost.md" and "| openai | gpt-4.1-mini-2025-04-14 | sft | 3 | $15.00 |" in text


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
    assert only(cost(ws, **WORKED)).training.cost_usd == pytest.approx(21.0)


def test_cli_cost_json_and_human(in_ws: Workspace) -> None:
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
    bad = CliRunner().invoke(app, ["cost", "--provider", "acme", "--model", "x", "--tokens", "5"])
    assert bad.exit_code == 2 and "acme" in bad.stderr


def test_minimum_fee_applies(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    row = knowledge.pricing().training_price("together", "open-weight-up-to-16b", "sft_lora")
    monkeypatch.setattr(row, "min_fee_usd", 4.0)
    o = only(cost(ws, provider="together", model="open-weight-up-to-16b", training_tokens=1_000_000, epochs=1))
    assert o.training.cost_usd == pytest.approx(4.0) and o.training.min_fee_applied  # 0.48 < the 4.00 minimum


def test_provisioned_throughput_and_storage_are_fixed_fees(ws: Workspace) -> None:
    o = only(cost(ws, **WORKED, hosting="bedrock-nova/provisioned_throughput_1_month", hosting_units=2))
    assert o.inference.fixed_usd_per_month == pytest.approx(21.18 * 2 * 720 + 1.95)  # PT per MU-hour + storage
    assert any("storage" in item for item in o.inference.fixed_items)
    assert o.break_even.monthly_requests_to_cover_fixed == pytest.approx((21.18 * 2 * 720 + 1.95) / 0.00024, rel=1e-3)
