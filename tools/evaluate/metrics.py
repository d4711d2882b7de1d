"""run_eval's per-sample metrics: the checks live in :mod:`tools.data.checks` so GRPO rewards reuse them."""

from tools.data.checks import (
    MetricSpec,
    Scorer,
    contains_all,
    exact_match,
    json_valid,
    lcs_length,
    macro_f1,
    normalise,
    normalised_exact_match,
    parse_json,
    predicted_label,
    regex_match,
    rouge_l,
    sacrebleu_metrics,
    schema_valid,
    token_f1,
)

__all__ = [
    "MetricSpec",
    "Scorer",
    "contains_all",
    "exact_match",
    "json_valid",
    "lcs_length",
    "macro_f1",
    "normalise",
    "normalised_exact_match",
    "parse_json",
    "predicted_label",
    "regex_match",
    "rouge_l",
    "sacrebleu_metrics",
    "schema_valid",
    "token_f1",
]
