"""Experiment settings declared once: the declaration drives checks, --set parsing and the reproducing command."""

from __future__ import annotations

import shlex

import pytest

from initlab import InitlabValueError
from initlab.experiments import EXPERIMENTS, command, make_config, peak_bytes, settings


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_setting_is_declared_with_type_default_and_help(name) -> None:
    declared = settings(name)
    config = EXPERIMENTS[name].Config()
    assert [s.name for s in declared] == list(vars(config))
    for s in declared:
        assert s.help and s.type in ("int", "float", "str", "tuple[int, ...]", "tuple[float, ...]", "tuple[str, ...]")
        assert getattr(config, s.name) == s.default
        if s.item == "str" and not s.choices:  # a free text (an initializer spec): the Config checks it
            with pytest.raises(InitlabValueError, match=f"The '{s.name}' setting of {name} must be"):
                make_config(name, {s.name: "no_such_scheme(1"})
    assert command(config) == f"initlab run {name}"  # defaults need no --set


def _round_trip(cmd: str) -> dict[str, str]:
    words = shlex.split(cmd)
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--set")


@pytest.mark.parametrize(
    ("name", "texts"),
    [("symmetry", {"widths": "2,8", "constants": "-0.5, 0.25", "lr": "1e300", "hidden": "relu"}),
     ("scale", {"scales": "0, 1e-4, 0.01, 100", "small": "0.01", "large": "100", "activations": "sigmoid"}),
     ("depth", {"schemes": "0.01 * randn,he", "width": "64", "lr": "0.05"}),
     ("bias-vs-weights", {"std": "sqrt(2)", "target_loss": "0.3"}),
     ("course", {"seeds": "3", "inits": "he,zeros"}),
     ("train", {"weights": "too large", "compare": "normal(std=0.5)", "compare_biases": "constant(value=0.1)",
                "dataset": "digits", "lr": "0.05", "seeds": "4", "activation": "tanh"})],
)  # fmt: skip
def test_the_command_reproduces_the_config(name, texts) -> None:
    config = make_config(name, texts)
    cmd = config_command = command(config)
    assert cmd.startswith(f"initlab run {name} --set ")
    assert make_config(name, _round_trip(config_command)) == config
    assert set(_round_trip(cmd)) == set(texts) - {"small", "large"}  # the defaults are not repeated


@pytest.mark.parametrize(
    ("name", "texts", "message"),
    [("course", {"seeds": "3,3"}, "'seeds' setting of course must be a non-empty list of distinct values"),
     ("course", {"lr": "inf"}, "'lr' setting of course must be a finite float > 0. Got 'inf' instead."),
     ("course", {"lr": "1e400"}, "finite float > 0"),
     ("symmetry", {"steps": "1" + "0" * 400}, r"'steps' setting of symmetry must be an int >= 1 and <= 1000000. "
      r"Got '10000000000+\.\.\. \(403 characters\) instead"),
     ("depth", {"width": "1" + "0" * 400}, r"an int >= 1 and <= 100000"),
     ("scale", {"lr": "1" + "0" * 400}, "'lr' setting of scale must be a finite float > 0"),
     ("symmetry", {"widht": "3"}, "The settings of symmetry are: dataset, widths, .* Got an unknown setting 'widht' "
      "instead. Did you mean 'widths'?"),
     ("symmetry", {"steps": "ten"}, "'steps' setting of symmetry must be an int >= 1 and <= 1000000. Got 'ten'"),
     ("symmetry", {"steps": "2.5"}, "must be an int"),
     ("symmetry", {"steps": "(" * 5000 + "1" + ")" * 5000}, "'steps' setting of symmetry must be an int"),
     ("scale", {"activations": "relu"}, "one of 'tanh', 'sigmoid'. Got 'relu' instead"),
     ("scale", {"scales": "0.01, 100"}, "must include 0"),
     ("depth", {"max_depth": "5"}, "'max_depth' setting of depth must be an int >= 'layers' \\(10\\). Got 5")],
)  # fmt: skip
def test_bad_settings_are_refused_with_the_declared_range(name, texts, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        make_config(name, texts)


def test_seeds_and_presets() -> None:
    assert make_config("course", seeds=2).seeds == (3, 4)
    assert make_config("depth", seeds=5).seeds == 5
    with pytest.raises(InitlabValueError, match="'seeds' argument of make_config must be an int >= 1. Got 0"):
        make_config("depth", seeds=0)
    with pytest.raises(InitlabValueError, match="is for the experiment 'scale'"):
        make_config("symmetry", preset="regimes")


def test_peak_bytes_grows_with_the_work_and_names_its_config() -> None:
    assert peak_bytes("symmetry", make_config("symmetry", {"widths": "64"})) > peak_bytes("symmetry")
    with pytest.raises(TypeError, match="'config' argument of peak_bytes must be a depth Config"):
        peak_bytes("depth", make_config("scale"))
