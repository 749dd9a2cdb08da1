"""Validate an ONNX file and read its structure without loading its weights.

``onnx.load`` reads the whole file and parses it into a proto (twice the model in memory, 0.35 s
at 200 MB), and ``onnx.checker.check_model(path)`` does it all again in C++ (0.7 s). A push needs
neither copy of the weights: only the graph's structure (signature, opset, IR version) and the
checker's verdict. So this module walks the protobuf wire format of the ``ModelProto`` with seeks,
and copies every field verbatim into a *skeleton* model except tensor payloads (``raw_data``,
``float_data``, ``double_data``), which it skips and replaces by one element (and drops the
tensor's ``dims``). The skeleton is a few KB: onnx parses it, so malformed structure still fails as
protobuf's ``DecodeError``, and ``onnx.checker`` checks it. The one thing the placeholders hide
from the checker, a payload's size against the tensor's dims, is checked here afterwards, with the
checker's rules and words (onnx/checker.cc ``check_tensor``). Parsing and checking the skeleton
need only onnx's generated ``ModelProto`` and its C++ checker, not ``import onnx``
(:mod:`gitreg.ml.onnxcore`); this module itself needs only protobuf's ``DecodeError``.

Only fields that can hold tensors are walked (graphs, nodes, attributes, functions, training
info) and only when they are larger than ``DESCEND``; everything else is copied as read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

MAX_PROTOBUF = 2**31 - 1  # protobuf's (and so onnx's) limit for one serialised message
DESCEND = 1024  # smaller messages are copied whole: walking them would gain little
WINDOW = 1 << 16
INT64_MAX = 2**63 - 1

# Message kinds, and for each the fields that hold a message worth walking into.
MODEL, GRAPH, NODE, ATTRIBUTE, TENSOR, TRAINING, FUNCTION = range(7)
_CHILDREN: dict[int, dict[int, int]] = {
    MODEL: {7: GRAPH, 20: TRAINING, 25: FUNCTION},
    GRAPH: {1: NODE, 5: TENSOR},
    NODE: {5: ATTRIBUTE},
    ATTRIBUTE: {5: TENSOR, 6: GRAPH, 10: TENSOR, 11: GRAPH},
    TRAINING: {1: GRAPH, 2: GRAPH},
    FUNCTION: {7: NODE, 11: ATTRIBUTE},
}

# TensorProto fields (numbers from onnx.proto; they are the file format).
_DIMS, _DATA_TYPE, _FLOAT, _INT32, _STRING, _INT64 = 1, 2, 4, 5, 6, 7
_NAME, _RAW, _DOUBLE, _UINT64, _LOCATION = 8, 9, 10, 11, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

# TensorProto.DataType values.
FLOAT, INT32, INT64, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128 = 1, 6, 7, 11, 12, 13, 14, 15
_BYTES_PER_ELEM = {
    **dict.fromkeys((2, 3, 9, 17, 18, 19, 20, 24), 1),  # uint8 int8 bool float8 x5
    **dict.fromkeys((4, 5, 10, 16), 2),  # uint16 int16 float16 bfloat16
    **dict.fromkeys((FLOAT, INT32, UINT32), 4),
    **dict.fromkeys((DOUBLE, INT64, UINT64, COMPLEX64), 8),
    COMPLEX128: 16,
}
_ELEMS_PER_BYTE = {21: 2, 22: 2, 23: 2, 25: 4, 26: 4}  # uint4 int4 float4e2m1 / uint2 int2
_FLOAT6 = (27, 28)


class ValidationError(Exception):
    """A check of ``onnx.checker``'s that the skeleton cannot make, failed on the real tensor."""


