"""The attachment reader process: ``python -m services.ingest.attachments.worker`` (started by :mod:`.sandbox`).

Reads jobs from stdin and answers on stdout, one at a time, each framed by a 4-byte length:
a job is a pickle from the parent (trusted), an answer is JSON (the child parsed hostile
files, so the parent never unpickles what it says). The address-space cap is set before any
job is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import struct
import sys
import warnings
from typing import IO

from services.ingest.attachments.readers import read_file

PRELOAD = ("pdfplumber", "pypdf", "openpyxl", "xlrd", "docx", "olefile", "lxml.etree", "tnefparse")


def read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def main() -> None:
    memory_mb = int(os.environ.get("QUOTEFLOW_ATTACHMENT_MEMORY_MB", "1024"))
    cap = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit is already in force: keep it
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    for name in PRELOAD:  # paid once per worker, not per attachment
        with contextlib.suppress(ImportError):
            __import__(name)
    warnings.simplefilter("ignore")  # openpyxl and friends warn about features of the file, not about us
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library that prints must not corrupt the answer stream
    while (frame := read_frame(source)) is not None:
        file, kind, limits = pickle.loads(frame)  # noqa: S301 - written by the parent process only
        try:
            answer = read_file(file, kind, limits).model_dump(mode="json")
        except MemoryError:
            answer = {"memory": True}
        write_frame(sink, json.dumps(answer).encode())
        if answer.get("memory"):
            return  # a process that ran out of memory may be in a bad state: the parent starts a new one


if __name__ == "__main__":
    main()
