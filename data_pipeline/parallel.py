"""Encode parsed records chunk by chunk, in this process or in a fork-based worker pool.

Both paths run the same `encode_chunk` over the same chunks in the same order, so the result
does not depend on the number of workers. Records that failed to parse travel through as
`BadRecord`s, so the caller sees every outcome in file order and applies data.on_bad_record.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator, Union

import numpy as np

from .encode import Encoder
from .errors import DataError
from .records import BadRecord, Turn

CHUNK_SIZE = 256

Parsed = tuple[int, Union[list[Turn], BadRecord]]  # (line number, conversation or problem)
Encoded = tuple[int, Union[tuple[np.ndarray, np.ndarray], BadRecord, DataError]]

# Set only inside pool worker processes, by _init_worker; the parent never touches it.
_WORKER_ENCODER: Encoder | None = None


def encode_chunk(encoder: Encoder, chunk: list[Parsed]) -> list[Encoded]:
    """Encode the conversations of `chunk`; problems are returned in place, not raised."""
    out: list[Encoded] = []
    for line_no, item in chunk:
        if isinstance(item, BadRecord):
            out.append((line_no, item))
            continue
        try:
            ids, mask = encoder.encode(item)
        except (BadRecord, DataError) as err:
            out.append((line_no, err))
            continue
        out.append((line_no, (np.asarray(ids, dtype=np.int32), np.asarray(mask, dtype=np.uint8))))
    return out


def _init_worker(encoder: Encoder) -> None:
    global _WORKER_ENCODER
    _WORKER_ENCODER = encoder


def _encode_in_worker(chunk: list[Parsed]) -> list[Encoded]:
    assert _WORKER_ENCODER is not None, "pool worker was not initialised"
    return encode_chunk(_WORKER_ENCODER, chunk)


class ChunkEncoder:
    """Maps `encode_chunk` over chunks; a context manager that owns the worker pool, if any.

    At most 4 chunks per worker are in flight, so memory stays bounded on large files; a worker
    that dies (e.g. killed for memory) raises BrokenProcessPool instead of hanging.
    """

    def __init__(self, encoder: Encoder, num_workers: int = 1):
        self.encoder = encoder
        self._window = 4 * num_workers
        self._pool: ProcessPoolExecutor | None = None
        if num_workers > 1:
            # fork: workers inherit the tokenizer instead of unpickling it, and start fast
            self._pool = ProcessPoolExecutor(
                num_workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_init_worker,
                initargs=(encoder,),
            )

    def map(self, chunks: Iterable[list[Parsed]]) -> Iterator[list[Encoded]]:
        """Encoded chunks, in input order."""
        if self._pool is None:
            yield from (encode_chunk(self.encoder, chunk) for chunk in chunks)
            return
        pending: deque[Future] = deque()
        for chunk in chunks:
            pending.append(self._pool.submit(_encode_in_worker, chunk))
            if len(pending) >= self._window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "ChunkEncoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunked(items: Iterable[Parsed], size: int = CHUNK_SIZE) -> Iterator[list[Parsed]]:
    """Group `items` into lists of at most `size`."""
    chunk: list[Parsed] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
