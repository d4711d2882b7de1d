"""The knowledge base: reference/data validates, every row is sourced and dated, tables do not drift,
no prices hide in code, ageing facts are reported, and LiteLLM refreshes touch only inference prices."""

from __future__ import annotations

import ast
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from skill.cli import app
from tools import knowledge
from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir, reference_dir
from tools.facts import tables as fact_tables
from tools.facts.facts_check import check
from tools.facts.refresh import refresh_pricing
from tools.knowledge.core import KnowledgeError, load_facts_file

REPO = Path(__file__).resolve().parent.parent.parent.parent
TODAY = date(2026, 11, 24)
SAMPLE = REPO / "tests" / "data" / "litellm_sample.json"
runner = CliRunner()


# --------------------------------------------------------------------------------- schema, source, as_of


@pytest.mark.parametrize("name", sorted(knowledge.FACT_MODELS))
def test_every_fact_file_validates(name: str) -> None:
    model = knowledge.FACT_MODELS[name]
    facts = knowledge.load_facts(name, model)
    rows = list(knowledge.iter_facts(facts))
    assert rows, f"{name}.yaml has no fact rows"
    for where, fact in rows:
        assert fact.source.startswith("https://") or fact.source.startswith("http://"), where
        assert isinstance(fact.as_of, date), where


def test_every_row_in_every_yaml_has_source_and_as_of() -> None:
    """Files owned by other modules too: a dict that carries one of the two keys must carry both."""
    for path in sorted(reference_data_dir().glob("*.yaml")):
        raw = yaml.safe_load(path.read_text("utf-8"))
        for where, row in knowledge.iter_rows(raw):
            assert "source" in row and "as_of" in row, f"{path.name} {where}"


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


def test_row_without_as_of_fails_loudly(tmp_path: Path) -> None:
    path = _bad_copy(tmp_path, "providers", lambda raw: raw["providers"][0]["models"][2].pop("as_of"))
    with pytest.raises(KnowledgeError) as exc:
        load_facts_file(path, knowledge.ProvidersFile)
    assert "providers.0.models.2.as_of" in exc.value.message


def test_source_must_be_a_url(tmp_path: Path) -> None:
    def edit(raw):
        raw["gpus"][0]["source"] = "the vendor said so"

    with pytest.raises(KnowledgeError, match="URL"):
        load_facts_file(_bad_copy(tmp_path, "gpus", edit), knowledge.GpusFile)


def test_unknown_threshold_and_bad_ranges_fail(tmp_path: Path) -> None:
    def edit(raw):
        raw["rules"][1]["conditions"][0]["threshold"] = "no_such_threshold"

    with pytest.raises(KnowledgeError, match="no_such_threshold"):
        load_facts_file(_bad_copy(tmp_path, "decision", edit), knowledge.DecisionFile)

    def edit2(raw):
        raw["hyperparameters"][0]["default"] = 1.0

    with pytest.raises(KnowledgeError, match="outside"):
        load_facts_file(_bad_copy(tmp_path, "training", edit2), knowledge.TrainingFile)


def test_facts_check_reports_a_bad_file(tmp_path: Path) -> None:
    for path in reference_data_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    _bad_copy(tmp_path, "pricing", lambda raw: raw["hosting"][0].pop("as_of"))
    report = check(TODAY, data_dir=tmp_path)
    assert not report.ok
    assert any("hosting.0.as_of" in p for p in report.invalid)


# --------------------------------------------------------------------------------- the facts themselves


