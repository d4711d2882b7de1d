"""LoRA and QLoRA on 7-8B architectures on one GPU: our engine against HF Trainer + peft, and the memory estimate.

    python benchmarks/gpu/bench_gpu.py --out benchmarks/results/gpu-h200.json     # on the GPU (under 8 minutes)
    python benchmarks/gpu/bench_gpu.py --smoke --out /tmp/smoke.json              # the same code on a CPU

For each model (Llama-3.1-8B and Qwen2.5-7B shapes, random bf16 weights on the GPU, nothing downloaded) and each
variant (benchmarks/gpu/variants.py: a HF Trainer padded, b length-grouped, c_plan our engine with
configure_training's plan as is, c the plan with padding-free batches, d QLoRA), it trains ``--warmup`` + ``--steps``
optimizer steps on the same byte-tokenized chat data and records trained and all tokens/s, peak memory
(``torch.cuda.max_memory_allocated``), MFU against the bf16 matrix rate timed in the same run, and
configure_training's predicted peak beside the measured one. Then a resume check (30 steps against 15 + resume,
adapters compared), the public anchors scaled to this GPU, and each goal of issue 15 as measured. One JSON file
holds it all, with the command that made it. A variant that fails (out of memory, a missing package) is recorded
with its error and the others still run; ``--budget-s`` skips what would not finish in time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS for the resume check

from benchmarks.gpu import fixtures as F  # noqa: E402
from benchmarks.gpu import metrics as M  # noqa: E402
from benchmarks.gpu import planning as P  # noqa: E402
from benchmarks.gpu import resume as R  # noqa: E402
from benchmarks.gpu import variants as V  # noqa: E402

DEFAULT_MODELS = ("llama-3.1-8b:a,b,c_plan,c,d", "qwen2.5-7b:c_plan,a")
SMOKE_MODELS = DEFAULT_MODELS


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: checks the code, measures nothing")
    p.add_argument("--out", type=Path, required=True, help="the JSON result (written atomically)")
    p.add_argument("--models", nargs="+", help="name:variants, e.g. llama-3.1-8b:a,b,c (default: all of them)")
    p.add_argument("--steps", type=int, help="timed optimizer steps per variant (default 20; smoke 2)")
    p.add_argument("--warmup", type=int, help="untimed optimizer steps first (default 2; smoke 1)")
    p.add_argument("--examples", type=int, help="chat examples generated (default 1024; smoke 128)")
    p.add_argument("--max-len", type=int, help="tokens per example at most (default 2048; smoke 384)")
    p.add_argument("--budget-s", type=float, default=440.0, help="skip variants that would end past this")
    p.add_argument("--no-resume", action="store_true", help="skip the resume check")
    p.add_argument("--only-resume", action="store_true", help="run the resume check alone")
    args = p.parse_args(argv)
    smoke = args.smoke
    args.steps = args.steps or (2 if smoke else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if smoke else 2)
    args.examples = args.examples or (128 if smoke else 1024)
    args.max_len = args.max_len or (384 if smoke else 2048)
    args.models = [] if args.only_resume else args.models or list(SMOKE_MODELS if smoke else DEFAULT_MODELS)
    return args


def device_info(smoke: bool) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available() and not smoke
    info: dict[str, Any] = {"device": "cuda" if cuda else "cpu", "torch": torch.__version__}
    if cuda:
        name = torch.cuda.get_device_name(0)
        info.update(name=name, memory_gb=round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1))
        info["gpu_id"] = P.gpu_row(name)
    else:
        info.update(name="cpu", memory_gb=None, gpu_id=None)
    info["versions"] = versions()
    return info


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("transformers", "trl", "peft", "accelerate", "datasets", "liger-kernel", "bitsandbytes", "flash-attn"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_variant(key: str, ctx: dict[str, Any]) -> dict[str, Any]:
    s: V.Settings = ctx["settings"]
    plan = ctx["plan"]
    extra: dict[str, Any] = {}
    if key in ("a", "b"):
        trainer, clock = V.run_hf(ctx["config"], ctx["tokenizer"], ctx["rows"], s, grouped=key == "b")
        extra = {"trainer": "transformers.Trainer + peft", "attention": "sdpa", "batching": "padded"}
        method = "lora"
    else:
        if key == "d" and not ctx["cuda"]:
            return {"skipped": "QLoRA (bitsandbytes 4-bit) needs CUDA"}
        if key == "d" and not ctx["bnb"]:
            return {"skipped": "bitsandbytes does not import here (see benchmarks/gpu/PREPARE.md)"}
        chosen = plan if key == "c_plan" else plan.model_copy(update={"batching": "packed"})
        if key == "d":
            chosen = chosen.model_copy(update={"method": "qlora", "optimizer": ctx["qlora_optimizer"]})
        trainer, clock, extra = _engine(ctx, chosen, s, quantized=key == "d")
        extra.update(trainer="tools.train.engine LeanSFTTrainer (TRL SFTTrainer)", batching=chosen.batching)
        method = "qlora" if key == "d" else "lora"
    result = {**extra, **V.summarise(trainer, clock, s, ctx["rate"])}
    predicted = P.predicted_gb(method, ctx["params_b"], s)
    result["predicted_peak_gb"] = predicted
    measured = result.get("peak_memory_gb")
    result["estimate_error"] = round((predicted - measured) / measured, 3) if measured else None
    V.release(trainer)
    return result


def _engine(ctx: dict[str, Any], plan: Any, s: V.Settings, *, quantized: bool) -> Any:
    """Our engine; when Liger kernels are installed but fail on this stack, the variant runs again without them and
    the JSON says why."""
    try:
        return V.run_engine(ctx["config"], ctx["tokenizer"], ctx["rows"], plan, s, quantized=quantized)
    except Exception as exc:
        if not (V.liger_available() and s.device.startswith("cuda")):
            raise
        V.release()
        trainer, clock, extra = V.run_engine(
            ctx["config"], ctx["tokenizer"], ctx["rows"], plan, s, quantized=quantized, liger=False
        )
        extra["liger_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return trainer, clock, extra


def bench_model(
    spec: str, info: dict[str, Any], args: argparse.Namespace, rate: float | None, t0: float, save: Any
) -> Any:
    import importlib.util

    name, _, keys = spec.partition(":")
    config = F.smoke_config(name) if args.smoke else F.model_config(name)
    params_b = config.pop("params_b")
    tokenizer = F.byte_tokenizer()
    rows = F.rows(tokenizer, args.examples, seed=0, lengths=F.LengthModel.scaled(args.max_len))
    hf_name = {"llama-3.1-8b": "meta-llama/Llama-3.1-8B", "qwen2.5-7b": "Qwen/Qwen2.5-7B"}.get(name, name)
    if args.smoke:
        params_b = _params_b(config)
    conf = P.configure(hf_name, params_b, info, args, "lora")
    qlora = P.configure(hf_name, params_b, info, args, "qlora")
    plan = conf.plan
    out: dict[str, Any] = {
        "architecture": {k: config.get(k) for k in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")},
        "params_b": params_b,
        "configure_training": {
            "plan": plan.model_dump(include=_PLAN_KEYS),
            "memory": conf.memory.model_dump(),
            "qlora_memory": qlora.memory.model_dump(),
        },
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {
            "config": config,
            "tokenizer": tokenizer,
            "rows": rows,
            "plan": plan,
            "params_b": params_b,
            "settings": P.settings(plan, info, args, tmp),
            "rate": rate,
            "cuda": info["device"] == "cuda",
            "bnb": importlib.util.find_spec("bitsandbytes") is not None,
            "qlora_optimizer": qlora.plan.optimizer,
        }
        durations: list[float] = []
        for key in keys.split(","):
            out["variants"][key] = _timed_variant(key, ctx, durations, args, t0)
            _print_row(name, key, out["variants"][key])
            save(out)
    out["goals"] = M.goals(out["variants"], smoke=args.smoke)
    out["anchors"] = M.anchors(info["gpu_id"], out["variants"]) if name.startswith("llama") else []
    return out


_PLAN_KEYS = {"per_device_batch_size", "gradient_accumulation_steps", "max_seq_len", "optimizer", "batching"}
_PLAN_KEYS |= {"lora_r", "lora_alpha", "lora_dropout", "target_modules", "gradient_checkpointing", "learning_rate"}


def _params_b(config: dict[str, Any]) -> float:
    h, i, layers, v = (config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"))
    kv = h * config["num_key_value_heads"] // config["num_attention_heads"]
    return (layers * (2 * h * h + 2 * h * kv + 3 * h * i) + 2 * v * h) / 1e9


def _timed_variant(key: str, ctx: dict[str, Any], durations: list[float], args: argparse.Namespace, t0: float) -> Any:
    elapsed = time.perf_counter() - t0
    guess = max(durations) if durations else 0.0
    if elapsed + guess > args.budget_s:
        return {
            "skipped": f"time budget: {elapsed:.0f} s spent, about {guess:.0f} s more needed, {args.budget_s} s set"
        }
    start = time.perf_counter()
    try:
        result = run_variant(key, ctx)
    except Exception as exc:  # noqa: BLE001 - one variant's failure (out of memory, a package) is a result
        V.release()
        result = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
    result["wall_s"] = round(time.perf_counter() - start, 1)
    durations.append(result["wall_s"])
    return result


def _print_row(model: str, key: str, r: dict[str, Any]) -> None:
    if "skipped" in r or "error" in r:
        print(f"{model:13} {key:7} {r.get('skipped') or r.get('error')}", flush=True)
        return
    mem = r["peak_memory_gb"]
    print(
        f"{model:13} {key:7} trained {r['trained_tokens_per_s']:>9,.0f} tok/s  all {r['all_tokens_per_s']:>9,.0f} tok/s"
        f"  MFU {_pct(r['mfu'])}  peak {mem if mem is not None else '-':>6} GB  predicted {r['predicted_peak_gb']} GB"
        f"  ({r['wall_s']} s)",
        flush=True,
    )


def _pct(x: float | None) -> str:
    return f"{100 * x:5.1f}%" if x is not None else "    -"


def report(result: dict[str, Any]) -> None:
    for name, m in result["models"].items():
        print(f"\n== {name}: goals (issue 15), measured")
        for g in m["goals"]:
            verdict = {True: "met", False: "NOT met", None: "smoke: no verdict" if result["smoke"] else "not measured"}[
                g["met"]
            ]
            print(f"  {g['goal']:42} {str(g['measured']):>8}  target {g['target']:12} {verdict}")
        for a in m["anchors"]:
            print(f"  anchor: {json.dumps(a)}")
    if result.get("resume"):
        print(f"\n== resume check: {json.dumps(result['resume'])}")


def _resume(info: dict[str, Any], args: argparse.Namespace, rate: float | None) -> dict[str, Any]:
    try:
        return R.resume_check(info, args, rate)
    except Exception as exc:  # noqa: BLE001 - recorded, like a variant's failure
        V.release()
        return {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    t0 = time.perf_counter()
    info = device_info(args.smoke)
    rate = M.matmul_tflops(info["device"], 256 if args.smoke else 8192)
    from tools import knowledge

    sheet = knowledge.gpus().gpu(info["gpu_id"]).bf16_dense_tflops if info["gpu_id"] else None
    print(f"{info['name']}: bf16 matmul {rate:.1f} TFLOP/s measured (datasheet dense bf16: {sheet})", flush=True)
    tokenizer = F.byte_tokenizer()
    sample = F.rows(tokenizer, args.examples, seed=0, lengths=F.LengthModel.scaled(args.max_len))
    result: dict[str, Any] = {
        "command": "python " + " ".join([str(Path(sys.argv[0]))] + (argv if argv is not None else sys.argv[1:])),
        "smoke": args.smoke,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": info,
        "matmul_bf16_tflops": round(rate, 1),
        "datasheet_bf16_tflops": sheet,
        "steps": {"warmup": args.warmup, "timed": args.steps},
        "data": F.length_summary(sample),
        "models": {},
    }
    for spec in args.models:
        name = spec.partition(":")[0]

        def save(partial: dict[str, Any], name: str = name) -> None:
            result["models"][name] = partial
            write_json(args.out, result)

        save(bench_model(spec, info, args, rate, t0, save))
    elapsed = time.perf_counter() - t0
    if args.no_resume:
        pass
    elif elapsed > args.budget_s:
        result["resume"] = {"skipped": f"time budget: {elapsed:.0f} s spent, {args.budget_s} s set"}
    else:
        result["resume"] = _resume(info, args, rate)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, result)
    report(result)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
