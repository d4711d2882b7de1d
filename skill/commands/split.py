"""`finetune split PATH`: deterministic train/val/test split that keeps near-duplicates together."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import EXIT_BAD_INPUT, JsonFlag, err, run


def split(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="JSONL dataset.")],
    ratios: Annotated[str, typer.Option("--ratios", help="train,val[,test] shares.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    stratify: Annotated[str | None, typer.Option("--stratify", help="Field to stratify by (dotted path).")] = None,
    no_group: Annotated[
        bool, typer.Option("--no-near-duplicate-groups", help="Do not keep near-duplicates together.")
    ] = False,
    train_out: Annotated[str | None, typer.Option("--train-out")] = None,
    val_out: Annotated[str | None, typer.Option("--val-out")] = None,
    test_out: Annotated[str | None, typer.Option("--test-out")] = None,
    manifest: Annotated[str | None, typer.Option("--manifest", help="Manifest path (default NAME.split.json).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace split files that a training run in runs/ used.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Split a dataset deterministically (default 80/10/10) and write a manifest with hashes."""
    try:
        shares = [float(x) for x in ratios.split(",")]
    except ValueError:
        err.print(f"[red]error[/]: --ratios must be numbers like 0.8,0.1,0.1, got {ratios!r}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    run(
        ctx,
        "split_dataset",
        {
            "path": path,
            "ratios": shares,
            "seed": seed,
            "stratify": stratify,
            "group_near_duplicates": not no_group,
            "train_out": train_out,
            "val_out": val_out,
            "test_out": test_out,
            "manifest": manifest,
            "force": force,
        },
        json_out=json_out,
    )


def register(app: typer.Typer) -> None:
    app.command("split")(split)
