"""CLI subcommands: one module per tool or topic, each with ``register(app: typer.Typer)``."""
