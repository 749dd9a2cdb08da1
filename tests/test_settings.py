"""``gitreg.toml`` as gitreg reads it: defaults, the template ``gitreg init`` writes, and type errors naming the key."""

from __future__ import annotations

import pytest

from gitreg.core.settings import DEFAULT_STAGES, GITREG_TOML, RegistryConfig
from gitreg.errors import ConfigError, GitregError


def test_the_template_parses_to_the_defaults() -> None:
    cfg = RegistryConfig.parse(GITREG_TOML)
    assert cfg == RegistryConfig(raw=cfg.raw)
    assert cfg.stages == DEFAULT_STAGES and cfg.tolerance == 1e-4 and cfg.rtol is None and cfg.atol is None
    old = RegistryConfig.parse("[parity]\nrtol = 1e-4\natol = 1e-5\n")  # a registry from before: kept
    assert (old.rtol, old.atol, old.tolerance) == (1e-4, 1e-5, 1e-4)
    assert cfg.max_plain_blob_bytes == 1_000_000
    assert cfg.raw["stages"]["production"] == {"require_pr": False}


def test_the_template_says_nothing_it_cannot_back() -> None:
    for needle in ("DESIGN", "§", "research", "../"):
        assert needle not in GITREG_TOML
    comment, setting = GITREG_TOML.split("[stages.production]\n", 1)[1].splitlines()[:2]
    assert "require_pr = true" in comment and setting == "require_pr = false"


@pytest.mark.parametrize("text", [None, "", "# only a comment\n", "[registry]\nschema = 1\n"])
def test_missing_values_are_the_defaults(text: str | None) -> None:
    assert RegistryConfig.parse(text).stages == DEFAULT_STAGES


def test_values_are_read() -> None:
    cfg = RegistryConfig.parse(
        '[stages]\norder = ["dev", "prod"]\n[stages.prod]\nrequire_pr = true\n'
        "[parity]\nrtol = 1\natol = 0.5\n[limits]\nmax_plain_blob_bytes = 0\n"
        '[gates.prod]\nrules = ["eval.accuracy >= 0.9"]\ndata = "datasets/x.npz"\n[future]\nkey = 1\n'
    )
    assert cfg.stages == ("dev", "prod") and cfg.rtol == 1.0 and isinstance(cfg.rtol, float) and cfg.atol == 0.5
    assert cfg.max_plain_blob_bytes == 0 and cfg.raw["future"] == {"key": 1}
    assert RegistryConfig.parse("[limits]\nmax_plain_blob_bytes = 1e6\n").max_plain_blob_bytes == 1_000_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[parity]\nrtol = "abc"\n', "gitreg.toml: [parity] rtol must be a number, got 'abc'"),
        ("[parity]\natol = true\n", "gitreg.toml: [parity] atol must be a number, got True"),
        ("[parity]\natol = -1e-5\n", "gitreg.toml: [parity] atol must be a finite number >= 0, got -1e-05"),
        ("[parity]\nrtol = nan\n", "gitreg.toml: [parity] rtol must be a finite number >= 0, got nan"),
        ('[parity]\ntolerance = "1%"\n', "gitreg.toml: [parity] tolerance must be a number, got '1%'"),
        ("parity = 1\n", "gitreg.toml: [parity] must be a table, got 1"),
        (
            '[limits]\nmax_plain_blob_bytes = "1MB"\n',
            "gitreg.toml: [limits] max_plain_blob_bytes must be a whole number of bytes, e.g. 1000000, got '1MB'",
        ),
        ("[limits]\nmax_plain_blob_bytes = 1.5\n", "[limits] max_plain_blob_bytes must be a whole number of bytes"),
        ("[limits]\nmax_plain_blob_bytes = inf\n", "[limits] max_plain_blob_bytes must be a whole number of bytes"),
        ("[limits]\nmax_plain_blob_bytes = -1\n", "[limits] max_plain_blob_bytes must be a number of bytes >= 0"),
        ("stages = 1\n", "gitreg.toml: [stages] must be a table, got 1"),
        ("[stages]\norder = 1\n", "gitreg.toml: [stages] order must be a list of stage names"),
        ('[stages]\norder = "production"\n', "[stages] order must be a list of stage names"),
        ('[stages]\norder = ["staging", 2]\n', "[stages] order must be a list of stage names"),
        ('[stages]\norder = [""]\n', "[stages] order must be a list of stage names"),
        ("[stages]\nproduction = 1\n", "gitreg.toml: [stages.production] must be a table, got 1"),
        (
            '[stages.production]\nrequire_pr = "yes"\n',
            "gitreg.toml: [stages.production] require_pr must be true or false, got 'yes'",
        ),
        ("gates = []\n", "gitreg.toml: [gates] must be a table, got []"),
        ('[gates.production]\nrules = "eval.accuracy > 0.9"\n', "[gates.production] rules must be a list of rules"),
        ("[gates.production]\nrules = [1]\n", "[gates.production] rules must be a list of rules"),
        ("[gates.production]\ndata = 1\n", "[gates.production] data must be a path in the registry (a string), got 1"),
    ],
)
def test_a_wrong_type_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        RegistryConfig.parse(text)
    assert message in e.value.message and e.value.message.startswith("gitreg.toml: ")
    assert isinstance(e.value, GitregError) and e.value.exit_code == 1 and e.value.hint


def test_invalid_toml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"gitreg\.toml is not valid TOML"):
        RegistryConfig.parse("[parity\n")
