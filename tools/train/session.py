"""One training session of a run folder: data, model, TRL trainer, train (or resume), and the end of the run.

The worker (tools.train.worker) creates a :class:`Session` per process. What it does the Trainer does not:
our rows and objective (tools.train.data), the TRL config rendered from the plan (tools.plan.trl_config), the run
callback (tools.train.callbacks), metrics rows trimmed to the checkpoint on resume, the watchdog state restored,
and the run's end: adapter, trainer_state.json, merged weights, report.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import sha256_file, write_text_atomic
from tools.local_models.loader import ModelRef, load_tokenizer
from tools.local_models.templates import template_name
from tools.plan.training_plan import TrainingPlan, watchdog_thresholds
from tools.plan.trl_config import lora_kwargs, trainer_kwargs, trl_config
from tools.train import data as D
from tools.train.callbacks import RUN_STATE, make_callback
from tools.train.checkpoint import complete_checkpoints, drop_incomplete, merge, replace_folder, trim_metrics
from tools.train.model import device_and_precision, load_base
from tools.train.report import versions, write_report
from tools.train.runs import now_iso, read_json, update_status, write_json
from tools.train.watchdog import Watchdog

TRL_CONFIG = "trl_config.yaml"


def dist_env() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (accelerate launch / torchrun); (0, 1) for one process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0, 1
    return (rank, world) if world > 1 else (0, 1)


def _tracking_env(folder: Path, trackers: list[str]) -> None:
    """Offline defaults inside the run folder for the trackers a run reports to (a user's settings win)."""
    if "tensorboard" in trackers:
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(folder / "tensorboard"))
    if "mlflow" in trackers and not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"file:{folder / 'mlruns'}"
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3: the file store is opt-in
    if "trackio" in trackers:
        os.environ.setdefault("TRACKIO_DIR", str(folder / "trackio"))
    if "wandb" in trackers:
        os.environ.setdefault("WANDB_DIR", str(folder))


