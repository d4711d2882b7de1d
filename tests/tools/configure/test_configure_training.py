"""configure_training: values with reasons, sequence length from the data, memory fit, the launch_lora plan, and
exports loaded with the real peft / transformers and checked against the documented Axolotl / LLaMA-Factory /
Together keys (research/training-anchors.md 1.1-1.2)."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from skill.cli import app
from tests.support.format_samples import chat, write_jsonl
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.plan.training_plan import TrainingPlan
from tools.train.launch_lora import LaunchLoraRequest

# Axolotl keys named in training-anchors.md 1.1/1.2, plus save_steps / save_total_limit (HF Trainer names Axolotl's
# config schema passes through; docs/config-reference.qmd).
AXOLOTL_KEYS = {
    "base_model",
    "adapter",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "lora_target_linear",
    "learning_rate",
    "num_epochs",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "sequence_len",
    "sample_packing",
    "lr_scheduler",
    "warmup_ratio",
    "optimizer",
    "chat_template",
    "datasets",
    "train_on_inputs",
    "load_in_4bit",
    "logging_steps",
    "val_set_size",
    "eval_steps",
    "bf16",
    "gradient_checkpointing",
    "weight_decay",
    "output_dir",
    "seed",
    "max_grad_norm",
    "save_steps",
    "save_total_limit",
}
# LLaMA-Factory keys named in training-anchors.md; the rest must be HF TrainingArguments fields (checked for real).
LLAMAFACTORY_KEYS = {
    "model_name_or_path",
    "stage",
    "do_train",
    "finetuning_type",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_target",
    "template",
    "cutoff_len",
    "dataset",
    "quantization_bit",
    "quantization_method",
    "val_size",
    "plot_loss",
    "report_to",
    "learning_rate",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_ratio",
    "bf16",
    "eval_strategy",
    "eval_steps",
}
# Together POST /v1/fine-tunes body fields (togethercomputer/openapi openapi.yaml).
TOGETHER_KEYS = {
    "training_file",
    "validation_file",
    "model",
    "n_epochs",
    "n_checkpoints",
    "n_evals",
    "batch_size",
    "learning_rate",
    "warmup_ratio",
    "max_grad_norm",
    "weight_decay",
    "train_on_inputs",
    "lora",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_trainable_modules",
    "suffix",
    "wandb_api_key",
}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-11-24")


def configure(ws: Workspace, **args):
    return registry.call("configure_training", args, workspace=ws)


def data(ws: Workspace, n: int = 120, long_every: int = 0) -> str:
    rows = []
    for i in range(n):
        row = chat(i)
        if long_every and i % long_every == 0:
            row["messages"][-1]["content"] += " more" * 400
        rows.append(row)
    write_jsonl(ws.root / "train.jsonl", rows)
    return "train.jsonl"


def choice(result, name: str):
    return next(c for c in result.choices if c.name == name)


def test_defaults_with_reasons_and_a_plan_launch_lora_takes(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws))
    assert result.method == "lora" and isinstance(result.plan, TrainingPlan)
    names = {c.name for c in result.choices}
    assert {
        "method",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "target_modules",
        "learning_rate",
        "num_epochs",
        "effective_batch_size",
        "max_seq_len",
        "warmup_ratio",
        "lr_scheduler",
        "max_grad_norm",
        "precision",
        "seed",
        "eval cadence",
    } <= names
    assert all(c.reason and c.source.startswith("https://") for c in result.choices)
    assert choice(result, "num_epochs").value == "3"  # 120 examples < 1,000
    assert result.plan.lora_alpha == 2 * result.plan.lora_r and result.plan.target_modules == ["all-linear"]
    plan = TrainingPlan.model_validate_json((ws.root / result.plan_file).read_text())
    assert plan == result.plan
    LaunchLoraRequest(data="train.jsonl", plan_file=result.plan_file)
    LaunchLoraRequest(data="train.jsonl", plan=result.plan)
    assert result.steps_per_epoch == -(-108 // result.plan.effective_batch)  # 90% of 120 held for training


def test_launch_lora_dry_run_accepts_the_plan_file(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws, 40))
    dry = registry.call("launch_lora", {"data": "train.jsonl", "plan_file": result.plan_file}, workspace=ws)
    assert not dry.started and dry.plan.max_seq_len == result.plan.max_seq_len
    assert dry.plan.learning_rate == result.plan.learning_rate


def test_sequence_length_covers_p99_and_reports_truncation(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws, 200, long_every=50))
    s = result.sequence
    assert s.p99 >= s.p95 >= s.p50 and s.max_seq_len >= s.p99 and s.max_seq_len % 64 == 0
    assert s.truncated_examples == 0 and s.max >= 2000  # the 4 long examples (2%) are inside p99 here
    short = configure(ws, dataset="train.jsonl", max_seq_len=1024, out_dir="short")
    assert short.sequence.truncated_examples == 4 and short.sequence.truncated_lines == [1, 51, 101, 151]
    assert any("truncated" in w for w in short.warnings)


def test_memory_fit_and_qlora_fallback(ws: Workspace) -> None:
    small = configure(ws, base_model="meta-llama/Llama-3.1-8B-Instruct", gpu="a100-80gb", examples=5000)
    assert small.method == "lora" and small.memory.fits and small.memory.gpu_memory_gb == 80
    assert choice(small, "precision").value == "bf16" and "same precision" in choice(small, "precision").reason
    assert choice(small, "num_epochs").value == "2"  # 1,000-10,000 examples
    big = configure(ws, base_model="meta-llama/Llama-3.1-70B-Instruct", gpu="a100-80gb", examples=20_000, out_dir="big")
    assert big.method == "qlora" and big.memory.fits and big.plan.optimizer == "paged_adamw_8bit"
    assert choice(big, "learning_rate").value == "0.0001"  # low end for >= 30B
    assert choice(big, "num_epochs").value == "1"  # > 10,000 examples
    tight = configure(
        ws, base_model="meta-llama/Llama-3.1-70B-Instruct", gpu="l4", method="lora", examples=100, out_dir="t"
    )
    assert tight.memory.fits is False and tight.memory.gpus_needed > 1
    assert any("GB needed" in w for w in tight.warnings)


def test_a_plan_that_does_not_fit_one_gpu_gets_a_sharding_mode_with_its_cost(ws: Workspace) -> None:
    """LoRA on a 70B model over 80 GB GPUs: FSDP over the fewest GPUs that hold the sharded weights, with the
    traffic it adds; with fewer GPUs at hand, DeepSpeed ZeRO-3 with CPU offload; the plan carries the mode."""
    from tools.plan import plan_math as pm
    from tools.plan.scale import sharded_per_gpu

    args = {"base_model": "meta-llama/Llama-3.1-70B-Instruct", "gpu": "a100-80gb", "method": "lora", "examples": 100}
    r = configure(ws, **args, out_dir="s1")
    pick = choice(r, "sharding")
    assert r.memory.fits is False and r.memory.sharding == "fsdp" and r.plan.sharding == "fsdp"
    need = pm.training_memory("lora", 70, r.plan.per_device_batch_size * r.plan.max_seq_len)
    gpus = r.memory.gpus_needed
    assert sharded_per_gpu(need, gpus) <= 80 < sharded_per_gpu(need, gpus - 1)  # the fewest GPUs that hold it
    assert r.memory.per_gpu_gb == round(sharded_per_gpu(need, gpus), 1)
    assert pick.value == f"fsdp over {gpus} GPUs, about {r.memory.per_gpu_gb:g} GB each"
    traffic = 2 * need.weights_gb * (gpus - 1) / gpus
    assert f"about {traffic:.1f} GB per micro-batch" in pick.reason and "does not fit one 80 GB GPU" in pick.reason
    assert pick.source.startswith("https://")
    plan = json.loads((ws.root / r.plan_file).read_text())
    assert plan["sharding"] == "fsdp" and plan["offload"] is False

    few = configure(ws, **args, gpu_count=2, out_dir="s2")
    assert few.plan.sharding == "deepspeed_zero3" and few.plan.offload and few.memory.gpus_needed == 2
    assert "CPU offload" in choice(few, "sharding").value and "slowest" in choice(few, "sharding").reason

    fits = configure(ws, base_model="meta-llama/Llama-3.1-8B-Instruct", gpu="a100-80gb", out_dir="s3")
    assert fits.memory.fits and fits.memory.sharding is None and fits.plan.sharding == "ddp"
    assert not [c for c in fits.choices if c.name == "sharding"]


def test_full_fine_tuning_has_no_lora_plan(ws: Workspace) -> None:
    result = configure(ws, base_model="Qwen/Qwen3-0.6B", method="full", examples=300)
    assert result.plan is None and result.plan_file is None
    assert choice(result, "learning_rate").value == "2e-05"
    assert any("launch_lora runs LoRA" in w for w in result.warnings)
    trl = yaml.safe_load((ws.root / "finetune-config/trl_sft.yaml").read_text())
    assert "use_peft" not in trl


def _exports(result, ws: Workspace) -> dict[str, Path]:
    return {e.kind: ws.root / e.path for e in result.exports}


def test_trl_yaml_loads_into_real_trl_and_peft(ws: Workspace) -> None:
    from peft import LoraConfig
    from trl import SFTConfig

    from tools.plan.trl_config import lora_kwargs, trainer_kwargs

    result = configure(ws, dataset=data(ws), base_model="Qwen/Qwen3-0.6B")
    cfg = yaml.safe_load(_exports(result, ws)["trl_yaml"].read_text())
    lora = LoraConfig(**lora_kwargs(cfg))
    assert lora.r == result.plan.lora_r and lora.target_modules == "all-linear"
    args = SFTConfig(**trainer_kwargs(cfg))
    assert args.learning_rate == result.plan.learning_rate
    assert args.gradient_accumulation_steps * args.per_device_train_batch_size == result.plan.effective_batch
    assert cfg["max_length"] == result.plan.max_seq_len


def test_trl_python_runs_against_real_peft_and_transformers(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The script with stand-in `trl` / `datasets` modules: SFTConfig is TrainingArguments plus TRL's own fields."""
    from transformers import TrainingArguments

    try:  # the real TRL when it is installed (it is not a dependency of this package)
        from trl.trainer.sft_config import SFTConfig
    except ImportError:

        @dataclasses.dataclass
        class SFTConfig(TrainingArguments):  # type: ignore[no-redef]
            max_length: int | None = 1024
            packing: bool = False
            assistant_only_loss: bool = False

    class Split(dict):
        pass

    fake_trl = types.ModuleType("trl")
    fake_trl.SFTConfig, fake_trl.SFTTrainer = SFTConfig, object
    fake_datasets = types.ModuleType("datasets")
    fake_datasets.load_dataset = lambda *a, **k: types.SimpleNamespace(
        train_test_split=lambda **kw: Split(train=[], test=[])
    )
    monkeypatch.setitem(sys.modules, "trl", fake_trl)
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets)
    result = configure(ws, dataset=data(ws))
    source = _exports(result, ws)["trl_python"].read_text()
    scope: dict = {"__name__": "trl_sft"}
    exec(compile(source, "trl_sft.py", "exec"), scope)  # noqa: S102 - our own generated file
    assert scope["training_args"].max_length == result.plan.max_seq_len
    assert scope["peft_config"].r == result.plan.lora_r and scope["peft_config"].lora_alpha == result.plan.lora_alpha


