"""The training variants the GPU benchmark times, each on the same data, LoRA config and optimizer batch.

- ``a``: HF Trainer + peft, random batches padded to the longest, SDPA, the full-vocabulary loss: the tutorial run.
- ``b``: the same with ``train_sampling_strategy="group_by_length"`` (transformers 5's ``group_by_length``).
- ``c_plan``: our engine (tools.train.engine's LeanSFTTrainer on TRL's SFTTrainer) with the TRL config that
  tools.plan.trl_config renders from configure_training's plan, unchanged (its batching is length-grouped).
- ``c``: the same plan with ``batching="packed"``: padding-free rows whose position ids restart per example, which
  transformers turns into a block-diagonal mask (FlashAttention-2 when installed, else SDPA), Liger kernels when
  installed, gradient checkpointing as planned.
- ``d``: ``c`` on a 4-bit NF4 base (QLoRA through bitsandbytes), when bitsandbytes imports and CUDA is there.

Timing: a callback synchronises the device at the end of every optimizer step; the first ``warmup`` steps are
dropped and the next ``steps`` are timed. Tokens are counted from the batches the trainer actually trained.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.gpu import metrics as M

IGNORE = -100


@dataclass
class Settings:
    device: str
    steps: int
    warmup: int
    per_device: int
    accum: int
    max_len: int
    seed: int
    lora: dict[str, Any]
    optimizer: str
    learning_rate: float
    out_dir: str

    @property
    def bf16(self) -> bool:
        return self.device.startswith("cuda")


@dataclass
class Clock:
    """Per optimizer step: wall time at its end and the tokens trained up to then."""

    device: str
    times: list[float] = field(default_factory=list)
    counts: list[tuple[int, int, int]] = field(default_factory=list)
    lengths: list[list[int]] = field(default_factory=list)
    trained: int = 0
    real: int = 0
    padded: int = 0
    pending: list[int] = field(default_factory=list)

    def count(self, inputs: dict[str, Any]) -> None:
        labels = inputs["labels"]
        self.trained += int((labels[..., 1:] != IGNORE).sum())
        self.padded += int(inputs["input_ids"].numel())
        if "position_ids" in inputs and "attention_mask" not in inputs:
            starts = (inputs["position_ids"][0] == 0).nonzero().flatten().tolist()
            ends = [*starts[1:], int(inputs["input_ids"].shape[-1])]
            sizes = [e - s for s, e in zip(starts, ends, strict=True)]
        else:
            sizes = [int(x) for x in inputs["attention_mask"].sum(-1).tolist()]
        self.real += sum(sizes)
        self.pending += sizes

    def step_end(self) -> None:
        M.sync(self.device)
        self.times.append(time.perf_counter())
        self.counts.append((self.trained, self.real, self.padded))
        self.lengths.append(self.pending)
        self.pending = []


def clock_callback(clock: Clock) -> Any:
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if clock.device.startswith("cuda"):
                import torch

                torch.cuda.reset_peak_memory_stats()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.step_end()

    return StepClock()


def counting(base: type, clock: Clock) -> type:
    """``base`` with its training_step counting the tokens of each batch it trains."""

    def training_step(self: Any, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        clock.count(inputs)
        return base.training_step(self, model, inputs, *args, **kwargs)

    return type(f"Timed{base.__name__}", (base,), {"training_step": training_step})


def build_model(config: dict[str, Any], s: Settings, attn: str, seed: int) -> Any:
    """A randomly initialised causal LM of this architecture on the device (bf16 on CUDA, fp32 on CPU)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**config)
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if s.bf16 else torch.float32
    with torch.device(s.device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)
    model.config.use_cache = False
    return model


def quantize_4bit(model: Any) -> Any:
    """Every linear layer of the decoder replaced by a bitsandbytes NF4 layer (double quantisation, bf16 compute),
    as ``BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)`` loads
    a checkpoint; the random bf16 weights are quantised on the GPU."""
    import bitsandbytes as bnb
    import torch

    decoder = model.get_decoder()
    for parent in list(decoder.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear):
                continue
            layer = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=torch.bfloat16,
                compress_statistics=True,
                quant_type="nf4",
                device="meta",
            )
            weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, compress_statistics=True, quant_type="nf4"
            )
            layer.weight = weight.to(child.weight.device)
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, layer)
            del child
    gc.collect()
    torch.cuda.empty_cache()
    model.is_loaded_in_4bit = True
    return model


