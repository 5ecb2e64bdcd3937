"""Optional learned path: a CycleGAN/pix2pix-style ResNet generator checkpoint.

The layout is the one used by pytorch-CycleGAN-and-pix2pix's ``ResnetGenerator``
(so their ``latest_net_G.pth`` files load): a 7x7 stem, two stride-2 downsamplings,
``n_blocks`` residual blocks, two stride-2 transposed convolutions and a 7x7 head
with tanh, instance norm without affine parameters throughout.  The width
(``ngf``), channel counts, block count and whether the blocks have dropout are
read off the state dict, so no options are needed.

PyTorch is imported inside the functions: ``pixfix`` works without it, and only
this path asks for the ``gan`` extra.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

INSTALL_HINT = "pip install 'pixfix[gan]'"


class GeneratorError(ValueError):
    """A problem with the generator checkpoint or its runtime; one line, for the user."""


def _torch():
    try:
        import torch
    except ImportError:
        raise GeneratorError(f"the generator needs PyTorch: {INSTALL_HINT}") from None
    return torch


def build_generator(input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                    dropout: bool = False) -> "Any":
    """A randomly initialised ResNet generator with the checkpoint's module names.

    Keys: ``model.1`` stem conv, ``model.4``/``model.7`` downsampling, ``model.10 ...``
    residual blocks (``conv_block.1`` and ``.5``, or ``.6`` with dropout), then the two
    transposed convolutions and the head conv.
    """
    torch = _torch()
    nn = torch.nn

    class ResnetBlock(nn.Module):
        """x + conv-IN-ReLU-[dropout]-conv-IN(x), reflection padded."""

        def __init__(self, dim: int) -> None:
            super().__init__()
            layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True)]
            if dropout:
                layers.append(nn.Dropout(0.5))
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim)]
            self.conv_block = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv_block(x)

    class ResnetGenerator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
            for i in range(2):
                m = 2 ** i
                layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1),
                           nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]
            layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
            for i in range(2):
                m = 2 ** (2 - i)
                layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
                           nn.InstanceNorm2d(ngf * m // 2), nn.ReLU(True)]
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            self.model = nn.Sequential(*layers)
            self.input_nc, self.output_nc = input_nc, output_nc

        def forward(self, x):
            return self.model(x)

    return ResnetGenerator()


_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
_STATS = ("running_mean", "running_var", "num_batches_tracked")


def _unwrap(obj: Any, path: str) -> dict:
    """The state dict inside a checkpoint: raw, or under 'state_dict' / 'model'; 'module.' stripped."""
    torch = _torch()
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = obj.get("state_dict", obj.get("model"))
            if isinstance(inner, dict):
                obj = inner
                continue
        break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GeneratorError(f"{path}: not a generator state dict (expected a mapping of tensors)")
    out = {}
    for k, v in obj.items():
        k = str(k)
        while k.startswith("module."):
            k = k[len("module."):]
        out[k] = v
    return out


def _infer(sd: dict, path: str) -> dict:
    """Architecture options from the state dict's keys and shapes."""
    stem = sd.get("model.1.weight")
    if stem is None or stem.ndim != 4:
        raise GeneratorError(f"{path}: missing key 'model.1.weight' (the stem convolution); "
                             "not a ResNet generator checkpoint")
    ngf, input_nc = int(stem.shape[0]), int(stem.shape[1])
    blocks = sorted({int(m.group(1)) for k in sd for m in [_BLOCK.match(k)] if m})
    n_blocks = len(blocks)
    dropout = any(".conv_block.6." in k for k in sd)
    head = sd.get(f"model.{10 + n_blocks + 7}.weight")
    output_nc = int(head.shape[0]) if head is not None and head.ndim == 4 else 3
    return {"input_nc": input_nc, "output_nc": output_nc, "ngf": ngf, "n_blocks": n_blocks, "dropout": dropout}


def check_state_dict(model: Any, sd: dict, path: str) -> None:
    """Raise GeneratorError naming the first key that is missing, unexpected or mis-shaped."""
    expected = model.state_dict()
    for k, v in expected.items():
        if k not in sd:
            raise GeneratorError(f"{path}: missing key '{k}' for a {_describe(model)}")
        if tuple(sd[k].shape) != tuple(v.shape):
            raise GeneratorError(f"{path}: key '{k}' has shape {tuple(sd[k].shape)}, "
                                 f"expected {tuple(v.shape)} for a {_describe(model)}")
    for k in sd:
        if k not in expected:
            raise GeneratorError(f"{path}: unexpected key '{k}' for a {_describe(model)}")


