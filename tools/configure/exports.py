"""Renders one training plan as the files each trainer or provider reads.

Key names follow each tool's documented configuration (research/training-anchors.md 1.1-1.2):
TRL ``SFTConfig`` (HF ``TrainingArguments`` names plus ``max_length``/``packing``/``assistant_only_loss``)
with a peft ``LoraConfig``; Axolotl (``adapter``, ``lora_r``, ``sequence_len``, ``micro_batch_size``,
``num_epochs``...); LLaMA-Factory (``finetuning_type``, ``lora_rank``, ``lora_target``, ``cutoff_len``...);
Unsloth (``FastLanguageModel`` + TRL); the Together and OpenAI fine-tuning job request bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
EXPORT_KINDS = ("trl_python", "trl_yaml", "axolotl", "llamafactory", "unsloth", "together_job", "openai_job")
LLAMAFACTORY_TEMPLATES = (
    ("qwen3", "qwen3_nothink"),
    ("qwen2.5", "qwen"),
    ("qwen", "qwen"),
    ("llama-3", "llama3"),
    ("llama3", "llama3"),
    ("mistral", "mistral"),
    ("gemma", "gemma"),
    ("phi", "phi"),
)
SFT_ONLY_KEYS = ("max_length", "packing", "assistant_only_loss", "completion_only_loss", "dataset_text_field")
PEFT_KEYS = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
}


@dataclass
class PlanView:
    """The plan fields every export needs (method may be full, which TrainingPlan does not hold)."""

    base_model: str
    method: str  # lora | qlora | full
    lora_r: int
    lora_alpha: float
    lora_dropout: float
    target_modules: list[str]
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    optimizer: str
    num_epochs: float
    per_device_batch_size: int
    gradient_accumulation_steps: int
    max_seq_len: int
    eval_fraction: float
    eval_steps: int
    save_steps: int
    logging_steps: int
    keep_last_k: int
    seed: int
    bf16: bool
    dataset: str
    output_dir: str

    @property
    def all_linear(self) -> bool:
        return [t.lower() for t in self.target_modules] == ["all-linear"]

    @property
    def modules(self) -> list[str]:
        return LINEAR_MODULES if self.all_linear else list(self.target_modules)


def trl_config(p: PlanView) -> dict[str, Any]:
    """Flat keys for `trl sft --config`: TrainingArguments + SFTConfig names, and the peft flags."""
    cfg: dict[str, Any] = {
        "model_name_or_path": p.base_model,
        "dataset_name": p.dataset,
        "output_dir": p.output_dir,
        "learning_rate": p.learning_rate,
        "num_train_epochs": p.num_epochs,
        "per_device_train_batch_size": p.per_device_batch_size,
        "gradient_accumulation_steps": p.gradient_accumulation_steps,
        "lr_scheduler_type": p.lr_scheduler,
        "warmup_steps": p.warmup_ratio,  # transformers >= 5: a float in [0, 1) is a ratio (warmup_ratio was removed)
        "weight_decay": p.weight_decay,
        "max_grad_norm": p.max_grad_norm,
        "optim": p.optimizer,
        "bf16": p.bf16,
        "seed": p.seed,
        "logging_steps": p.logging_steps,
        "eval_strategy": "steps",
        "eval_steps": p.eval_steps,
        "save_steps": p.save_steps,
        "save_total_limit": p.keep_last_k,
        "report_to": "none",
        "max_length": p.max_seq_len,
        "packing": False,
        "assistant_only_loss": True,
    }
    if p.method != "full":
        cfg.update(
            {
                "use_peft": True,
                "lora_r": p.lora_r,
                "lora_alpha": p.lora_alpha,
                "lora_dropout": p.lora_dropout,
                "lora_target_modules": "all-linear" if p.all_linear else p.modules,
            }
        )
    if p.method == "qlora":
        cfg.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    return cfg


def trl_python(p: PlanView, cfg: dict[str, Any]) -> str:
    """A runnable TRL script with the keys of ``cfg`` (the TRL config the plan renders to)."""
    script = {"model_name_or_path", "dataset_name", "use_peft", "load_in_4bit", "bnb_4bit_quant_type"}
    script |= {"use_bnb_nested_quant", *PEFT_KEYS}
    training = {k: v for k, v in cfg.items() if k not in script}
    args = ",\n    ".join(f"{k}={v!r}" for k, v in training.items())
    lines = [
        '"""TRL SFT run written by finetune-skill configure_training. Run: python trl_sft.py"""',
        "from datasets import load_dataset",
        "from peft import LoraConfig",
        "from trl import SFTConfig, SFTTrainer",
        "",
        f"dataset = load_dataset('json', data_files={p.dataset!r}, split='train').train_test_split("
        f"test_size={p.eval_fraction!r}, seed={p.seed!r})",
        "# transformers >= 5: warmup_steps below 1 is a ratio of the total steps (warmup_ratio was removed)",
        f"training_args = SFTConfig(\n    {args},\n)",
    ]
    if p.method == "full" or not cfg.get("use_peft"):
        lines.append("peft_config = None  # full fine-tuning")
    else:
        lines.append(
            f"peft_config = LoraConfig(\n    r={cfg['lora_r']!r},\n    lora_alpha={cfg['lora_alpha']!r},\n    "
            f"lora_dropout={cfg['lora_dropout']!r},\n"
            f"    target_modules={cfg['lora_target_modules']!r},\n    task_type='CAUSAL_LM',\n)"
        )
    if p.method == "qlora":
        lines.insert(4, "from transformers import BitsAndBytesConfig")
        lines.append(
            "training_args.model_init_kwargs = {'quantization_config': BitsAndBytesConfig(load_in_4bit=True, "
            "bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype='bfloat16')}"
        )
    lines += [
        "",
        "if __name__ == '__main__':",
        f"    trainer = SFTTrainer(model={p.base_model!r}, args=training_args, train_dataset=dataset['train'],"
        " eval_dataset=dataset['test'], peft_config=peft_config)",
        "    trainer.train()",
        "    trainer.save_model()",
    ]
    return "\n".join(lines) + "\n"


def axolotl(p: PlanView) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "base_model": p.base_model,
        "datasets": [{"path": p.dataset, "type": "chat_template"}],
        "chat_template": "tokenizer_default",
        "train_on_inputs": False,
        "val_set_size": p.eval_fraction,
        "output_dir": p.output_dir,
        "sequence_len": p.max_seq_len,
        "sample_packing": False,
        "micro_batch_size": p.per_device_batch_size,
        "gradient_accumulation_steps": p.gradient_accumulation_steps,
        "num_epochs": p.num_epochs,
        "optimizer": p.optimizer,
        "lr_scheduler": p.lr_scheduler,
        "learning_rate": p.learning_rate,
        "warmup_ratio": p.warmup_ratio,
        "weight_decay": p.weight_decay,
        "max_grad_norm": p.max_grad_norm,
        "bf16": "auto" if p.bf16 else False,
        "gradient_checkpointing": True,
        "eval_steps": p.eval_steps,
        "save_steps": p.save_steps,
        "save_total_limit": p.keep_last_k,
        "logging_steps": p.logging_steps,
        "seed": p.seed,
    }
    if p.method != "full":
        cfg.update(
            {"adapter": p.method, "lora_r": p.lora_r, "lora_alpha": p.lora_alpha, "lora_dropout": p.lora_dropout}
        )
        if p.all_linear:
            cfg["lora_target_linear"] = True
        else:
            cfg["lora_target_modules"] = p.modules
    if p.method == "qlora":
        cfg["load_in_4bit"] = True
    return cfg


def llamafactory_template(model: str) -> str | None:
    lowered = model.lower()
    return next((t for key, t in LLAMAFACTORY_TEMPLATES if key in lowered), None)


def llamafactory(p: PlanView) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model_name_or_path": p.base_model,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full" if p.method == "full" else "lora",
        "dataset": "finetune_train",
        "template": llamafactory_template(p.base_model) or "default",
        "cutoff_len": p.max_seq_len,
        "output_dir": p.output_dir,
        "per_device_train_batch_size": p.per_device_batch_size,
        "gradient_accumulation_steps": p.gradient_accumulation_steps,
        "learning_rate": p.learning_rate,
        "num_train_epochs": p.num_epochs,
        "lr_scheduler_type": p.lr_scheduler,
        "warmup_ratio": p.warmup_ratio,
        "weight_decay": p.weight_decay,
        "max_grad_norm": p.max_grad_norm,
        "bf16": p.bf16,
        "val_size": p.eval_fraction,
        "eval_strategy": "steps",
        "eval_steps": p.eval_steps,
        "save_steps": p.save_steps,
        "logging_steps": p.logging_steps,
        "plot_loss": True,
        "report_to": "none",
        "seed": p.seed,
    }
    if p.method != "full":
        cfg.update(
            {
                "lora_rank": p.lora_r,
                "lora_alpha": p.lora_alpha,
                "lora_dropout": p.lora_dropout,
                "lora_target": "all" if p.all_linear else ",".join(p.modules),
            }
        )
    if p.method == "qlora":
        cfg.update({"quantization_bit": 4, "quantization_method": "bnb"})
    return cfg


def llamafactory_dataset_info(dataset: str) -> dict[str, Any]:
    """The data/dataset_info.json entry LLaMA-Factory needs for an OpenAI-style messages file."""
    return {
        "finetune_train": {
            "file_name": dataset,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    }


def unsloth(p: PlanView) -> str:
    return (
        "\n".join(
            [
                '"""Unsloth LoRA run written by finetune-skill configure_training. Run: python unsloth_train.py"""',
                "from unsloth import FastLanguageModel",
                "from unsloth.chat_templates import train_on_responses_only",
                "from datasets import load_dataset",
                "from trl import SFTConfig, SFTTrainer",
                "",
                f"model, tokenizer = FastLanguageModel.from_pretrained(model_name={p.base_model!r}, "
                f"max_seq_length={p.max_seq_len!r},"
                f" load_in_4bit={p.method == 'qlora'!r})",
                f"model = FastLanguageModel.get_peft_model(model, r={p.lora_r!r}, lora_alpha={p.lora_alpha!r}, "
                f"lora_dropout={p.lora_dropout!r}, target_modules={p.modules!r}, use_gradient_checkpointing='unsloth', "
                f"random_state={p.seed!r})",
                f"dataset = load_dataset('json', data_files={p.dataset!r}, split='train')",
                "dataset = dataset.map(lambda row: {'text': tokenizer.apply_chat_template("
                "row['messages'], tokenize=False)})",
                "trainer = SFTTrainer(model=model, tokenizer=tokenizer, train_dataset=dataset, args=SFTConfig(",
                "    dataset_text_field='text',",
                f"    max_length={p.max_seq_len!r},",
                f"    per_device_train_batch_size={p.per_device_batch_size!r},",
                f"    gradient_accumulation_steps={p.gradient_accumulation_steps!r},",
                f"    num_train_epochs={p.num_epochs!r},",
                f"    learning_rate={p.learning_rate!r},",
                f"    lr_scheduler_type={p.lr_scheduler!r},",
                f"    warmup_steps={p.warmup_ratio!r},  # transformers >= 5: a float below 1 is a warm-up ratio",
                f"    weight_decay={p.weight_decay!r},",
                f"    max_grad_norm={p.max_grad_norm!r},",
                f"    logging_steps={p.logging_steps!r},",
                f"    seed={p.seed!r},",
                f"    output_dir={p.output_dir!r},",
                "    report_to='none',",
                "))",
                "trainer = train_on_responses_only(trainer)  # loss on the assistant turns only",
                "",
                "if __name__ == '__main__':",
                "    trainer.train()",
                f"    model.save_pretrained({p.output_dir + '/adapter'!r})",
            ]
        )
        + "\n"
    )


def together_job(p: PlanView, model: str) -> dict[str, Any]:
    """POST /v1/fine-tunes body (training_file is the id `together files upload` returns)."""
    job: dict[str, Any] = {
        "training_file": "<file-id from: together files upload " + p.dataset + ">",
        "model": model,
        "n_epochs": max(1, round(p.num_epochs)),
        "n_checkpoints": 1,
        "n_evals": 0,
        "batch_size": "max",
        "learning_rate": p.learning_rate,
        "warmup_ratio": p.warmup_ratio,
        "max_grad_norm": p.max_grad_norm,
        "weight_decay": p.weight_decay,
        "train_on_inputs": "auto",
        "lora": p.method != "full",
        "suffix": "finetune-skill",
    }
    if p.method != "full":
        job.update(
            {
                "lora_r": p.lora_r,
                "lora_alpha": p.lora_alpha,
                "lora_dropout": p.lora_dropout,
                "lora_trainable_modules": "all-linear" if p.all_linear else ",".join(p.modules),
            }
        )
    return job


def openai_job(p: PlanView, model: str, epochs: int | str) -> dict[str, Any]:
    """POST /v1/fine_tuning/jobs body (supervised). OpenAI exposes only epochs, batch size and an LR multiplier."""
    return {
        "model": model,
        "training_file": "<file-id from: POST /v1/files purpose=fine-tune " + p.dataset + ">",
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": epochs, "batch_size": "auto", "learning_rate_multiplier": "auto"}
            },
        },
        "seed": p.seed,
        "suffix": "finetune-skill",
    }


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