def release(*objects: Any) -> None:
    import torch

    for obj in objects:
        del obj
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_hf(config: dict[str, Any], tokenizer: Any, rows: list[dict[str, Any]], s: Settings, grouped: bool) -> Any:
    """Variants a and b: transformers Trainer + peft with DataCollatorForSeq2Seq (padding to the longest)."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model = get_peft_model(build_model(config, s, "sdpa", s.seed), LoraConfig(**s.lora))
    clock = Clock(s.device)
    args = TrainingArguments(
        **common_args(s),
        train_sampling_strategy="group_by_length" if grouped else "random",
        gradient_checkpointing=s.bf16,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
    trainer = counting(Trainer, clock)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        callbacks=[clock_callback(clock)],
    )
    trainer.train()
    return trainer, clock


def common_args(s: Settings) -> dict[str, Any]:
    return {
        "output_dir": s.out_dir,
        "max_steps": s.warmup + s.steps,
        "per_device_train_batch_size": s.per_device,
        "gradient_accumulation_steps": s.accum,
        "learning_rate": s.learning_rate,
        "optim": s.optimizer,
        "bf16": s.bf16,
        "use_cpu": not s.device.startswith("cuda"),
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_steps": s.warmup + s.steps,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": s.seed,
        "data_seed": s.seed,
    }


def engine_attention(device: str) -> str:
    """FlashAttention-2 where its package imports on CUDA; else SDPA (transformers' packed-sequence mask)."""
    import importlib.util

    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def liger_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("liger_kernel") is not None


def engine_config(plan: Any, s: Settings, *, liger: bool, save_steps: int | None = None) -> dict[str, Any]:
    """The TRL keys our worker trains with for ``plan`` (tools.plan.trl_config), with the benchmark's step count."""
    from tools.plan.trl_config import trl_config

    cfg = trl_config(
        plan,
        objective="sft",
        dataset="benchmark",
        output_dir=s.out_dir,
        precision="bf16" if s.bf16 else "fp32",
        device="cuda" if s.device.startswith("cuda") else "cpu",
        has_eval=False,
        for_run=True,
    )
    cfg.update(
        max_steps=s.warmup + s.steps,
        logging_steps=s.warmup + s.steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 1,
        save_total_limit=None,
        use_liger_kernel=liger,
    )
    return cfg


def run_engine(
    config: dict[str, Any],
    tokenizer: Any,
    rows: list[dict[str, Any]],
    plan: Any,
    s: Settings,
    *,
    quantized: bool = False,
    callbacks: tuple[Any, ...] = (),
    resume: str | None = None,
    save_steps: int | None = None,
    liger: bool | None = None,
) -> Any:
    """Variants c_plan, c and d: LeanSFTTrainer with the TRL config rendered from ``plan`` (Liger kernels when
    installed on CUDA, unless ``liger`` says otherwise)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

    from tools.plan.trl_config import lora_kwargs, trainer_kwargs
    from tools.train import engine

    if liger is None:
        liger = liger_available() and s.device.startswith("cuda")
    cfg = engine_config(plan, s, liger=liger, save_steps=save_steps)
    attn = engine_attention(s.device) if plan.batching == "packed" else "sdpa"
    model = build_model(config, s, attn, plan.seed)
    if quantized:
        model = quantize_4bit(model)
    clock = Clock(s.device)
    runtime = {"disable_tqdm": True, "dataloader_num_workers": 0, "use_cpu": not s.device.startswith("cuda")}
    trainer_class = counting(engine.lean_sft_class(), clock)
    import torch

    torch.manual_seed(plan.seed)
    trainer = trainer_class(
        model=model,
        args=SFTConfig(**trainer_kwargs(cfg), **runtime),
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(rows),
        peft_config=LoraConfig(**lora_kwargs(cfg)),
        callbacks=[clock_callback(clock), *callbacks],
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer, clock, {"attention": attn, "liger_kernel": liger, "trl_config": _shown(cfg)}


def _shown(cfg: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_length",
        "padding_free",
        "train_sampling_strategy",
        "gradient_checkpointing",
        "optim",
        "bf16",
        "use_liger_kernel",
        "lora_r",
        "lora_alpha",
        "lora_target_modules",
    )
    return {k: cfg.get(k) for k in keys}


def summarise(trainer: Any, clock: Clock, s: Settings, rate_tflops: float | None) -> dict[str, Any]:
    """Tokens/s over the timed steps, peak memory, model FLOPs and MFU of one finished variant."""
    import torch

    first = max(s.warmup, 1)  # the step whose end starts the clock
    if len(clock.times) <= first:
        raise RuntimeError(f"only {len(clock.times)} optimizer steps ran; {s.warmup + s.steps} were asked for")
    seconds = clock.times[-1] - clock.times[first - 1]
    timed = len(clock.times) - first
    (t0, r0, p0), (t1, r1, p1) = clock.counts[first - 1], clock.counts[-1]
    lengths = [n for step in clock.lengths[first:] for n in step]
    shape = M.shape_of(trainer.model)
    flops = shape.flops(lengths)
    achieved = flops / seconds / 1e12
    peak = torch.cuda.max_memory_allocated() / 1e9 if s.device.startswith("cuda") else None
    return {
        "timed_steps": timed,
        "seconds": round(seconds, 3),
        "trained_tokens_per_s": round((t1 - t0) / seconds, 1),
        "all_tokens_per_s": round((r1 - r0) / seconds, 1),
        "padded_tokens_per_s": round((p1 - p0) / seconds, 1),
        "padding_share": round(1 - (r1 - r0) / (p1 - p0), 3) if p1 > p0 else None,
        "model_tflops_per_s": float(f"{achieved:.4g}"),
        "mfu": float(f"{achieved / rate_tflops:.4g}") if rate_tflops else None,
        "peak_memory_gb": round(peak, 2) if peak is not None else None,
        "linear_params": shape.linear_params,
        "lora_params": shape.lora_params,
    }
