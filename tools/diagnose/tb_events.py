"""A small pure-Python reader for TensorBoard event files (scalars only).

Event files are TFRecord streams of ``Event`` protobufs. HF Trainer's TensorBoardCallback writes
each scalar as ``Summary.Value(tag, simple_value)``; newer writers may use a one-element float
tensor instead. Both are decoded here without tensorboard or protobuf installed.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tools.core.errors import ToolError
from tools.diagnose.rows import BadValues, Parsed, normalise


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            val, i = buf[i : i + size], i + size
        elif wire == 5:
            val, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield num, wire, val


def _tensor_value(buf: bytes) -> float | None:
    """A scalar from a TensorProto of dtype float (1) or double (2); None for anything else."""
    fields = list(_fields(buf))
    dtype = next((val for num, wire, val in fields if num == 1 and wire == 0), None)
    if dtype not in (1, 2):
        return None
    for num, wire, val in fields:
        if num == 4 and wire == 2 and len(val) in (4, 8):  # tensor_content
            return struct.unpack("<f" if len(val) == 4 else "<d", val)[0]
        if num == 5 and wire == 2 and len(val) >= 4:  # packed float_val
            return struct.unpack("<f", val[:4])[0]
        if num == 5 and wire == 5:
            return struct.unpack("<f", val)[0]
        if num == 6 and wire == 2 and len(val) >= 8:  # packed double_val
            return struct.unpack("<d", val[:8])[0]
    return None


def _summary_value(buf: bytes) -> tuple[str | None, float | None]:
    """(tag, number) of one ``Summary.Value``: its simple_value, or its scalar tensor."""
    tag, number = None, None
    for f, w, v in _fields(buf):
        if f == 1 and w == 2:
            tag = v.decode("utf-8", "replace")
        elif f == 2 and w == 5:
            number = struct.unpack("<f", v)[0]
        elif f == 8 and w == 2:
            number = _tensor_value(v)
    return tag, number


def _event(body: bytes) -> tuple[int, dict[str, float]]:
    """(step, {tag: scalar}) of one ``Event``; ValueError or struct.error when it is malformed."""
    step, values = 0, {}
    for num, wire, val in _fields(body):
        if num == 2 and wire == 0:
            step = val
        elif num == 5 and wire == 2:
            for vnum, vwire, vval in _fields(val):
                if vnum == 1 and vwire == 2:
                    tag, number = _summary_value(vval)
                    if tag is not None and number is not None:
                        values[tag] = number
    return step, values


def _scan(data: bytes) -> tuple[dict[int, dict[str, float]], int, bool]:
    """({step: scalars}, records read, whether the file ends in a cut-off or malformed record).

    A TFRecord is an 8-byte length, a 4-byte CRC of it, the body and a 4-byte CRC of the body; the CRCs
    are not checked."""
    by_step: dict[int, dict[str, float]] = {}
    i = records = 0
    while i + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[i : i + 8])
        body = data[i + 12 : i + 12 + length]
        if len(body) < length:
            return by_step, records, True
        i += 12 + length + 4
        records += 1
        try:
            step, values = _event(body)
        except (ValueError, struct.error):
            return by_step, records, True
        if values:
            by_step.setdefault(step, {}).update(values)
    return by_step, records, i < len(data)


def read_events(path: Path) -> Parsed:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ToolError("log_unreadable", f"{path.name}: cannot be read ({exc.strerror})", None) from None
    by_step, records, truncated = _scan(data)
    if records == 0:
        raise ToolError(
            "log_format_unknown",
            f"{path.name}: not a TensorBoard events file",
            "give the events.out.tfevents.* file that TensorBoard writes",
        )
    bad = BadValues()
    rows = []
    for step in sorted(by_step):
        row = normalise({**by_step[step], "step": step}, 0, path, bad)
        if row is not None:
            rows.append(row)
    notes = [f"TensorBoard events: {records} records, {len(rows)} steps with scalars"]
    if truncated:
        notes.append("the events file ends in a cut-off record (still being written); read up to it")
    return Parsed(path, "tensorboard_events", rows, notes=notes)
