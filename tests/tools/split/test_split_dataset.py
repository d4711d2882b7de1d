"""split_dataset: deterministic, near-duplicates kept together, stratified, manifest with hashes."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from tests.support.format_samples import chat, write_jsonl
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


def dataset(ws: Workspace, n: int = 100) -> Path:
    rows = [dict(chat(i), meta={"task": "a" if i % 4 else "b"}) for i in range(n)]
    for k in range(5):  # five near-duplicate pairs and one exact duplicate
        near = copy.deepcopy(rows[k * 10])
        near["messages"][2]["content"] += " ok"
        rows.append(near)
    rows.append(copy.deepcopy(rows[3]))
    return write_jsonl(ws.root / "data.jsonl", rows)


def split(ws: Workspace, **kw):
    return registry.call("split_dataset", {"path": "data.jsonl", **kw}, workspace=ws)


def _contents(ws: Workspace, part) -> list[str]:
    return (ws.root / part.path).read_text().splitlines()


def test_split_is_deterministic_and_keeps_groups(ws: Workspace) -> None:
    src = dataset(ws)
    before = src.read_bytes()
    r = split(ws)
    assert [p.split for p in r.parts] == ["train", "val", "test"]
    assert sum(p.examples for p in r.parts) == r.examples == 106
    assert [p.examples for p in r.parts] == pytest.approx([85, 11, 10], abs=3)
    assert r.grouped_examples == 12
    where = {}
    for p in r.parts:
        for line in _contents(ws, p):
            where.setdefault(json.loads(line)["messages"][1]["content"], set()).add(p.split)
    assert all(len(s) == 1 for s in where.values())  # no prompt in two splits
    manifest = json.loads((ws.root / r.manifest).read_text())
    for p in manifest["parts"]:
        assert hashlib.sha256((ws.root / p["path"]).read_bytes()).hexdigest() == p["sha256"]
    assert manifest["source_sha256"] == hashlib.sha256(before).hexdigest()
    again = split(ws)
    assert [p.sha256 for p in again.parts] == [p.sha256 for p in r.parts]
    other = split(ws, seed=7)
    assert [p.sha256 for p in other.parts] != [p.sha256 for p in r.parts]
    assert src.read_bytes() == before


def test_stratified_and_two_way(ws: Workspace) -> None:
    dataset(ws)
    r = split(ws, ratios=[0.5, 0.5], stratify="meta.task", train_out="tr.jsonl", val_out="va.jsonl")
    assert [p.path for p in r.parts] == ["tr.jsonl", "va.jsonl"]
    for p in r.parts:
        tasks = [json.loads(x)["meta"]["task"] for x in _contents(ws, p)]
        assert 0.15 < tasks.count("b") / len(tasks) < 0.35
        assert p.strata == ["a", "b"]


def test_bad_requests(ws: Workspace) -> None:
    dataset(ws)
    with pytest.raises(ToolError) as info:
        split(ws, ratios=[1.0])
    assert info.value.code in ("bad_ratios", "invalid_arguments")
    with pytest.raises(ToolError) as info:
        split(ws, train_out="data.jsonl")
    assert info.value.code == "output_is_input"
    (ws.root / "empty.jsonl").write_text("")
    with pytest.raises(ToolError):
        registry.call("split_dataset", {"path": "empty.jsonl"}, workspace=ws)


# ---------------------------------------------------------------- refusing the degenerate (issue 18)


def _distinct(ws: Workspace, n: int, name: str = "data.jsonl") -> Path:
    return write_jsonl(ws.root / name, [dict(chat(i), meta={"task": "a" if i % 2 else "b"}) for i in range(n)])


@pytest.mark.parametrize(
    ("ratios", "says"),
    [([0.7, 0.7], "sum to 1.4"), ([0.9, 0.1, 0.0], "above 0"), ([0.5, 0.3], "sum to 0.8"), ([1.0], "2 shares")],
)
def test_ratios_must_be_shares_of_the_whole(ws: Workspace, ratios: list[float], says: str) -> None:
    _distinct(ws, 50)
    with pytest.raises(ToolError) as info:
        split(ws, ratios=ratios)
    assert info.value.code == "bad_ratios" and says in info.value.message
    assert not list(ws.root.glob("data.*.jsonl"))


@pytest.mark.parametrize(("n", "ratios", "says"), [(2, None, "val would be empty"), (10, None, "effective size of 1")])
def test_empty_or_single_group_split_is_an_error(ws: Workspace, n: int, ratios: list[float] | None, says: str) -> None:
    _distinct(ws, n)
    with pytest.raises(ToolError) as info:
        split(ws, ratios=ratios)
    assert info.value.code == "degenerate_split" and says in info.value.message
    assert "20 groups are needed" in info.value.hint
    assert not list(ws.root.glob("data.*.jsonl")) and not (ws.root / "data.split.json").exists()
    if n >= 4:
        assert [p.examples for p in split(ws, ratios=[0.5, 0.5]).parts] == [n // 2, n // 2]


def test_a_split_made_of_one_near_duplicate_group_is_an_error(ws: Workspace) -> None:
    rows = []
    for topic in ("router firmware update", "guest wifi password"):
        for i in range(10):
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": f"How do I do the {topic} on the ACME X200 box? (ticket {i})"},
                        {"role": "assistant", "content": f"Open the admin page and choose {topic}, then save."},
                    ]
                }
            )
    write_jsonl(ws.root / "data.jsonl", rows)
    with pytest.raises(ToolError) as info:
        split(ws, ratios=[0.5, 0.5])
    msg = info.value.message
    assert info.value.code == "degenerate_split"
    assert "val would hold 10 example(s) in 1 group" in msg and "largest near-duplicate group holds 10" in msg
    r = split(ws, ratios=[0.5, 0.5], group_near_duplicates=False)
    assert [p.groups for p in r.parts] == [10, 10]


def test_missing_stratify_field_is_an_error(ws: Workspace) -> None:
    rows = [dict(chat(i), meta={"task": "a"}) for i in range(30)]
    del rows[4]["meta"]
    rows[9]["meta"] = {"task": None}
    write_jsonl(ws.root / "data.jsonl", rows)
    with pytest.raises(ToolError) as info:
        split(ws, stratify="meta.task")
    assert info.value.code == "stratify_field_missing"
    assert "2 of 30 lines (first: line 5, 10)" in info.value.message
    with pytest.raises(ToolError) as info:
        split(ws, stratify="meta.nope")
    assert "30 of 30 lines" in info.value.message


def _fake_run(ws: Workspace, run_id: str, data: Path, *, absolute: bool = True) -> None:
    from tools.core.workspace import sha256_file

    folder = ws.root / "runs" / run_id
    folder.mkdir(parents=True)
    path = str(data) if absolute else data.relative_to(ws.root).as_posix()
    config = {"run_id": run_id, "data": {"path": path, "label": data.name, "sha256": sha256_file(data)}}
    (folder / "config.json").write_text(json.dumps(config))


def test_files_a_run_used_are_not_replaced_without_force(ws: Workspace) -> None:
    _distinct(ws, 60)
    first = split(ws)
    train = ws.root / first.parts[0].path
    used = train.read_bytes()
    _fake_run(ws, "run-1", train)
    with pytest.raises(ToolError) as info:
        split(ws, seed=3)
    assert info.value.code == "output_used_by_run"
    assert "run-1" in info.value.message and "still holds the data it trained on" in info.value.message
    assert "--force" in info.value.hint and train.read_bytes() == used
    other = split(ws, seed=3, train_out="t3.jsonl", val_out="v3.jsonl", test_out="s3.jsonl", manifest="m3.json")
    assert other.replaced == []
    forced = split(ws, seed=3, force=True)
    assert "data.train.jsonl" in forced.replaced and train.read_bytes() != used
    shutil_copy = ws.root / "copy.jsonl"
    shutil_copy.write_bytes(train.read_bytes())
    _fake_run(ws, "run-2", shutil_copy, absolute=False)
    with pytest.raises(ToolError) as info:  # same content under another name is still that run's data
        split(ws, seed=3)
    assert "run-2" in info.value.message


def _check_no_mix(ws: Workspace, new: dict[str, bytes]) -> None:
    """Either the manifest vouches for every file, or there is no manifest and every file present is new."""
    manifest = ws.root / "data.split.json"
    files = {name: ws.root / name for name in new}
    if manifest.exists():
        for part in json.loads(manifest.read_text())["parts"]:
            path = ws.root / part["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == part["sha256"]
    else:
        for name, path in files.items():
            assert not path.exists() or path.read_bytes() == new[name], name


@pytest.mark.parametrize("crash_at", [0, 1, 2, 3])
def test_interrupted_split_never_mixes_old_and_new_files(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    import os

    _distinct(ws, 60)
    split(ws)
    old = {p.name: p.read_bytes() for p in ws.root.glob("data.*.jsonl")}
    probe = split(
        ws, seed=5, train_out="n.train.jsonl", val_out="n.val.jsonl", test_out="n.test.jsonl", manifest="n.json"
    )
    new = {f"data.{p.split}.jsonl": (ws.root / p.path).read_bytes() for p in probe.parts}
    assert new != old
    real_rename = os.rename
    calls = {"n": 0}

    def rename(*args: object, **kw: object) -> None:
        if calls["n"] == crash_at:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        real_rename(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        split(ws, seed=5)
    monkeypatch.setattr(os, "rename", real_rename)
    _check_no_mix(ws, new)
    assert (ws.root / "data.split.json").exists() is False
    leftovers = [p.name for p in ws.root.iterdir() if p.name.endswith(".split-tmp")]
    assert leftovers == []  # the interrupted write removed its own temporary files
    (ws.root / ".data.val.jsonl.0123456789ab.split-tmp").write_text("half a file a SIGKILL left\n")
    again = split(ws, seed=5)
    assert again.leftovers_removed == [".data.val.jsonl.0123456789ab.split-tmp"]
    assert {f"data.{p.split}.jsonl": (ws.root / p.path).read_bytes() for p in again.parts} == new
    _check_no_mix(ws, new)


def test_crash_while_writing_keeps_the_old_set(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.split import split_dataset as module

    _distinct(ws, 60)
    split(ws)
    before = {p.name: p.read_bytes() for p in ws.root.glob("data.*")}

    def broken(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_write_parts", broken)
    with pytest.raises(ToolError):  # the registry reports the OSError
        split(ws, seed=9)
    assert {p.name: p.read_bytes() for p in ws.root.glob("data.*")} == before


def test_output_folder_swapped_for_a_symlink_is_refused(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tools.split import split_dataset as module

    _distinct(ws, 60)
    (ws.root / "out").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    real = module.read_examples

    def swap_then_read(*args: object, **kw: object):
        os.rename(ws.root / "out", ws.root / "out.moved")
        os.symlink(outside, ws.root / "out")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "read_examples", swap_then_read)
    outs = {"train_out": "out/t.jsonl", "val_out": "out/v.jsonl", "test_out": "out/s.jsonl", "manifest": "out/m.json"}
    with pytest.raises(ToolError) as info:
        split(ws, **outs)
    assert info.value.code == "path_changed"
    assert list(outside.iterdir()) == []


def test_cli_refuses_degenerate_and_reports_groups(in_ws: Workspace) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    runner = CliRunner()
    _distinct(in_ws, 2)
    res = runner.invoke(app, ["split", "data.jsonl"])
    assert res.exit_code == 2 and "val would be empty" in " ".join(res.output.split())
    res = runner.invoke(app, ["split", "data.jsonl", "--ratios", "0.7,0.7"])
    assert res.exit_code == 2 and "sum to 1.4" in res.output
    _distinct(in_ws, 40)
    res = runner.invoke(app, ["split", "data.jsonl", "--json"])
    assert res.exit_code == 0, res.output
    parts = json.loads(res.stdout)["parts"]
    assert all(p["groups"] >= 2 for p in parts)
