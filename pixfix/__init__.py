"""pixfix: restore degraded pixel art to clean, native-resolution pixel art.

Public API (arrays in, arrays out; no file I/O):
    restore(rgba, config=None) -> Restored
    detect_grid(rgba, ...) -> Grid
    load_config(source=None, overrides=None) -> Config
    check_image(rgba, cfg=None, palette=None) -> CheckReport   (lint clean pixel art)
    pixelate_image(rgba, cfg=None, ...) -> PixelateResult     (loaded on first use)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["CheckReport", "Config", "ConfigError", "Grid", "Restored", "check_image", "detect_grid", "load_config",
           "pixelate_image", "restore", "__version__"]

#: public name -> module that defines it; each is imported on first use, so that the
#: command line (``pixfix --help``, a usage error) does not wait for the engine (numba,
#: scikit-image, OpenCV) to load
_LAZY = {"CheckReport": "check", "check_image": "check", "Config": "config", "ConfigError": "config",
         "load_config": "config", "Grid": "grid", "detect_grid": "grid", "Restored": "pipeline",
         "restore": "pipeline", "pixelate_image": "pixelate"}

if TYPE_CHECKING:  # for type checkers and IDEs: the names as if imported eagerly
    from .check import CheckReport, check_image
    from .config import Config, ConfigError, load_config
    from .grid import Grid, detect_grid
    from .pipeline import Restored, restore
    from .pixelate import pixelate_image


def __getattr__(name: str):
    """Load a public name's module on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pixfix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
