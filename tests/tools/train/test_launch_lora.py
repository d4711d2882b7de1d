"""launch_lora and the local run machinery: real transformers + peft training of tiny-random-llama on CPU."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, using
from tools.data.formats import Conversation, Message

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"

# Small enough for two loaded CPU cores: batch 2, no accumulation, a couple of dozen steps.
FAST = {
    "model": "tiny-random-llama",
    "per_device_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 768,
    "seed": 7,
}


@pytest.fixture
def data_ws(ws: Workspace) -> Workspace:
    shutil.copy(EXAMPLES, ws.root / "train.jsonl")
    return ws


def _launch_in_process(ws: Workspace, monkeypatch: pytest.MonkeyPatch, **args: object) -> Path:
    """launch_lora with confirm, but the worker runs here (not in a subprocess): returns the run folder."""
    import tools.train.launch_lora as launch
    from tools.train.worker import run_folder

    monkeypatch.setattr(launch, "spawn_worker", lambda folder, resume: os.getpid())
    out = registry.call("launch_lora", {"data": "train.jsonl", **FAST, **args, "confirm": True}, workspace=ws)
    folder = ws.root / out.folder
    run_folder(folder)
    return folder


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


# ----------------------------------------------------------------------------- data: masking, packing


def test_only_assistant_tokens_are_trained_and_weight_zero_is_honoured() -> None:
    from tools.local_models.tiny import build_tokenizer
    from tools.train.data import IGNORE, render

    tok = build_tokenizer()
    conv = Conversation(
        [
            Message("system", "Be brief."),
            Message("user", "Hi"),
            Message("assistant", "Old answer", weight=0),
            Message("user", "Again?"),
            Message("assistant", "Yes, again."),
        ]
    )
    ex, info = render(tok, conv, 4096)
    assert ex is not None and info["weight_zero"] == 1
    trained = tok.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=False) if lab != IGNORE])
    assert trained == "Yes, again.<|im_end|>\n"
    full = tok.decode(ex.input_ids)
    assert full.startswith("<|im_start|>system\nBe brief.<|im_end|>") and "Old answer" in full


def test_a_tokenizer_without_template_gets_chatml() -> None:
    from tools.local_models.tiny import CHATML_TEMPLATE, build_tokenizer
    from tools.train.data import ensure_chat_template

    tok = build_tokenizer()
    tok.chat_template = None
    assert ensure_chat_template(tok).startswith("chatml")
    assert tok.chat_template == CHATML_TEMPLATE


def test_packing_leaks_neither_attention_nor_positions() -> None:
    import torch

    from tools.local_models.tiny import build_model, build_tokenizer
    from tools.train.data import IGNORE, collate, load_examples

    tok = build_tokenizer()
    examples, stats = load_examples(EXAMPLES, tok, 768)
    assert stats.bad_lines == [71] and stats.no_assistant == [86]
    a, b = examples[0], examples[1]
    model = build_model(3, tok).eval()
    packed = collate([a, b], "packed", tok.pad_token_id)
    assert packed["attention_mask"] is None and packed["input_ids"].shape == (1, len(a.input_ids) + len(b.input_ids))
    assert packed["labels"][0, len(a.input_ids)].item() == IGNORE  # b's first token is never predicted from a
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[
            0, len(a.input_ids) :
        ]
        alone = model(input_ids=torch.tensor([b.input_ids]), use_cache=False).logits[0]
    assert torch.allclose(together, alone, atol=1e-4), "b's logits change when a is packed before it"
    padded = collate([a, b], "length_grouped", tok.pad_token_id)
    assert padded["tokens"] == packed["tokens"] < padded["padded_tokens"]


# ----------------------------------------------------------------------------- bad input


def test_without_confirm_nothing_runs_and_the_estimate_is_returned(data_ws: Workspace) -> None:
    out = registry.call("launch_lora", {"data": "train.jsonl", "model": "tiny-random-llama"}, workspace=data_ws)
    assert not out.started and out.run_id is None
    assert out.estimated_steps > 0 and out.estimated_seconds and out.device == "cpu" and out.precision == "fp32"
    assert out.data.usable == 194 and out.data.skipped_lines == [71, 86]
    assert "confirm=true" in out.message
    assert out.plan.learning_rate == pytest.approx(5e-3)  # the tiny model's own default from lora_defaults.yaml
    assert not (data_ws.root / "runs").exists()


@pytest.mark.parametrize(
    "args, code",
    [
        ({"data": "missing.jsonl"}, "file_not_found"),
        ({"model": "./no-such-model"}, "model_not_found"),
        ({"model": "empty-model-dir"}, "unsupported_model"),
        ({"model": "someone/not-cached-model"}, "model_not_available"),
        ({"plan": {"method": "qlora"}}, "qlora_needs_cuda"),
        ({"plan": {"precision": "bf16"}}, "precision_needs_cuda"),
    ],
)
def test_bad_input_gives_clear_errors(data_ws: Workspace, args: dict, code: str) -> None:
    (data_ws.root / "empty-model-dir").mkdir()
    call = {"data": "train.jsonl", "model": "tiny-random-llama", "confirm": True, **args}
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", call, workspace=data_ws)
    assert info.value.code == code and info.value.hint
    assert not (data_ws.root / "runs").exists()


def test_unknown_run_is_a_clear_error(data_ws: Workspace) -> None:
    with pytest.raises(ToolError) as info:
        registry.call("run_status", {"run_id": "nope"}, workspace=data_ws)
    assert info.value.code == "unknown_run"


# ----------------------------------------------------------------------------- training


def test_a_run_trains_and_fills_its_folder(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _launch_in_process(
        data_ws,
        monkeypatch,
        max_steps=16,
        merge=True,
        plan={"save_steps": 6, "keep_last_k": 1, "logging_steps": 2, "eval_steps": 8},
    )
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "completed", status.get("error")
    rows = _rows(folder)
    assert [r["step"] for r in rows][-1] == 16
    first, last = rows[0]["loss"], min(r["loss"] for r in rows[-3:])
    assert last < first - 0.8, f"loss did not go down: {first} -> {last}"
    for key in ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "peak_memory_mb"):
        assert key in rows[-1]
    assert rows[-1]["eval_loss"] is not None
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["precision"] == "fp32" and config["plan"]["seed"] == 7
    assert config["resolved"]["data_stats"]["train"]["first_bad_lines"] == [71]
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["global_step"] == 16 and any("eval_loss" in r for r in state["log_history"])
    assert [p.name for p in folder.glob("checkpoint-*")] == ["checkpoint-12"]  # keep_last_k=1, none at the end
    assert (folder / "adapter" / "adapter_config.json").is_file()
    assert (folder / "merged" / "config.json").is_file()
    report = (folder / "report.md").read_text()
    assert "completed" in report and "Diagnosis" in report
    info = registry.call("run_status", {"run_id": folder.name, "log_lines": 5}, workspace=data_ws).runs[0]
    assert info.state == "completed" and info.progress == 1.0 and info.latest and info.latest.loss == rows[-1]["loss"]
    listed = registry.call("run_status", {}, workspace=data_ws).runs
    assert [r.run_id for r in listed] == [folder.name]


def test_the_watchdog_stops_a_poisoned_learning_rate(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _launch_in_process(
        data_ws,
        monkeypatch,
        max_steps=40,
        learning_rate=50.0,
        plan={"warmup_ratio": 0.0, "max_grad_norm": 1000.0, "eval_steps": 100},
    )
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "stopped" and status["stop_reason"] == "watchdog", status
    assert status["step"] < 40
    assert "diverged" in status["error"]
    assert not (folder / "adapter").exists()
    assert "watchdog" in (folder / "report.md").read_text()


# ----------------------------------------------------------------------------- processes: stop, kill, resume


def test_stop_kill_and_resume_reach_the_same_adapter(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM stops cleanly; kill -9 at a random step; resume twice; final adapter == an uninterrupted run."""
    plan = {"save_steps": 2, "keep_last_k": 2, "logging_steps": 1, "eval_fraction": 0.0}
    args = {"data": "train.jsonl", **FAST, "max_steps": 12, "plan": plan, "confirm": True}
    out = registry.call("launch_lora", args, workspace=data_ws)
    assert out.started and out.pid and out.run_id
    run_id = out.run_id
    wait_for_run(data_ws, run_id, lambda i: i.state == "running" and i.step >= 3)
    stopped = registry.call("stop_run", {"run_id": run_id, "wait_s": 120}, workspace=data_ws)
    assert stopped.signalled and stopped.run.state == "stopped", stopped.message
    assert stopped.run.resumable and stopped.run.last_checkpoint and stopped.run.adapter
    stop_step = stopped.run.step

    dry = registry.call("resume_run", {"run_id": run_id}, workspace=data_ws)
    assert not dry.started and dry.from_checkpoint == f"checkpoint-{stop_step}"
    resumed = registry.call("resume_run", {"run_id": run_id, "confirm": True}, workspace=data_ws)
    assert resumed.started
    kill_at = random.Random().randint(stop_step + 1, 10)
    info = wait_for_run(data_ws, run_id, lambda i: i.state == "running" and i.step >= kill_at)
    os.kill(info.pid, signal.SIGKILL)
    dead = wait_for_run(data_ws, run_id, lambda i: i.state == "failed", timeout=30)
    assert dead.resumable and "killed" in (dead.error or "")
    registry.call("resume_run", {"run_id": run_id, "confirm": True}, workspace=data_ws)
    done = wait_for_run(data_ws, run_id, lambda i: i.state in {"completed", "failed"})
    assert done.state == "completed", done.error
    assert done.step == 12
    steps = [r["step"] for r in _rows(data_ws.root / "runs" / run_id)]
    assert steps == list(range(1, 13)), "metrics.jsonl must hold one row per step after the resumes"

    reference = _launch_in_process(data_ws, monkeypatch, max_steps=12, plan=plan)
    import torch

    got, want = _adapter(data_ws.root / "runs" / run_id), _adapter(reference)
    assert got.keys() == want.keys()
    for key in want:
        assert torch.allclose(got[key], want[key], atol=1e-5, rtol=1e-4), key


