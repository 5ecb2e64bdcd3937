import pytest

from pixfix.config import Config, ConfigError, load_config, parse_override, to_yaml


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
