"""launch_lora and the local run machinery: real TRL trainers (SFT, DPO, GRPO) + peft on tiny-random-llama, CPU."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from tests.support.documents import assert_document_renders
from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, using

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"

# Small enough for two loaded CPU cores: batch 2, no accumulation, a few steps.
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


def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """launch_lora/resume_run start no process: the test runs the worker itself (the lock is let go)."""
    import tools.train.launch_lora as launch

    def spawn(folder: Path, *, resume: bool, lock_fd: int | None = None) -> int:
        if lock_fd is not None:
            os.close(lock_fd)
        return os.getpid()

    monkeypatch.setattr(launch, "spawn_worker", spawn)


def _launch_in_process(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, data: str = "train.jsonl", **args: object
) -> Path:
    from tools.train.worker import run_folder

    in_process(monkeypatch)
    out = registry.call("launch_lora", {"data": data, **FAST, **args, "confirm": True}, workspace=ws)
    folder = ws.root / out.folder
    run_folder(folder)
    return folder


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


def _status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


# ----------------------------------------------------------------------------- launch checks


def test_without_confirm_nothing_runs_and_the_estimate_is_returned(data_ws: Workspace) -> None:
    out = registry.call(
        "launch_lora", {"data": "train.jsonl", "model": "tiny-random-llama", "preview": True}, workspace=data_ws
    )
    assert not out.started and out.run_id is None and out.objective == "sft"
    assert out.estimated_steps > 0 and out.estimated_seconds and out.device == "cpu" and out.precision == "fp32"
    assert out.data.usable == 193 and out.data.skipped_lines == [71, 86, 96]  # 96: an empty answer
    assert "confirm=true" in out.message
    assert out.plan.learning_rate == pytest.approx(5e-3)  # the tiny model's own default from lora_defaults.yaml
    pre = out.preflight
    assert pre.examples == 193 and pre.turns == pre.turns_ending_with_stop and pre.truncated == 0
    assert pre.stop_tokens == ["<|im_end|>"] and len(pre.samples) == 2
    assert "- Juniper Support<|im_end|>⟧\n" in pre.samples[0].marked  # the EOS trained, the newline not
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
        ({"objective": "dpo"}, "not_preference_data"),
        ({"objective": "grpo", "per_device_batch_size": 3}, "grpo_batch"),
        ({"max_seq_len": 400}, "most_examples_truncated"),
    ],
)
def test_bad_input_gives_clear_errors_before_anything_starts(data_ws: Workspace, args: dict, code: str) -> None:
    (data_ws.root / "empty-model-dir").mkdir()
    call = {"data": "train.jsonl", "model": "tiny-random-llama", "confirm": True, **args}
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", call, workspace=data_ws)
    assert info.value.code == code and info.value.hint
    assert not (data_ws.root / "runs").exists()


def test_an_unknown_model_fails_in_seconds_naming_the_fix(data_ws: Workspace) -> None:
    import time

    t0 = time.monotonic()
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {"data": "train.jsonl", "model": "Qwen/Qwen2.5-0.5B-Instruct"}, workspace=data_ws)
    assert time.monotonic() - t0 < 10
    assert "not in the local Hugging Face cache" in info.value.message and "hf download" in info.value.hint


def test_launch_warns_about_many_epochs_a_batch_over_the_data_and_a_one_example_eval(data_ws: Workspace) -> None:
    lines = EXAMPLES.read_text().splitlines()[:12]
    (data_ws.root / "small.jsonl").write_text("\n".join(lines) + "\n")
    out = registry.call(
        "launch_lora",
        {"data": "small.jsonl", "model": "tiny-random-llama", "num_epochs": 20, "per_device_batch_size": 16},
        workspace=data_ws,
    )
    text = " | ".join(out.warnings)
    assert "20 epochs over 11 examples" in text
    assert "larger than the training data (11)" in text
    assert "eval split holds one example" in text


# ----------------------------------------------------------------------------- training: SFT, DPO, GRPO


def test_packed_batching_trains_padding_free(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """batching=packed: one padding-free row per batch (TRL refuses padding_free with a max_length it would not
    enforce; our rows are already cut to max_seq_len, so the run's config has none)."""
    folder = _launch_in_process(data_ws, monkeypatch, max_steps=3, plan={"batching": "packed"})
    status = _status(folder)
    assert status["state"] == "completed", status.get("error")
    trl = yaml.safe_load((folder / "trl_config.yaml").read_text())
    assert trl["padding_free"] is True and trl["max_length"] is None and trl["packing"] is False
    assert len(_rows(folder)) == 3


def test_a_run_trains_and_fills_its_folder(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _launch_in_process(
        data_ws,
        monkeypatch,
        max_steps=12,
        merge=True,
        plan={"save_steps": 5, "keep_last_k": 1, "eval_steps": 6},
    )
    status = _status(folder)
    assert status["state"] == "completed", status.get("error")
    rows = _rows(folder)
    assert [r["step"] for r in rows] == list(range(1, 13)), "one metrics row per step"
    first, last = rows[0]["loss"], min(r["loss"] for r in rows[-3:])
    assert last < first - 0.8, f"loss did not go down: {first} -> {last}"
    for key in ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "peak_memory_mb"):
        assert key in rows[-1]
    assert rows[5]["eval_loss"] is not None and rows[-1]["eval_loss"] is not None
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["precision"] == "fp32" and config["plan"]["seed"] == 7
    assert config["resolved"]["objective"] == "sft" and config["resolved"]["trainer"] == "LeanSFTTrainer"
    assert config["resolved"]["data_stats"]["train"]["first_bad_lines"] == [71]
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["global_step"] == 12 and any("eval_loss" in r for r in state["log_history"])
    assert [p.name for p in folder.glob("checkpoint-*")] == ["checkpoint-12"]  # keep_last_k=1
    assert (folder / "adapter" / "adapter_config.json").is_file() and (folder / "merged" / "config.json").is_file()
    assert (folder / "trl_config.yaml").is_file()
    report = (folder / "report.md").read_text()
    assert "completed" in report and "Diagnosis" in report
    info = registry.call("run_status", {"run_id": folder.name, "log_lines": 5}, workspace=data_ws).runs[0]
    assert info.state == "completed" and info.progress == 1.0 and info.latest and info.latest.loss == rows[-1]["loss"]
    assert [r.run_id for r in registry.call("run_status", {}, workspace=data_ws).runs] == [folder.name]


def test_the_lean_loss_equals_sft_trainers_own(data_ws: Workspace) -> None:
    """LeanSFTTrainer's training loss and gradients equal SFTTrainer's on the same batch."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from tools.local_models.tiny import build_model, build_tokenizer
    from tools.train.data import read_dataset, sft_rows
    from tools.train.engine import lean_sft_class

    tok = build_tokenizer()
    rows = sft_rows(tok, read_dataset(EXAMPLES, "train.jsonl").records[:8], 512)
    args = SFTConfig(
        output_dir=str(data_ws.root / "x"), bf16=False, use_cpu=True, dataset_kwargs={"skip_prepare_dataset": True}
    )
    grads, losses = [], []
    for cls in (SFTTrainer, lean_sft_class()):
        torch.manual_seed(0)
        tr = cls(
            model=build_model(0, tok),
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
            peft_config=LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
        batch = tr.data_collator(rows[:4])
        tr.model.train()
        n = int((batch["labels"][:, 1:] != -100).sum())
        loss = tr.compute_loss(tr.model, dict(batch), num_items_in_batch=torch.tensor(n))
        loss.backward()
        losses.append(float(loss))
        grads.append({k: p.grad.clone() for k, p in tr.model.named_parameters() if p.requires_grad})
    assert abs(losses[0] - losses[1]) < 1e-5
    assert max((grads[0][k] - grads[1][k]).abs().max().item() for k in grads[0]) < 1e-6


def _preference_file(ws: Workspace) -> str:
    """TRL preference lines made from the sample project: the house-style answer chosen, a bare one rejected."""
    lines = []
    for raw in EXAMPLES.read_text().splitlines()[:40]:
        try:
            msgs = json.loads(raw)["messages"]
        except (ValueError, KeyError):
            continue
        if len(msgs) == 3 and msgs[2]["content"]:
            rejected = msgs[2]["content"].split("\n")[0]
            lines.append(
                {"prompt": msgs[:2], "chosen": [msgs[2]], "rejected": [{"role": "assistant", "content": rejected}]}
            )
    (ws.root / "pref.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return "pref.jsonl"


def test_preference_data_trains_with_dpo_said_plainly(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _preference_file(data_ws)
    dry = registry.call("launch_lora", {"data": data, "model": "tiny-random-llama"}, workspace=data_ws)
    assert dry.objective == "dpo" and dry.data.preference and "training with DPO" in dry.warnings[0]
    folder = _launch_in_process(data_ws, monkeypatch, data=data, max_steps=4, plan={"lora_dropout": 0.0})
    assert _status(folder)["state"] == "completed", _status(folder).get("error")
    rows = _rows(folder)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["loss"] == pytest.approx(0.6931, abs=1e-3), "policy == reference before the first update: ln 2"
    assert "rewards/margins" in rows[-1]
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["trainer"] == "PreTokenizedDPOTrainer"
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()


def test_grpo_is_rewarded_by_run_eval_checks(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = {"objective": "grpo", "reward_contains": ["Juniper"], "num_generations": 2, "max_completion_length": 12}
    folder = _launch_in_process(
        data_ws,
        monkeypatch,
        max_steps=2,
        per_device_batch_size=2,
        plan={**plan, "rewards": ["contains_all", "rouge_l"]},
    )
    assert _status(folder)["state"] == "completed", _status(folder).get("error")
    rows = _rows(folder)
    assert [r["step"] for r in rows] == [1, 2]
    assert "rewards/contains_all/mean" in rows[0] and "rewards/rouge_l/mean" in rows[0]
    assert json.loads((folder / "config.json").read_text())["resolved"]["trainer"] == "GRPOTrainer"


def test_the_watchdog_stops_a_poisoned_learning_rate(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _launch_in_process(
        data_ws,
        monkeypatch,
        max_steps=40,
        learning_rate=50.0,
        plan={"warmup_ratio": 0.0, "max_grad_norm": 1000.0, "eval_steps": 100},
    )
    status = _status(folder)
    assert status["state"] == "stopped" and status["stop_reason"] == "watchdog", status
    assert status["step"] < 40 and "diverged" in status["error"]
    assert not (folder / "adapter").exists()
    assert "watchdog" in (folder / "report.md").read_text()


def test_the_exported_trl_yaml_is_the_config_the_run_used(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from tools.plan.trl_config import EXPORT_ONLY, RUN_ONLY, comparable

    conf = registry.call("configure_training", {"dataset": "train.jsonl", "exports": ["trl_yaml"]}, workspace=data_ws)
    exported = yaml.safe_load((data_ws.root / next(e.path for e in conf.exports if e.kind == "trl_yaml")).read_text())
    from tools.train.callbacks import request_stop
    from tools.train.worker import run_folder

    in_process(monkeypatch)
    out = registry.call(
        "launch_lora", {"data": "train.jsonl", "plan_file": conf.plan_file, "confirm": True}, workspace=data_ws
    )
    request_stop()  # one step is enough: the config is what matters here
    assert run_folder(data_ws.root / out.folder, reset_stop=False)["state"] == "stopped"
    used = yaml.safe_load((data_ws.root / out.folder / "trl_config.yaml").read_text())
    assert comparable(used) == comparable(exported)
    assert set(used) - set(exported) == set(RUN_ONLY) and set(exported) - set(used) == set(EXPORT_ONLY)
    assert used["learning_rate"] == conf.plan.learning_rate and used["lora_r"] == conf.plan.lora_r


def test_report_to_tensorboard_logs_the_loss_offline(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    folder = _launch_in_process(data_ws, monkeypatch, max_steps=3, report_to=["tensorboard"], plan={"eval_fraction": 0})
    events = list((folder / "tensorboard").rglob("events.out.tfevents*"))
    assert events, "no TensorBoard event file in the run folder"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    logged = {e.step: e.value for e in acc.Scalars("train/loss")}
    rows = {r["step"]: r["loss"] for r in _rows(folder)}
    assert sorted(logged) == [1, 2, 3] and all(abs(logged[s] - rows[s]) < 1e-4 for s in logged)


# ----------------------------------------------------------------------------- processes: stop, kill, resume, lock


@pytest.mark.slow
def test_stop_kill_and_resume_reach_the_same_adapter(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM stops cleanly; kill -9 at a random step; resume twice; final adapter == an uninterrupted run."""
    plan = {"save_steps": 2, "keep_last_k": 2, "logging_steps": 1, "eval_fraction": 0.0, "lora_dropout": 0.1}
    args = {"data": "train.jsonl", **FAST, "max_steps": 12, "plan": plan, "confirm": True}
    out = registry.call("launch_lora", args, workspace=data_ws)
    assert out.started and out.pid and out.run_id
    run_id = out.run_id
    wait_for_run(data_ws, run_id, lambda i: i.state == "running" and i.step >= 3)
    stopped = registry.call("stop_run", {"run_id": run_id, "wait_s": 120}, workspace=data_ws)
    assert stopped.signalled and stopped.run.state == "stopped", stopped.message
    assert stopped.run.resumable and stopped.run.last_checkpoint and stopped.run.adapter
    stop_step = stopped.run.step
    assert stopped.run.last_checkpoint.endswith(f"checkpoint-{stop_step}")
    assert_document_renders(data_ws, "stop_run", stopped)

    dry = registry.call("resume_run", {"run_id": run_id}, workspace=data_ws)
    assert not dry.started and dry.from_checkpoint == f"checkpoint-{stop_step}"
    assert_document_renders(data_ws, "resume_run", dry)
    resumed = registry.call("resume_run", {"run_id": run_id, "confirm": True}, workspace=data_ws)
    assert resumed.started
    with pytest.raises(ToolError) as twice:  # one worker per run: a second resume is refused by the lock
        registry.call("resume_run", {"run_id": run_id, "confirm": True}, workspace=data_ws)
    assert twice.value.code == "run_active"
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
    diff = max((got[k] - want[k]).abs().max().item() for k in want)
    for key in want:
        assert torch.allclose(got[key], want[key], atol=1e-5, rtol=1e-4), f"{key}: max |diff| {diff:.2e}"


@pytest.mark.slow
def test_two_simultaneous_resumes_start_one_worker(data_ws: Workspace) -> None:
    """Two resume_run calls at the same moment on a stopped run: one worker starts, the other call is refused."""
    from concurrent.futures import ThreadPoolExecutor

    plan = {"save_steps": 2, "eval_fraction": 0.0}
    out = registry.call(
        "launch_lora", {"data": "train.jsonl", **FAST, "max_steps": 6, "plan": plan, "confirm": True}, workspace=data_ws
    )
    wait_for_run(data_ws, out.run_id, lambda i: i.state == "running" and i.step >= 2)
    assert registry.call("stop_run", {"run_id": out.run_id, "wait_s": 120}, workspace=data_ws).run.state == "stopped"

    def resume() -> object:
        try:
            return registry.call("resume_run", {"run_id": out.run_id, "confirm": True}, workspace=data_ws)
        except ToolError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: resume(), range(2)))
    started = [r for r in results if not isinstance(r, ToolError)]
    refused = [r for r in results if isinstance(r, ToolError)]
    assert len(started) == 1 and len(refused) == 1, results
    assert refused[0].code in {"run_active", "run_completed"} and refused[0].hint
    done = wait_for_run(data_ws, out.run_id, lambda i: i.state in {"completed", "failed"})
    assert done.state == "completed", done.error
    assert [r["step"] for r in _rows(data_ws.root / "runs" / out.run_id)] == list(range(1, 7))


