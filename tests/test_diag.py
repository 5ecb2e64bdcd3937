"""The failure taxonomy of scripts/diag_grid.py (engine work relies on it)."""
import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("diag_grid", Path(__file__).parent.parent / "scripts" / "diag_grid.py")
diag = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diag)


def test_causes_of_an_axis_miss():
    assert diag.cause(101, 100.0, [], 0.0) == "ok"  # within two cells, whatever else
    assert diag.cause(300, 20.0, [9.0], 1.0) == "blank"  # nothing to see on the input
    assert diag.cause(50, 100.0, [], 60.0) == "not-proposed"
    assert diag.cause(50, 100.0, [2.0], 60.0) == "weak-z"
    assert diag.cause(50, 100.0, [9.0], 60.0) == "coarse"
    assert diag.cause(200, 100.0, [9.0], 60.0) == "fine"
    assert diag.cause(95, 100.0, [9.0], 60.0) == "count"


def test_contrast_sees_colour_or_alpha():
    img = np.zeros((8, 8, 4), np.uint8)
    assert diag.contrast(img) == 0.0
    img[:4, :, 3] = 255  # a shape in alpha only (black on transparent)
    assert diag.contrast(img) > 100
