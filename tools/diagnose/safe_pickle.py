"""Read HF Trainer's ``training_args.bin`` without running it.

The file is ``torch.save(TrainingArguments)``: a zip archive holding a pickle. Unpickling runs code named in
the file, so this reader follows the standard library's "restricting globals" recipe all the way: every class
the pickle names is replaced by an inert stand-in that only records its arguments and state, nothing is
imported, and tensor storages are not loaded. What comes back is the arguments' plain values (enums as their
string value); anything else in the pickle is ignored.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

MAX_BYTES = 4 * 1024 * 1024


class _Inert:
    """Stands in for any class a pickle names: keeps the call arguments and the state, does nothing else."""

    qualname = ""
    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Inert,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        return None


def _plain(value: Any) -> Any:
    """Plain values of a stand-in tree: enums become their value, other objects their state dict."""
    if isinstance(value, _Inert):
        if value.args and len(value.args) == 1 and isinstance(value.args[0], (str, int, float)):
            return value.args[0]
        if isinstance(value.state, dict):
            return {str(k): _plain(v) for k, v in value.state.items()}
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return None


def read_training_args(path: Path) -> dict[str, Any] | None:
    """The fields of a saved TrainingArguments, or None when the file is not one (or too large to be one)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        raw = path.read_bytes()
        if zipfile.is_zipfile(io.BytesIO(raw)):
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return None
                raw = archive.read(names[0])
        obj = _Unpickler(io.BytesIO(raw)).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError):
        return None
    except Exception:  # noqa: BLE001 - a crafted pickle can raise anything; it is then simply not read
        return None
    if not isinstance(obj, _Inert) or not obj.qualname.endswith("Arguments") or not isinstance(obj.state, dict):
        return None
    out = _plain(obj)
    return out if isinstance(out, dict) else None