def test_a_second_worker_on_a_locked_run_is_refused(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.train.process import take_lock
    from tools.train.worker import run_folder

    in_process(monkeypatch)
    out = registry.call(
        "launch_lora", {"data": "train.jsonl", **FAST, "max_steps": 2, "confirm": True}, workspace=data_ws
    )
    folder = data_ws.root / out.folder
    fd = take_lock(folder)  # as if a worker were training it
    try:
        assert run_folder(folder)["state"] == "refused"
        assert _status(folder)["state"] == "queued", "the refused worker must not touch the run's status"
    finally:
        os.close(fd)


def test_resume_checks_the_data_and_the_workspace(data_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.train.runs import update_status

    folder = _launch_in_process(data_ws, monkeypatch, max_steps=2)
    update_status(folder, state="stopped")
    (data_ws.root / "train.jsonl").write_text((data_ws.root / "train.jsonl").read_text() + "\n")
    with pytest.raises(ToolError) as changed:
        registry.call("resume_run", {"run_id": folder.name}, workspace=data_ws)
    assert changed.value.code == "data_changed" and "sha256" in changed.value.message
    config = json.loads((folder / "config.json").read_text())
    config["data"]["path"] = "/etc/passwd"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ToolError) as outside:
        registry.call("resume_run", {"run_id": folder.name}, workspace=data_ws)
    assert outside.value.code == "path_outside_workspace"


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
