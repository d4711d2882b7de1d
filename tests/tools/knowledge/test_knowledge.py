"""The knowledge base: reference/data validates, every row is sourced and dated (the page's date apart from the
day we read it), unknown end dates are their own value, a default lives in one file, and ageing facts give one
notice per event."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir
from tools.knowledge.core import KnowledgeError, load_facts_file

TODAY = date(2026, 12, 4)


# --------------------------------------------------------------------------------- schema, source, dates


@pytest.mark.parametrize("name", sorted(knowledge.FACT_MODELS))
def test_every_fact_file_validates(name: str) -> None:
    model = knowledge.FACT_MODELS[name]
    facts = knowledge.load_facts(name, model)
    rows = list(knowledge.iter_facts(facts))
    assert rows, f"{name}.yaml has no fact rows"
    for where, fact in rows:
        assert fact.source.startswith(("https://", "http://")), where
        assert isinstance(fact.checked, date) and fact.as_of == fact.checked, where
        assert fact.source_date is None or fact.source_date <= fact.checked, where


def test_every_row_in_every_yaml_has_a_source_and_a_reading_date() -> None:
    """Files owned by other modules too: a dict with a source must say when it was read (checked or as_of), once
    references are resolved."""
    for path in sorted(reference_data_dir().glob("*.yaml")):
        raw = knowledge.read_prepared(path)
        for where, row in knowledge.iter_rows(raw):
            assert "source" in row and ("checked" in row or "as_of" in row), f"{path.name} {where}"


def test_cross_file_references_resolve() -> None:
    assert (
        knowledge.cross_check(knowledge.providers(), knowledge.pricing(), knowledge.gpus(), knowledge.training()) == []
    )


def _bad_copy(tmp_path: Path, name: str, edit) -> Path:
    raw = yaml.safe_load((reference_data_dir() / f"{name}.yaml").read_text("utf-8"))
    edit(raw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    return path


def test_row_without_source_fails_loudly(tmp_path: Path) -> None:
    path = _bad_copy(tmp_path, "pricing", lambda raw: raw["training"][1].pop("source"))
    with pytest.raises(KnowledgeError) as exc:
        load_facts_file(path, knowledge.PricingFile)
    assert "pricing.yaml" in exc.value.message and "training.1.source" in exc.value.message


def test_row_without_a_reading_date_fails_loudly(tmp_path: Path) -> None:
    path = _bad_copy(tmp_path, "providers", lambda raw: raw["providers"][0]["models"][2].pop("checked"))
    with pytest.raises(KnowledgeError) as exc:
        load_facts_file(path, knowledge.ProvidersFile)
    assert "providers.0.models.2" in exc.value.message and "checked" in exc.value.message


def test_a_page_date_after_the_reading_date_is_refused(tmp_path: Path) -> None:
    def edit(raw):
        raw["providers"][1]["source_date"] = "2027-01-01"

    with pytest.raises(KnowledgeError, match="source_date 2027-01-01 is after checked"):
        load_facts_file(_bad_copy(tmp_path, "providers", edit), knowledge.ProvidersFile)


def test_source_must_be_a_url(tmp_path: Path) -> None:
    def edit(raw):
        raw["gpus"][0]["source"] = "the vendor said so"

    with pytest.raises(KnowledgeError, match="URL"):
        load_facts_file(_bad_copy(tmp_path, "gpus", edit), knowledge.GpusFile)


def test_unknown_end_needs_a_reason(tmp_path: Path) -> None:
    def edit(raw):
        model = raw["providers"][1]["models"][0]
        model.pop("until_candidates")
        model.pop("until_note", None)

    with pytest.raises(KnowledgeError, match="unknown"):
        load_facts_file(_bad_copy(tmp_path, "providers", edit), knowledge.ProvidersFile)


def test_unknown_threshold_and_bad_ranges_fail(tmp_path: Path) -> None:
    def edit(raw):
        raw["rules"][1]["conditions"][0]["threshold"] = "no_such_threshold"

    with pytest.raises(KnowledgeError, match="no_such_threshold"):
        load_facts_file(_bad_copy(tmp_path, "decision", edit), knowledge.DecisionFile)

    def edit2(raw):
        raw["hyperparameters"][0]["default"] = 1.0

    with pytest.raises(KnowledgeError, match="outside"):
        load_facts_file(_bad_copy(tmp_path, "training", edit2), knowledge.TrainingFile)


# --------------------------------------------------------------------------------- lookups and dates


def test_lookup_helpers_and_units() -> None:
    price = knowledge.pricing()
    mini = price.training_price("openai", "gpt-4.1-mini-2025-04-14", "sft")
    assert mini.unit == "per_1m_tokens" and mini.price_usd is None and mini.last_known.value == pytest.approx(5.0)
    inf = price.inference_price("openai", "gpt-4.1-mini-2025-04-14")
    assert (inf.base_input, inf.ft_input, inf.ft_output) == (0.4, 0.8, 3.2)
    with pytest.raises(ToolError) as exc:
        price.training_price("openai", "gpt-9")
    assert exc.value.code == "unknown_price"
    assert knowledge.UNIT_TEXT[mini.unit] == "per 1M training tokens"
    t = knowledge.training()
    assert t.hyper("sft_lora", "learning_rate").default == pytest.approx(2e-4)
    assert t.hyper("sft_lora", "epochs").method == "any"
    assert t.bytes_per_param("sft_full").bytes_per_param == 18
    assert knowledge.gpus().gpu("h100-sxm").bf16_dense_tflops == 989
    assert knowledge.decision().threshold("finetune_min_examples").value == 50


def test_openai_and_other_end_dates() -> None:
    prov = knowledge.providers()
    openai = prov.provider("openai")
    assert openai.available_until == date(2027, 1, 6) and openai.status == "closing"
    assert [m.date for m in openai.milestones][:3] == [date(2026, 5, 7), date(2026, 7, 2), date(2027, 1, 6)]
    assert openai.model_until(openai.model("gpt-4.1-2025-04-14")) == date(2027, 1, 6)
    assert openai.model_serving_until(openai.model("gpt-4.1-2025-04-14")) == date(2027, 1, 14)
    assert openai.model("gpt-4.1-nano-2025-04-14").available_until == date(2026, 10, 23)
    assert openai.eligibility is not None and openai.eligibility.until == date(2027, 1, 6)
    assert prov.provider("bedrock-claude-haiku").available_until == date(2026, 9, 10)
    assert prov.provider("cohere").available_until == date(2025, 9, 15)
    assert prov.provider("gemini-api-tuning").status == "ended"
    assert prov.provider("openai-evals").status == "ended"  # shut down 2026-11-30
    live = {p.id for p in prov.providers if p.status == "active"}
    assert {"together", "fireworks", "vertex-gemini", "bedrock-nova", "bedrock-meta", "self-hosted"} <= live


def test_unknown_is_its_own_value_never_no_announced_end() -> None:
    azure = knowledge.providers().provider("azure-openai")
    for m in azure.models:
        assert m.available_until == knowledge.UNKNOWN, m.id
        assert azure.until_unknown(m) and azure.model_until(m) is None
        assert m.until_candidates, m.id
    gpt41 = azure.model("gpt-4.1-2025-04-14")
    said = {(c.date, c.basis) for c in gpt41.until_candidates if c.date}
    assert {(date(2026, 10, 14), "primary"), (date(2027, 4, 14), "secondary")} <= said
    (w,) = [w for w in knowledge.warnings_for([gpt41], on=TODAY, context="azure-openai") if w.kind == "end_unknown"]
    assert w.date is None and "2026-10-14 (primary)" in w.message and "2027-04-14 (secondary)" in w.message


# --------------------------------------------------------------------------------- one home per default


def test_lora_defaults_take_shared_settings_from_training_yaml() -> None:
    """lora_defaults.yaml and training.yaml said 3 vs 2 epochs and adamw_torch vs adamw_8bit; now each setting has
    one home and the other file refers to it."""
    from tools.knowledge.lora_defaults import load_defaults

    d = load_defaults()
    t = knowledge.training()
    pairs = {
        "num_epochs": t.hyper("any", "epochs"),
        "warmup_ratio": t.hyper("any", "warmup_ratio"),
        "learning_rate": t.hyper("sft_lora", "learning_rate"),
        "lora_r": t.hyper("sft_lora", "lora_r"),
        "lora_dropout": t.hyper("sft_lora", "lora_dropout"),
        "weight_decay": t.hyper("any", "weight_decay"),
        "max_grad_norm": t.hyper("any", "max_grad_norm"),
        "eval_fraction": t.hyper("any", "val_fraction"),
    }
    for name, row in pairs.items():
        assert d.number(name) == pytest.approx(row.default), name
        assert d.row(name).source == row.source and d.row(name).checked == row.checked, name
    assert d.text("lr_scheduler") == next(c.value for c in t.choices if c.name == "scheduler")
    raw = yaml.safe_load((reference_data_dir() / "lora_defaults.yaml").read_text("utf-8"))
    referred = {r["name"] for section in raw.values() if isinstance(section, list) for r in section if "from" in r}
    assert set(pairs) | {"lr_scheduler"} <= referred
    assert all(
        "value" not in r for section in raw.values() if isinstance(section, list) for r in section if "from" in r
    )


def test_optimizer_and_warmup_are_attributed_to_what_the_sources_say() -> None:
    from tools.knowledge.lora_defaults import load_defaults

    t = knowledge.training()
    lora_8bit = next(c for c in t.choices if c.name == "optimizer_lora")
    assert lora_8bit.value == "adamw_8bit" and "adamw_bnb_8bit for QLoRA" in (lora_8bit.note or "")
    local = load_defaults().row("optimizer")
    assert local.value == "adamw_torch_fused" and "transformers" in local.source and "axolotl" not in local.source
    warmup = t.hyper("any", "warmup_ratio")
    assert "LLaMA-Factory" in (warmup.source + (warmup.note or "")) and "10 warm-up steps" in (warmup.note or "")
    assert "LLaMA-Factory" in warmup.source or "llama" in warmup.source.lower()


def test_a_reference_to_a_missing_row_fails_loudly(tmp_path: Path) -> None:
    for name in ("training", "lora_defaults"):
        (tmp_path / f"{name}.yaml").write_text((reference_data_dir() / f"{name}.yaml").read_text("utf-8"), "utf-8")
    text = (tmp_path / "lora_defaults.yaml").read_text("utf-8").replace("name: epochs}", "name: epochz}")
    (tmp_path / "lora_defaults.yaml").write_text(text, "utf-8")
    from tools.knowledge.lora_defaults import LoraDefaults

    with pytest.raises(KnowledgeError, match="epochz"):
        load_facts_file(tmp_path / "lora_defaults.yaml", LoraDefaults)


# --------------------------------------------------------------------------------- ageing facts


def test_warnings_say_what_ends() -> None:
    row = knowledge.pricing().training_price("openai", "gpt-4.1-mini-2025-04-14")
    texts = knowledge.warning_texts([row, None], on=TODAY, max_age=1000)
    assert texts == ["openai / gpt-4.1-mini-2025-04-14 / sft: closes to new jobs on 2027-01-06 (in 33 days)"]
    inf = knowledge.pricing().inference_price("openai", "gpt-4.1-mini-2025-04-14")
    (serving,) = knowledge.warnings_for([inf], on=TODAY, max_age=1000)
    assert serving.kind == "serving_closing" and "serving ends on 2027-01-14 (in 41 days)" in serving.summary
    assert knowledge.warnings_for([row], on=date(2026, 6, 1), max_age=1000, horizon=30) == []
    ended = knowledge.warnings_for([row], on=date(2027, 2, 1), max_age=1000)
    assert [w.kind for w in ended] == ["ended"] and "closed to new jobs on 2027-01-06" in ended[0].summary


def test_offering_warnings_cover_service_model_and_prices() -> None:
    found = knowledge.offering_warnings("openai", "gpt-4.1-mini-2025-04-14", on=TODAY, max_age=100_000)
    rows = {(w.file, w.kind, w.row) for w in found}
    assert ("providers.yaml", "closing", "OpenAI fine-tuning API (self-serve)") in rows
    assert ("providers.yaml", "serving_closing", "openai / gpt-4.1-mini-2025-04-14") in rows
    assert any(f == "pricing.yaml" and "/ sft" in r for f, _, r in rows)
    assert knowledge.offering_warnings("together", "open-weight-up-to-16b", on=TODAY, max_age=100_000) == []
    with pytest.raises(ToolError) as exc:
        knowledge.offering_warnings("openai", "gpt-9")
    assert exc.value.code == "unknown_model"


def test_today_and_max_age_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2030-01-01")
    monkeypatch.setenv("FINETUNE_FACTS_MAX_AGE_DAYS", "30")
    assert knowledge.today() == date(2030, 1, 1) and knowledge.max_age_days() == 30
    monkeypatch.setenv("FINETUNE_FACTS_MAX_AGE_DAYS", "soon")
    with pytest.raises(ToolError):
        knowledge.max_age_days()
