"""Trained tokens per CPU-second: our engine vs HF Trainer + peft (group_by_length) vs TRL SFTTrainer (its defaults).

Same pre-tokenized rows (our rendering and assistant-only labels), same model, same LoRA config, one whole epoch,
one thread, each variant in its own process (so peak memory is its own):

- ``hf-trainer-group``: transformers Trainer + peft, ``train_sampling_strategy="group_by_length"`` (transformers 5's
  name for ``group_by_length=True``), fp32, labels padded with -100 (TRL's collator); the model's own loss over
  full logits. A competent user's baseline.
- ``trl-sft-defaults``: TRL SFTTrainer with its own defaults (on a CPU-only machine SFTConfig needs
  ``use_cpu=True``, which gives bf16 autocast; gradient checkpointing on; random sampler), fed the same rows.
- ``ours``: what launch_lora runs: the TRL config rendered from the plan (tools.plan.trl_config) and LeanSFTTrainer
  (tools.train.engine: only the trained positions go through the output layer).

Models: ``tiny`` (tiny-random-llama, 256 chat examples with a log-normal answer-length spread, batch 8) and
``gemma`` (the packaged Gemma 3 270M, real-model extra; the 60 house-style examples of examples/style_train.jsonl,
batch 4, LoRA on q/k/v/o). Trained tokens are the labels != -100 of the batches actually trained (counted in
``training_step``: a collator would also count accelerate's prefetched batch).

    python benchmarks/bench_train.py                  # tiny, then gemma when installed
    python benchmarks/bench_train.py --model tiny --repeats 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VARIANTS = ("hf-trainer-group", "trl-sft-defaults", "ours")
WORDS = (
    "the order boots jacket size return refund strap tent stove pack warranty seam zipper trail "
    "delivery exchange measure chart layer fleece waterproof customer policy steps support"
).split()


def spread_data(n: int, seed: int) -> list[list[dict[str, str]]]:
    """Chat examples whose answer lengths follow a log-normal spread (median ~60 words, tail to ~400)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
        words = min(400, max(3, int(rng.lognormvariate(math.log(60), 0.8))))
        a = " ".join(rng.choice(WORDS) for _ in range(words))
        out.append(
            [
                {"role": "system", "content": "You are the support assistant."},
                {"role": "user", "content": f"#{i} {q}?"},
                {"role": "assistant", "content": a + "."},
            ]
        )
    return out


def _setup(model_name: str, n: int, max_len: int) -> tuple[Any, Any, list[dict[str, Any]], Any, int]:
    from tools.core.workspace import Workspace, using
    from tools.local_models.loader import load_causal_lm, load_tokenizer, resolve_model
    from tools.local_models.render import render_messages

    with using(Workspace(REPO)):
        ref = resolve_model(model_name, REPO)
    tok = load_tokenizer(ref)
    if model_name == "tiny-random-llama":
        convs, targets, batch = spread_data(n, 7), "all-linear", 8
    else:
        lines = (REPO / "examples" / "style_train.jsonl").read_text().splitlines()
        convs, targets, batch = [json.loads(x)["messages"] for x in lines], ["q_proj", "k_proj", "v_proj", "o_proj"], 4
    rows = []
    for c in convs:
        r = render_messages(tok, c, max_len)
        rows.append({"input_ids": r.input_ids, "labels": r.labels})
    return tok, load_causal_lm(ref, seed=0, tokenizer=tok), rows, targets, batch


class _Counting:
    tokens = padded = trained = 0

    def training_step(self, model: Any, inputs: Any, *a: Any, **k: Any) -> Any:
        _Counting.tokens += int(inputs["attention_mask"].sum())
        _Counting.padded += inputs["input_ids"].numel()
        _Counting.trained += int((inputs["labels"][:, 1:] != -100).sum())
        return super().training_step(model, inputs, *a, **k)  # type: ignore[misc]


