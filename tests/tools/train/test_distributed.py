"""More than one process through `accelerate launch` over gloo on CPU, TRL's trainer doing the process group: DDP
gives the single-process result; a multi-process run stops, survives kill -9 of every process and resumes to the
adapter of an uninterrupted run. FSDP goes through accelerate's FSDP plugin, which runs on GPUs only: on CPU it is
refused before anything starts, and its accelerate config is checked with accelerate's own parser."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"
COMMON = {
    "data": "train.jsonl",
    "model": "tiny-random-llama",
    "per_device_batch_size": 2,
    "max_seq_len": 768,
    "seed": 3,
    "plan": {"lora_dropout": 0.0, "batching": "padded"},
    "confirm": True,
}


@pytest.fixture
def cpu_ws(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    shutil.copy(EXAMPLES, ws.root / "train.jsonl")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return ws


def _finished(ws: Workspace, run_id: str) -> Any:
    info = wait_for_run(ws, run_id, lambda i: i.state not in {"queued", "running"}, timeout=420)
    assert info.state == "completed", (ws.root / "runs" / run_id / "train.log").read_text()[-4000:]
    return info


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


def _assert_same_adapter(got: dict, want: dict, atol: float = 1e-4) -> None:
    assert got.keys() == want.keys()
    assert max(v.abs().max().item() for k, v in got.items() if "lora_B" in k) > 1e-4  # it did train
    for key in want:
        assert (got[key] - want[key]).abs().max().item() < atol, key


def _single_process(ws: Workspace, monkeypatch: pytest.MonkeyPatch, **args: Any) -> Path:
    """The same global batch in this process: rank r of world w takes micro-batch w*k + r of the seeded order
    (accelerate's batch sharding), one process with w times the accumulation takes them all, and the loss is the
    per-token mean of the whole step either way (num_items_in_batch summed over ranks)."""
    from tests.tools.train.test_launch_lora import in_process
    from tools.train.worker import run_folder

    in_process(monkeypatch)
    out = registry.call("launch_lora", {**COMMON, **args}, workspace=ws)
    folder = ws.root / out.folder
    run_folder(folder)
    return folder


@pytest.mark.slow
def test_two_cpu_processes_train_one_adapter_on_different_data(
    cpu_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = cpu_ws
    dry = registry.call(
        "launch_lora",
        {**COMMON, "max_steps": 4, "gradient_accumulation_steps": 1, "num_processes": 2, "confirm": False},
        workspace=ws,
    )
    assert dry.estimated_steps == 4 and not dry.started
    out = registry.call(
        "launch_lora",
        {**COMMON, "max_steps": 4, "gradient_accumulation_steps": 1, "num_processes": 2, "run_name": "ddp"},
        workspace=ws,
    )
    folder = ws.root / out.folder
    info = _finished(ws, out.run_id)
    log = (folder / "train.log").read_text()
    assert "accelerate.commands.launch" in log and "--num_processes 2" in log
    assert info.worker_pids and len(info.worker_pids) == 2 and info.pid not in info.worker_pids

    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == 4
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    assert [p.name for p in folder.iterdir() if p.name.startswith("adapter")] == ["adapter"]
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["num_processes"] == 2 and config["sharding"] == config["resolved"]["sharding"] == "ddp"
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(r["loss"] == r["loss"] for r in rows)  # one writer

    single = _single_process(ws, monkeypatch, max_steps=4, gradient_accumulation_steps=2, run_name="one")
    _assert_same_adapter(_adapter(folder), _adapter(single))


def test_fsdp_is_refused_on_cpu_and_its_accelerate_config_is_accelerates(cpu_ws: Workspace, tmp_path: Path) -> None:
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file

    from tools.train.distributed import FsdpSettings, accelerate_config

    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**COMMON, "num_processes": 2, "sharding": "fsdp"}, workspace=cpu_ws)
    assert info.value.code == "fsdp_needs_cuda" and "ddp" in info.value.hint
    assert not (cpu_ws.root / "runs").exists()
    path = tmp_path / "accelerate_config.yaml"
    settings = FsdpSettings(layer_classes=["LlamaDecoderLayer"])
    path.write_text(yaml.safe_dump(accelerate_config(4, "fsdp", settings)))
    parsed = load_config_from_file(str(path))  # accelerate's own parser
    assert parsed.distributed_type == "FSDP" and parsed.num_processes == 4
    assert parsed.fsdp_config["fsdp_version"] == 2
    assert parsed.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"


def test_an_fsdp_launch_over_two_nodes_is_what_accelerate_launch_makes_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """accelerate's own launch path on the run's config: torchrun's node count, node rank and processes per node,
    and the FSDP plugin the ranks build from the environment it sets (FSDP2, CPU offload, the layer class)."""
    import yaml
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env

    from tools.train.distributed import FsdpSettings, accelerate_config

    settings = FsdpSettings(offload_params=True, layer_classes=["LlamaDecoderLayer"])
    cfg = accelerate_config(4, "fsdp", settings, nodes=2, main_host="10.0.0.1", main_port=29500)
    path = tmp_path / "accelerate_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    args = launch_command_parser().parse_args(["--config_file", str(path), "--machine_rank", "1", "train.py"])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args)
    assert (int(args.nnodes), args.node_rank, int(args.nproc_per_node)) == (2, 1, 2)
    assert (args.main_process_ip, args.main_process_port) == ("10.0.0.1", 29500)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.cpu_offload is not None and "CPUOffloadPolicy" in type(plugin.cpu_offload).__name__
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]


@pytest.mark.parametrize("sharding, offload", [("deepspeed_zero2", False), ("deepspeed_zero3", True)])
def test_deepspeed_configs_are_accepted_by_accelerate_transformers_and_deepspeed(
    tmp_path: Path, sharding: str, offload: bool
) -> None:
    """The run's DeepSpeed JSON keeps Hugging Face's "auto" values; transformers fills them from the Trainer's
    arguments and the model (HfTrainerDeepSpeedConfig, what the Trainer does), and DeepSpeed's own config class
    accepts the result (on CPU: no CUDA needed to parse)."""
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file
    from transformers import AutoConfig, TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    from tools.train.distributed import accelerate_config, deepspeed_config

    deepspeed = pytest.importorskip("deepspeed")
    from accelerate.utils import DeepSpeedPlugin

    ds_path = tmp_path / "deepspeed_config.json"
    ds_path.write_text(json.dumps(deepspeed_config(sharding, offload)))  # type: ignore[arg-type]
    cfg = accelerate_config(
        16, sharding, None, nodes=2, main_host="10.0.0.1", main_port=29500, deepspeed_file=str(ds_path)
    )  # type: ignore[arg-type]
    (tmp_path / "accelerate_config.yaml").write_text(yaml.safe_dump(cfg))
    parsed = load_config_from_file(str(tmp_path / "accelerate_config.yaml"))  # accelerate's own parser
    assert parsed.distributed_type == "DEEPSPEED" and (parsed.num_machines, parsed.num_processes) == (2, 16)
    assert parsed.deepspeed_config["deepspeed_config_file"] == str(ds_path)

    stage = 3 if sharding == "deepspeed_zero3" else 2
    plugin = DeepSpeedPlugin(hf_ds_config=str(ds_path))  # accelerate reads the file as a launch would
    assert plugin.zero_stage == stage and plugin.zero3_init_flag == (stage == 3)
    assert plugin.offload_param_device == ("cpu" if stage == 3 and offload else "none")
    with pytest.raises(TypeError):
        deepspeed.runtime.config.DeepSpeedConfig(json.loads(ds_path.read_text()))  # "auto" is not DeepSpeed's
    hf = HfTrainerDeepSpeedConfig(str(ds_path))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        max_grad_norm=0.5,
        use_cpu=True,
        report_to="none",
    )
    hf.trainer_config_process(args)
    model = type("M", (), {"config": AutoConfig.for_model("llama", hidden_size=64, num_attention_heads=4)})()
    hf.trainer_config_finalize(args, model, 10)
    ds = deepspeed.runtime.config.DeepSpeedConfig(hf.config)
    assert ds.zero_optimization_stage == stage and ds.train_batch_size == 8 and ds.gradient_clipping == 0.5
    assert (ds.zero_config.offload_optimizer is not None) == offload


def test_sharded_runs_on_cpu_are_refused_before_anything_starts(cpu_ws: Workspace) -> None:
    for sharding in ("deepspeed_zero2", "deepspeed_zero3"):
        with pytest.raises(ToolError) as info:
            registry.call("launch_lora", {**COMMON, "num_processes": 2, "sharding": sharding}, workspace=cpu_ws)
        assert info.value.code == "deepspeed_needs_cuda" and "ddp" in info.value.hint
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**COMMON, "sharding": "deepspeed_zero3"}, workspace=cpu_ws)
    assert info.value.code == "deepspeed_needs_processes"
    assert not (cpu_ws.root / "runs").exists()


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"nodes": 2, "main_address": "127.0.0.1:29500"}, "run_name_needed"),
        ({"nodes": 2, "run_name": "r"}, "main_address_missing"),
        ({"nodes": 2, "run_name": "r", "main_address": "127.0.0.1"}, "bad_main_address"),
        ({"nodes": 2, "run_name": "r", "main_address": "host:99999"}, "bad_main_address"),
        ({"nodes": 2, "run_name": "bad name", "main_address": "h:1"}, "bad_run_name"),
    ],
)
def test_several_node_launches_that_cannot_meet_are_refused(cpu_ws: Workspace, changes: dict, code: str) -> None:
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**COMMON, **changes}, workspace=cpu_ws)
    assert info.value.code == code and info.value.hint
    assert not (cpu_ws.root / "runs").exists()


def test_a_node_rank_outside_the_nodes_is_refused(cpu_ws: Workspace) -> None:
    with pytest.raises(ToolError) as info:
        registry.call(
            "launch_lora",
            {**COMMON, "nodes": 2, "node_rank": 2, "run_name": "r", "main_address": "h:1"},
            workspace=cpu_ws,
        )
    assert "node_rank 2 is not below nodes 2" in info.value.message


def test_node_one_refuses_a_run_launched_differently(cpu_ws: Workspace) -> None:
    """Node 1 waits for node 0's config.json and joins only the same launch (here node 0 asked for 2 processes)."""
    folder = cpu_ws.root / "runs" / "r"
    folder.mkdir(parents=True)
    config = {"run_id": "r", "nodes": 2, "num_processes": 2, "main_address": "127.0.0.1:29500"}
    (folder / "config.json").write_text(json.dumps(config))
    args = {**COMMON, "nodes": 2, "node_rank": 1, "run_name": "r", "main_address": "127.0.0.1:29500"}
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**args, "num_processes": 1, "join_wait_s": 0}, workspace=cpu_ws)
    assert info.value.code == "node_launch_differs" and "--processes" in info.value.hint
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**args, "run_name": "s", "join_wait_s": 0.2}, workspace=cpu_ws)
    assert info.value.code == "node0_not_found"
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**args, "node_rank": 0}, workspace=cpu_ws)
    assert info.value.code == "run_exists" and "runs resume r" in info.value.hint


