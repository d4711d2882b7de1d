"""The facts the 2026-12-04 re-check corrected, one test each, against the providers' own pages (quoted in
reference/data and in negative_facts.yaml), and the guards that keep the old claims out."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from tools import knowledge
from tools.core.resources import reference_data_dir

CHECKED = date(2026, 12, 4)


def test_fireworks_sft_is_billed_per_token_only_rft_is_free() -> None:
    price = knowledge.pricing()
    for model in ("open-weight-up-to-16b", "open-weight-16b-80b"):
        sft = price.training_price("fireworks", model, "sft_lora")
        assert sft.unit == "per_1m_tokens" and sft.price_usd != 0
        assert "every model size" in (sft.billing or "") or model != "open-weight-up-to-16b"
    rft = price.training_price("fireworks", "open-weight-up-to-16b", "rft")
    assert rft.unit == "free" and rft.price_usd == 0 and rft.source.endswith("managed-finetuning-intro")
    small = knowledge.providers().provider("fireworks").model("open-weight-up-to-16b")
    assert small.methods == ["rft"] and {c.method for c in small.methods_closed} == {"sft_lora", "dpo"}


def test_fireworks_lora_is_served_only_on_dedicated_deployments() -> None:
    fw = knowledge.providers().provider("fireworks")
    assert fw.hosting == ["dedicated_endpoint"] and "per_token" not in fw.hosting
    assert isinstance(fw.serving, knowledge.ServerlessFor) and fw.serving.serverless_for == [
        "accounts/fireworks/models/glm-5p3-flash"
    ]
    assert fw.model("open-weight-up-to-16b").serving == "dedicated"
    for row in (r for r in knowledge.pricing().inference if r.provider == "fireworks"):
        assert row.ft_input is None and row.ft_output is None and row.serving == "dedicated"
        assert row.litellm_ft_key is None  # a refresh cannot give it a per-token fine-tuned price


def test_bedrock_fine_tunes_nova_2_lite_with_rft_and_llama_3() -> None:
    prov = knowledge.providers()
    nova = prov.provider("bedrock-nova")
    lite2 = nova.model("amazon.nova-2-lite-v1:0")
    assert {"sft_lora", "rft"} <= set(lite2.methods) and lite2.checked == CHECKED
    assert nova.regions == ["us-east-1"]
    meta = prov.provider("bedrock-meta")
    assert {m.id for m in meta.models} == {
        "meta.llama3-1-8b-instruct-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "meta.llama3-2-1b-instruct-v1:0",
        "meta.llama3-2-3b-instruct-v1:0",
        "meta.llama3-2-11b-instruct-v1:0",
        "meta.llama3-2-90b-instruct-v1:0",
    }
    assert meta.serving == "dedicated" and meta.hosting == ["provisioned_throughput"] and meta.regions == ["us-west-2"]


def test_gemini_tunes_3_1_flash_lite_and_offers_preference_and_rl_tuning() -> None:
    vertex = knowledge.providers().provider("vertex-gemini")
    assert "formerly Vertex AI" in vertex.name and vertex.serving == "serverless"
    assert vertex.model("gemini-3.1-flash-lite").methods == ["sft"]
    assert "rft" in vertex.model("gemini-3.5-flash").methods
    assert vertex.model("gemini-preference-tuning").methods == ["dpo"]
    for model in ("gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"):
        m = vertex.model(model)
        assert m.available_until == date(2026, 10, 16) and m.serving_until == date(2026, 10, 16)
    flash = vertex.model("gemini-2.5-flash")
    assert {(c.date, c.basis) for c in flash.until_candidates} == {
        (date(2026, 10, 16), "primary"),
        (date(2026, 10, 20), "secondary"),
    }


def test_together_serves_lora_serverless_only_on_five_bases() -> None:
    together = knowledge.providers().provider("together")
    assert isinstance(together.serving, knowledge.ServerlessFor) and len(together.serving.serverless_for) == 5
    assert together.model("open-weight-17b-69b").serving == "dedicated"
    row = knowledge.pricing().inference_price("together", "open-weight-21b-41b", "serverless")
    assert row.ft_input is None and row.serving == "dedicated"


def test_openai_evals_ended_and_openai_training_is_for_existing_customers() -> None:
    prov = knowledge.providers()
    assert prov.provider("openai-evals").status == "ended"
    rule = prov.provider("openai").eligibility
    assert rule is not None and "already use OpenAI fine-tuning" in rule.rule and rule.until == date(2027, 1, 6)


def test_every_corrected_row_says_when_it_was_checked() -> None:
    prov = knowledge.providers()
    for pid in ("fireworks", "bedrock-nova", "bedrock-meta", "vertex-gemini", "together", "azure-openai"):
        p = prov.provider(pid)
        assert p.checked == CHECKED, pid
    azure = prov.provider("azure-openai")
    assert azure.source_date == date(2026, 2, 11)  # the cost doc's own date, apart from the day we read it


def test_the_shipped_data_keeps_every_negative_fact() -> None:
    raws = {p.stem: knowledge.read_prepared(p) for p in reference_data_dir().glob("*.yaml")}
    negative = knowledge.negative_facts()
    assert {n.id for n in negative.negative_facts} >= {
        "fireworks-sft-not-free",
        "fireworks-lora-dedicated-only",
        "fireworks-managed-sft-closed",
        "azure-end-dates-not-open",
    }
    assert knowledge.violations(negative, raws) == []


def test_a_negative_fact_catches_the_old_claim(tmp_path: Path) -> None:
    """Put back "Fireworks SFT under 16B is free" and "LoRA served at the base price": both are caught."""
    raws = {p.stem: knowledge.read_prepared(p) for p in reference_data_dir().glob("*.yaml")}
    for row in raws["pricing"]["training"]:
        if row["provider"] == "fireworks" and row["method"] == "sft_lora":
            row.update(unit="free", price_usd=0.0)
    for row in raws["pricing"]["inference"]:
        if row["provider"] == "fireworks":
            row.update(ft_input=row["base_input"], ft_output=row["base_output"])
    for p in raws["providers"]["providers"]:
        if p["id"] == "azure-openai":
            p["models"][0].pop("available_until")
    found = knowledge.violations(knowledge.negative_facts(), raws)
    assert any("free" in f and "fireworks" in f for f in found)
    assert any("ft_input" in f for f in found)
    assert any("available_until=None" in f for f in found)
    assert yaml.safe_dump(raws["pricing"])  # the edited copy is still plain YAML
