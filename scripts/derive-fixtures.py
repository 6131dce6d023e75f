#!/usr/bin/env python3
"""Derives fixtures that perf cannot record on the project's machines from real recordings.

callchain-fp-auxtrace.data: perf/callchain-fp.data with the AUXTRACE feature and one
AUXTRACE record carrying 16 bytes of trace data, as a recording with an AUX area (Intel PT,
Arm SPE) has. This VM has no PMU, so perf cannot record AUX data here; the file lets the
tests (and the mutation test) exercise the readers' AUX paths on otherwise real data.

Run by scripts/make-fixtures.sh; by hand:  python3 scripts/derive-fixtures.py
"""
import pathlib
import struct

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "harness/tests/fixtures"
HEADER_AUXTRACE = 18
PERF_RECORD_AUXTRACE = 71


def feature_bits(words):
    return [bit for bit in range(256) if words[bit // 64] >> (bit % 64) & 1]


def with_auxtrace(src: bytes) -> bytes:
    data_offset, data_size = struct.unpack_from("<QQ", src, 40)
    words = list(struct.unpack_from("<4Q", src, 72))
    bits = feature_bits(words)
    table = data_offset + data_size
    sections = {
        bit: struct.unpack_from("<QQ", src, table + 16 * i) for i, bit in enumerate(bits)
    }
    # The record: aux size, offset, reference (u64); idx, tid, cpu, reserved (u32).
    trace = b"unwindbench-aux!"
    body = struct.pack("<QQQIIII", len(trace), 0, 0, 0, 0, 0, 0)
    record = struct.pack("<IHH", PERF_RECORD_AUXTRACE, 0, 8 + len(body)) + body + trace
    data = record + src[data_offset:table]
    old_feature_bytes = src[table + 16 * len(bits):]
    words[HEADER_AUXTRACE // 64] |= 1 << (HEADER_AUXTRACE % 64)
    new_bits = feature_bits(words)
    new_table = data_offset + len(data)
    first_section = new_table + 16 * len(new_bits)
    shift = first_section - (table + 16 * len(bits))
    index = struct.pack("<Q", 0)  # the AUX index: no entries
    entries = b""
    for bit in new_bits:
        if bit == HEADER_AUXTRACE:
            entries += struct.pack("<QQ", first_section + len(old_feature_bytes), len(index))
        else:
            offset, size = sections[bit]
            entries += struct.pack("<QQ", offset + shift, size)
    header = bytearray(src[:data_offset])
    struct.pack_into("<QQ", header, 40, data_offset, len(data))
    struct.pack_into("<4Q", header, 72, *words)
    return bytes(header) + data + entries + old_feature_bytes + index


def main():
    src = (FIXTURES / "perf/callchain-fp.data").read_bytes()
    out = FIXTURES / "derived/callchain-fp-auxtrace.data"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(with_auxtrace(src))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
