"""Installs the skill folder and the MCP server entry where each client looks for them.

| client | skill folder (project / user) | MCP config (project / user) |
|---|---|---|
| claude-code | .claude/skills/fine-tuning / ~/.claude/skills/fine-tuning | .mcp.json / ~/.claude.json (`mcpServers`) |
| cursor | .agents/skills/fine-tuning / ~/.agents/skills/fine-tuning | .cursor/mcp.json / ~/.cursor/mcp.json
(`mcpServers`) |
| vscode | .agents/skills/fine-tuning / ~/.agents/skills/fine-tuning | .vscode/mcp.json / the user mcp.json
(`servers`, type stdio) |
| agents | .agents/skills/fine-tuning / ~/.agents/skills/fine-tuning | none |

Config files are merged, never replaced: other servers and keys stay; a changed file is first
copied to ``<name>.bak``; running twice changes nothing the second time; ``uninstall`` removes
only our own entry and our own skill folder. A config that is not valid JSON is left alone and
reported with its line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from skill.package import SKILL_NAME, build_skill, refuse_links
from tools.core.errors import ToolError
from tools.core.workspace import write_text_atomic

Client = Literal["claude-code", "cursor", "vscode", "agents"]
Scope = Literal["project", "user"]
CLIENTS: tuple[Client, ...] = ("claude-code", "cursor", "vscode", "agents")
SERVER_KEY = "fine-tuning"


class Action(BaseModel):
    path: str
    what: Literal["created", "updated", "unchanged", "removed", "absent"]
    note: str = ""


class InstallReport(BaseModel):
    client: Client
    scope: Scope
    uninstall: bool
    actions: list[Action]


def _vscode_user_dir(home: Path) -> Path:
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Code" / "User"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "Code" / "User"
    return home / ".config" / "Code" / "User"


def skill_dir(client: Client, scope: Scope, project: Path, home: Path) -> Path:
    base = project if scope == "project" else home
    folder = ".claude" if client == "claude-code" else ".agents"
    return base / folder / "skills" / SKILL_NAME


def mcp_config(client: Client, scope: Scope, project: Path, home: Path) -> tuple[Path, str] | None:
    """The MCP config file of a client and the key under which it lists servers."""
    if client == "agents":
        return None
    if client == "claude-code":
        return (project / ".mcp.json", "mcpServers") if scope == "project" else (home / ".claude.json", "mcpServers")
    if client == "cursor":
        base = project if scope == "project" else home
        return base / ".cursor" / "mcp.json", "mcpServers"
    return (
        (project / ".vscode" / "mcp.json", "servers")
        if scope == "project"
        else (_vscode_user_dir(home) / "mcp.json", "servers")
    )


def server_entry(client: Client, scope: Scope, project: Path) -> dict[str, Any]:
    """How the client starts our server: this Python, so the installed package is the one that runs."""
    args = ["-m", "skill.cli"]
    if scope == "project":
        args += ["--workspace", str(project)]
    args.append("mcp")
    entry: dict[str, Any] = {"command": sys.executable, "args": args}
    if client == "vscode":
        entry = {"type": "stdio", **entry}
    return entry


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    text = path.read_text("utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            "config_not_json",
            f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); it was left unchanged",
            "fix or move the file, then run the install again",
        ) from None
    if not isinstance(data, dict):
        raise ToolError(
            "config_not_object",
            f"{path}: the top level is not a JSON object; it was left unchanged",
            "fix or move the file, then run the install again",
        )
    return data


def _write_config(path: Path, data: dict[str, Any], existed: bool) -> None:
    if existed:
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _set_server(path: Path, key: str, entry: dict[str, Any]) -> Action:
    existed = path.is_file()
    data = _load_json(path)
    servers = data.setdefault(key, {})
    if not isinstance(servers, dict):
        raise ToolError(
            "config_unexpected",
            f"{path}: `{key}` is not an object; it was left unchanged",
            f"make `{key}` an object of servers",
        )
    if servers.get(SERVER_KEY) == entry:
        return Action(path=str(path), what="unchanged")
    what = "updated" if existed else "created"
    servers[SERVER_KEY] = entry
    _write_config(path, data, existed)
    return Action(
        path=str(path),
        what=what,
        note=f"server `{SERVER_KEY}` under `{key}`" + (f"; previous file kept as {path.name}.bak" if existed else ""),
    )


def _remove_server(path: Path, key: str) -> Action:
    data = _load_json(path)
    servers = data.get(key)
    if not isinstance(servers, dict) or SERVER_KEY not in servers:
        return Action(path=str(path), what="absent")
    del servers[SERVER_KEY]
    _write_config(path, data, existed=True)
    return Action(path=str(path), what="removed", note=f"server `{SERVER_KEY}`; previous file kept as {path.name}.bak")


def _is_our_skill(folder: Path) -> bool:
    md = folder / "SKILL.md"
    return md.is_file() and f"name: {SKILL_NAME}" in md.read_text("utf-8")[:400]


def _install_skill(target: Path) -> Action:
    refuse_links(target, target.parent)
    if target.exists() and not _is_our_skill(target):
        raise ToolError(
            "skill_folder_taken",
            f"{target} exists and is not the fine-tuning skill; it was left alone",
            "move it aside, then run the install again",
        )
    with tempfile.TemporaryDirectory() as tmp:
        built = build_skill(Path(tmp))
        if target.exists() and _same_tree(built, target):
            return Action(path=str(target), what="unchanged")
        what = "updated" if target.exists() else "created"
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(built, target)
    return Action(path=str(target), what=what)


def _same_tree(a: Path, b: Path) -> bool:
    files_a = {p.relative_to(a): p for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p for p in b.rglob("*") if p.is_file()}
    return files_a.keys() == files_b.keys() and all(files_a[k].read_bytes() == files_b[k].read_bytes() for k in files_a)


def install(
    client: Client,
    scope: Scope = "project",
    *,
    project: Path | None = None,
    home: Path | None = None,
    uninstall: bool = False,
) -> InstallReport:
    """Install (or with ``uninstall`` remove) the skill and the MCP entry for one client."""
    if client not in CLIENTS:
        raise ToolError("unknown_client", f"unknown client {client!r}", f"use one of {', '.join(CLIENTS)}")
    project = (project or Path.cwd()).resolve()
    home = (home or Path.home()).resolve()
    actions: list[Action] = []
    folder = skill_dir(client, scope, project, home)
    config = mcp_config(client, scope, project, home)
    if uninstall:
        refuse_links(folder, folder.parent)
        if _is_our_skill(folder):
            shutil.rmtree(folder)
            actions.append(Action(path=str(folder), what="removed"))
        else:
            actions.append(Action(path=str(folder), what="absent"))
        if config:
            actions.append(_remove_server(*config))
    else:
        if config:
            _load_json(config[0])  # refuse a broken config before writing anything
        actions.append(_install_skill(folder))
        if config:
            actions.append(_set_server(config[0], config[1], server_entry(client, scope, project)))
    return InstallReport(client=client, scope=scope, uninstall=uninstall, actions=actions)