class Session:
    def __init__(self, folder: Path, config: dict[str, Any], rank: int, world: int) -> None:
        self.folder, self.config, self.rank, self.world = folder, config, rank, world
        self.is_main = rank == 0
        self.plan = TrainingPlan.model_validate(config["plan"])
        model = config.get("model") or {"name": self.plan.base_model, "kind": "folder", "path": self.plan.base_model}
        self.ref = ModelRef(model["name"], model["kind"], model["path"])
        self.trainer: Any = None
        self.callback: Any = None

    def log(self, message: str) -> None:
        if self.is_main:
            print(f"[{now_iso()}] {message}", flush=True)

    # -- data
    def _check_data(self, key: str) -> Path | None:
        entry = self.config.get(key) or {}
        if not entry.get("path"):
            return None
        path = Path(entry["path"])
        if not path.is_file():
            raise ToolError("file_not_found", f"{entry.get('label')}: the run's data file is gone", "restore it")
        if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
            raise ToolError(
                "data_changed",
                f"{entry.get('label')} changed since the run started (sha256 differs from config.json)",
                "restore the original file, or launch a new run on the new data",
            )
        return path

    def _rows(self, objective: str, tokenizer: Any, records: list[D.Record]) -> list[dict[str, Any]]:
        if objective == "dpo":
            return D.dpo_rows(tokenizer, records, self.plan.max_seq_len)
        if objective == "grpo":
            return D.grpo_rows(records)
        return D.sft_rows(tokenizer, records, self.plan.max_seq_len)

    # -- training
    def train(self, *, resume: bool) -> dict[str, Any]:
        import torch

        plan = self.plan
        torch.manual_seed(plan.seed)
        device, precision = device_and_precision(plan)
        data_path = self._check_data("data")
        eval_path = self._check_data("eval_data")
        assert data_path is not None
        tokenizer = load_tokenizer(self.ref)
        template = template_name(tokenizer)
        data = D.read_dataset(data_path, self.config["data"].get("label") or data_path.name)
        objective = D.resolve_objective(plan.objective, data)
        if eval_path is not None:
            train_recs = data.records
            eval_recs = D.read_dataset(eval_path, self.config["eval_data"].get("label") or eval_path.name).records
        else:
            fraction = 0.0 if objective == "grpo" else plan.eval_fraction
            train_recs, eval_recs = D.split_eval(data.records, fraction, plan.seed)
        train_rows = self._rows(objective, tokenizer, train_recs)
        eval_rows = self._rows(objective, tokenizer, eval_recs) if objective != "grpo" else []
        if not train_rows:
            raise ToolError("nothing_to_train", f"{data.path}: no example has a token to train", "run --preview")
        ckpt = self._resume_point() if resume else None
        cfg = trl_config(
            plan,
            objective=objective,
            dataset=data.path,
            output_dir=str(self.folder),
            precision=precision,
            device=device,
            has_eval=bool(eval_rows),
            for_run=True,
        )
        if self.is_main:
            import yaml

            write_text_atomic(self.folder / TRL_CONFIG, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
        _tracking_env(self.folder, list(plan.report_to))
        model = load_base(self.ref, plan, tokenizer, precision)
        self.trainer = self._trainer(objective, cfg, model, tokenizer, train_rows, eval_rows, device, ckpt)
        self._record_start(objective, template, device, precision, data, len(train_rows), len(eval_rows), ckpt)
        self.trainer.train(resume_from_checkpoint=str(ckpt[1]) if ckpt else None)
        return {"objective": objective, "precision": precision, "device": device}

    def _resume_point(self) -> tuple[int, Path] | None:
        """The checkpoint to continue from; metrics rows past it are dropped (one row per step after a resume)."""
        if self.is_main:
            gone = drop_incomplete(self.folder)
            if gone:
                self.log(f"removed incomplete {', '.join(gone)}")
        found = complete_checkpoints(self.folder)
        ckpt = found[-1] if found else None
        if self.is_main:
            dropped = trim_metrics(self.folder / "metrics.jsonl", ckpt[0] if ckpt else 0)
            self.log(
                (f"resumed from {ckpt[1].name}" if ckpt else "resumed from the start (no checkpoint)")
                + (f"; {dropped} metrics rows past it dropped" if dropped else "")
            )
        return ckpt

    def _trainer(
        self,
        objective: str,
        cfg: dict[str, Any],
        model: Any,
        tokenizer: Any,
        train_rows: list[dict[str, Any]],
        eval_rows: list[dict[str, Any]],
        device: str,
        ckpt: tuple[int, Path] | None,
    ) -> Any:
        import torch
        from datasets import Dataset
        from peft import LoraConfig

        from tools.train import engine

        plan = self.plan
        saved = read_json(ckpt[1] / RUN_STATE) if ckpt else {}
        watchdog = None
        if plan.watchdog:
            watchdog = Watchdog(watchdog_thresholds(), saved.get("watchdog") or None)
        self.callback = make_callback(self.folder, watchdog, self.rank, self.world)
        self.callback.best_eval = saved.get("best_eval_loss")
        runtime = {"disable_tqdm": True, "dataloader_num_workers": 0, "use_cpu": device == "cpu"}
        runtime["run_name"] = self.folder.name
        kwargs: dict[str, Any] = {
            "model": model,
            "processing_class": tokenizer,
            "train_dataset": Dataset.from_list(train_rows),
            "peft_config": LoraConfig(**lora_kwargs(cfg)),
            "callbacks": [self.callback],
        }
        if eval_rows:
            kwargs["eval_dataset"] = Dataset.from_list(eval_rows)
        if objective == "sft":
            from trl import SFTConfig

            base, args = engine.lean_sft_class(), SFTConfig(**trainer_kwargs(cfg), **runtime)
        elif objective == "dpo":
            from trl import DPOConfig

            base, args = engine.pretokenized_dpo_class(), DPOConfig(**trainer_kwargs(cfg), **runtime)
        else:
            from trl import GRPOConfig, GRPOTrainer

            base, args = GRPOTrainer, GRPOConfig(**trainer_kwargs(cfg), **runtime)
            kwargs["reward_funcs"] = engine.reward_functions(plan, tokenizer, Path(self.config.get("workspace", ".")))
        counting = type("RunTrainer", (_Counting, base), {"run_callback": self.callback})
        torch.manual_seed(plan.seed)  # the LoRA init
        return counting(args=args, **kwargs)

    def _record_start(
        self,
        objective: str,
        template: str,
        device: str,
        precision: str,
        data: D.DataSet,
        n_train: int,
        n_eval: int,
        ckpt: tuple[int, Path] | None,
    ) -> None:
        model = self.trainer.model
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        pids = _gather_pids(self.world)
        if not self.is_main:
            return
        self.config["resolved"] = {
            "objective": objective,
            "trainer": type(self.trainer).__mro__[2].__name__,
            "device": device,
            "precision": precision,
            "template": template,
            "train_examples": n_train,
            "eval_examples": n_eval,
            "trainable_params": trainable,
            "total_params": sum(p.numel() for p in model.parameters()),
            "data_stats": {"train": data.summary()},
            "trl_config": TRL_CONFIG,
            "versions": versions(),
            "python": platform.python_version(),
            "host": platform.node(),
            **(
                {
                    "num_processes": self.world,
                    "nodes": int(self.config.get("nodes") or 1),
                    "sharding": self.config.get("sharding", "ddp"),
                }
                if self.world > 1
                else {}
            ),
        }
        write_json(self.folder / "config.json", self.config)
        if not ckpt:
            (self.folder / "metrics.jsonl").write_text("", "utf-8")
        update_status(
            self.folder,
            state="running",
            started_at=now_iso(),
            step=ckpt[0] if ckpt else 0,
            error=None,
            stop_reason=None,
            precision=precision,
            device=device,
            objective=objective,
            **({"worker_pids": [p for n, p in pids if n == 0], "rank_pids": pids} if pids else {}),
        )
        procs = f", {self.world} processes" if self.world > 1 else ""
        self.log(
            f"training {self.plan.base_model} with {objective.upper()} ({type(self.trainer).__mro__[2].__name__}, "
            f"{precision} on {device}{procs}): {n_train} train / {n_eval} eval examples, {trainable:,} trainable "
            f"params; template: {template}"
        )

    # -- the end
    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        trainer, cb, folder = self.trainer, self.callback, self.folder
        step = trainer.state.global_step
        if cb.watchdog_reason:
            if not self.is_main:
                return {"state": "stopped", "rank": self.rank}
            trainer.state.save_to_json(str(folder / "trainer_state.json"))
            update_status(folder, step=step, stop_reason="watchdog", error=cb.watchdog_reason)
            self.log(f"watchdog stopped the run: {cb.watchdog_reason}")
            write_report(folder, "stopped")
            return update_status(folder, state="stopped", finished_at=now_iso())
        self._save_adapter()
        if not self.is_main:
            return {"state": "completed", "rank": self.rank}
        trainer.state.save_to_json(str(folder / "trainer_state.json"))
        if cb.stopped_by_request and step < trainer.state.max_steps:
            update_status(folder, step=step, stop_reason="stopped by request (SIGTERM)", adapter="adapter")
            write_report(folder, "stopped")
            self.log(f"stopped at step {step}; checkpoint-{step} and adapter written")
            return update_status(folder, state="stopped", finished_at=now_iso())
        if self.config.get("merge"):
            self._merge(result["precision"])
        update_status(folder, step=step, adapter="adapter")
        write_report(folder, "completed")
        self.log(f"completed: {step} steps; adapter in {folder / 'adapter'}")
        return update_status(folder, state="completed", finished_at=now_iso())

    def _save_adapter(self) -> None:
        """adapter/ (LoRA weights, tokenizer with its chat template): every rank calls save_model, rank 0 writes."""
        tmp = self.folder / ".adapter.tmp"
        self.trainer.save_model(str(tmp))
        if self.is_main:
            replace_folder(tmp, self.folder / "adapter")

    def _merge(self, precision: str) -> None:
        tokenizer = self.trainer.processing_class
        base = load_base(self.ref, self.plan, tokenizer, "fp32" if precision == "fp32" else precision, quantize=False)
        merge(base, self.folder / "adapter", tokenizer, self.folder / "merged")


class _Counting:
    """Counts the tokens of the batches actually trained (a collator would also count accelerate's prefetch)."""

    run_callback: Any

    def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self.run_callback.count(inputs)
        return super().training_step(model, inputs, *args, **kwargs)  # type: ignore[misc]


def _gather_pids(world: int) -> list[list[int]] | None:
    """[node rank, pid] of every rank on every rank (a collective), or None in one process. torchrun's GROUP_RANK
    is the node rank: a pid means something only on its own node."""
    if world == 1:
        return None
    import torch.distributed as dist

    pids: list[Any] = [None] * world
    dist.all_gather_object(pids, [int(os.environ.get("GROUP_RANK", "0") or 0), os.getpid()])
    return [[int(n), int(p)] for n, p in pids]


__all__ = ["Session", "TRL_CONFIG", "dist_env"]
