"""A minimal protobuf reader for tests: enough to read back a pprof profile.proto."""

from __future__ import annotations

import gzip
from collections import defaultdict
from typing import Any


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[Any]]:
    """field number -> values (ints for varints, bytes for length-delimited)."""
    out: dict[int, list[Any]] = defaultdict(list)
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ValueError(f"wire type {wire} not expected in a pprof profile")
        out[number].append(value)
    return out


def packed(chunks: list[Any]) -> list[int]:
    values: list[int] = []
    for chunk in chunks:
        if isinstance(chunk, int):
            values.append(chunk)
            continue
        pos = 0
        while pos < len(chunk):
            value, pos = read_varint(chunk, pos)
            values.append(value)
    return values


def one(message: dict[int, list[Any]], number: int, default: int = 0) -> Any:
    return message[number][0] if message.get(number) else default


def read_profile(gzipped: bytes) -> dict[str, Any]:
    """Decode a gzipped Profile into plain Python: sample types, samples with their stacks
    as (function, file, line) leaf first, string labels, and the comments."""
    top = fields(gzip.decompress(gzipped))
    strings = [s.decode() for s in top[6]]
    assert strings[0] == "", "string_table[0] must be empty"
    functions = {}
    for raw in top[5]:
        f = fields(raw)
        functions[one(f, 1)] = (strings[one(f, 2)], strings[one(f, 4)], one(f, 5))
    locations = {}
    for raw in top[4]:
        loc = fields(raw)
        line = fields(loc[4][0])
        name, filename, _start = functions[one(line, 1)]
        locations[one(loc, 1)] = (name, filename, one(line, 2), one(loc, 2))
    mappings = {one(fields(raw), 1) for raw in top[3]}
    samples = []
    for raw in top[2]:
        s = fields(raw)
        labels = {}
        for label_raw in s.get(3, []):
            label = fields(label_raw)
            key = strings[one(label, 1)]
            labels[key] = strings[one(label, 2)] if label.get(2) else one(label, 3)
        samples.append({"stack": [locations[i][:3] for i in packed(s.get(1, []))],
                        "values": packed(s.get(2, [])), "labels": labels})
    types = [(strings[one(fields(r), 1)], strings[one(fields(r), 2)]) for r in top[1]]
    for location in locations.values():
        assert location[3] == 0 or location[3] in mappings, "location names a missing mapping"
    return {"sample_types": types, "samples": samples, "mappings": mappings,
            "comments": [strings[i] for i in packed(top.get(13, []))],
            "period": one(top, 12), "duration_nanos": one(top, 10),
            "time_nanos": one(top, 9)}
