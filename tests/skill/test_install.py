from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill.cli import app
from skill.install import SERVER_KEY, install
from tools.core.errors import ToolError


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    return project, home


def test_claude_code_project_install_merges_and_is_idempotent(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    existing = {"mcpServers": {"other": {"command": "other-server"}}, "keep": 1}
    (project / ".mcp.json").write_text(json.dumps(existing))
    report = install("claude-code", "project", project=project, home=home)
    assert [a.what for a in report.actions] == ["created", "updated"]
    data = json.loads((project / ".mcp.json").read_text())
    assert data["mcpServers"]["other"] == {"command": "other-server"} and data["keep"] == 1
    entry = data["mcpServers"][SERVER_KEY]
    assert entry["args"][-1] == "mcp" and str(project) in entry["args"]
    assert json.loads((project / ".mcp.json.bak").read_text()) == existing
    assert (project / ".claude/skills/fine-tuning/SKILL.md").is_file()
    again = install("claude-code", "project", project=project, home=home)
    assert [a.what for a in again.actions] == ["unchanged", "unchanged"]


def test_each_client_writes_its_own_shape(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    install("cursor", "project", project=project, home=home)
    install("vscode", "project", project=project, home=home)
    cursor = json.loads((project / ".cursor/mcp.json").read_text())
    vscode = json.loads((project / ".vscode/mcp.json").read_text())
    assert SERVER_KEY in cursor["mcpServers"] and "type" not in cursor["mcpServers"][SERVER_KEY]
    assert vscode["servers"][SERVER_KEY]["type"] == "stdio"
    assert (project / ".agents/skills/fine-tuning/scripts/finetune.py").is_file()


def test_user_scope_keeps_the_rest_of_claude_json(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    (home / ".claude.json").write_text(json.dumps({"numStartups": 7, "projects": {"/x": {}}}))
    install("claude-code", "user", project=project, home=home)
    data = json.loads((home / ".claude.json").read_text())
    assert data["numStartups"] == 7 and data["projects"] == {"/x": {}}
    assert "--workspace" not in data["mcpServers"][SERVER_KEY]["args"]
    assert (home / ".claude/skills/fine-tuning/SKILL.md").is_file()


def test_uninstall_removes_only_ours(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    (project / ".cursor").mkdir()
    (project / ".cursor/mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    install("cursor", "project", project=project, home=home)
    report = install("cursor", "project", project=project, home=home, uninstall=True)
    assert [a.what for a in report.actions] == ["removed", "removed"]
    assert json.loads((project / ".cursor/mcp.json").read_text()) == {"mcpServers": {"other": {"command": "x"}}}
    assert not (project / ".agents/skills/fine-tuning").exists()


def test_broken_config_is_left_alone_and_nothing_is_written(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    (project / ".mcp.json").write_text('{"mcpServers": {,}')
    with pytest.raises(ToolError) as info:
        install("claude-code", "project", project=project, home=home)
    assert info.value.code == "config_not_json" and "line 1" in info.value.message
    assert (project / ".mcp.json").read_text() == '{"mcpServers": {,}'
    assert not (project / ".claude").exists()


def test_foreign_skill_folder_is_not_overwritten(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    folder = project / ".agents/skills/fine-tuning"
    folder.mkdir(parents=True)
    (folder / "notes.md").write_text("mine")
    with pytest.raises(ToolError, match="not the fine-tuning skill"):
        install("agents", "project", project=project, home=home)
    assert (folder / "notes.md").read_text() == "mine"


def test_cli_install_and_errors(dirs: tuple[Path, Path]) -> None:
    project, _ = dirs
    runner = CliRunner()
    ok = runner.invoke(app, ["install", "agents", "--project", str(project), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["actions"][0]["what"] == "created"
    bad = runner.invoke(app, ["install", "emacs", "--project", str(project)])
    assert bad.exit_code == 2 and "unknown_client" in bad.stderr


def test_a_destination_that_is_a_link_is_refused_and_nothing_outside_changes(tmp_path: Path) -> None:
    from skill.install import install
    from skill.package import build_skill
    from tools.core.errors import ToolError

    outside = tmp_path / "outside"
    (outside / "fine-tuning").mkdir(parents=True)
    (outside / "fine-tuning" / "SKILL.md").write_text("name: fine-tuning\nsomeone else's\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "fine-tuning").symlink_to(outside / "fine-tuning")
    with pytest.raises(ToolError) as info:
        build_skill(out)
    assert info.value.code == "skill_target_is_link"
    project = tmp_path / "proj"
    (project / ".claude" / "skills").mkdir(parents=True)
    (project / ".claude" / "skills" / "fine-tuning").symlink_to(outside / "fine-tuning")
    with pytest.raises(ToolError):
        install("claude-code", "project", project=project, home=tmp_path / "home")
    assert (outside / "fine-tuning" / "SKILL.md").read_text() == "name: fine-tuning\nsomeone else's\n"
