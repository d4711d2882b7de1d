from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skills_ref.validator import validate

from skill.package import SKILL_NAME, build_skill
from tools.core.errors import ToolError


def test_built_skill_folder_passes_the_reference_validator(tmp_path: Path) -> None:
    target = build_skill(tmp_path)
    assert target.name == SKILL_NAME
    assert validate(target) == []
    cli = Path(sys.executable).with_name("agentskills")
    proc = subprocess.run([str(cli), "validate", str(target)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for needed in (
        "SKILL.md",
        "reference",
        "scripts/finetune.py",
        "scripts/lib/tools/core/registry.py",
        "scripts/lib/skill/cli.py",
        "prompts",
    ):
        assert (target / needed).exists(), needed


def test_validator_would_catch_a_bad_frontmatter(tmp_path: Path) -> None:
    target = build_skill(tmp_path)
    text = (target / "SKILL.md").read_text()
    (target / "SKILL.md").write_text(text.replace("name: fine-tuning", "name: Fine-Tuning\nslug: fine-tuning", 1))
    assert validate(target)


def test_launcher_runs_the_bundled_code(tmp_path: Path) -> None:
    target = build_skill(tmp_path)
    audit_py = target / "scripts" / "lib" / "tools" / "audit" / "audit_log.py"
    audit_py.write_text(
        audit_py.read_text().replace("Reads, verifies and anchors the tamper-evident", "BUNDLED-COPY reads")
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FINETUNE_BUNDLE_ROOT")}
    proc = subprocess.run(
        [sys.executable, str(target / "scripts" / "finetune.py"), "tools", "--json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = [t for t in json.loads(proc.stdout) if t["name"] == "audit_log"]
    assert row["description"].startswith("BUNDLED-COPY")
    header = (target / "scripts" / "finetune.py").read_text()
    assert "# /// script" in header and '"pydantic' in header


def test_rebuild_replaces_only_a_skill_folder(tmp_path: Path) -> None:
    build_skill(tmp_path)
    build_skill(tmp_path)
    other = tmp_path / "x"
    (other / SKILL_NAME).mkdir(parents=True)
    (other / SKILL_NAME / "notes.txt").write_text("mine")
    with pytest.raises(ToolError, match="not a built skill folder"):
        build_skill(other)
    assert (other / SKILL_NAME / "notes.txt").read_text() == "mine"
    shutil.rmtree(other)