def test_fsdp_with_one_process_is_refused_before_anything_starts(cpu_ws: Workspace) -> None:
    with pytest.raises(ToolError) as info:
        registry.call("launch_lora", {**COMMON, "sharding": "fsdp"}, workspace=cpu_ws)
    assert info.value.code == "fsdp_needs_processes" and info.value.hint
    assert not (cpu_ws.root / "runs").exists()


def test_the_cli_asks_for_fsdp(in_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    shutil.copy(EXAMPLES, in_ws.root / "train.jsonl")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    runner = CliRunner()
    dry = runner.invoke(app, ["train", "train.jsonl", "--processes", "2", "--max-steps", "4", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert not data["started"] and "x 2 processes (ddp)" in data["message"]
    on_cpu = runner.invoke(app, ["train", "train.jsonl", "--processes", "2", "--sharding", "fsdp"])
    assert on_cpu.exit_code == 2 and "fsdp_needs_cuda" in on_cpu.stderr
    alone = runner.invoke(app, ["train", "train.jsonl", "--sharding", "fsdp"])
    assert alone.exit_code == 2 and "fsdp_needs_processes" in alone.stderr


@pytest.mark.parametrize(
    "method, precision, code", [("qlora", "bf16", "fsdp_qlora_unsupported"), ("lora", "fp16", "fsdp_fp16_unsupported")]
)
def test_fsdp_refuses_what_it_cannot_shard(method: str, precision: str, code: str) -> None:
    from tools.train.distributed import check_fsdp

    check_fsdp("lora", "bf16", 2)
    with pytest.raises(ToolError) as info:
        check_fsdp(method, precision, 2)
    assert info.value.code == code and info.value.hint


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _two_nodes(ws: Workspace, name: str, **args: Any) -> tuple[Any, Any]:
    """Node 0 then node 1 of one run on this machine: two launches into one run folder, rendezvous on 127.0.0.1."""
    common = {**COMMON, **args, "num_processes": 1, "nodes": 2, "run_name": name}
    common["main_address"] = f"127.0.0.1:{_free_port()}"
    first = registry.call("launch_lora", {**common, "node_rank": 0}, workspace=ws)
    second = registry.call("launch_lora", {**common, "node_rank": 1, "join_wait_s": 30}, workspace=ws)
    assert first.started and second.started and first.run_id == second.run_id == name
    return first, second


def _wait_pid_gone(pid: int, timeout: float = 60.0) -> None:
    import time

    from tools.train.runs import pid_alive

    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(pid), f"process {pid} is still running"


@pytest.mark.slow
def test_two_nodes_on_localhost_reach_the_adapter_of_one_process(
    cpu_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two launches (node ranks 0 and 1), one CPU process each over gloo, meeting at 127.0.0.1: the adapter of one
    process with twice the gradient accumulation (each node takes one micro-batch of every step)."""
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file

    ws = cpu_ws
    first, second = _two_nodes(ws, "two-nodes", max_steps=4, gradient_accumulation_steps=1)
    folder = ws.root / first.folder
    _finished(ws, first.run_id)
    _wait_pid_gone(second.pid)
    log0, log1 = (folder / "train.log").read_text(), (folder / "train.node1.log").read_text()
    for log, rank in ((log0, 0), (log1, 1)):
        assert f"--num_machines 2 --machine_rank {rank} --main_process_ip 127.0.0.1" in log
    assert "completed: 4 steps" in log0 and "completed" not in log1  # rank 0 writes the run's files
    assert json.loads((folder / "node1.json").read_text())["pid"] == second.pid
    status = json.loads((folder / "status.json").read_text())
    assert [n for n, _ in status["rank_pids"]] == [0, 1] and len(status["worker_pids"]) == 1
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["num_processes"] == 2 and config["resolved"]["nodes"] == 2
    assert config["plan"]["nodes"] == 2 and config["plan"]["main_address"].startswith("127.0.0.1:")
    parsed = load_config_from_file(str(folder / "accelerate_config.yaml"))  # accelerate's own parser
    assert (parsed.num_machines, parsed.num_processes, parsed.main_process_ip) == (2, 2, "127.0.0.1")
    assert yaml.safe_load((folder / "accelerate_config.yaml").read_text())["distributed_type"] == "MULTI_GPU"

    single = _single_process(ws, monkeypatch, max_steps=4, gradient_accumulation_steps=2, run_name="one")
    _assert_same_adapter(_adapter(folder), _adapter(single))


@pytest.mark.slow
def test_two_nodes_stop_kill_a_rank_and_resume_reach_the_uninterrupted_adapter(cpu_ws: Workspace) -> None:
    """A two-node run with dropout: SIGTERM to node 0's rank stops both nodes at one step (they agree on it, node 1
    on its own); both nodes resume; kill -9 of node 1's rank past a new checkpoint fails the run on both nodes;
    both resume again; the final adapter equals an uninterrupted run's on one node with two processes (same
    batches, each rank's RNG restored by the Trainer from rng_state_<rank>.pth)."""
    ws = cpu_ws
    plan = {"lora_dropout": 0.1, "save_steps": 2, "keep_last_k": 2, "logging_steps": 1, "eval_fraction": 0.0}
    plan["batching"] = "padded"
    args = {"max_steps": 24, "gradient_accumulation_steps": 1, "plan": plan}
    first, second = _two_nodes(ws, "killed", **args)
    run_id, folder = first.run_id, ws.root / first.folder
    wait_for_run(ws, run_id, lambda i: i.state == "running" and i.step >= 3 and bool(i.worker_pids))
    stopped = registry.call("stop_run", {"run_id": run_id, "wait_s": 120}, workspace=ws)
    assert stopped.signalled and stopped.run.state == "stopped", stopped.message
    stop_step = stopped.run.step
    assert stopped.run.last_checkpoint and stopped.run.last_checkpoint.endswith(f"checkpoint-{stop_step}")
    assert stop_step < 24
    _wait_pid_gone(second.pid)  # node 1 was not signalled: it stopped at the agreed step and ended

    def resume_both() -> int:
        """Resume on node 0, then on node 1; node 1's launcher pid."""
        assert registry.call("resume_run", {"run_id": run_id, "confirm": True}, workspace=ws).started
        node1 = registry.call("resume_run", {"run_id": run_id, "node_rank": 1, "confirm": True}, workspace=ws)
        assert node1.started and node1.pid
        return int(node1.pid)

    node1_pid = resume_both()

    def past_a_new_checkpoint(i: Any) -> bool:
        ckpt = int(i.last_checkpoint.rsplit("-", 1)[1]) if i.last_checkpoint else 0
        return i.state == "running" and bool(i.worker_pids) and ckpt > stop_step and i.step > ckpt

    running = wait_for_run(ws, run_id, past_a_new_checkpoint)
    assert running.step < 24, "the run ended before it could be killed"
    rank_pids = json.loads((folder / "status.json").read_text())["rank_pids"]
    os.kill(next(pid for node, pid in rank_pids if node == 1), signal.SIGKILL)
    dead = wait_for_run(ws, run_id, lambda i: i.state == "failed", timeout=120)
    assert dead.resumable
    _wait_pid_gone(node1_pid)
    _wait_pid_gone(dead.pid)
    node1_pid = resume_both()
    done = _finished(ws, run_id)
    assert done.step == 24
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == list(range(1, 25)), "one metrics row per step after the resumes"
    log = (folder / "train.log").read_text()
    assert log.count("resumed from checkpoint-") == 2 and f"resumed from checkpoint-{stop_step}" in log
    _wait_pid_gone(node1_pid)

    reference = registry.call("launch_lora", {**COMMON, **args, "num_processes": 2, "run_name": "whole"}, workspace=ws)
    _finished(ws, reference.run_id)
    _assert_same_adapter(_adapter(folder), _adapter(ws.root / reference.folder))


def test_a_run_trained_from_another_node_is_not_judged_by_this_machines_pids(cpu_ws: Workspace) -> None:
    """Seen from node 1 (shared storage), node 0's pids mean nothing: the run stays 'running' as status.json says,
    stop_run refuses to signal and names the host to stop it on."""
    folder = cpu_ws.root / "runs" / "far"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"run_id": "far", "nodes": 2, "num_processes": 1}))
    status = {"run_id": "far", "state": "running", "pid": 999_999, "worker_pids": [999_998], "step": 3}
    (folder / "status.json").write_text(json.dumps({**status, "host": "node-zero.cluster"}))
    info = registry.call("run_status", {"run_id": "far"}, workspace=cpu_ws).runs[0]
    assert info.state == "running"
    with pytest.raises(ToolError) as caught:
        registry.call("stop_run", {"run_id": "far"}, workspace=cpu_ws)
    assert caught.value.code == "run_on_other_host" and "node-zero.cluster" in caught.value.hint
    (folder / "status.json").write_text(json.dumps(status))  # no host recorded: this machine's pids decide
    assert registry.call("run_status", {"run_id": "far"}, workspace=cpu_ws).runs[0].state == "failed"


