import dataclasses

import pytest
import yaml

from pixfix.config import DEFAULTS, PRESET_DIR, Config, ConfigError, from_dict, load_config, parse_override, to_yaml


def test_defaults_match_default_yaml():
    assert load_config("default") == Config()


def test_merge_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("grid:\n  max_cell: 30\n  refine: false\npalette:\n  colors: 8\n")
    cfg = load_config(str(f), ["grid.max_cell=20"], {"grid": {"max_cell": 10}})
    assert cfg.grid.max_cell == 10 and cfg.grid.refine is False and cfg.palette.colors == 8
    cfg = load_config(str(f), ["grid.max_cell=20"])
    assert cfg.grid.max_cell == 20


def test_validation_messages():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["grid.cel=3", "palette.colors=lots", "background.mode=pink"])
    msg = str(e.value)
    assert "did you mean 'grid.cell'" in msg
    assert "palette.colors: expected an integer" in msg
    assert "background.mode: must be one of" in msg


def test_override_parsing():
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    assert parse_override("a.b=null") == {"a": {"b": None}}
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_presets_load_and_round_trip(tmp_path):
    for name in ("ai", "jpeg", "upscaled"):
        load_config(name)
    f = tmp_path / "dump.yaml"
    f.write_text(to_yaml(load_config("ai")))
    assert load_config(str(f)) == load_config("ai")
    with pytest.raises(ConfigError, match="did you mean 'jpeg'"):
        load_config("jpg")



def test_default_yaml_is_the_single_source_of_defaults():
    """Every field appears in default.yaml and the dataclass defaults are exactly its values."""
    on_disk = yaml.safe_load((PRESET_DIR / "default.yaml").read_text())
    assert on_disk == DEFAULTS
    cfg = Config()
    assert set(on_disk) == {f.name for f in dataclasses.fields(Config)}
    for section, values in on_disk.items():
        sub = getattr(cfg, section)
        assert set(values) == {f.name for f in dataclasses.fields(sub)}, section
        for key, value in values.items():
            assert getattr(sub, key) == value, f"{section}.{key}"
    assert from_dict(on_disk) == cfg  # the defaults pass their own validation (ranges, choices)


def test_every_key_in_default_yaml_has_a_comment():
    lines = (PRESET_DIR / "default.yaml").read_text().splitlines()
    keyed = [ln for ln in lines if ln.startswith("  ") and ":" in ln and not ln.strip().startswith("#")]
    assert keyed and all("#" in ln for ln in keyed), [ln for ln in keyed if "#" not in ln]


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESET_DIR.glob("*.yaml") if p.stem != "default"))
def test_presets_only_hold_changes(preset):
    data = yaml.safe_load((PRESET_DIR / f"{preset}.yaml").read_text())
    assert data
    for section, values in data.items():
        assert section in DEFAULTS, section
        for key, value in values.items():
            assert key in DEFAULTS[section], f"{section}.{key}"
            assert value != DEFAULTS[section][key], f"{preset}: {section}.{key} repeats the default"


def test_cli_merge_order_file_then_set_then_flags(tmp_path):
    """-c file < --set < explicit flags, seen in the effective config of the --debug JSON."""
    import json

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from pixfix.cli import app
    from conftest import smiley, upscale

    src = tmp_path / "f.png"
    Image.fromarray(upscale(smiley(), 4), "RGBA").save(src)
    f = tmp_path / "c.yaml"
    f.write_text("palette:\n  colors: 8\n  rare: 0.01\ngrid:\n  max_cell: 30\n")
    out = tmp_path / "o.png"
    r = CliRunner().invoke(app, ["restore", str(src), "-o", str(out), "--debug", "-c", str(f),
                                 "--set", "palette.colors=6", "--set", "grid.max_cell=20", "--colors", "5"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "o.json").read_text())["config"]
    assert cfg["palette"]["colors"] == 5          # flag beats --set beats file
    assert cfg["grid"]["max_cell"] == 20          # --set beats file
    assert cfg["palette"]["rare"] == 0.01         # file beats default
    assert cfg["grid"]["min_cell"] == 1.0         # default
    assert np.asarray(Image.open(out)).shape[:2] == (12, 12)


def test_validation_one_line_each_with_suggestions():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["sample.inner=0.9", "gird.cell=3", "output.debug=maybe", "check.max_color=3"])
    lines = str(e.value).splitlines()
    assert len(lines) == 4
    assert "sample.inner: must be in 0..0.45, got 0.9" in lines
    assert any("unknown key 'gird'" in ln and "did you mean 'grid'" in ln for ln in lines)
    assert "output.debug: expected true/false, got 'maybe'" in lines
    assert any("did you mean 'check.max_colors'" in ln for ln in lines)
