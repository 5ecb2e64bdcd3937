"""Built-in named palettes and ``resolve_palette`` (a built-in name or a palette file).

The colour values are the widely published ones (Lospec spellings); they are
facts about the palettes, kept here as hex strings so they read like the
palette files users already have.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from .palette import parse_palette

_HEX: dict[str, str] = {
    # PICO-8 fantasy console, 16 colours
    "pico-8": """
        000000 1d2b53 7e2553 008751 ab5236 5f574f c2c3c7 fff1e8
        ff004d ffa300 ffec27 00e436 29adff 83769c ff77a8 ffccaa""",
    # original Game Boy (DMG) four greens, darkest first
    "gameboy": "0f380f 306230 8bac0f 9bbc0f",
    # the common 2C02 NES palette (64 entries, the repeated blacks dropped -> 55 colours)
    "nes": """
        7c7c7c 0000fc 0000bc 4428bc 940084 a80020 a81000 881400 503000 007800 006800 005800 004058 000000
        bcbcbc 0078f8 0058f8 6844fc d800cc e40058 f83800 e45c10 ac7c00 00b800 00a800 00a844 008888
        f8f8f8 3cbcfc 6888fc 9878f8 f878f8 f85898 f87858 fca044 f8b800 b8f818 58d854 58f898 00e8d8 787878
        fcfcfc a4e4fc b8b8f8 d8b8f8 f8b8f8 f8a4c0 f0d0b0 fce0a8 f8d878 d8f878 b8f8b8 b8f8d8 00fcfc f8d8f8""",
    # ENDESGA 32
    "endesga-32": """
        be4a2f d77643 ead4aa e4a672 b86f50 733e39 3e2731 a22633 e43b44 f77622 feae34 fee761
        63c74d 3e8948 265c42 193c3e 124e89 0099db 2ce8f5 ffffff c0cbdc 8b9bb4 5a6988 3a4466
        262b44 181425 ff0044 68386c b55088 f6757a e8b796 c28569""",
}

BUILTIN_PALETTES: tuple[str, ...] = tuple(_HEX)

# common spellings people type for the same palettes
_ALIASES = {"pico8": "pico-8", "gb": "gameboy", "game-boy": "gameboy", "dmg": "gameboy",
            "endesga32": "endesga-32", "edg32": "endesga-32"}


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return _ALIASES.get(key, key)


def builtin_palette(name: str) -> np.ndarray:
    """Colours (N, 3) uint8 of a built-in palette; ``ValueError`` (with "did you mean") if unknown."""
    key = _normalise(name)
    if key not in _HEX:
        raise ValueError(f"{name}: unknown palette{_suggest(name)}")
    words = _HEX[key].split()
    return np.array([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in words], np.uint8)


def _suggest(name: str) -> str:
    key = _normalise(name)
    candidates = list(_HEX) + list(_ALIASES)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{_ALIASES.get(close[0], close[0])}'?)"
    return f" (built-in palettes: {', '.join(BUILTIN_PALETTES)}; or give a .gpl/.hex/.pal/.txt file)"


def resolve_palette(spec: str) -> np.ndarray:
    """A built-in palette name or a palette file path -> colours (N, 3) uint8.

    Existing files win over names.  Every failure is a one-line ``ValueError``
    naming the file or name and the problem.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("palette: empty name")
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ValueError(f"{spec}: cannot read palette ({exc.strerror or exc})") from None
        try:
            return parse_palette(text, path.suffix)
        except ValueError as exc:
            raise ValueError(f"{spec}: {exc}") from None
    if path.is_dir():
        raise ValueError(f"{spec}: is a directory, not a palette file")
    if _normalise(spec) in _HEX:
        return builtin_palette(spec)
    looks_like_file = path.suffix.lower() in (".gpl", ".hex", ".pal", ".txt") or len(path.parts) > 1
    if looks_like_file:
        raise ValueError(f"{spec}: no such palette file")
    raise ValueError(f"{spec}: no such palette file or built-in palette{_suggest(spec)}")
