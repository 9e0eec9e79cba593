"""Point a TOML config file at another database, keeping its comments and layout.

Used by ``onestack manage db migrate --write-config``: sets ``[database] url`` and, when the
file does not name one, the top-level ``data_dir`` (keys, images, objects and volumes stay
there). The old file is kept beside it as ``<name>.bak``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from pathlib import Path

from onestack.errors import ConfigError

_SECTION = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")
_URL = re.compile(r"^\s*url\s*=")


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def database_snippet(url: str, data_dir: Path) -> str:
    """What a config file needs to use ``url``, as TOML."""
    return (f"data_dir = {toml_string(str(data_dir))}\n\n"
            f"[database]\nurl = {toml_string(url)}\n")


def _edited(lines: list[str], url: str, data_dir: Path | None) -> list[str]:
    out: list[str] = []
    section = ""
    seen_section = seen_url = False
    for line in lines:
        m = _SECTION.match(line)
        if m:
            if section == "database" and not seen_url:
                out.append(f"url = {toml_string(url)}\n")
                seen_url = True
            section = m.group(1).strip()
            seen_section = seen_section or section == "database"
        elif section == "database" and _URL.match(line):
            line = f"url = {toml_string(url)}\n"
            seen_url = True
        out.append(line)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    if section == "database" and not seen_url:
        out.append(f"url = {toml_string(url)}\n")
    elif not seen_section:
        out.extend(["\n", "[database]\n", f"url = {toml_string(url)}\n"])
    if data_dir is not None:
        out.insert(0, f"data_dir = {toml_string(str(data_dir))}\n")
    return out


def set_database_url(path: Path, url: str, data_dir: Path) -> Path:
    """Rewrite ``path`` in place (atomically); returns the backup's path."""
    try:
        original = path.read_text()
        before = tomllib.loads(original)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    keep_dir = None if "data_dir" in before else data_dir
    text = "".join(_edited(original.splitlines(keepends=True), url, keep_dir))
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot update {path} by itself ({exc}); set [database] url "
                          "by hand") from exc
    db = after.get("database")
    if not isinstance(db, dict) or db.get("url") != url:
        raise ConfigError(f"cannot update {path} by itself (unusual layout); set [database] "
                          "url by hand")
    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    return backup