def _describe(model: Any) -> str:
    a = model.arch
    return f"ResNet generator (ngf={a['ngf']}, {a['n_blocks']} blocks, {a['input_nc']}->{a['output_nc']} channels)"


def pick_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when available, else 'cpu'; an unavailable 'cuda' is an error."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GeneratorError("device cuda requested but CUDA is not available (use --device cpu)")
    if device not in ("cpu", "cuda"):
        raise GeneratorError(f"device must be auto, cpu or cuda, got {device!r}")
    return device


def load_generator(path: str | Path, device: str = "auto") -> "Any":
    """Load a ResNet generator checkpoint (``.pth``) into an eval-mode module on ``device``.

    The architecture is inferred from the state dict; InstanceNorm running
    statistics saved by old PyTorch versions are dropped (the norm has none).
    Raises :class:`GeneratorError` for a missing/unreadable file, a file that is
    not a state dict, or keys/shapes that do not fit (naming the first bad key).
    """
    torch = _torch()
    path = str(path)
    if not Path(path).is_file():
        raise GeneratorError(f"{path}: no such generator file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, refused globals
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GeneratorError(f"{path}: cannot load checkpoint ({msg[:200]})") from None
    sd = _unwrap(obj, path)
    sd = {k: v for k, v in sd.items() if not k.endswith(_STATS)}
    arch = _infer(sd, path)
    model = build_generator(**arch)
    model.arch = arch
    check_state_dict(model, sd, path)
    model.load_state_dict(sd, strict=True)
    dev = pick_device(device)
    model.to(dev).eval()
    model.device = dev
    return model


def _set_threads(torch: Any) -> None:
    """Respect OMP_NUM_THREADS / PIXFIX_TORCH_THREADS (batch workers set them), else all cores."""
    want = os.environ.get("PIXFIX_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    n = int(want) if want and want.isdigit() and int(want) > 0 else (os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _feather(n: int, overlap: int, start: bool, end: bool) -> np.ndarray:
    """1-D blend weights: linear ramps over ``overlap`` px at edges shared with another tile."""
    w = np.ones(n, np.float32)
    r = min(overlap, n // 2)
    if r > 0:
        ramp = (np.arange(r, dtype=np.float32) + 0.5) / r
        if start:
            w[:r] = ramp
        if end:
            w[n - r:] = ramp[::-1]
    return w


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    s = list(range(0, n - tile, step))
    return s + [n - tile]


def run_generator(model: Any, rgb: np.ndarray, tile: int = 512, overlap: int = 32) -> np.ndarray:
    """Run the generator on an (H, W, 3) uint8 image -> (H, W, 3) uint8.

    The image is reflect-padded to a multiple of 4 (two stride-2 stages); images
    larger than ``tile`` are processed in overlapping tiles whose outputs are
    blended with linear feathering, so memory stays bounded and seams do not show.
    """
    torch = _torch()
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise GeneratorError("generator input must be an (H, W, 3) uint8 image")
    _set_threads(torch)
    h, w = rgb.shape[:2]
    arch = getattr(model, "arch", {"input_nc": 3, "output_nc": 3})
    dev = getattr(model, "device", None) or next(model.parameters()).device
    tile = max(16, int(tile) // 4 * 4)
    overlap = int(np.clip(overlap, 0, tile // 4)) // 4 * 4
    ph, pw = (-h) % 4, (-w) % 4
    mode = "reflect" if h > ph and w > pw else "edge"
    img = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode)
    x = img.astype(np.float32) / 127.5 - 1.0
    if arch["input_nc"] == 1:
        x = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    H, W = x.shape[:2]
    th, tw = min(tile, H), min(tile, W)
    step_y, step_x = max(4, th - overlap), max(4, tw - overlap)
    acc = np.zeros((H, W, arch["output_nc"]), np.float32)
    wsum = np.zeros((H, W, 1), np.float32)
    ys, xs = _starts(H, th, step_y), _starts(W, tw, step_x)
    with torch.inference_mode():
        for y0 in ys:
            for x0 in xs:
                patch = np.ascontiguousarray(x[y0:y0 + th, x0:x0 + tw].transpose(2, 0, 1))[None]
                out = model(torch.from_numpy(patch).to(dev))[0].float().cpu().numpy().transpose(1, 2, 0)
                wy = _feather(th, overlap, y0 > 0, y0 + th < H)
                wx = _feather(tw, overlap, x0 > 0, x0 + tw < W)
                wgt = (wy[:, None] * wx[None, :])[..., None]
                acc[y0:y0 + th, x0:x0 + tw] += out * wgt
                wsum[y0:y0 + th, x0:x0 + tw] += wgt
    out = acc / np.maximum(wsum, 1e-6)
    out = np.clip(np.round((out[:h, :w] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return out[..., :3]
