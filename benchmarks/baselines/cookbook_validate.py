"""A faithful port of the OpenAI cookbook's fine-tuning data checks (the baseline for bench_validate).

Source: openai/openai-cookbook examples/Chat_finetuning_data_prep.ipynb @b774cbf1 (the 16,385-token
variant; see data-anchors.md section 1.2). Same structure and constants as the notebook: load the
whole file into a list, the seven format checks counted in a defaultdict (counts only, no line
numbers), the missing system/user warnings, per-example token counts with cl100k_base
(3 tokens per message, 1 per name, 3 at the end), assistant-only counts, the distributions, the
over-limit count and the epoch/billing estimate. Printing is replaced by returned values so that
benchmark timing is not console-bound. Kept: its defects (every value encoded, cl100k for every
model, 0.1/0.9 quantiles labelled p5/p95), because the benchmark measures what people run today.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np


def run(data_path: str, encoding) -> dict:  # encoding: a tiktoken Encoding (cl100k_base in the notebook)
    # Load the dataset
    with open(data_path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]

    # Format error checks
    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages):
        num_tokens = 0
        for message in messages:
            if message["role"] == "assistant":
                num_tokens += len(encoding.encode(message["content"]))
        return num_tokens

    def distribution(values):
        return {
            "min": min(values),
            "max": max(values),
            "mean": float(np.mean(values)),
            "median": float(np.median(values)),
            "p5": float(np.quantile(values, 0.1)),
            "p95": float(np.quantile(values, 0.9)),
        }

    # Warnings and tokens counts
    n_missing_system = 0
    n_missing_user = 0
    n_messages = []
    convo_lens = []
    assistant_message_lens = []
    for ex in dataset:
        messages = ex["messages"]
        if not any(message["role"] == "system" for message in messages):
            n_missing_system += 1
        if not any(message["role"] == "user" for message in messages):
            n_missing_user += 1
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))

    max_tokens_per_example = 16385
    n_too_long = sum(length > max_tokens_per_example for length in convo_lens)

    # Pricing and default n_epochs estimate
    target_epochs, min_target_examples, max_target_examples = 3, 100, 25000
    min_default_epochs, max_default_epochs = 1, 25
    n_epochs = target_epochs
    n_train_examples = len(dataset)
    if n_train_examples * target_epochs < min_target_examples:
        n_epochs = min(max_default_epochs, min_target_examples // n_train_examples)
    elif n_train_examples * target_epochs > max_target_examples:
        n_epochs = max(min_default_epochs, max_target_examples // n_train_examples)
    n_billing_tokens_in_dataset = sum(min(max_tokens_per_example, length) for length in convo_lens)

    return {
        "format_errors": dict(format_errors),
        "n_missing_system": n_missing_system,
        "n_missing_user": n_missing_user,
        "num_messages": distribution(n_messages),
        "num_total_tokens": distribution(convo_lens),
        "num_assistant_tokens": distribution(assistant_message_lens),
        "n_too_long": n_too_long,
        "n_epochs": n_epochs,
        "billing_tokens": n_billing_tokens_in_dataset,
        "charged_tokens": n_epochs * n_billing_tokens_in_dataset,
    }
