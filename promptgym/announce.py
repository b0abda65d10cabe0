"""Say what is loading or generating: the first load of a model, and generations that run long.

Messages go to the ``promptgym`` logger (INFO), which prints to stderr while the application has
configured no logging of its own; silence it with
``logging.getLogger("promptgym").setLevel(logging.WARNING)``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SLOW_GENERATION_S = 10.0  # a generation still running after this long is announced
_log = logging.getLogger("promptgym")
_loaded: set[str] = set()


class _StderrUntilConfigured(logging.Handler):
    """Writes to the current ``sys.stderr`` while the root logger has no handlers (nobody configured logging)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            sys.stderr.write(self.format(record) + "\n")


def _logger() -> logging.Logger:
    # Without a handler of our own, INFO lines would vanish (logging's last resort shows WARNING+).
    if not any(isinstance(h, _StderrUntilConfigured) for h in _log.handlers):
        handler = _StderrUntilConfigured()
        handler.setFormatter(logging.Formatter("promptgym: %(message)s"))
        _log.addHandler(handler)
        if _log.level == logging.NOTSET:
            _log.setLevel(logging.INFO)
    return _log


def model_label(model: str) -> str:
    """A short name for a GGUF path or hub id (``SmolLM2-135M-Instruct.Q4_1``)."""
    name = Path(model).name if Path(model).suffix == ".gguf" else model
    return name.removesuffix(".gguf")


@contextmanager
def loading(model: str, backend: str) -> Iterator[None]:
    """Say what is loading and how long it took, the first time ``model`` loads in this process."""
    first = model not in _loaded
    if first:
        _logger().info("loading %s (%s, first use in this process) ...", model_label(model), backend)
    start = time.perf_counter()
    yield
    if first:
        _loaded.add(model)  # only once loaded: a failed load is announced again on the retry
        _logger().info("%s loaded in %.1f s", model_label(model), time.perf_counter() - start)


@contextmanager
def slow_notice(message: str, after: float = SLOW_GENERATION_S) -> Iterator[None]:
    """Log ``message`` if the block is still running after ``after`` seconds."""
    timer = threading.Timer(after, _logger().info, args=(message,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
