"""The one scrubber every message, log line and transcript passes through: no API key leaves in text.

It removes the values of the keys this process knows (environment variables named like keys: ``*_API_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ``HF_TOKEN``...) wherever they appear, and any string shaped like a
vendor key or a bearer token (servers echo a key back: "Invalid key provided: Bearer sk-..."). ToolError
applies it to its message and hint, so errors from every surface are covered; crash reports, transcripts
and run logs call it before writing.
"""

from __future__ import annotations

import os
import re

KEY_NAME = re.compile(r"(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY)$", re.I)
MIN_KEY_LENGTH = 8
"""Shorter environment values are not treated as keys (a TOKEN=1 flag would blank every digit 1)."""

KEY_SHAPES = re.compile(
    r"(?:"
    r"\bsk-ant-[A-Za-z0-9]{2,8}\d{0,2}-[A-Za-z0-9_\-]{16,}"  # Anthropic (api03, oat01, admin01, sid01 ...)
    r"|\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}"  # OpenAI
    r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|\bhf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"  # AWS access key id
    r"|\bAIza[0-9A-Za-z_\-]{35}|\bya29\.[0-9A-Za-z_\-]{20,}"  # Google
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWT
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{12,}=*"  # any bearer token
    r")"
)


def known_keys() -> list[tuple[str, str]]:
    """(name, value) of the key-like environment variables set in this process, longest value first."""
    found = [
        (name, value.strip())
        for name, value in os.environ.items()
        if KEY_NAME.search(name) and len(value.strip()) >= MIN_KEY_LENGTH
    ]
    return sorted(found, key=lambda kv: -len(kv[1]))


def scrub(text: str) -> str:
    """``text`` with every known key value and every key-shaped string replaced by a marker."""
    if not text:
        return text
    for name, value in known_keys():
        if value in text:
            text = text.replace(value, f"[{name} removed]")
    return KEY_SHAPES.sub("[key removed]", text)
