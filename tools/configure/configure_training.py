"""configure_training: hyperparameters with reasons, a memory estimate, and the same plan exported for every trainer.

Defaults come from ``reference/data/lora_defaults.yaml`` (the numbers launch_lora trains with) and
``training.yaml`` (method-specific learning rates, ranges, memory rules, dataset-size rules). The
output's ``plan`` is a :class:`tools.plan.training_plan.TrainingPlan`, and ``plan_file`` holds it as JSON,
so ``launch_lora(plan=...)`` or ``launch_lora(plan_file=...)`` trains exactly what was configured.
"""

from __future__ import annotations

import math

from tools import knowledge
from tools.configure import exports as cx
from tools.configure.files import write_exports
from tools.configure.models import Choice, ConfigRequest, ConfigResult, MemoryFit, SequenceStats
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import current
from tools.knowledge.lora_defaults import load_defaults
from tools.plan import plan_math as pm
from tools.plan.scale import ShardingPick, pick_sharding
from tools.plan.training_plan import TrainingPlan, cadence, tiny_model_learning_rate

MAX_MICRO_BATCH = 8


def _gpu(req: ConfigRequest) -> tuple[str | None, float | None]:
    if req.gpu and req.gpu_memory_gb:
        raise ToolError("contradicting_inputs", "give gpu or gpu_memory_gb, not both", "gpu names a gpus.yaml row")
    if req.gpu:
        g = knowledge.gpus().gpu(req.gpu)
        return g.id, g.memory_gb
    if req.gpu_memory_gb is not None:
        if not 0 < req.gpu_memory_gb <= 4096:
            raise ToolError(
                "bad_gpu_memory", f"gpu_memory_gb={req.gpu_memory_gb} is not a plausible GPU memory", "e.g. 24 or 80"
            )
        return f"{req.gpu_memory_gb:g} GB GPU", req.gpu_memory_gb
    return None, None


def _sequence(
    req: ConfigRequest, base_model: str, choices: list[Choice]
) -> tuple[SequenceStats | None, int, int | None]:
    d = load_defaults()
    row = d.row("max_seq_len")
    if not req.dataset:
        value = req.max_seq_len or int(d.number("max_seq_len"))
        choices.append(
            Choice(
                name="max_seq_len",
                value=str(value),
                reason="given" if req.max_seq_len else f"no dataset to measure: {row.why}",
                source=row.source,
            )
        )
        return None, value, req.examples
    ws = current()
    path = ws.input_file(req.dataset, what="dataset")
    counted = pm.count_dataset(path, ws.relative(path), base_model)
    lengths = counted.billed
    p99 = pm.percentile(lengths, 99)
    if req.max_seq_len:
        value, why = req.max_seq_len, "given"
    else:
        step = 64
        value = max(step, math.ceil(p99 / step) * step)
        why = f"covers the 99th percentile ({p99} tokens) rounded up to a multiple of {step}; {row.why}"
    long_lines = [line for line, n in zip(counted.lines, lengths, strict=True) if n > value]
    stats = SequenceStats(
        examples=counted.examples,
        p50=pm.percentile(lengths, 50),
        p95=pm.percentile(lengths, 95),
        p99=p99,
        max=max(lengths),
        max_seq_len=value,
        truncated_examples=len(long_lines),
        truncated_lines=long_lines[:10],
        counter=counted.counter,
    )
    choices.append(
        Choice(
            name="max_seq_len",
            value=str(value),
            reason=why
            + (f"; {len(long_lines)} example(s) longer would be truncated" if long_lines else "; nothing is truncated"),
            source=row.source,
        )
    )
    return stats, value, counted.examples


def _micro_default() -> int:
    return int(load_defaults().number("per_device_batch_size"))


def _method(
    req: ConfigRequest,
    params: float,
    micro: int,
    max_seq: int,
    gpu_mem: float | None,
    choices: list[Choice],
    warnings: list[str],
) -> tuple[str, pm.MemoryNeed]:
    """LoRA first; QLoRA when LoRA does not fit the GPU; full only when asked."""
    lora_first = next(p for p in knowledge.decision().principles if p.id == "lora_first")
    method = req.method or "lora"
    need = pm.training_memory(method, params, micro * max_seq)
    if req.method is None and gpu_mem is not None and need.total_gb > gpu_mem:
        q = pm.training_memory("qlora", params, micro * max_seq)
        if q.total_gb <= gpu_mem or q.total_gb < need.total_gb:
            method, need = "qlora", q
    if req.method:
        reason = "given"
    elif method == "lora":
        reason = lora_first.text
    else:
        reason = (
            f"LoRA needs about {pm.training_memory('lora', params, micro * max_seq).total_gb:.1f} GB, more than the "
            f"{gpu_mem:g} GB GPU; 4-bit QLoRA trades speed for memory"
        )
    choices.append(Choice(name="method", value=method, reason=reason, source=lora_first.source))
    if method == "full":
        warnings.append(
            "full fine-tuning: launch_lora runs LoRA/QLoRA only; use the TRL, Axolotl or LLaMA-Factory export"
        )
    return method, need


