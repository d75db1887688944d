#!/usr/bin/env python3
"""A safetensors reader and writer that shares no code with Kiln (stdlib only).

  safetensors_reader.py read FILE    prints "name dtype shape sum first" per tensor
  safetensors_reader.py write FILE   writes two known F32 tensors
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    for name, entry in sorted(header.items()):
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        begin, end = entry["data_offsets"]
        values = struct.unpack("<%df" % ((end - begin) // 4), body[begin:end])
        shape = "x".join(str(d) for d in entry["shape"])
        first = values[0] if values else 0.0
        print("%s F32 %s %.6f %.6f" % (name, shape, sum(values), first))


def write(path):
    tensors = [("a/kernel", [2, 3], [0.5 * i for i in range(6)]), ("a/bias", [3], [1.0, -2.0, 3.0])]
    header, body = {}, b""
    for name, shape, values in tensors:
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
