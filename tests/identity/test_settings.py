"""Layered settings: flags over PREFIX_* variables over defaults, typed, typos refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from identity.settings import layer_settings


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    delay: float = 0.5
    debug: bool = False


def test_defaults_stand_when_nothing_is_given() -> None:
    assert layer_settings(Settings(), "APP_", {"OTHER_PORT": "1"}) == Settings()


def test_variables_are_typed_after_the_default() -> None:
    environ = {
        "APP_DATA_DIR": "/srv/app",
        "APP_PORT": "9000",
        "APP_DELAY": "0.25",
        "APP_DEBUG": "yes",
        "APP_HOST": "0.0.0.0",
    }
    assert layer_settings(Settings(), "APP_", environ) == Settings(
        Path("/srv/app"), "0.0.0.0", 9000, 0.25, True
    )


def test_flags_win_over_variables_and_none_means_not_given() -> None:
    settings = layer_settings(
        Settings(),
        "APP_",
        {"APP_PORT": "9000", "APP_HOST": "h"},
        {"port": 9100, "host": None, "data_dir": "d"},
    )
    assert (settings.port, settings.host, settings.data_dir) == (9100, "h", Path("d"))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_PORT": "eighty"}, "APP_PORT must be an integer, not 'eighty'"),
        ({"APP_DELAY": "soon"}, "APP_DELAY must be a number, not 'soon'"),
        ({"APP_DEBUG": "maybe"}, "APP_DEBUG must be true or false, not 'maybe'"),
        ({"APP_PROT": "80"}, "unknown setting APP_PROT"),
    ],
)
def test_bad_variables_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        layer_settings(Settings(), "APP_", environ)
    assert str(caught.value) == message


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown setting prot"):
        layer_settings(Settings(), "APP_", {}, {"prot": 80})


def test_saved_values_sit_below_variables_and_flags() -> None:
    saved = {"host": "saved.example", "port": 7000, "data_dir": None}
    assert layer_settings(Settings(), "APP_", {}, saved=saved) == Settings(host="saved.example", port=7000)
    assert layer_settings(Settings(), "APP_", {"APP_HOST": "env"}, saved=saved).host == "env"
    assert layer_settings(Settings(), "APP_", {}, {"port": 1}, saved=saved).port == 1
    with pytest.raises(ValueError, match="unknown saved setting colour"):
        layer_settings(Settings(), "APP_", {}, saved={"colour": "red"})
