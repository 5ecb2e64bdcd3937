"""pixfix: restore degraded pixel art to clean, native-resolution pixel art.

Public API (arrays in, arrays out; no file I/O):
    restore(rgba, config=None) -> Restored
    detect_grid(rgba, ...) -> Grid
    load_config(source=None, overrides=None) -> Config
"""
from __future__ import annotations

from .config import Config, ConfigError, load_config
from .grid import Grid, detect_grid
from .pipeline import Restored, restore

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "Grid", "Restored", "detect_grid", "load_config", "restore", "__version__"]
