"""Dataset formats and what every data tool shares: the streaming JSONL reader, format detection and
conversion, per-format rules, token counting and near-duplicate search.
"""
