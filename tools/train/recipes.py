"""write_launch_recipe: a Slurm sbatch script or a SkyPilot task YAML that trains one run over several nodes.

Both run the same thing on every node, in a folder all nodes see (``shared_dir``): install the package, copy the
data there once (node 0), then ``finetune train DATA --name RUN --nodes N --node-rank R --main-address HOST:PORT
--processes G --confirm --wait`` (accelerate's multi-machine launch underneath, tools.train.process). The run folder,
with its checkpoints, lives in the shared folder, so a preempted job that the scheduler restarts resumes every node
from the last checkpoint (``finetune runs resume RUN --node-rank R``).

Slurm: one task per node (``srun``), node 0's host from ``scontrol show hostnames``, the node rank from each task's
``$SLURM_NODEID`` (expanded inside the task: the srun body is single-quoted), ``--requeue`` and a restart count to
choose resume. Layout follows huggingface/accelerate examples/slurm/submit_multinode.sh. SkyPilot: ``num_nodes``, the
node rank and node 0's address from ``$SKYPILOT_NODE_RANK`` / ``$SKYPILOT_NODE_IPS``, the shared folder a bucket
mount.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import current, write_text_atomic
from tools.plan.scale import DEEPSPEED
from tools.train.models import LaunchRecipeRequest, LaunchRecipeResult
from tools.train.nodes import shared_run_id


def _train_args(req: LaunchRecipeRequest, data_name: str) -> list[str]:
    """The ``finetune train`` words every node shares (the node rank and main address come from the scheduler)."""
    args = ["train", data_name, "--name", req.run_name, "--nodes", str(req.nodes)]
    args += ["--processes", str(req.processes_per_node)]
    if req.model:
        args += ["--model", req.model]
    if req.plan_file:
        args += ["--plan-file", Path(req.plan_file).name]
    if req.max_steps:
        args += ["--max-steps", str(req.max_steps)]
    if req.sharding:
        args += ["--sharding", req.sharding]
    if req.offload:
        args += ["--offload"]
    return args


def _node_script(req: LaunchRecipeRequest, data_name: str, rank_var: str, host_expr: str) -> str:
    """The shell lines one node runs in the shared folder: train, or resume when the run already exists there."""
    train = " ".join(shlex.quote(a) for a in _train_args(req, data_name))
    run = shlex.quote(req.run_name)
    return "\n".join(
        [
            f"MAIN_HOST=$({host_expr})",
            f'NODE_RANK="${rank_var}"',
            f"if [ -f runs/{run}/config.json ]; then",
            f'  finetune runs resume {run} --node-rank "$NODE_RANK" --confirm --wait',
            "else",
            f'  finetune {train} --node-rank "$NODE_RANK" --main-address "$MAIN_HOST:{req.main_port}" --confirm --wait',
            "fi",
        ]
    )


def package(req: LaunchRecipeRequest) -> str:
    if req.package:
        return req.package
    return "finetune-skill[train,deepspeed]" if req.sharding in DEEPSPEED else "finetune-skill[train]"


def slurm_script(req: LaunchRecipeRequest, data_name: str, data_src: str) -> str:
    shared = shlex.quote(req.shared_dir)
    sbatch = [
        f"--job-name={req.run_name}",
        f"--nodes={req.nodes}",
        "--ntasks-per-node=1",
        f"--gres=gpu:{req.processes_per_node}",
        "--requeue",
        "--open-mode=append",
        f"--output={req.shared_dir}/slurm-%x-%j.out",
    ]
    if req.partition:
        sbatch.append(f"--partition={req.partition}")
    if req.time_limit:
        sbatch.append(f"--time={req.time_limit}")
    node = _node_script(req, data_name, "SLURM_NODEID", 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1')
    body = "\n".join("  " + line for line in node.splitlines())
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {s}" for s in sbatch),
        "# Written by finetune (write_launch_recipe). Every node trains the same run in SHARED_DIR, a folder all nodes",
        "# see: its checkpoints are there, so a preempted and requeued job resumes from the last one.",
        "set -euo pipefail",
        f"export SHARED_DIR={shared}",
        'mkdir -p "$SHARED_DIR"',
        'if [ ! -x "$SHARED_DIR/.venv/bin/finetune" ]; then',
        '  python3 -m venv "$SHARED_DIR/.venv"',
        f'  "$SHARED_DIR/.venv/bin/python" -m pip install --quiet {shlex.quote(package(req))}',
        "fi",
        f'cp -n {shlex.quote(data_src)} "$SHARED_DIR/{data_name}"',
        *([f'cp -n {shlex.quote(str(req.plan_file))} "$SHARED_DIR/"'] if req.plan_file else []),
        "# Single quotes: $SLURM_NODEID expands inside each srun task (its own node), not once on the batch host.",
        "srun --kill-on-bad-exit=1 bash -c '",
        "  set -euo pipefail",
        '  cd "$SHARED_DIR"',
        '  export PATH="$SHARED_DIR/.venv/bin:$PATH"',
        body.replace("'", "'\"'\"'"),
        "'",
    ]
    return "\n".join(lines) + "\n"


def skypilot_task(req: LaunchRecipeRequest, data_name: str, data_src: str) -> str:
    import yaml

    if not req.bucket:
        raise ToolError(
            "bucket_needed",
            "a SkyPilot recipe needs a storage bucket: the run folder with its checkpoints must outlive the nodes",
            "add bucket NAME (created if missing; mounted at shared_dir on every node)",
        )
    staged = f"/tmp/finetune-input/{data_name}"
    node = _node_script(req, data_name, "SKYPILOT_NODE_RANK", 'echo "$SKYPILOT_NODE_IPS" | head -n 1')
    run = "\n".join(
        [
            "set -euo pipefail",
            f"cd {shlex.quote(req.shared_dir)}",
            f'if [ "$SKYPILOT_NODE_RANK" = 0 ]; then cp -n {staged} ./{data_name}; fi',
            *(
                [f'if [ "$SKYPILOT_NODE_RANK" = 0 ]; then cp -n /tmp/finetune-input/{Path(req.plan_file).name} .; fi']
                if req.plan_file
                else []
            ),
            node,
        ]
    )
    if not req.accelerators:
        raise ToolError(
            "accelerators_needed",
            "a SkyPilot recipe needs the GPUs of each node",
            f"add accelerators NAME:{req.processes_per_node} (e.g. A100-80GB:{req.processes_per_node})",
        )
    resources: dict[str, object] = {"accelerators": req.accelerators}
    if req.use_spot:
        resources["use_spot"] = True
    mounts: dict[str, object] = {req.shared_dir: {"name": req.bucket, "mode": "MOUNT"}, staged: data_src}
    if req.plan_file:
        mounts[f"/tmp/finetune-input/{Path(req.plan_file).name}"] = str(req.plan_file)
    task = {
        "name": req.run_name,
        "num_nodes": req.nodes,
        "resources": resources,
        "file_mounts": mounts,
        "setup": f"python3 -m pip install --quiet {shlex.quote(package(req))}\n",
        "run": run + "\n",
    }

    class _Literal(yaml.SafeDumper):
        pass

    def _block(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
        style = "|" if "\n" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    _Literal.add_representer(str, _block)
    head = "# Written by finetune (write_launch_recipe): `sky launch` this file; every node trains the same run.\n"
    return head + yaml.dump(task, Dumper=_Literal, sort_keys=False, allow_unicode=True)


def bash_syntax(path: Path) -> str:
    """``bash -n`` of a script: the parse check that needs no cluster; a ToolError when bash rejects it."""
    bash = shutil.which("bash")
    if bash is None:
        return "not checked (no bash here)"
    done = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise ToolError(
            "recipe_syntax",
            f"{path.name}: bash -n rejects the script: {done.stderr.strip()[:300]}",
            "report this: a value in the request broke the script's quoting",
        )
    return "bash -n: the script parses"


@tool(effect="write", stage="train", duration="seconds")
def write_launch_recipe(req: LaunchRecipeRequest) -> LaunchRecipeResult:
    """Write a cluster launch file for training one run over several nodes: a Slurm sbatch script (kind slurm) or a
    SkyPilot task YAML (kind skypilot). Every node installs the package, node 0 copies the data into the shared
    folder, and each runs the same `finetune train` with its node rank and node 0's address (accelerate's
    multi-machine launch); the run folder with its checkpoints lives in the shared folder, so a preempted job resumes.
    Use when one machine is not enough and a cluster is at hand; it starts nothing."""
    ws = current()
    shared_run_id(req.run_name, req.nodes)
    if not req.shared_dir.startswith("/"):
        raise ToolError(
            "shared_dir_not_absolute",
            f"shared_dir {req.shared_dir!r} is not an absolute path",
            "give the folder every node mounts, e.g. /shared/finetune",
        )
    data = ws.input_file(req.data, what="training data")
    if req.plan_file:
        ws.input_file(req.plan_file, what="plan file")
    suffix = ".sbatch" if req.kind == "slurm" else ".sky.yaml"
    out = ws.output_file(req.out or f"{req.run_name}{suffix}", inputs=(data,), what="recipe")
    if req.kind == "slurm":
        text = slurm_script(req, data.name, ws.relative(data))
    else:
        text = skypilot_task(req, data.name, ws.relative(data))
    write_text_atomic(out, text)
    checked = bash_syntax(out) if req.kind == "slurm" else "not parsed here (run `sky launch --dryrun` to check it)"
    submit = f"sbatch {ws.relative(out)}" if req.kind == "slurm" else f"sky launch {ws.relative(out)}"
    return LaunchRecipeResult(
        kind=req.kind,
        path=ws.relative(out),
        submit=submit,
        checked=checked,
        message=f"wrote {ws.relative(out)}: {req.nodes} nodes x {req.processes_per_node} processes, run "
        f"{req.run_name} in {req.shared_dir}; submit it from this folder with `{submit}`; {checked}",
    )


__all__ = ["bash_syntax", "skypilot_task", "slurm_script", "write_launch_recipe"]
