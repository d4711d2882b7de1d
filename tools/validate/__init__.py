"""The validate family: ``validate_jsonl`` and its parts: the streaming scan, plain-chat fast path and
dataset-level findings (duplicates, near-duplicates, leakage).
"""
