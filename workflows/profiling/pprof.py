"""The pprof profile format (profile.proto, gzipped), encoded by hand.

`go tool pprof` and the standalone `pprof` read it. Only what we emit is implemented:
protobuf varints, length-delimited fields and packed repeated integers. Field numbers
are those of perftools.profiles.Profile (github.com/google/pprof, proto/profile.proto).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_VARINT, _LEN = 0, 2


def varint(value: int) -> bytes:
    """Base-128 varint; negative int64 values take ten bytes (two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Message:
    """Accumulates the encoded fields of one protobuf message."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def number(self, field: int, value: int) -> Message:
        if value:  # proto3: zero is the default and is not written
            self.buf += varint(field << 3 | _VARINT) + varint(value)
        return self

    def raw(self, field: int, data: bytes) -> Message:
        self.buf += varint(field << 3 | _LEN) + varint(len(data)) + data
        return self

    def message(self, field: int, inner: Message) -> Message:
        return self.raw(field, bytes(inner.buf))

    def packed(self, field: int, values: Iterable[int]) -> Message:
        body = b"".join(varint(v) for v in values)
        if body:
            self.raw(field, body)
        return self


@dataclass(frozen=True, slots=True)
class PprofFrame:
    function: str
    filename: str
    start_line: int
    line: int


class ProfileBuilder:
    """Collects samples and writes a Profile message.

    `sample_types` are (type, unit) pairs, e.g. [("samples", "count"), ("cpu", "nanoseconds")];
    every sample gives one value per type.
    """

    def __init__(self, sample_types: Sequence[tuple[str, str]],
                 period_type: tuple[str, str] | None = None, period: int = 0) -> None:
        self.strings: dict[str, int] = {"": 0}
        self.functions: dict[tuple[str, str, int], int] = {}
        self.locations: dict[tuple[int, int], int] = {}
        self.samples: list[Message] = []
        self.sample_types = [(self.string(t), self.string(u)) for t, u in sample_types]
        self.period_type = (self.string(period_type[0]), self.string(period_type[1])) \
            if period_type else None
        self.period = period
        self.comments: list[int] = []
        self.time_nanos = 0
        self.duration_nanos = 0

    def string(self, text: str) -> int:
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        return index

    def comment(self, text: str) -> None:
        self.comments.append(self.string(text))

    def _location(self, frame: PprofFrame) -> int:
        fkey = (frame.function, frame.filename, frame.start_line)
        function_id = self.functions.get(fkey)
        if function_id is None:
            function_id = self.functions[fkey] = len(self.functions) + 1
        lkey = (function_id, frame.line)
        location_id = self.locations.get(lkey)
        if location_id is None:
            location_id = self.locations[lkey] = len(self.locations) + 1
        return location_id

    def add(self, stack_leaf_first: Sequence[PprofFrame], values: Sequence[int],
            labels: dict[str, str] | None = None,
            num_labels: dict[str, int] | None = None) -> None:
        sample = Message().packed(1, [self._location(f) for f in stack_leaf_first])
        sample.packed(2, values)
        for key, text in (labels or {}).items():
            sample.message(3, Message().number(1, self.string(key)).number(2, self.string(text)))
        for key, number in (num_labels or {}).items():
            sample.message(3, Message().number(1, self.string(key)).number(3, number))
        self.samples.append(sample)

    def encode(self) -> bytes:
        """The Profile message, gzipped as pprof expects."""
        profile = Message()
        for type_index, unit_index in self.sample_types:
            profile.message(1, Message().number(1, type_index).number(2, unit_index))
        for sample in self.samples:
            profile.message(2, sample)
        # One mapping that says symbols are already resolved, so pprof does not look for
        # a binary to symbolize against.
        profile.message(3, Message().number(1, 1).number(5, self.string("python"))
                        .number(7, 1).number(8, 1).number(9, 1))
        function_names = {fid: key for key, fid in self.functions.items()}
        for (function_id, line), location_id in self.locations.items():
            profile.message(4, Message().number(1, location_id).number(2, 1)
                            .message(4, Message().number(1, function_id).number(2, line)))
        for function_id, (name, filename, start_line) in sorted(function_names.items()):
            profile.message(5, Message().number(1, function_id).number(2, self.string(name))
                            .number(3, self.string(name)).number(4, self.string(filename))
                            .number(5, start_line))
        strings = sorted(self.strings.items(), key=lambda kv: kv[1])
        tail = Message()
        tail.number(9, self.time_nanos).number(10, self.duration_nanos)
        if self.period_type:
            kind, unit = self.period_type
            tail.message(11, Message().number(1, kind).number(2, unit))
        tail.number(12, self.period)
        tail.packed(13, self.comments)
        for text, _ in strings:
            profile.raw(6, text.encode())
        profile.buf += tail.buf
        return gzip.compress(bytes(profile.buf), mtime=0)
