"""The whole migration offline: inventory and golden outputs from the stub OpenAI organisation (the real openai SDK
over HTTP), the replacement chosen and priced from reference/data, a LoRA of the built-in tiny model trained on the
converted file (TRL, on CPU), and the parity check and report through run_eval with the golden outputs as the
baseline. Then the clock moves past the model's end and the dates of the facts decide what is still possible."""

from __future__ import annotations

import json

import pytest

from tests.support.documents import assert_document_renders
from tests.support.provider_stub import ProviderStub
from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.migrate.facts import folder_of


def _call(ws: Workspace, name: str, **args):
    return registry.call(name, args, workspace=ws)


def _golden(ws: Workspace, model: str):
    for _ in range(8):
        out = _call(ws, "record_golden_outputs", model=model, sample=4, max_tokens=24, confirm=True)
        if out.state == "recorded":
            return out
    raise AssertionError(out.message)


@pytest.mark.slow
def test_the_whole_chain(ws: Workspace, openai_org: tuple[ProviderStub, str], monkeypatch: pytest.MonkeyPatch) -> None:
    stub, model = openai_org
    folder = folder_of(model)
    inventory = _call(ws, "openai_inventory")
    assert_document_renders(ws, "openai_inventory", inventory)
    [ft] = inventory.models
    assert ft.model == model and ft.training_file and ft.days_left == 41

    dry = _call(ws, "record_golden_outputs", model=model, sample=4, max_tokens=24)
    assert dry.state == "dry_run" and stub.count("POST", "/v1/batches") == 0
    golden = _golden(ws, model)
    assert golden.recorded == 4 and golden.source == "training_sample"
    assert_document_renders(ws, "record_golden_outputs", golden)
    rest = f"{folder}/train.jsonl"
    assert len((ws.root / rest).read_text().splitlines()) == 6

    chosen = _call(ws, "choose_replacement", model=model, monthly_requests=100_000, monthly_budget_usd=50.0)
    assert chosen.size_b == 8 and chosen.now_monthly_usd and chosen.now_monthly_usd > 0
    by_provider = {o.provider: o for o in chosen.options}
    assert {"self-hosted", "rented-gpu", "together"} <= set(by_provider)
    together = by_provider["together"]
    assert together.base == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" and together.monthly_usd is not None
    assert by_provider["rented-gpu"].over_budget  # one GPU all month costs more than the 50 USD asked for
    assert any(e.startswith("openai / gpt-4o-mini") and "2027-01-06" in e for e in chosen.excluded)
    assert (ws.root / chosen.report).read_text().startswith("# replacement")
    assert_document_renders(ws, "choose_replacement", chosen)

    run = _call(ws, "launch_lora", data=rest, model="tiny-random-llama", max_steps=8, confirm=True)
    info = wait_for_run(ws, run.run_id, lambda i: i.state in {"completed", "failed", "stopped"})
    assert info.state == "completed"

    asked = _call(ws, "migration_report", model=model, run_id=run.run_id)
    assert not asked.ran and asked.verdict == "not_run" and "confirm=true" in asked.message
    assert not (ws.root / folder / "migration-report.md").exists()

    report = _call(ws, "migration_report", model=model, run_id=run.run_id, confirm=True)
    assert_document_renders(ws, "migration_report", report)
    assert report.ran and report.items == 4 and report.verdict in {"regression", "no_detectable_regression"}
    assert report.metrics and all(m.low <= m.delta <= m.high for m in report.metrics)
    assert {a.metric for a in report.agreement} >= {"exact_match", "token_f1", "rouge_l"}
    assert report.now_monthly_usd == chosen.now_monthly_usd and report.after_monthly_usd is not None
    assert report.export_commands and run.run_id in report.export_commands[0]
    text = (ws.root / report.report).read_text()
    for section in ("## What was moved", "## Golden outputs", "## Cost now and after", "## Parity"):
        assert section in text
    assert ft.job_id in text and "sampled from the training file" in text
    samples = [json.loads(x) for x in (ws.root / report.eval_dir / "samples.jsonl").read_text().splitlines()]
    preds = [
        json.loads(x)["prediction"]
        for x in (ws.root / folder / "golden.predictions.jsonl").read_text().split("\n")
        if x
    ]
    assert [s["baseline"]["output"] for s in samples] == preds  # the golden outputs are run_eval's baseline

    # a replacement that answers exactly like the old model: no regression, full agreement
    same = _call(
        ws,
        "migration_report",
        model=model,
        candidate={"predictions": f"{folder}/golden.predictions.jsonl"},
        report=f"{folder}/identical.md",
        confirm=True,
    )
    assert same.verdict == "no_detectable_regression"
    exact = next(a for a in same.agreement if a.metric == "exact_match")
    assert exact.value == 1.0 and exact.high == 1.0 and 0 < exact.low < 1

    # past the end: no more golden outputs, but the ones recorded still serve as the baseline
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-20")
    with pytest.raises(ToolError) as err:
        _call(ws, "record_golden_outputs", model=model, sample=4, max_tokens=24, confirm=True)
    assert err.value.code == "model_retired" and "2027-01-14" in err.value.message
    late = _call(
        ws,
        "migration_report",
        model=model,
        candidate={"predictions": f"{folder}/golden.predictions.jsonl"},
        confirm=True,
    )
    assert late.ran and any("stopped serving" in w and "2027-01-14" in w for w in late.warnings)


def test_report_refuses_without_golden_outputs(
    ws: Workspace, openai_org: tuple[ProviderStub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model = openai_org
    with pytest.raises(ToolError) as err:
        _call(ws, "migration_report", model=model, run_id="r1")
    assert err.value.code == "no_golden_outputs" and "serving ends on 2027-01-14" in err.value.hint
    monkeypatch.setenv("FINETUNE_TODAY", "2027-02-01")
    with pytest.raises(ToolError) as err:
        _call(ws, "migration_report", model=model, run_id="r1")
    assert err.value.code == "model_retired"
    assert "stopped serving on 2027-01-14 (today is 2027-02-01)" in err.value.message
