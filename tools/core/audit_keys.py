"""The audit trail's keys, kept outside every workspace: who a workspace is, and the key that signs its log.

Anyone who can write a workspace can rewrite its ``.finetune/audit.jsonl`` and recompute every hash; a hash
chain alone only catches careless edits. So each record and the head are also signed with an HMAC key
that lives in the person's own configuration folder, never in the workspace:

- ``<keys>/workspaces.json`` maps a workspace root to its id (made when its log starts);
- ``<keys>/<id>.key`` holds that workspace's random 256-bit key (mode 0600).

``<keys>`` is ``$FINETUNE_AUDIT_KEYS``, else ``$XDG_CONFIG_HOME/finetune-skill/audit-keys``, else
``~/.config/finetune-skill/audit-keys``. Where it cannot be written, logs are kept unsigned and ``verify``
says so; ``finetune audit export`` gives an anchor to keep elsewhere either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from filelock import FileLock, Timeout

KEYS_ENV = "FINETUNE_AUDIT_KEYS"
MAP_FILE = "workspaces.json"


def keys_dir() -> Path:
    override = os.environ.get(KEYS_ENV, "").strip()
    if override:
        return Path(override)
    config = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config) / "finetune-skill" / "audit-keys"


def sign(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_ok(key: bytes, message: str, mac: str | None) -> bool:
    return mac is not None and hmac.compare_digest(sign(key, message), mac)


class KeyStore:
    """Workspace ids and their keys, in the folder :func:`keys_dir` names."""

    def __init__(self, folder: Path | None = None) -> None:
        self.dir = folder or keys_dir()

    def _map(self) -> dict[str, str]:
        try:
            data = json.loads((self.dir / MAP_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def identity(self, root: Path) -> str | None:
        """The id this machine gave the workspace at ``root``, if it started a log there."""
        return self._map().get(str(root))

    def key(self, workspace_id: str) -> bytes | None:
        if not workspace_id.isalnum():
            return None
        try:
            return bytes.fromhex((self.dir / f"{workspace_id}.key").read_text("utf-8").strip())
        except (OSError, ValueError):
            return None

    def create(self, root: Path) -> tuple[str, bytes | None]:
        """A new id for ``root`` (replacing any earlier one) and its key; the key is None when the folder
        cannot be written (the log is then kept unsigned)."""
        workspace_id = secrets.token_hex(16)
        key = secrets.token_bytes(32)
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with FileLock(str(self.dir / ".lock"), timeout=30):
                key_path = self.dir / f"{workspace_id}.key"
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(key.hex())
                mapping = self._map()
                mapping[str(root)] = workspace_id
                tmp = self.dir / f".{MAP_FILE}.{secrets.token_hex(4)}"
                tmp.write_text(json.dumps(mapping, indent=2, sort_keys=True), "utf-8")
                os.replace(tmp, self.dir / MAP_FILE)
        except (OSError, Timeout):
            with contextlib.suppress(OSError):
                (self.dir / f"{workspace_id}.key").unlink()
            return workspace_id, None
        return workspace_id, key
