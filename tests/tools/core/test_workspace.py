from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.core.errors import ToolError
from tools.core.workspace import Workspace, atomic_writer, write_text_atomic


@pytest.fixture
def hostile_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside data")
    (ws.root / "data").mkdir()
    (ws.root / "data" / "ok.jsonl").write_text("{}\n")
    os.symlink(outside / "secret.txt", ws.root / "link_out.txt")
    os.symlink(outside, ws.root / "dir_out")
    os.symlink("../../outside/secret.txt", ws.root / "data" / "rel_link_out.txt")
    os.symlink(ws.root / "data" / "ok.jsonl", ws.root / "link_in.jsonl")
    return ws


HOSTILE = [
    "../outside/secret.txt",
    "data/../../outside/secret.txt",
    "data/../../../../../../etc/passwd",
    "/etc/passwd",
    "//etc/passwd",
    "link_out.txt",
    "dir_out/secret.txt",
    "data/rel_link_out.txt",
    "./data/./../../outside",
    "..",
    "data/" + "../" * 40 + "etc/shadow",
    "dir_out/../../outside/secret.txt",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_paths_that_escape_are_refused(hostile_ws: Workspace, raw: str) -> None:
    with pytest.raises(ToolError) as info:
        hostile_ws.resolve(raw)
    assert info.value.code == "path_outside_workspace"
    assert raw in info.value.message and info.value.hint


def test_absolute_path_outside_is_refused(hostile_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ToolError):
        hostile_ws.input_file(str(tmp_path / "outside" / "secret.txt"))


@pytest.mark.parametrize("raw, code", [("", "path_empty"), ("   ", "path_empty"), ("a\x00b", "path_invalid")])
def test_malformed_paths_are_refused(hostile_ws: Workspace, raw: str, code: str) -> None:
    with pytest.raises(ToolError) as info:
        hostile_ws.resolve(raw)
    assert info.value.code == code


@pytest.mark.parametrize("raw", ["data/ok.jsonl", "./data/ok.jsonl", "data/../data/ok.jsonl", "link_in.jsonl"])
def test_paths_inside_resolve(hostile_ws: Workspace, raw: str) -> None:
    assert hostile_ws.input_file(raw) == (hostile_ws.root / "data" / "ok.jsonl").resolve()


def test_absolute_path_inside_is_allowed(hostile_ws: Workspace) -> None:
    inside = hostile_ws.root / "data" / "ok.jsonl"
    assert hostile_ws.input_file(str(inside)) == inside


def test_missing_file_and_folder_errors_name_the_path(hostile_ws: Workspace) -> None:
    with pytest.raises(ToolError) as info:
        hostile_ws.input_file("data/missing.jsonl")
    assert info.value.code == "file_not_found" and "data/missing.jsonl" in info.value.message
    with pytest.raises(ToolError) as info:
        hostile_ws.input_file("data")
    assert info.value.code == "not_a_file"


def test_output_may_not_be_an_input_or_a_folder(hostile_ws: Workspace) -> None:
    src = hostile_ws.input_file("data/ok.jsonl")
    with pytest.raises(ToolError) as info:
        hostile_ws.output_file("link_in.jsonl", inputs=(src,))
    assert info.value.code == "output_is_input"
    with pytest.raises(ToolError) as info:
        hostile_ws.output_file("data")
    assert info.value.code == "output_is_dir"


def test_atomic_write_replaces_whole_or_not_at_all(ws: Workspace) -> None:
    target = ws.root / "report.md"
    write_text_atomic(target, "first version\n")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("half of a second ver")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "first version\n"
    assert sorted(p.name for p in ws.root.iterdir()) == ["report.md"]


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as info:
        Workspace(tmp_path / "nope")
    assert info.value.code == "workspace_missing"


def test_the_state_folder_is_never_an_output(ws: Workspace) -> None:
    for raw in (".finetune/audit.jsonl", ".finetune/audit.head", ".finetune", ".finetune/runs/x.json"):
        with pytest.raises(ToolError) as info:
            ws.output_file(raw)
        assert info.value.code == "output_in_state_dir"
    assert ws.output_file(".finetune/reports/audit-report.md").name == "audit-report.md"


def test_a_folder_swapped_for_a_link_after_the_check_is_not_written_through(ws: Workspace, tmp_path: Path) -> None:
    from tools.core.workspace import using, write_text_atomic

    outside = tmp_path / "outside"
    outside.mkdir()
    (ws.root / "out").mkdir()
    target = ws.output_file("out/result.txt")
    (ws.root / "out").rmdir()
    os.symlink(outside, ws.root / "out")
    with using(ws), pytest.raises(ToolError) as info:
        write_text_atomic(target, "data")
    assert info.value.code == "path_changed"
    assert list(outside.iterdir()) == []


def test_pipes_unreadable_files_and_long_names_are_clear_errors(ws: Workspace) -> None:
    os.mkfifo(ws.root / "pipe.jsonl")
    with pytest.raises(ToolError) as info:
        ws.input_file("pipe.jsonl")
    assert info.value.code == "not_a_file"
    locked = ws.root / "locked.jsonl"
    locked.write_text("{}\n")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who can read mode-000 files")
        with pytest.raises(ToolError) as info:
            ws.input_file("locked.jsonl")
        assert info.value.code == "file_unreadable"
    finally:
        locked.chmod(0o644)
    with pytest.raises(ToolError) as info:
        ws.input_file("x" * 300 + ".jsonl")
    assert info.value.code in ("path_invalid", "file_not_found")
