"""What the GPU benchmark trains on, with nothing downloaded: model shapes, a byte-level tokenizer, chat data.

- Model shapes: ``models/*.json`` hold the architecture keys of the public ``config.json`` of Llama-3.1-8B and
  Qwen2.5-7B (each file names its source). Weights are random (bf16, initialised on the device): throughput and
  memory do not depend on their values.
- Tokenizer: byte-level (one token per UTF-8 byte, plus ChatML-style turn markers), a real
  ``PreTrainedTokenizerFast`` built with ``tokenizers`` so the trainers use it as they would any other.
- Data: chat examples (system, user, assistant) whose token lengths follow log-normal distributions with a long
  tail cut at ``max_len`` (2,048 in the real run): most examples are a few hundred tokens, a few percent reach the
  cut. Rendered with assistant-only labels, as tools.local_models.render does for a real model.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).parent / "models"
SPECIALS = ("<|pad|>", "<|im_start|>", "<|im_end|>")
IGNORE = -100
SYSTEM_PROMPTS = (
    "You are a support assistant for a logistics company. Answer briefly and cite the order number.",
    "You are a careful clinical-notes summariser. Never invent values that are not in the note.",
    "You write SQL for an analytics warehouse. Reply with one query and one sentence of explanation.",
)
WORDS = (
    "order shipment delayed customs invoice refund warehouse pallet carrier tracking address signature "
    "patient dose allergy history follow-up referral table join column index revenue quarter region "
    "please thanks because however therefore the a of to and in for with on at by from is was will"
).split()


def model_config(name: str) -> dict[str, Any]:
    """The architecture keys of ``models/<name>.json`` (keys starting with '_' are provenance, dropped)."""
    raw = json.loads((MODELS_DIR / f"{name}.json").read_text("utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def model_names() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def smoke_config(name: str) -> dict[str, Any]:
    """The same architecture shrunk to run on a CPU in seconds: 2 layers, hidden 64, a 512-word vocabulary."""
    cfg = model_config(name)
    heads, kv = 4, max(1, 4 * cfg["num_key_value_heads"] // cfg["num_attention_heads"])
    cfg.update(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        vocab_size=512,
        bos_token_id=None,
        eos_token_id=byte_vocab_size() - 1,
    )
    cfg.pop("head_dim", None)
    return cfg


def byte_vocab_size() -> int:
    return 256 + len(SPECIALS)


def byte_tokenizer() -> Any:
    """A byte-level BPE tokenizer with no merges (256 byte tokens) and the turn markers as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=SPECIALS[0], bos_token=SPECIALS[1], eos_token=SPECIALS[2]
    )


@dataclass
class LengthModel:
    """Log-normal token lengths (median, spread) of each turn; the whole example is cut at ``max_len``."""

    user_median: float = 220.0
    user_sigma: float = 0.9
    answer_median: float = 160.0
    answer_sigma: float = 0.85
    max_len: int = 2048

    @classmethod
    def scaled(cls, max_len: int) -> LengthModel:
        """The same shape with the medians scaled to a cut of ``max_len`` (the smoke run's short examples)."""
        base = cls()
        k = max_len / base.max_len
        return cls(base.user_median * k, base.user_sigma, base.answer_median * k, base.answer_sigma, max_len)


def _text(rng: random.Random, n_bytes: int) -> str:
    words: list[str] = []
    size = 0
    while size < n_bytes:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    return " ".join(words)[: max(1, n_bytes)]


def chat_examples(n: int, seed: int, lengths: LengthModel) -> list[list[dict[str, str]]]:
    """``n`` conversations (system, user, assistant) with log-normal turn lengths in bytes (= tokens here)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        user = max(8, int(rng.lognormvariate(math.log(lengths.user_median), lengths.user_sigma)))
        answer = max(4, int(rng.lognormvariate(math.log(lengths.answer_median), lengths.answer_sigma)))
        out.append(
            [
                {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)},
                {"role": "user", "content": _text(rng, user)},
                {"role": "assistant", "content": _text(rng, answer)},
            ]
        )
    return out


def render(tokenizer: Any, messages: list[dict[str, str]], max_len: int) -> dict[str, list[int]]:
    """ChatML-style ids with assistant-only labels (the answer and its end marker), cut at ``max_len``."""
    start, end = tokenizer.convert_tokens_to_ids([SPECIALS[1], SPECIALS[2]])
    ids: list[int] = []
    labels: list[int] = []
    for m in messages:
        head = [start, *tokenizer.encode(m["role"] + "\n", add_special_tokens=False)]
        body = [*tokenizer.encode(m["content"], add_special_tokens=False), end]
        ids += head + body
        labels += [IGNORE] * len(head) + (body if m["role"] == "assistant" else [IGNORE] * len(body))
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}


def rows(tokenizer: Any, n: int, seed: int, lengths: LengthModel) -> list[dict[str, list[int]]]:
    return [render(tokenizer, conv, lengths.max_len) for conv in chat_examples(n, seed, lengths)]


def length_summary(data: list[dict[str, list[int]]]) -> dict[str, float]:
    """Percentiles of the rendered lengths and the share of trained tokens (what the JSON records)."""
    lengths = sorted(len(r["input_ids"]) for r in data)
    trained = sum(sum(1 for x in r["labels"] if x != IGNORE) for r in data)

    def pct(q: float) -> int:
        return lengths[min(len(lengths) - 1, max(0, math.ceil(q / 100 * len(lengths)) - 1))]

    return {
        "examples": len(lengths),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": lengths[-1],
        "mean": round(sum(lengths) / len(lengths), 1),
        "trained_share": round(trained / sum(lengths), 3),
    }
