"""The embedder's small LRU of query vectors, so a repeated query is not embedded again."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt


class _QueryCache:
    """A small thread-safe LRU of query vectors, keyed by the query text.

    Stored vectors are read-only copies and every hit returns a fresh copy, so
    a caller that modifies what it got cannot change what the next caller gets.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> npt.NDArray[np.float32] | None:
        if self.maxsize == 0:
            return None
        with self._lock:
            vector = self._data.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
        copy: npt.NDArray[np.float32] = vector.copy()
        return copy

    def put(self, key: str, vector: npt.NDArray[np.float32]) -> None:
        if self.maxsize == 0:
            return
        stored = vector.copy()
        stored.flags.writeable = False
        with self._lock:
            self._data[key] = stored
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0