def test_lookup_helpers_and_units() -> None:
    price = knowledge.pricing()
    mini = price.training_price("openai", "gpt-4.1-mini-2025-04-14", "sft")
    assert mini.unit == "per_1m_tokens" and mini.price_usd == pytest.approx(5.0)
    inf = price.inference_price("openai", "gpt-4.1-mini-2025-04-14")
    assert (inf.base_input, inf.ft_input, inf.ft_output) == (0.4, 0.8, 3.2)
    # research section 5.2: 1M tokens x 3 epochs on gpt-4.1-mini = $15; 62,500 requests to break even
    assert 1.0 * 3 * mini.price_usd == pytest.approx(15.0)
    base = (2000 * inf.base_input + 200 * inf.base_output) / 1e6
    tuned = (300 * inf.ft_input + 200 * inf.ft_output) / 1e6
    assert 15.0 / (base - tuned) == pytest.approx(62_500)
    with pytest.raises(ToolError) as exc:
        price.training_price("openai", "gpt-9")
    assert exc.value.code == "unknown_price"
    hosting = {h.deployment: h.price_usd for h in price.hosting_for("azure-openai")}
    assert hosting["standard"] == pytest.approx(1.70)
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
    assert openai.model("gpt-4.1-nano-2025-04-14").available_until == date(2026, 10, 23)
    assert prov.provider("bedrock-claude-haiku").available_until == date(2026, 9, 10)
    assert prov.provider("cohere").available_until == date(2025, 9, 15)
    assert prov.provider("gemini-api-tuning").status == "ended"
    live = {p.id for p in prov.providers if p.status == "active"}
    assert {"together", "fireworks", "vertex-gemini", "bedrock-nova", "self-hosted", "rented-gpu"} <= live


# --------------------------------------------------------------------------------- ageing facts


def test_warnings_for_rows_tools_use() -> None:
    row = knowledge.pricing().training_price("openai", "gpt-4.1-mini-2025-04-14")
    kinds = {w.kind for w in knowledge.warnings_for([row], on=TODAY)}
    assert {"closing", "stale"} <= kinds  # ends 2027-01-06, price dated 2026-05-07
    texts = knowledge.warning_texts([row, None], on=TODAY, max_age=1000)
    assert texts == ["openai / gpt-4.1-mini-2025-04-14 / sft: closes to new jobs on 2027-01-06 (in 43 days)"]
    assert knowledge.warnings_for([row], on=date(2026, 6, 1), max_age=1000, horizon=30) == []
    ended = knowledge.warnings_for([row], on=date(2027, 2, 1), max_age=1000)
    assert [w.kind for w in ended] == ["ended"] and ended[0].days < 0


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


def test_facts_check_on_today() -> None:
    report = check(TODAY)
    assert report.today == TODAY and report.max_age_days == 120
    lines = "\n".join(report.headline)
    assert "OpenAI fine-tuning API (self-serve): closes to new jobs on 2027-01-06 (in 43 days)" in lines
    assert "Claude 3 Haiku fine-tuning: ended on 2026-09-10" in lines
    ended_models = {w.row for w in report.ended if w.file == "providers.yaml" and w.parent}
    assert {
        "openai / gpt-4.1-nano-2025-04-14",
        "openai / o4-mini-2025-04-16",
        "bedrock-claude-haiku / anthropic.claude-3-haiku-20240307-v1:0",
    } <= ended_models
    assert "openai / gpt-4.1-nano-2025-04-14" in lines
    assert any("Mistral" in d for d in report.deprecated)
    assert report.invalid == []
    assert report.stale_total > 0 and not report.ok  # some sources are older than 120 days
    assert len(report.model_dump_json()) < 60_000


def test_facts_check_through_the_registry(ws) -> None:
    from tools.core import registry

    spec = registry.get("facts_check")
    assert spec.effect == "read"
    report = registry.call(
        "facts_check", {"today": "2026-11-24", "max_age_days": None, "horizon_days": None}, workspace=ws
    )
    assert any("2027-01-06" in line for line in report.headline)
    with pytest.raises(ToolError) as exc:
        registry.call("facts_check", {"max_age_days": -1}, workspace=ws)
    assert exc.value.code == "invalid_arguments"


def test_provider_formats_are_known_to_the_data_tools() -> None:
    from tools.facts.facts_check import unknown_formats

    assert unknown_formats(reference_data_dir()) == []