def test_status_of_a_run_never_started_is_failed_not_running(data_ws: Workspace) -> None:
    from tools.train.runs import update_status, write_json

    folder = data_ws.root / "runs" / "r1"
    folder.mkdir(parents=True)
    write_json(folder / "config.json", {"plan": {"base_model": "tiny-random-llama"}})
    update_status(folder, state="running", pid=999999, step=3, total_steps=10, started_at="2026-01-01T00:00:00Z")
    info = registry.call("run_status", {"run_id": "r1"}, workspace=data_ws).runs[0]
    assert info.state == "failed" and info.resumable and "999999" in (info.error or "")
    with using(data_ws):
        assert registry.call("stop_run", {"run_id": "r1"}, workspace=data_ws).signalled is False


def test_a_plan_with_nulls_takes_the_defaults(data_ws: Workspace) -> None:
    """Agents using the portable schema send null for every field they leave out."""
    from tools.plan.training_plan import TrainingPlan

    nulls = {name: None for name in TrainingPlan.model_fields}
    out = registry.call(
        "launch_lora", {"data": "train.jsonl", "plan": {**nulls, "lora_r": 8}, "max_steps": 5}, workspace=data_ws
    )
    assert out.plan.lora_r == 8 and out.plan.max_steps == 5 and out.plan.base_model == "tiny-random-llama"
    assert out.plan.target_modules == ["all-linear"] and out.estimated_steps == 5
