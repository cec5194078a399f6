"""Which decoding core is in use: the compiled one (``decoders._core``, Rust) or the pure-Python
reference, chosen once at import.

The compiled core is optional: it is built by ``pip install`` where cargo is available and left out
otherwise; ``WIRECAP_PURE_PYTHON=1`` forces the pure-Python decoders even when it is built.
``core_name()`` names the choice ("rust 0.1.0" / "python") for ``wirecap --version``.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("WIRECAP_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from . import _core  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _core


RUST: ModuleType | None = _load()
"""The compiled module, or None when the pure-Python decoders are in use."""


def core_name() -> str:
    """The core in use: "rust <crate version>" or "python"."""
    return f"rust {RUST.__version__}" if RUST is not None else "python"
