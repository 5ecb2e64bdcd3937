"""pixfix: restore degraded pixel art to clean, native-resolution pixel art.

Public API (arrays in, arrays out; no file I/O):
    restore(rgba, config=None) -> Restored
    detect_grid(rgba, ...) -> Grid
    load_config(source=None, overrides=None) -> Config
    check_image(rgba, cfg=None, palette=None) -> CheckReport   (lint clean pixel art)
    pixelate_image(rgba, cfg=None, ...) -> PixelateResult     (loaded on first use)
"""
from __future__ import annotations

from .check import CheckReport, check_image
from .config import Config, ConfigError, load_config
from .grid import Grid, detect_grid
from .pipeline import Restored, restore

__version__ = "0.1.0"
__all__ = ["CheckReport", "Config", "ConfigError", "Grid", "Restored", "check_image", "detect_grid", "load_config",
           "pixelate_image", "restore", "__version__"]


def __getattr__(name: str):
    """``pixfix.pixelate_image`` imports the pixelate engine only when first used."""
    if name == "pixelate_image":
        from .pixelate import pixelate_image

        return pixelate_image
    raise AttributeError(f"module 'pixfix' has no attribute {name!r}")