def _corrupt(detail: str) -> DecodeError:
    return DecodeError(f"Error parsing message with type 'onnx.ModelProto': Wire format was corrupt ({detail})")


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _signed64(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


@dataclass
class _Tensor:
    """What the checker's size rules need to know about one tensor whose payload was skipped."""

    name: str = ""
    dims: list[int] = field(default_factory=list)
    data_type: int | None = None
    external: bool = False
    raw: tuple[int, int] | None = None  # (offset, length) of the last raw_data
    floats: int = 0
    doubles: int = 0
    other_data: set[int] = field(default_factory=set)  # int32/string/int64/uint64 fields present

    def placeholder(self) -> bytes:
        """One element of each payload kind present, so the skeleton's tensor (dims []) is checkable."""
        dt = self.data_type
        out = b""
        if self.floats:
            n = 2 if dt == COMPLEX64 else 1
            out += bytes([_FLOAT << 3 | 2]) + _varint_bytes(4 * n) + b"\0" * (4 * n)
        if self.raw is not None and self.raw[1]:
            n = raw_bytes(dt, 1) or 1
            out += bytes([_RAW << 3 | 2]) + _varint_bytes(n) + b"\0" * n
        if self.doubles:
            n = 2 if dt == COMPLEX128 else 1
            out += bytes([_DOUBLE << 3 | 2]) + _varint_bytes(8 * n) + b"\0" * (8 * n)
        return out


def raw_bytes(dt: int | None, nelem: int) -> int | None:
    """Bytes of raw_data the checker requires for ``nelem`` elements; None when it checks nothing."""
    if dt in _ELEMS_PER_BYTE:
        k = _ELEMS_PER_BYTE[dt]
        return (nelem + k - 1) // k
    if dt in _FLOAT6:
        return (nelem * 6 + 7) // 8
    if dt in _BYTES_PER_ELEM:
        return nelem * _BYTES_PER_ELEM[dt]
    return None


class _Scan:
    """One pass over the file: the skeleton's bytes, and the tensors whose payloads were skipped."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self.size = size
        self._buf = b""
        self._start = 0
        self.tensors: list[_Tensor] = []

    # -- reading ----------------------------------------------------------------------------------
    def _window(self, pos: int, n: int) -> tuple[bytes, int]:
        """A buffer holding bytes [pos, pos + n) of the file, and pos's offset in it."""
        off = pos - self._start
        if off < 0 or off + n > len(self._buf):
            self._f.seek(pos)
            self._buf = self._f.read(max(n, WINDOW))
            self._start, off = pos, 0
            if len(self._buf) < n:
                raise _corrupt(f"the file ends at byte {self._start + len(self._buf)}")
        return self._buf, off

    def read(self, pos: int, n: int) -> bytes:
        buf, off = self._window(pos, n)
        return buf[off : off + n]

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        """The varint at ``pos`` (which must end before ``end``) and the position after it."""
        buf, off = self._window(pos, min(10, end - pos, self.size - pos) or 1)
        result = shift = 0
        for i in range(10):
            if pos + i >= end:
                break
            b = buf[off + i]
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos + i + 1
            shift += 7
        raise _corrupt(f"bad varint at byte {pos}")

    def field(self, pos: int, end: int) -> tuple[int, int, int, int, int]:
        """(number, wire type, end of the key, start and end of the payload) of the field at ``pos``.

        A field ends where its payload does; a length-delimited payload starts after its length.
        """
        key, k = self.varint(pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _corrupt(f"field number 0 at byte {pos}")
        p = k
        if wire == 0:
            q = self.varint(p, end)[1]
        elif wire == 1 or wire == 5:
            q = p + (8 if wire == 1 else 4)
        elif wire == 2:
            n, p = self.varint(p, end)
            q = p + n
        elif wire == 3:
            q = self._group_end(number, p, end)
        else:  # 4 (the end of a group we are not in), 6, 7
            raise _corrupt(f"wire type {wire} at byte {pos}")
        if q > end:
            raise _corrupt(f"field {number} at byte {pos} runs past the end of its message")
        return number, wire, k, p, q

    def _group_end(self, number: int, pos: int, end: int) -> int:
        """Skip a (deprecated, but parseable) group; the position after its end tag."""
        while pos < end:
            key, p = self.varint(pos, end)
            if key & 7 == 4:
                if key >> 3 != number:
                    raise _corrupt(f"mismatched end of group at byte {pos}")
                return p
            pos = self.field(pos, end)[4]
        raise _corrupt(f"unterminated group {number}")

    # -- the skeleton -----------------------------------------------------------------------------
    def message(self, kind: int, start: int, end: int) -> bytes:
        """Skeleton bytes of the message of ``kind`` at [start, end)."""
        if kind == TENSOR:
            return self.tensor(start, end)
        children = _CHILDREN[kind]
        out: list[bytes] = []
        pos = start
        while pos < end:
            number, wire, k, p, q = self.field(pos, end)
            child = children.get(number)
            if child is not None and wire == 2 and q - p >= DESCEND:
                inner = self.message(child, p, q)
                out += (self.read(pos, k - pos), _varint_bytes(len(inner)), inner)
            else:
                out.append(self.read(pos, q - pos))
            pos = q
        return b"".join(out)

    def tensor(self, start: int, end: int) -> bytes:
        """A TensorProto without its payloads: dims dropped, one placeholder element per payload kind."""
        t = _Tensor()
        kept: list[bytes] = []
        dims: list[bytes] = []
        pos = start
        while pos < end:
            number, wire, _, p, q = self.field(pos, end)
            if number == _RAW and wire == 2:
                t.raw = (p, q - p)
            elif number == _FLOAT and wire in (2, 5):
                if wire == 2 and (q - p) % 4:
                    raise _corrupt(f"packed float_data at byte {p} is not a whole number of floats")
                t.floats += (q - p) // 4 if wire == 2 else 1
            elif number == _DOUBLE and wire in (2, 1):
                if wire == 2 and (q - p) % 8:
                    raise _corrupt(f"packed double_data at byte {p} is not a whole number of doubles")
                t.doubles += (q - p) // 8 if wire == 2 else 1
            else:
                raw = self.read(pos, q - pos)
                if number == _DIMS:
                    dims.append(raw)
                    t.dims += self._ints(wire, p, q)
                else:
                    kept.append(raw)
                    self._note(t, number, wire, p, q)
            pos = q
        if not (t.floats or t.doubles or (t.raw and t.raw[1])):
            return b"".join(dims + kept)  # nothing skipped: the checker sees the tensor as it is
        self.tensors.append(t)
        return b"".join(kept) + t.placeholder()

    def _ints(self, wire: int, p: int, q: int) -> list[int]:
        if wire == 0:
            return [_signed64(self.varint(p, q)[0])]
        if wire != 2:
            return []
        out = []
        while p < q:
            v, p = self.varint(p, q)
            out.append(_signed64(v))
        return out

    def _note(self, t: _Tensor, number: int, wire: int, p: int, q: int) -> None:
        """Record the small fields the size rules depend on (last one wins, as in protobuf)."""
        if number == _NAME and wire == 2:
            t.name = self.read(p, q - p).decode("utf-8", errors="replace")
        elif number == _DATA_TYPE and wire == 0:
            t.data_type = _signed64(self.varint(p, q)[0])
        elif number == _LOCATION and wire == 0:
            t.external = self.varint(p, q)[0] == _EXTERNAL
        elif (number == _STRING and wire == 2) or (number in (_INT32, _INT64, _UINT64) and (wire == 0 or q > p)):
            t.other_data.add(number)


@dataclass(frozen=True)
class Skeleton:
    """The model without its tensor payloads, and the size checks owed on what was skipped."""

    path: Path
    model: bytes
    tensors: tuple[_Tensor, ...]

    def check_sizes(self) -> None:
        """The checker's payload-size rules (onnx/checker.cc check_tensor) on the skipped tensors."""

        def read_byte(offset: int) -> int:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return f.read(1)[0]

        for t in self.tensors:
            _check_tensor(t, read_byte)


def _check_tensor(t: _Tensor, read_byte: Callable[[int], int]) -> None:
    if t.external:
        return  # the skeleton keeps data_location: the checker has judged this tensor already
    name = t.name

    def fail(msg: str) -> ValidationError:
        return ValidationError(f"TensorProto (tensor name: {name}) {msg}")

    nelem = 1
    for d in t.dims:
        if d < 0:
            raise ValidationError(f"Negative dimension value (tensor name: {name})")
        nelem *= d
        if nelem > INT64_MAX:
            raise ValidationError(f"Tensor dimension product overflow (tensor name: {name})")
    raw_len = t.raw[1] if t.raw else 0
    fields = bool(raw_len) + bool(t.floats) + bool(t.doubles) + len(t.other_data)
    if nelem == 0:
        if fields:
            raise fail("is 0-element but contains data!")
        return
    if fields != 1:
        return  # the checker failed the skeleton already ("one and only one value field")
    dt = t.data_type
    if raw_len:
        need = raw_bytes(dt, nelem)
        if need is None:
            return
        if need > INT64_MAX:
            raise fail("has a shape too large to validate against its data type.")
        if raw_len < need:
            raise fail(
                f"raw_data size ({raw_len} bytes) is too small for the declared shape and type ({need} bytes required)."
            )
        used_bits = (nelem * 6) % 8 if dt in _FLOAT6 else 0
        if used_bits and t.raw and read_byte(t.raw[0] + need - 1) & (0xFF << used_bits) & 0xFF:
            raise fail("has non-zero padding bits in its packed FLOAT6 raw_data.")
    elif t.floats and dt in (FLOAT, COMPLEX64):
        need = nelem * (2 if dt == COMPLEX64 else 1)
        if need > INT64_MAX:
            raise fail("has a shape too large to validate against its data type.")
        if t.floats < need:
            raise fail(
                f"float_data size ({t.floats}) is too small for the declared shape ({need} float values required)."
            )
    elif t.doubles and dt in (DOUBLE, COMPLEX128):
        need = nelem * (2 if dt == COMPLEX128 else 1)
        if need > INT64_MAX:
            raise fail("has a shape too large to validate against its data type.")
        if t.doubles < need:
            raise fail(
                f"double_data size ({t.doubles}) is too small for the declared shape ({need} double values required)."
            )


def scan(path: str | os.PathLike[str]) -> Skeleton:
    """The skeleton of the ONNX model at ``path``; raises DecodeError when it is not a protobuf."""
    p = Path(path)
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_PROTOBUF:
            raise DecodeError(f"{size} bytes is over protobuf's 2 GiB limit for one model without external data")
        s = _Scan(f, size)
        model = s.message(MODEL, 0, size)
    return Skeleton(p, model, tuple(s.tensors))
