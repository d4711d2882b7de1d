"""Causal language models that load offline: the built-in tiny random Llama and shared chat templates."""