def test_a_deepspeed_run_folder_gets_both_files_from_config_json(tmp_path: Path) -> None:
    """What a launch writes for a two-node ZeRO-3 run: the accelerate YAML naming the DeepSpeed JSON by a path
    relative to the run folder (the same on every node), and the command with this node's machine rank."""
    import yaml

    from tools.train.process import launch_command

    config = {"num_processes": 4, "nodes": 2, "sharding": "deepspeed_zero3", "offload": True}
    (tmp_path / "config.json").write_text(json.dumps({**config, "main_address": "10.0.0.1:29500"}))
    cmd = launch_command(tmp_path, resume=True, node_rank=1)
    assert cmd[cmd.index("--num_processes") + 1] == "8" and cmd[cmd.index("--machine_rank") + 1] == "1"
    assert cmd[cmd.index("--main_process_ip") + 1] == "10.0.0.1" and cmd[-1] == "--resume"
    written = yaml.safe_load((tmp_path / "accelerate_config.yaml").read_text())
    assert written["distributed_type"] == "DEEPSPEED" and written["machine_rank"] == 0
    assert written["deepspeed_config"]["deepspeed_config_file"] == "deepspeed_config.json"
    ds = json.loads((tmp_path / "deepspeed_config.json").read_text())
    assert ds["zero_optimization"]["stage"] == 3 and ds["zero_optimization"]["offload_param"]["device"] == "cpu"
