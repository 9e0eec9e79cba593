"""Pointing a config file at another database keeps the rest of the file as it was."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from onestack.config import load_settings
from onestack.config_edit import database_snippet, set_database_url
from onestack.errors import ConfigError

URL = 'postgresql://onestack:p"a\\ss@db:5432/onestack'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onestack.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", [
    "",
    "# nothing but a comment",
    '[server]\nport = 5001\n',
    '[database]\npool_size = 3\n\n[server]\nport = 5001',
    '[database]\nurl = "sqlite:////old/onestack.db"  # was\npool_size = 3\n',
    '[server]\nport = 5001\n[database]\n',
])
def test_url_is_set_and_everything_else_kept(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    before = tomllib.loads(text)
    backup = set_database_url(path, URL, tmp_path / "data")
    after = tomllib.loads(path.read_text())
    assert after["database"]["url"] == URL
    assert after["data_dir"] == str(tmp_path / "data")
    for section, values in before.items():
        for key, value in values.items():
            if key != "url":
                assert after[section][key] == value
    assert backup.read_text() == text
    settings = load_settings(path)
    assert settings.database_url == URL and settings.data_dir == (tmp_path / "data").resolve()


def test_a_data_dir_in_the_file_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, 'data_dir = "/srv/onestack"\n')
    set_database_url(path, URL, tmp_path)
    assert tomllib.loads(path.read_text())["data_dir"] == "/srv/onestack"


def test_an_unusual_layout_is_left_alone(tmp_path: Path) -> None:
    text = 'database = { pool_size = 3 }\n'
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="by hand"):
        set_database_url(path, URL, tmp_path)
    assert path.read_text() == text


def test_snippet_is_valid_toml(tmp_path: Path) -> None:
    data = tomllib.loads(database_snippet(URL, tmp_path))
    assert data == {"data_dir": str(tmp_path), "database": {"url": URL}}
