"""Trained tokens per second: our LoRA loop vs a plain Hugging Face Trainer + peft baseline.

Same tiny model (tiny-random-llama), same rendered and masked examples, same steps, batch and
effective batch, same LoRA config. The data has a realistic length spread (log-normal answer
lengths, long tail). The baseline pads random batches (DataCollatorForSeq2Seq, the Trainer default
sampler); ours groups batches by length (``length_grouped``) or flattens each micro-batch into one
padding-free row (``packed``). Each variant runs in its own process so peak memory is its own.

    python benchmarks/bench_train.py            # prints one line per variant and the ratios
    python benchmarks/bench_train.py --steps 40 --batch 8

"Trained tokens" are assistant (label) tokens; "tokens" are all non-padding tokens. Runs offline.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the order boots jacket size return refund strap tent stove pack warranty seam zipper trail "
    "delivery exchange measure chart layer fleece waterproof customer policy steps support"
).split()


def make_data(path: Path, n: int, seed: int) -> None:
    """Chat examples whose answer lengths follow a log-normal spread (median ~60 words, tail to ~400)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
            words = min(400, max(3, int(rng.lognormvariate(math.log(60), 0.8))))
            a = " ".join(rng.choice(WORDS) for _ in range(words))
            msgs = [
                {"role": "system", "content": "You are the support assistant."},
                {"role": "user", "content": f"#{i} {q}?"},
                {"role": "assistant", "content": a + "."},
            ]
            out.write(json.dumps({"messages": msgs}) + "\n")


def _peak_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(data: Path, steps: int, batch: int, mode: str, seed: int, max_len: int) -> dict:
    from tools.plan.training_plan import TrainingPlan
    from tools.train.runs import write_json
    from tools.train.worker import Run

    folder = Path(tempfile.mkdtemp(prefix="bench-run-")) / "runs" / "bench"
    folder.mkdir(parents=True)
    plan = TrainingPlan(
        base_model="tiny-random-llama",
        max_steps=steps,
        per_device_batch_size=batch,
        gradient_accumulation_steps=1,
        learning_rate=5e-3,
        lora_dropout=0.0,
        batching=mode,  # type: ignore[arg-type]
        eval_fraction=0.0,
        save_steps=10_000,
        logging_steps=10_000,
        seed=seed,
        max_seq_len=max_len,
        watchdog=False,
    )
    write_json(folder / "config.json", {"plan": plan.model_dump(), "data": {"path": str(data), "label": data.name}})
    run = Run(folder)
    run.train(resume=False)
    return {
        "variant": f"ours-{mode}",
        "steps": steps,
        "seconds": run.train_seconds,
        "trained_tokens": run.trained_tokens,
        "tokens": run.tokens_seen,
        "padded_tokens": run.padded_seen,
        "trained_tokens_per_s": run.trained_tokens / run.train_seconds,
        "tokens_per_s": run.tokens_seen / run.train_seconds,
        "peak_memory_mb": _peak_mb(),
    }


def run_baseline(data: Path, steps: int, batch: int, seed: int, max_len: int) -> dict:
    """HF Trainer + peft, Trainer defaults (random sampler, padded batches), same examples and masks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from tools.local_models.tiny import build_model, build_tokenizer
    from tools.train.data import load_examples

    tok = build_tokenizer()
    examples, _ = load_examples(data, tok, max_len)
    rows = [{"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)} for e in examples]

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, i: int) -> dict:
            return rows[i]

    counted = {"trained": 0, "tokens": 0, "padded": 0}
    base_collate = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)

    def collate(features: list) -> dict:
        out = base_collate(features)
        counted["trained"] += int((out["labels"][:, 1:] != -100).sum())
        counted["tokens"] += int(out["attention_mask"].sum())
        counted["padded"] += int(out["input_ids"].numel())
        return out

    model = get_peft_model(
        build_model(seed, tok),
        LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-hf-"),
        max_steps=steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        learning_rate=5e-3,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,  # transformers 5: a float < 1 is a ratio
        max_grad_norm=1.0,
        logging_steps=10_000,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=seed,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        remove_unused_columns=False,
        disable_tqdm=True,
    )

    class Clock(TrainerCallback):
        start = 0.0

        def on_train_begin(self, *a, **k):  # type: ignore[no-untyped-def]
            Clock.start = time.perf_counter()

    trainer = Trainer(model=model, args=args, train_dataset=Rows(), data_collator=collate, callbacks=[Clock()])
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = out.metrics.get("train_runtime") or (time.perf_counter() - t0)
    return {
        "variant": "hf-trainer-padded",
        "steps": steps,
        "seconds": seconds,
        "trained_tokens": counted["trained"],
        "tokens": counted["tokens"],
        "padded_tokens": counted["padded"],
        "trained_tokens_per_s": counted["trained"] / seconds,
        "tokens_per_s": counted["tokens"] / seconds,
        "peak_memory_mb": _peak_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--max-len", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="run each variant N times (interleaved), keep the fastest")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.variant:
        data = Path(a.data)
        if a.variant == "baseline":
            res = run_baseline(data, a.steps, a.batch, a.seed, a.max_len)
        else:
            res = run_ours(data, a.steps, a.batch, a.variant, a.seed, a.max_len)
        print("RESULT " + json.dumps(res))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    data = tmp / "spread.jsonl"
    make_data(data, a.examples, a.seed)
    results: dict[str, dict] = {}
    for _ in range(a.repeats):
        for variant in ("baseline", "length_grouped", "packed"):
            cmd = [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--data",
                str(data),
                "--steps",
                str(a.steps),
                "--batch",
                str(a.batch),
                "--seed",
                str(a.seed),
                "--max-len",
                str(a.max_len),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{variant}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(line[7:])
            if variant not in results or r["trained_tokens_per_s"] > results[variant]["trained_tokens_per_s"]:
                results[variant] = r
    for r in results.values():
        print(
            f"{r['variant']:<22} {r['trained_tokens_per_s']:>8.0f} trained tok/s {r['tokens_per_s']:>8.0f} tok/s  "
            f"{r['trained_tokens']} trained / {r['tokens']} real / {r['padded_tokens']} computed tokens "
            f"in {r['seconds']:.1f} s, peak {r['peak_memory_mb']:.0f} MB"
        )
    base = results.get("baseline")
    if base:
        for variant in ("length_grouped", "packed"):
            if variant in results:
                ratio = results[variant]["trained_tokens_per_s"] / base["trained_tokens_per_s"]
                print(f"ratio ours-{variant} / hf-trainer: {ratio:.2f}x trained tokens/s")
    import torch

    print(
        f"device: {'cuda ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}, "
        f"{a.steps} steps, batch {a.batch}, {a.examples} examples, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
