"""SKILL.md passes the Agent Skills reference validator and Anthropic's authoring rules, stays short,
links only reference files that exist, and names only commands that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from skills_ref.validator import validate
from typer.main import get_command

from skill.cli import app
from tools.core import registry

REPO = Path(__file__).resolve().parent.parent.parent
SKILL = REPO / "SKILL.md"
SPEC_KEYS = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
PLANNED = (
    "decide_fit",
    "select_provider",
    "estimate_cost",
    "configure_training",
    "launch_lora",
    "run_eval",
    "scan_pii",
)


def split_skill(text: str) -> tuple[str, str]:
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    assert match, "SKILL.md must start with a --- frontmatter block"
    return match.group(1), match.group(2)


@pytest.fixture(scope="module")
def parts() -> tuple[dict, str, str]:
    frontmatter, body = split_skill(SKILL.read_text("utf-8"))
    return yaml.safe_load(frontmatter), frontmatter, body


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    """The skill as the build step lays it out: a folder named after the skill."""
    target = tmp_path / "fine-tuning"
    target.mkdir()
    shutil.copy(SKILL, target / "SKILL.md")
    shutil.copytree(REPO / "reference", target / "reference")
    return target


def test_reference_validator_accepts_it(skill_dir: Path) -> None:
    assert validate(skill_dir) == []
    cli = Path(sys.executable).with_name("agentskills")
    proc = subprocess.run([str(cli), "validate", str(skill_dir)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_reference_validator_rejects_a_wrong_folder_name(skill_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "finetuning"
    shutil.copytree(skill_dir, other)
    assert any("must match" in e for e in validate(other))


def test_anthropic_quick_validate_rules(parts) -> None:
    meta, frontmatter, _ = parts
    assert set(meta) <= SPEC_KEYS, f"only the six spec keys: {set(meta) - SPEC_KEYS}"
    name = meta["name"]
    assert name == "fine-tuning"
    assert re.fullmatch(r"[a-z0-9-]+", name) and len(name) <= 64
    assert not name.startswith("-") and not name.endswith("-") and "--" not in name
    assert "claude" not in name and "anthropic" not in name
    description = meta["description"]
    assert isinstance(description, str) and 0 < len(description) <= 1024
    assert "<" not in description and ">" not in description
    assert len(meta.get("compatibility", "")) <= 500
    assert isinstance(meta["metadata"]["version"], str)


def test_description_is_third_person_and_triggers(parts) -> None:
    description = parts[0]["description"]
    first = description.split()[0]
    assert first.endswith("s") and first[0].isupper(), "start with a third-person verb (Decides, Validates...)"
    assert not re.search(r"\b(I|I'm|me|my|we|our|you|your)\b", description), "no first or second person"
    for trigger in ("fine-tuning", "LoRA", "SFT", "DPO", "JSONL", "loss curves", "cost"):
        assert trigger in description, trigger


def test_frontmatter_is_block_style(parts) -> None:
    _, frontmatter, _ = parts
    for line in frontmatter.splitlines():
        value = line.split(":", 1)[1].strip() if ":" in line else line.strip()
        assert not value.startswith(("{", "[")), f"flow-style YAML is rejected by strictyaml: {line}"


def test_body_is_short_and_has_the_sections(parts) -> None:
    _, _, body = parts
    assert len(SKILL.read_text("utf-8").splitlines()) < 500
    for heading in (
        "## The confirmation rule",
        "## When to use",
        "## Decision checklist",
        "## Procedure",
        "## Which reference file to load",
        "## Gotchas",
    ):
        assert heading in body, heading


def test_reference_links_are_relative_and_exist(parts) -> None:
    _, _, body = parts
    linked = set(re.findall(r"reference/([a-z-]+\.md)", body))
    assert linked == {"providers.md", "data-prep.md", "training.md", "evaluation.md", "costs.md", "compliance.md"}
    for name in linked:
        assert (REPO / "reference" / name).is_file(), name
    assert "/reference/" not in body.replace("`reference/", "")  # no absolute or nested links


def test_every_finetune_command_exists(parts) -> None:
    _, _, body = parts
    root = get_command(app)
    commands = root.commands  # type: ignore[attr-defined]
    used = re.findall(r"finetune ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", body)
    assert used
    for cmd, sub in used:
        assert cmd in commands, f"SKILL.md names `finetune {cmd}`, which does not exist"
        group = commands[cmd]
        if hasattr(group, "commands") and sub:
            assert sub in group.commands, f"`finetune {cmd} {sub}` does not exist"


def test_planned_tools_are_called_planned(parts) -> None:
    _, _, body = parts
    registered = {t.name for t in registry.all_tools()}
    for paragraph in re.split(r"\n\s*\n", body):
        for name in PLANNED:
            if name in paragraph and name not in registered:
                assert "planned" in paragraph.lower(), (
                    f"{name} is not a tool yet; say it is planned:\n{paragraph[:200]}"
                )


def test_confirmation_rule_mentions_money_and_data(parts) -> None:
    _, _, body = parts
    section = body.split("## The confirmation rule", 1)[1].split("\n## ", 1)[0]
    for word in ("spend money", "third party", "confirm=true", "costs", "retention"):
        assert word in section, word