def test_axolotl_and_llamafactory_use_documented_keys(ws: Workspace) -> None:
    from transformers import TrainingArguments

    hf = {f.name for f in dataclasses.fields(TrainingArguments)}
    for method in ("lora", "qlora"):
        result = configure(ws, dataset=data(ws), base_model="Qwen/Qwen3-8B", method=method, out_dir=method)
        files = _exports(result, ws)
        ax = yaml.safe_load(files["axolotl"].read_text())
        assert set(ax) <= AXOLOTL_KEYS, set(ax) - AXOLOTL_KEYS
        assert (
            ax["adapter"] == method
            and ax["lora_target_linear"] is True
            and ax["sequence_len"] == result.plan.max_seq_len
        )
        lf = yaml.safe_load(files["llamafactory"].read_text())
        assert set(lf) <= LLAMAFACTORY_KEYS | hf, set(lf) - LLAMAFACTORY_KEYS - hf
        assert (
            lf["lora_target"] == "all"
            and lf["template"] == "qwen3_nothink"
            and lf["cutoff_len"] == result.plan.max_seq_len
        )
        assert ("quantization_bit" in lf) == (method == "qlora")
        info = json.loads(files["llamafactory_dataset_info"].read_text())
        assert info["finetune_train"]["file_name"] == "train.jsonl"