def _learning_rate(
    req: ConfigRequest, method: str, params: float, base_model: str, choices: list[Choice], warnings: list[str]
) -> float:
    """By method and model size (the tiny model has its own)."""
    d = load_defaults()
    train = knowledge.training()
    hp_method = {"lora": "sft_lora", "qlora": "sft_qlora", "full": "sft_full"}[method]
    lr_row = train.hyper(hp_method, "learning_rate")
    large = train.constant("large_model_params_b")
    if req.learning_rate:
        lr, why = req.learning_rate, "given"
        if not lr_row.low <= lr <= lr_row.high:
            warnings.append(f"learning_rate {lr:g} is outside the usual {lr_row.low:g}-{lr_row.high:g} for {method}")
    elif (tiny_lr := tiny_model_learning_rate(base_model)) is not None:
        lr, why = tiny_lr
    elif params >= large.value:
        lr, why = lr_row.low, f"{params:g}B >= {large.value:g}B: the low end for {method} ({large.note})"
    else:
        lr = d.number("learning_rate") if method != "full" else lr_row.default
        why = f"{method} default ({lr_row.note or d.row('learning_rate').why})"
    choices.append(Choice(name="learning_rate", value=f"{lr:g}", reason=why, source=lr_row.source))
    return lr


def _sharding(
    req: ConfigRequest,
    method: str,
    need: pm.MemoryNeed,
    gpu_mem: float | None,
    choices: list[Choice],
    warnings: list[str],
) -> ShardingPick | None:
    """The sharding mode when the plan does not fit one GPU: which, over how many GPUs, why, and its speed cost."""
    if gpu_mem is None or need.total_gb <= gpu_mem:
        return None
    try:
        pick = pick_sharding(method, need, gpu_mem, req.gpu_count)
    except ToolError as exc:
        warnings.append(f"{exc.message}; {exc.hint}")
        return None
    if pick is None:
        return None
    row = knowledge.training().constant("sharded_weight_gathers_per_micro_batch")
    choices.append(
        Choice(
            name="sharding", value=_pick_text(pick), reason=f"{pick.why}; speed: {pick.speed_cost}", source=row.source
        )
    )
    if method == "qlora" and pick.sharding == "deepspeed_zero3":
        warnings.append("QLoRA with DeepSpeed ZeRO-3 has not been run here (no GPU machine); try a few steps first")
    return pick


def _pick_text(pick: ShardingPick) -> str:
    offload = " with CPU offload" if pick.offload else ""
    return f"{pick.sharding}{offload} over {pick.gpus} GPUs, about {pick.per_gpu_gb:g} GB each"


