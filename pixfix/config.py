"""Typed configuration for every stage, loaded from YAML over the defaults.

``configs/default.yaml`` documents every key and is the only place defaults
are written: the dataclasses below take their field defaults from it at import
(see ``_section``), so code and documentation cannot disagree.  ``load_config`` merges,
in order: defaults, a YAML file or preset name, then ``key.sub=value``
overrides.  Unknown keys, wrong types and out-of-range values raise
:class:`ConfigError` with one line per problem (and a "did you mean").
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, get_args, get_origin, get_type_hints

import yaml

PRESET_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A configuration problem, with a message meant for the user."""


CHOICES = {
    ("grid", "edges"): ("diff", "sobel", "canny"),
    ("background", "mode"): ("keep", "transparent", "auto"),
    ("pixelate", "dither"): ("none", "ordered", "floyd-steinberg"),
    ("pixelate", "device"): ("auto", "cpu", "cuda"),
}
RANGES = {
    ("input", "max_pixels"): (1, None),
    ("grid", "cell"): (1, None),
    ("grid", "cell_y"): (1, None),
    ("grid", "min_cell"): (1, None),
    ("grid", "max_cell"): (2, None),
    ("grid", "min_partial"): (0, 1),
    ("sample", "inner"): (0, 0.45),
    ("sample", "max_points"): (1, 15),
    ("sample", "keep"): (0.05, 1),
    ("palette", "colors"): (1, 65536),
    ("palette", "merge"): (0, None),
    ("palette", "rare"): (0, 1),
    ("background", "tolerance"): (0, 100),
    ("output", "scale"): (1, 64),
    ("pixelate", "width"): (1, 4096),
    ("pixelate", "height"): (1, 4096),
    ("pixelate", "cell"): (1, None),
    ("pixelate", "colors"): (2, 256),
    ("pixelate", "outline"): (0, 4),
    ("pixelate", "tile"): (64, 4096),
    ("check", "max_colors"): (1, 65536),
    ("check", "blend_colors"): (0, None),
    ("check", "blend_share"): (0, 1),
    ("check", "blend_tolerance"): (0, 100),
}


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check/convert one value to the annotated type (str from --set is parsed as YAML)."""
    if get_origin(typ) is not None and type(None) in get_args(typ):
        if value is None:
            return None
        typ = next(t for t in get_args(typ) if t is not type(None))
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    return value


def _read_defaults() -> dict:
    """``configs/default.yaml``: the one place where default values are written down."""
    with open(PRESET_DIR / "default.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


DEFAULTS: dict = _read_defaults()


def _section(name: str):
    """Make ``cls`` a frozen dataclass whose field defaults are ``default.yaml``'s ``name:`` section.

    The classes below declare only names and types, so a default cannot drift
    from the documented file: a key missing on either side, or a default of the
    wrong type, fails at import time (and therefore in every test).
    """
    def wrap(cls: type) -> type:
        values = DEFAULTS.get(name)
        names = list(cls.__annotations__)
        if not isinstance(values, dict) or set(values) != set(names):
            got = set(values) if isinstance(values, dict) else set()
            raise RuntimeError(f"configs/default.yaml section '{name}' does not match {cls.__name__}: "
                               f"missing {sorted(set(names) - got)}, unknown {sorted(got - set(names))}")
        hints = get_type_hints(cls)
        for key in names:
            setattr(cls, key, _coerce(values[key], hints[key], f"default.yaml {name}.{key}"))
        return dataclass(frozen=True)(cls)
    return wrap


# Field comments are short reminders; the documented defaults live in configs/default.yaml.

@_section("input")
class InputConfig:
    max_pixels: int                     # refuse larger images before decoding them


@_section("grid")
class GridConfig:
    cell: Optional[float]               # manual cell width (skips detection)
    cell_y: Optional[float]             # manual cell height (default: same as cell)
    min_cell: float                     # 1 lets an image be judged native
    max_cell: float
    edges: str                          # diff | sobel | canny
    refine: bool                        # per-line refinement for drifting grids
    min_partial: float                  # keep border cells at least this share of a cell


@_section("sample")
class SampleConfig:
    inner: float                        # ignore this share of the cell width at each border
    max_points: int                     # sample lattice per axis
    keep: float                         # trimmed mean: share of samples nearest the median


@_section("palette")
class PaletteConfig:
    colors: Optional[int]               # cap on colours (None: automatic)
    merge: Optional[float]              # merge radius in Lab (None: from measured noise)
    rare: float                         # clusters under this share of cells may be folded
    file: Optional[str]                 # fixed palette (.gpl .hex .txt .pal)


@_section("background")
class BackgroundConfig:
    mode: str                           # keep | transparent | auto
    tolerance: float                    # Lab distance from the backdrop colour still removed (or the merge radius)


@_section("output")
class OutputConfig:
    scale: int                          # also write a nearest-neighbour preview at this scale (>1)
    indexed: bool                       # indexed PNG when <= 256 colours
    debug: bool                         # write overlay, cells and JSON sidecar


@_section("pixelate")
class PixelateConfig:
    width: Optional[int]                # output width in pixels
    height: Optional[int]               # output height in pixels
    cell: Optional[float]               # source pixels per output pixel
    colors: Optional[int]               # palette size (ignored with a fixed palette)
    palette: Optional[str]              # fixed palette: a file or a built-in name (pico-8, ...)
    dither: str                         # none | ordered | floyd-steinberg
    outline: float                      # contrast-aware outline expansion strength (0 = off)
    generator: Optional[str]            # CycleGAN ResNet generator state dict (.pth)
    device: str                         # auto | cpu | cuda
    tile: int                           # generator tile size in px (tiles overlap)


@_section("check")
class CheckConfig:
    max_colors: Optional[int]           # `pixfix check`: more colours than this is a problem
    palette: Optional[str]              # every colour must be in this palette (file or name)
    semi_transparent: bool              # allow 0 < alpha < 255
    upscaled: bool                      # flag images whose pixels are blocks of cells > 1 px
    blend_colors: int                   # flag anti-aliasing when more blend colours than this
    blend_share: float                  # a blend colour covers at most this share of the pixels
    blend_tolerance: float              # Lab distance from the line between the two neighbours


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    palette: PaletteConfig = field(default_factory=PaletteConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    pixelate: PixelateConfig = field(default_factory=PixelateConfig)
    check: CheckConfig = field(default_factory=CheckConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls: type, data: dict, prefix: str, errors: list[str]) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            errors.append(f"unknown key '{where}'{hint}")
            continue
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                errors.append(f"{where}: expected a section (mapping), got {value!r}")
                continue
            kwargs[key] = _build(typ, value, where + ".", errors)
            continue
        try:
            v = _coerce(value, typ, where)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        sect = prefix.rstrip(".")
        if (sect, key) in CHOICES and v not in CHOICES[(sect, key)]:
            errors.append(f"{where}: must be one of {', '.join(CHOICES[(sect, key)])}, got {v!r}")
            continue
        if (sect, key) in RANGES and v is not None:
            lo, hi = RANGES[(sect, key)]
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
                errors.append(f"{where}: must be {rng}, got {v!r}")
                continue
        kwargs[key] = v
    return cls(**kwargs)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def from_dict(data: dict) -> Config:
    """Build a Config from a nested mapping (missing keys take the defaults)."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping of sections")
    cfg = _build(Config, data, "", errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if cfg.grid.max_cell < cfg.grid.min_cell:
        raise ConfigError("grid.max_cell must be >= grid.min_cell")
    return cfg


def parse_override(text: str) -> dict:
    """``key.sub=value`` -> nested dict; the value is parsed as YAML (so 3, true, null work)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key.sub=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    out: dict = {}
    cur = out
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: config must be a mapping of sections")
    return data


def resolve_config_path(name: str) -> Path:
    """A config path, or the name of a shipped preset (``ai``, ``jpeg``, ...)."""
    p = Path(name)
    if p.exists():
        return p
    preset = PRESET_DIR / f"{name}.yaml"
    if preset.exists():
        return preset
    known = sorted(x.stem for x in PRESET_DIR.glob("*.yaml"))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (presets: {', '.join(known)})"
    raise ConfigError(f"{name}: no such config file or preset{hint}")


def load_config(source: str | Path | None = None, overrides: list[str] | None = None,
                extra: dict | None = None) -> Config:
    """Defaults <- file/preset <- ``--set`` overrides <- ``extra`` (explicit CLI flags)."""
    data: dict = {}
    if source:
        data = _deep_merge(data, read_yaml(resolve_config_path(str(source))))
    for o in overrides or []:
        data = _deep_merge(data, parse_override(o))
    if extra:
        data = _deep_merge(data, extra)
    return from_dict(data)


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