def run_variant(variant: str, model_name: str, n: int, max_len: int) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments
    from trl import SFTConfig, SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    torch.set_num_threads(1)
    tok, model, rows, targets, batch = _setup(model_name, n, max_len)
    ds = Dataset.from_list(rows)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
    out = tempfile.mkdtemp(prefix=f"bench-{variant}-")
    common = {
        "output_dir": out,
        "per_device_train_batch_size": batch,
        "num_train_epochs": 1,
        "learning_rate": 5e-4,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "seed": 0,
    }
    if variant == "hf-trainer-group":
        args = TrainingArguments(train_sampling_strategy="group_by_length", use_cpu=True, **common)
        cls = type("C", (_Counting, Trainer), {})
        collator = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)
        trainer = cls(
            model=get_peft_model(model, lora), args=args, train_dataset=ds, processing_class=tok, data_collator=collator
        )
    elif variant == "trl-sft-defaults":
        args = SFTConfig(use_cpu=True, dataset_kwargs={"skip_prepare_dataset": True}, **common)
        cls = type("C", (_Counting, SFTTrainer), {})
        trainer = cls(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    else:
        from tools.plan.training_plan import TrainingPlan
        from tools.plan.trl_config import trainer_kwargs, trl_config
        from tools.train.engine import lean_sft_class

        plan = TrainingPlan(
            base_model=model_name,
            per_device_batch_size=batch,
            gradient_accumulation_steps=1,
            num_epochs=1,
            learning_rate=5e-4,
            lora_r=16,
            lora_alpha=32,
            lora_dropout=0.0,
            target_modules=[targets] if isinstance(targets, str) else targets,
            max_seq_len=max_len,
            seed=0,
            eval_fraction=0.0,
        )
        cfg = trl_config(
            plan,
            objective="sft",
            dataset="bench",
            output_dir=out,
            precision="fp32",
            device="cpu",
            has_eval=False,
            for_run=True,
        )
        kwargs = {**trainer_kwargs(cfg), "save_strategy": "no", "report_to": "none", "disable_tqdm": True}
        args = SFTConfig(**kwargs, use_cpu=True)
        cls = type("C", (_Counting, lean_sft_class()), {})
        trainer = cls(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    c0, w0 = time.process_time(), time.perf_counter()
    trainer.train()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "variant": variant,
        "model": model_name,
        "steps": trainer.state.global_step,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "trained_tokens": _Counting.trained,
        "tokens": _Counting.tokens,
        "padded_tokens": _Counting.padded,
        "trained_tok_per_cpu_s": round(_Counting.trained / cpu, 1),
        "tok_per_cpu_s": round(_Counting.tokens / cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(losses[-1], 4) if losses else None,
    }


def _table(rows: list[dict[str, Any]], model: str) -> None:
    print(f"\n{model}: one epoch, one thread, trained tokens per CPU-second (best of repeats)")
    print(
        f"{'variant':18} {'steps':>5} {'trained tok/CPU-s':>18} {'tok/CPU-s':>10} {'padded/real':>11} "
        f"{'peak RSS MB':>11}  loss first -> last"
    )
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["model"] == model and (
            r["variant"] not in best or r["trained_tok_per_cpu_s"] > best[r["variant"]]["trained_tok_per_cpu_s"]
        ):
            best[r["variant"]] = r
    for v in VARIANTS:
        if v in best:
            r = best[v]
            print(
                f"{v:18} {r['steps']:>5} {r['trained_tok_per_cpu_s']:>18,.0f} {r['tok_per_cpu_s']:>10,.0f} "
                f"{r['padded_tokens'] / r['tokens']:>11.2f} {r['peak_rss_mb']:>11,}  "
                f"{r['first_loss']} -> {r['last_loss']}"
            )
    baselines = [best[v]["trained_tok_per_cpu_s"] for v in VARIANTS[:2] if v in best]
    if "ours" in best and baselines:
        ours = best["ours"]["trained_tok_per_cpu_s"]
        trl = best.get("trl-sft-defaults", best["ours"])["trained_tok_per_cpu_s"]
        versus = f"{ours / max(baselines):.2f}x (vs TRL SFTTrainer defaults: {ours / trl:.2f}x)"
        print(f"ratio ours / faster baseline: {versus}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("tiny", "gemma", "both"), default="both")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=1, help="run each variant N times (interleaved), keep the best")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--model-name", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_variant(a.one, a.model_name, a.examples, a.max_len)), flush=True)
        return
    from tools.local_models import gemma

    models = {"tiny": ["tiny-random-llama"], "gemma": [gemma.GEMMA_ID], "both": ["tiny-random-llama", gemma.GEMMA_ID]}
    names = [m for m in models[a.model] if m != gemma.GEMMA_ID or gemma.installed() or gemma.converted()]
    rows: list[dict[str, Any]] = []
    for name in names:
        for _ in range(a.repeats):
            for v in VARIANTS:
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    v,
                    "--model-name",
                    name,
                    "--examples",
                    str(a.examples),
                    "--max-len",
                    str(a.max_len),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(f"{name} {v}: failed\n{proc.stderr[-2000:]}")
                    continue
                rows.append(json.loads(line[7:]))
        _table(rows, name)
    import torch

    print(f"\ntorch {torch.__version__}, {os.cpu_count()} CPUs, one thread per variant")


if __name__ == "__main__":
    main()