@tool(effect="write", stage="configure")
def configure_training(req: ConfigRequest) -> ConfigResult:
    """Recommends a LoRA / QLoRA / full fine-tuning configuration with a reason and source for every value (method,
    rank, alpha, dropout, target modules, learning rate by method and model size, epochs by dataset size, effective
    batch and gradient accumulation for the GPU memory, max sequence length from the dataset's token percentiles
    with what would be truncated, warmup, scheduler, clipping, eval cadence, precision, seed), estimates the memory
    and whether it fits the GPU, and writes the same plan as a launch_lora plan file, TRL SFTConfig + peft
    LoraConfig (Python and YAML), Axolotl YAML, LLaMA-Factory YAML, an Unsloth script, a Together job request and an
    OpenAI job request (legacy).

    Use after decide_fit says fine-tune and the data is validated; the plan file goes straight to
    launch_lora. It does not train or upload anything. Memory figures are planning estimates; a short
    run measures the truth.
    """
    ws = current()
    d = load_defaults()
    train = knowledge.training()
    base_model = req.base_model or TrainingPlan.model_fields["base_model"].default
    params, params_from = pm.model_size(base_model, req.model_params_b)
    gpu_name, gpu_mem = _gpu(req)
    choices: list[Choice] = []
    warnings: list[str] = []
    seq_stats, max_seq, examples = _sequence(req, base_model, choices)

    method, need = _method(req, params, _micro_default(), max_seq, gpu_mem, choices, warnings)
    micro = _micro_default()
    # micro-batch for the memory at hand, then gradient accumulation for the effective batch
    eff_row = train.hyper("sft_lora", "effective_batch_size")
    eff = req.effective_batch_size or int(d.number("per_device_batch_size") * d.number("gradient_accumulation_steps"))
    eval_fraction = d.number("eval_fraction")
    train_examples = math.floor(examples * (1 - eval_fraction)) if examples else None
    min_steps = train.constant("min_steps_per_epoch")
    if not req.effective_batch_size and train_examples:
        while eff > eff_row.low and train_examples / eff < min_steps.value:
            eff //= 2
    if gpu_mem is not None:
        while micro > 1 and pm.training_memory(method, params, micro * max_seq).total_gb > gpu_mem:
            micro //= 2
        while (
            micro * 2 <= min(MAX_MICRO_BATCH, eff)
            and pm.training_memory(method, params, micro * 2 * max_seq).total_gb <= gpu_mem * 0.9
        ):
            micro *= 2
    micro = min(micro, eff)
    accum = max(1, math.ceil(eff / micro))
    eff = micro * accum
    choices.append(
        Choice(
            name="effective_batch_size",
            value=f"{eff} = {micro} per device x {accum} accumulation",
            reason=("given; " if req.effective_batch_size else "")
            + f"{eff_row.note} (range {eff_row.low:g}-{eff_row.high:g})"
            + (
                f"; halved so an epoch has at least {min_steps.value:g} steps"
                if train_examples and eff < 16 and not req.effective_batch_size
                else ""
            )
            + ("; micro-batch sized to the GPU memory" if gpu_mem is not None else ""),
            source=eff_row.source,
        )
    )
    if eff > eff_row.high:
        warnings.append(f"effective batch {eff} is above {eff_row.high:g}: {eff_row.note}")
    need = pm.training_memory(method, params, micro * max_seq)

    lr = _learning_rate(req, method, params, base_model, choices, warnings)

    # epochs by dataset size
    if req.epochs:
        epochs, why = req.epochs, "given"
    else:
        epochs, why = pm.epochs_for(examples)
    choices.append(
        Choice(name="num_epochs", value=f"{epochs:g}", reason=why, source=train.hyper("any", "epochs").source)
    )

    r = req.lora_r or int(d.number("lora_r"))
    ratio = d.number("lora_alpha") / d.number("lora_r")
    for name, value, row in (
        ("lora_r", r, d.row("lora_r")),
        ("lora_alpha", r * ratio, d.row("lora_alpha")),
        ("lora_dropout", d.number("lora_dropout"), d.row("lora_dropout")),
        ("target_modules", d.text("target_modules"), d.row("target_modules")),
        ("lr_scheduler", d.text("lr_scheduler"), d.row("lr_scheduler")),
        ("warmup_ratio", d.number("warmup_ratio"), d.row("warmup_ratio")),
        ("max_grad_norm", d.number("max_grad_norm"), d.row("max_grad_norm")),
        ("weight_decay", d.number("weight_decay"), d.row("weight_decay")),
        ("seed", req.seed if req.seed is not None else int(d.number("seed")), d.row("seed")),
    ):
        if method == "full" and name.startswith(("lora", "target")):
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        choices.append(
            Choice(
                name=name,
                value=shown,
                reason=row.why if not (name == "lora_r" and req.lora_r) else "given",
                source=row.source,
            )
        )
    optimizer = "paged_adamw_8bit" if method == "qlora" else d.text("optimizer")
    opt_row = next(c for c in train.choices if c.name == "optimizer_lora")
    choices.append(
        Choice(name="optimizer", value=optimizer, reason=opt_row.note or d.row("optimizer").why, source=opt_row.source)
    )
    prec = next(c for c in train.choices if c.name == "precision")
    same = next(p for p in knowledge.decision().principles if p.id == "same_precision")
    precision = "bf16" if gpu_mem is not None else "auto"
    choices.append(
        Choice(
            name="precision",
            value=precision,
            reason=f"{prec.note}; {same.text}"
            + ("" if gpu_mem is not None else " (auto: bf16 on a GPU that has it, fp32 on CPU)"),
            source=prec.source,
        )
    )

    steps_per_epoch = math.ceil(train_examples / eff) if train_examples else None
    total = math.ceil(steps_per_epoch * epochs) if steps_per_epoch else None
    seed = req.seed if req.seed is not None else int(d.number("seed"))
    plan = None
    if method != "full":
        plan = TrainingPlan(
            base_model=base_model,
            method=method,
            lora_r=r,
            lora_alpha=r * ratio,
            learning_rate=lr,
            num_epochs=epochs,
            per_device_batch_size=micro,
            gradient_accumulation_steps=accum,
            max_seq_len=max_seq,
            seed=seed,
            optimizer=optimizer,  # type: ignore[arg-type]
            precision="bf16" if gpu_mem is not None else "auto",
        )
    log_steps, eval_steps, save_steps = cadence(total or 100, plan or TrainingPlan())
    choices.append(
        Choice(
            name="eval cadence",
            value=f"eval every {eval_steps}, save every {save_steps}, log every {log_steps} steps",
            reason=f"{d.row('evals_per_run').why}; {d.row('saves_per_run').why}",
            source=d.row("evals_per_run").source,
        )
    )

    fits = None if gpu_mem is None else need.total_gb <= gpu_mem
    pick = _sharding(req, method, need, gpu_mem, choices, warnings)
    if pick and plan is not None:
        plan = plan.model_copy(update={"sharding": pick.sharding, "offload": pick.offload})
    memory = MemoryFit(
        need_gb=round(need.total_gb, 1),
        breakdown=(
            f"{need.weights_gb:.1f} GB weights/optimizer ({need.bytes_per_param:g} B/param x {params:g}B, "
            f"{params_from}) + "
            f"{need.overhead_gb:.1f} GB overhead + {need.activations_gb:.1f} GB activations ({micro} x {max_seq} "
            f"tokens)"
        ),
        gpu=gpu_name,
        gpu_memory_gb=gpu_mem,
        fits=fits,
        gpus_needed=pick.gpus if pick else pm.gpus_needed(need.total_gb, gpu_mem) if gpu_mem else None,
        sharding=pick.sharding if pick else None,
        per_gpu_gb=pick.per_gpu_gb if pick else None,
        note="planning estimate (training.yaml memory rules); measure with a short run"
        + (
            ""
            if fits is not False
            else f"; does not fit one GPU: {_pick_text(pick)}"
            if pick
            else "; does not fit: shorten max_seq_len, use QLoRA, or shard over GPUs (FSDP/DeepSpeed)"
        ),
    )
    if fits is False:
        warnings.append(f"about {need.total_gb:.1f} GB needed, the GPU has {gpu_mem:g} GB")
    if seq_stats and seq_stats.truncated_examples:
        warnings.append(
            f"{seq_stats.truncated_examples} example(s) exceed max_seq_len {max_seq} and would be truncated"
        )

    out_dir = ws.resolve(req.out_dir or "finetune-config", what="out_dir")
    view = cx.PlanView(
        base_model=base_model,
        method=method,
        lora_r=r,
        lora_alpha=r * ratio,
        lora_dropout=d.number("lora_dropout"),
        target_modules=[d.text("target_modules")],
        learning_rate=lr,
        lr_scheduler=d.text("lr_scheduler"),
        warmup_ratio=d.number("warmup_ratio"),
        weight_decay=d.number("weight_decay"),
        max_grad_norm=d.number("max_grad_norm"),
        optimizer=optimizer,
        num_epochs=epochs,
        per_device_batch_size=micro,
        gradient_accumulation_steps=accum,
        max_seq_len=max_seq,
        eval_fraction=eval_fraction,
        eval_steps=eval_steps,
        save_steps=save_steps,
        logging_steps=log_steps,
        keep_last_k=int(d.number("keep_last_k")),
        seed=seed,
        bf16=gpu_mem is not None,
        dataset=ws.relative(ws.input_file(req.dataset)) if req.dataset else "train.jsonl",
        output_dir="outputs/" + (base_model.split("/")[-1] or "model") + f"-{method}",
    )
    exports, plan_file, export_warnings = write_exports(ws, out_dir, view, plan, req, examples)
    warnings += export_warnings
    return ConfigResult(
        method=method,
        plan=plan,
        plan_file=plan_file,
        choices=choices,
        memory=memory,
        sequence=seq_stats,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        exports=exports,
        warnings=warnings,
    )