def test_facts_check_with_a_generous_age_is_ok() -> None:
    assert check(TODAY, max_age=10_000).ok


def test_facts_check_cli_json() -> None:
    result = runner.invoke(app, ["facts", "check", "--today", "2026-11-24", "--json"])
    assert result.exit_code == 1, result.output  # stale rows exist
    data = json.loads(result.stdout)
    assert any("2027-01-06" in line and "OpenAI" in line for line in data["headline"])
    result = runner.invoke(app, ["facts", "check", "--today", "2026-11-24", "--max-age-days", "100000", "--json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["facts", "check", "--today", "not-a-date", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_arguments"


# --------------------------------------------------------------------------------- generated tables


def test_generated_tables_do_not_drift() -> None:
    files = sorted(reference_dir().glob("*.md"))
    assert {p.name for p in files} >= {
        "providers.md",
        "data-prep.md",
        "training.md",
        "evaluation.md",
        "costs.md",
        "compliance.md",
    }
    used: set[str] = set()
    for path in files:
        text, rendered = fact_tables.render_file(path)
        assert text == rendered, f"{path.name}: tables differ from reference/data; run `finetune facts render`"
        used.update(fact_tables.tables_in(text))
    assert used == set(fact_tables.TABLES), f"tables never used: {set(fact_tables.TABLES) - used}"


def test_drift_is_detected() -> None:
    text = (reference_dir() / "costs.md").read_text("utf-8")
    tampered = re.sub(r"\$5\.00", "$4.00", text, count=1)
    assert tampered != text
    assert fact_tables.render_text(tampered) == text
    with pytest.raises(ToolError):
        fact_tables.render_text("<!-- facts:begin nope -->\n<!-- facts:end nope -->")


SIX = ("providers.md", "data-prep.md", "training.md", "evaluation.md", "costs.md", "compliance.md")


def test_reference_files_open_with_date_and_contents() -> None:
    for path in (reference_dir() / name for name in SIX):
        head = path.read_text("utf-8").splitlines()[:12]
        assert any(re.search(r"[Aa]s of 20\d\d-\d\d-\d\d", line) for line in head), path.name
        assert any(line.strip().lower().startswith("## contents") for line in head), path.name


def test_render_check_cli() -> None:
    result = runner.invoke(app, ["facts", "render", "--check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["drift"] is False


# --------------------------------------------------------------------------------- no prices in code

PRICE_NAME = re.compile(r"(price|cost|usd|fee|per_1m|per_hour|hourly|dollar)", re.IGNORECASE)
DOLLAR_AMOUNT = re.compile(r"\$\s?\d")


def hard_coded_prices(source: str, filename: str) -> list[str]:
    """Numeric literals bound to price-like names, and dollar amounts in non-docstring strings."""
    tree = ast.parse(source, filename)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found: list[str] = []

    def numbers(value: ast.AST) -> list[float]:
        return [
            n.value
            for n in ast.walk(value)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, int | float)
            and not isinstance(n.value, bool)
            and n.value not in (0, 1)
        ]

    for node in ast.walk(tree):
        targets: list[tuple[str, ast.AST]] = []
        if isinstance(node, ast.Assign):
            targets = [(ast.unparse(t), node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [(ast.unparse(node.target), node.value)]
        elif isinstance(node, ast.keyword) and node.arg:
            targets = [(node.arg, node.value)]
        elif isinstance(node, ast.Dict):
            targets = [
                (k.value, v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
        for name, value in targets:
            if PRICE_NAME.search(name) and numbers(value):
                found.append(f"{filename}:{node.lineno}: {name} = {ast.unparse(value)[:40]}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if DOLLAR_AMOUNT.search(node.value):
                found.append(f"{filename}:{node.lineno}: dollar amount in {node.value[:40]!r}")
    return found


def test_price_detector_catches_prices() -> None:
    bad = 'TRAINING_PRICE = 25.0\nx = f(cost_per_hour=1.70)\nd = {"usd": 3.2}\nmsg = "costs $15 to train"\n'
    assert len(hard_coded_prices(bad, "bad.py")) == 4
    good = '"""Costs $15 in the docs example."""\nPER_MILLION = 1_000_000\nprice = row.price_usd * tokens\n'
    assert hard_coded_prices(good, "good.py") == []


def test_no_hard_coded_prices_in_tools() -> None:
    found: list[str] = []
    for path in sorted((REPO / "tools").glob("*.py")):
        found += hard_coded_prices(path.read_text("utf-8"), f"tools/{path.name}")
    assert found == [], "prices belong in reference/data/*.yaml:\n" + "\n".join(found)


# --------------------------------------------------------------------------------- LiteLLM refresh


def _pricing_copy(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.yaml"
    shutil.copy(reference_data_dir() / "pricing.yaml", path)
    return path


def test_refresh_with_matching_sample_changes_nothing(tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text("utf-8"))
    result = refresh_pricing(
        data, _pricing_copy(tmp_path), TODAY, providers_path=reference_data_dir() / "providers.yaml"
    )
    assert result.changes == [] and result.diff == "" and result.missing_keys == []
    assert result.serving_mismatches == []
    assert "ft:davinci-002" in result.unlisted_ft_keys


def test_refresh_updates_inference_prices_and_dates_only(tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text("utf-8"))
    data["ft:gpt-4.1-mini-2025-04-14"]["output_cost_per_token"] = 3.0e-06
    data["ft:gpt-4.1-mini-2025-04-14"]["deprecation_date"] = "2027-03-01"
    data["gpt-4o-mini"]["input_cost_per_token"] = 1.6e-07
    path = _pricing_copy(tmp_path)
    before = knowledge.load_facts_file(path, knowledge.PricingFile)
    result = refresh_pricing(data, path, date(2026, 12, 1))
    fields = {(c.row, c.field) for c in result.changes}
    assert ("openai / gpt-4.1-mini-2025-04-14 / standard", "ft_output") in fields
    assert ("openai / gpt-4.1-mini-2025-04-14 / standard", "available_until") in fields
    assert ("openai / gpt-4o-mini-2024-07-18 / standard", "base_input") in fields
    assert "+    ft_output: 3.00" in result.diff and "-    ft_output: 3.20" in result.diff
    path.write_text(result.new_text, "utf-8")
    after = knowledge.load_facts_file(path, knowledge.PricingFile)
    assert after.training == before.training and after.hosting == before.hosting and after.storage == before.storage
    row = after.inference_price("openai", "gpt-4.1-mini-2025-04-14")
    assert row.ft_output == pytest.approx(3.0) and row.as_of == date(2026, 12, 1)
    assert row.available_until == date(2027, 3, 1)
    # comments and layout survive
    assert result.new_text.splitlines()[:5] == before_lines(reference_data_dir() / "pricing.yaml")[:5]


def before_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


def test_refresh_cli_writes_a_diff(in_ws, tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text("utf-8"))
    data["ft:gpt-4o-mini-2024-07-18"]["input_cost_per_token"] = 2.5e-07
    (in_ws.root / "prices.json").write_text(json.dumps(data), "utf-8")
    original = (reference_data_dir() / "pricing.yaml").read_text("utf-8")
    result = runner.invoke(app, ["facts", "refresh", "--litellm", "prices.json", "--today", "2026-11-24", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["applied"] is False and summary["diff"] == "facts-refresh.diff"
    assert [c["field"] for c in summary["changes"]] == ["ft_input"]
    assert "+    ft_input: 0.25" in (in_ws.root / "facts-refresh.diff").read_text("utf-8")
    assert (reference_data_dir() / "pricing.yaml").read_text("utf-8") == original
    bad = runner.invoke(app, ["facts", "refresh", "--litellm", "missing.json", "--json"])
    assert bad.exit_code == 2
