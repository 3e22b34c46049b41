"""Saving files atomically, and training checkpoints.

A file is first written next to its destination under a temporary name and then
renamed over it (``os.replace`` is atomic on POSIX and Windows), so a crash or a
Ctrl-C never leaves half a checkpoint, half a report or half a figure behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the same folder; on success move it onto ``path``.

    >>> with atomic_path("out.json") as tmp:          # doctest: +SKIP
    ...     Path(tmp).write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); a normal file is not
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: str | os.PathLike, map_location="cpu"):
    """Load a checkpoint written by :func:`save`, with a clear error when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    # Our checkpoints hold RNG states and plain Python containers next to tensors,
    # so they are not loadable with weights_only=True. Only load files you wrote.
    return torch.load(path, map_location=map_location, weights_only=False)