def test_unsloth_script_compiles_and_carries_the_plan(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws), base_model="unsloth/Llama-3.2-1B-Instruct")
    source = _exports(result, ws)["unsloth"].read_text()
    compile(source, "unsloth_train.py", "exec")
    assert f"r={result.plan.lora_r}" in source and "use_gradient_checkpointing='unsloth'" in source
    assert f"max_seq_length={result.plan.max_seq_len}" in source


def test_provider_job_requests(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws), provider_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    files = _exports(result, ws)
    together = json.loads(files["together_job"].read_text())
    assert set(together) <= TOGETHER_KEYS and together["lora"] is True and together["lora_r"] == result.plan.lora_r
    assert together["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    openai = json.loads(files["openai_job"].read_text())
    assert openai["method"]["type"] == "supervised" and openai["model"].startswith("gpt-")
    assert openai["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3
    entry = next(e for e in result.exports if e.kind == "openai_job")
    assert entry.legacy and "2027-01-06" in entry.note and files["openai_job"].name == "openai_job_legacy.json"
    assert any("2027-01-06" in w for w in result.warnings)


def test_only_the_exports_asked_for(ws: Workspace) -> None:
    result = configure(ws, dataset=data(ws), exports=["axolotl"])
    assert sorted(e.kind for e in result.exports) == ["axolotl", "launch_lora_plan"]


@pytest.mark.parametrize(
    "args, code, word",
    [
        ({"gpu": "tpu-v9"}, "unknown_gpu", "tpu-v9"),
        ({"gpu": "l4", "gpu_memory_gb": 24}, "contradicting_inputs", "gpu_memory_gb"),
        ({"gpu_memory_gb": -1}, "bad_gpu_memory", "gpu_memory_gb"),
        ({"model_params_b": 0}, "bad_model_size", "model_params_b"),
        ({"method": "dora"}, "invalid_arguments", "method"),
        ({"epochs": -1}, "invalid_arguments", "epochs"),
        ({"dataset": "missing.jsonl"}, "file_not_found", "missing.jsonl"),
        ({"out_dir": "../outside"}, "path_outside_workspace", "outside"),
    ],
)
def test_bad_input(ws: Workspace, args: dict, code: str, word: str) -> None:
    with pytest.raises(ToolError) as exc:
        configure(ws, **args)
    assert exc.value.code == code and word in exc.value.message + (exc.value.hint or "")


def test_cli_config(in_ws: Workspace) -> None:
    data(in_ws)
    result = CliRunner().invoke(app, ["config", "train.jsonl", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["lora_r"] == 16
    human = CliRunner().invoke(app, ["config", "train.jsonl", "--model", "Qwen/Qwen3-8B", "--gpu", "l4", "--out", "c2"])
    assert human.exit_code == 0 and "finetune train" in human.stdout
    bad = CliRunner().invoke(app, ["config", "--gpu", "nope"])
    assert bad.exit_code == 2


def test_trl_yaml_parses_with_the_real_trl_cli_parser(ws: Workspace) -> None:
    trl = pytest.importorskip("trl", reason="trl is optional; with it installed `trl sft --config` is checked for real")
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser

    result = configure(ws, dataset=data(ws), base_model="Qwen/Qwen3-0.6B")
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))
    script, training, model = parser.parse_args_and_config(["--config", str(_exports(result, ws)["trl_yaml"])])
    assert training.max_length == result.plan.max_seq_len and model.use_peft and model.lora_r == result.plan.lora_r
    assert script.dataset_name == "train.jsonl" and trl.__version__
