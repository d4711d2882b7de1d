"""The cluster recipes of `finetune train --emit slurm|skypilot`: the sbatch script parses (bash -n), carries the
#SBATCH lines of accelerate's own Slurm example (huggingface/accelerate examples/slurm/submit_multinode.sh), and,
run on this machine with stand-ins for srun and scontrol, trains one run on two "nodes"; the SkyPilot task validates
against SkyPilot's own task schema (exported from skypilot 0.14.1, see tests/data/SOURCES.md)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"
SKY_SCHEMA = REPO / "tests" / "data" / "skypilot" / "task_schema_0.14.1.json"
# The sbatch options the recipe may write (sbatch(1) long options).
SBATCH_OPTIONS = {"job-name", "nodes", "ntasks-per-node", "gres", "requeue", "open-mode", "output", "partition", "time"}


@pytest.fixture
def recipe_ws(ws: Workspace) -> Workspace:
    shutil.copy(EXAMPLES, ws.root / "train.jsonl")
    return ws


def _sbatch_lines(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH"):
            option = line.split(None, 1)[1]
            assert option.startswith("--"), line
            key, _, value = option[2:].partition("=")
            assert key in SBATCH_OPTIONS, f"not an sbatch option the recipe means to write: {line}"
            out[key] = value
    return out


def test_the_slurm_recipe_parses_and_follows_accelerates_example(recipe_ws: Workspace) -> None:
    args = {"kind": "slurm", "data": "train.jsonl", "run_name": "big-run", "nodes": 4, "processes_per_node": 8}
    args |= {"shared_dir": "/shared/fine tune", "sharding": "fsdp", "time_limit": "12:00:00", "partition": "gpu"}
    out = registry.call("write_launch_recipe", args, workspace=recipe_ws)
    assert out.path == "big-run.sbatch" and out.submit == "sbatch big-run.sbatch"
    assert out.checked == "bash -n: the script parses"
    text = (recipe_ws.root / out.path).read_text()
    assert subprocess.run(["bash", "-n", str(recipe_ws.root / out.path)]).returncode == 0
    options = _sbatch_lines(text)
    assert options["nodes"] == "4" and options["ntasks-per-node"] == "1" and options["gres"] == "gpu:8"
    assert options["time"] == "12:00:00" and options["partition"] == "gpu" and "requeue" in options
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1' in text  # node 0's host, as accelerate's
    body = text[text.index("srun ") :]
    assert body.count("'") == 2, "the srun body is one single-quoted string, so $SLURM_NODEID expands per task"
    assert '--node-rank "$NODE_RANK"' in body and 'NODE_RANK="$SLURM_NODEID"' in body
    assert "--sharding fsdp --node-rank" in body and "--nodes 4 --processes 8" in body
    assert "export SHARED_DIR='/shared/fine tune'" in text  # quoted
    assert "pip install --quiet 'finetune-skill[train]'" in text


def test_bad_recipe_requests_are_refused(recipe_ws: Workspace) -> None:
    base = {"kind": "slurm", "data": "train.jsonl", "nodes": 2, "processes_per_node": 1, "shared_dir": "/s"}
    for changes, code in (
        ({"run_name": "bad name!"}, "bad_run_name"),
        ({"run_name": "r", "shared_dir": "relative/dir"}, "shared_dir_not_absolute"),
        ({"run_name": "r", "kind": "skypilot", "accelerators": "A100:1"}, "bucket_needed"),
        ({"run_name": "r", "kind": "skypilot", "bucket": "b"}, "accelerators_needed"),
    ):
        with pytest.raises(ToolError) as info:
            registry.call("write_launch_recipe", {**base, **changes}, workspace=recipe_ws)
        assert info.value.code == code and info.value.hint
    assert sorted(p.name for p in recipe_ws.root.iterdir() if p.suffix in {".sbatch", ".yaml"}) == []


def test_the_skypilot_task_validates_against_skypilots_schema(recipe_ws: Workspace) -> None:
    import jsonschema

    args = {"kind": "skypilot", "data": "train.jsonl", "run_name": "sky-run", "nodes": 2, "processes_per_node": 8}
    args |= {
        "shared_dir": "/ckpt",
        "bucket": "my-ckpt",
        "accelerators": "A100-80GB:8",
        "use_spot": True,
        "sharding": "deepspeed_zero3",
    }
    out = registry.call("write_launch_recipe", args, workspace=recipe_ws)
    assert out.path == "sky-run.sky.yaml" and out.submit == "sky launch sky-run.sky.yaml"
    task = yaml.safe_load((recipe_ws.root / out.path).read_text())
    schema = json.loads(SKY_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(task)
    assert task["num_nodes"] == 2 and task["resources"] == {"accelerators": "A100-80GB:8", "use_spot": True}
    assert task["file_mounts"]["/ckpt"] == {"name": "my-ckpt", "mode": "MOUNT"}
    assert task["file_mounts"]["/tmp/finetune-input/train.jsonl"] == "train.jsonl"
    for section in ("setup", "run"):
        done = subprocess.run(["bash", "-n"], input=task[section], text=True, capture_output=True)
        assert done.returncode == 0, done.stderr
    assert 'NODE_RANK="$SKYPILOT_NODE_RANK"' in task["run"] and "$SKYPILOT_NODE_IPS" in task["run"]
    assert "'finetune-skill[train,deepspeed]'" in task["setup"] and "--sharding deepspeed_zero3" in task["run"]
    broken = {**task, "num_nodes": "two"}
    assert not validator.is_valid(broken)  # the schema does reject what SkyPilot would
    assert not validator.is_valid({**task, "resources": {"acelerators": "A100:8"}})


def _stub(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.slow
def test_the_slurm_recipe_trains_two_nodes_on_this_machine(recipe_ws: Workspace, tmp_path: Path) -> None:
    """The emitted sbatch run by bash with stand-ins: `scontrol` names 127.0.0.1, `srun` starts the quoted body once
    per node with its own SLURM_NODEID (as Slurm does), `finetune` is this checkout's CLI."""
    ws = recipe_ws
    plan = {"base_model": "tiny-random-llama", "per_device_batch_size": 2, "max_seq_len": 768, "seed": 3}
    plan |= {"lora_dropout": 0.0, "batching": "padded", "gradient_accumulation_steps": 1}
    (ws.root / "plan.json").write_text(json.dumps(plan))
    shared = tmp_path / "shared"
    args = {"kind": "slurm", "data": "train.jsonl", "run_name": "slurm-run", "nodes": 2, "processes_per_node": 1}
    args |= {"shared_dir": str(shared), "plan_file": "plan.json", "max_steps": 3}
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args["main_port"] = port
    out = registry.call("write_launch_recipe", args, workspace=ws)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "scontrol", "#!/bin/bash\necho 127.0.0.1\n")
    # srun [options] bash -c BODY: one task per node, each with its own SLURM_NODEID
    _stub(
        bin_dir,
        "srun",
        '#!/bin/bash\nwhile [ "$1" != bash ]; do shift; done\npids=()\n'
        'for n in $(seq 0 $((SLURM_NNODES - 1))); do SLURM_NODEID=$n "$@" & pids+=($!); done\n'
        'rc=0; for p in "${pids[@]}"; do wait $p || rc=$?; done; exit $rc\n',
    )
    venv_bin = shared / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    _stub(venv_bin, "finetune", f'#!/bin/bash\nexec {sys.executable} -m skill.cli "$@"\n')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_NNODES": "2"}
    env |= {"SLURM_JOB_NODELIST": "node[0-1]", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        ["bash", str(ws.root / out.path)], cwd=ws.root, env=env, capture_output=True, text=True, timeout=400
    )
    folder = shared / "runs" / "slurm-run"
    log = (folder / "train.log").read_text() if (folder / "train.log").exists() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + log[-3000:]
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == 3
    assert [n for n, _ in status["rank_pids"]] == [0, 1]
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    assert "--machine_rank 1" in (folder / "train.node1.log").read_text()
    assert (shared / "train.jsonl").read_bytes() == EXAMPLES.read_bytes()


