"""Per-example records of validate_jsonl kept on disk, one file per column (memory holds one column at a time)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def column_dtype(bands: int) -> Any:
    import numpy as np

    return np.dtype(
        [
            ("file", "i2"),
            ("line", "i4"),
            ("offset", "i8"),
            ("full", "u8"),
            ("prompt", "u8"),
            ("answer", "u8"),
            ("total", "i4"),
            ("asst", "i4"),
            ("billed", "i4"),
            ("bands", "u8", (bands,)),
        ]
    )


# ---------------------------------------------------------------- the tool


class Columns:
    """Per-example records kept on disk, one file per column, so memory holds a column at a time."""

    def __init__(self, folder: Path, dtype: Any) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="examples.", dir=folder))
        self.dtype = dtype
        self.fields = [n for n in dtype.names if n != "bands"]
        self.bands = dtype["bands"].shape[0]
        self.names = self.fields + [f"band{j}" for j in range(self.bands)]
        self.handles: dict[str, Any] = {n: open(self.dir / n, "ab") for n in self.names}  # noqa: SIM115
        self.n = 0
        self._cache: dict[str, Any] = {}

    def write(self, arr: Any) -> None:
        import numpy as np

        for name in self.fields:
            self.handles[name].write(np.ascontiguousarray(arr[name]).tobytes())
        for j in range(self.bands):
            self.handles[f"band{j}"].write(np.ascontiguousarray(arr["bands"][:, j]).tobytes())
        self.n += len(arr)

    def flush(self) -> None:
        for handle in self.handles.values():
            handle.flush()

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()

    def append_from(self, other: Columns) -> None:
        for name in self.names:
            with open(other.dir / name, "rb") as src:
                while block := src.read(1 << 22):
                    self.handles[name].write(block)
        first = self.fields[0]  # the child process counted its rows; the file sizes tell the parent
        self.n += (other.dir / first).stat().st_size // self.dtype[first].itemsize

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> Any:
        import numpy as np

        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self.flush()
        column = np.fromfile(self.dir / name, dtype=self.dtype[name])
        if name in ("file", "line"):  # small and read all the time (line numbers); others load on demand
            self._cache[name] = column
        return column

    def band(self, j: int) -> Any:
        import numpy as np

        self.flush()
        return np.fromfile(self.dir / f"band{j}", dtype=np.uint64)

    def remove(self) -> None:
        import shutil

        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)
