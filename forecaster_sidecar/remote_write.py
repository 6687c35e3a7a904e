"""Prometheus remote write (protocol 1.0): the sidecar's series pushed to any receiver
(Prometheus with ``--web.enable-remote-write-receiver``, Mimir, Thanos Receive).

The body is a ``WriteRequest`` protobuf, encoded here by hand (four small messages), compressed
with snappy's block format (cramjam). Every sample carries the time of the run that produced it,
never a future time: a forecast for 24 h ahead is the value *now* of the series "forecast at
24 h", so no sample lands more than an hour ahead (Prometheus 2.42 would then refuse ingestion
for its whole TSDB unless ``out_of_order_time_window`` is set).

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import aiohttp
import cramjam

from forecaster_sidecar.analyse import Sample

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode(samples: Iterable[Sample], timestamp_ms: int) -> bytes:
    """The WriteRequest protobuf, labels sorted by name as receivers require."""
    out = bytearray()
    for s in samples:
        labels = sorted({**s.labels, "__name__": s.name}.items())
        series = b"".join(
            _field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in labels
        )
        sample = b"\x09" + struct.pack("<d", s.value) + b"\x10" + _varint(timestamp_ms)
        out += _field(1, series + _field(2, sample))
    return bytes(out)


def compress(body: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(body))


class RemoteWriteError(Exception):
    pass


async def push(
    session: aiohttp.ClientSession, url: str, samples: list[Sample], timestamp_ms: int
) -> None:
    body = compress(encode(samples, timestamp_ms))
    try:
        async with session.post(url, data=body, headers=HEADERS) as resp:
            if resp.status >= 300:
                text = (await resp.text())[:200]
                raise RemoteWriteError(f"{url} answered {resp.status}: {text}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RemoteWriteError(f"{url}: {exc}") from None