def test_the_cli_emits_recipes_and_asks_for_nodes(in_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    shutil.copy(EXAMPLES, in_ws.root / "train.jsonl")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    runner = CliRunner()
    base = ["train", "train.jsonl", "--nodes", "2", "--processes", "4", "--name", "cli-run"]
    done = runner.invoke(app, [*base, "--emit", "slurm", "--shared-dir", "/shared/ft", "--sharding", "fsdp"])
    assert done.exit_code == 0, done.output
    assert "Launch recipe: wrote cli-run.sbatch (slurm)\nbash -n: the script parses" in done.stdout
    assert "sbatch cli-run.sbatch" in done.stdout
    assert "--sharding fsdp" in (in_ws.root / "cli-run.sbatch").read_text()
    sky = runner.invoke(app, [*base, "--emit", "skypilot", "--shared-dir", "/ckpt", "--bucket", "b", "--json"])
    assert sky.exit_code == 2 and "accelerators_needed" in sky.stderr
    dry = runner.invoke(app, [*base, "--main-address", "127.0.0.1:29500", "--node-rank", "1", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert not data["started"] and "x 2 nodes of 4 processes (ddp; this is node 1)" in data["message"]
    assert data["plan"]["nodes"] == 2 and data["plan"]["node_rank"] == 1
    nameless = runner.invoke(app, ["train", "train.jsonl", "--nodes", "2", "--main-address", "h:1"])
    assert nameless.exit_code == 2 and "run_name_needed" in nameless.stderr
