"""``onestack images build-tiny`` with the builder replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import onestack.images
from onestack.cli.main import main


def test_build_tiny_prints_the_cached_path_and_copies(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_build(cache_dir: Path, *, force: bool = False, **kw: Any) -> Path:
        calls.append({"cache_dir": cache_dir, "force": force})
        kw["progress"]("pretending")
        image = cache_dir / "onestack-tiny-0123.qcow2"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(b"QFI\xfb")
        return image

    monkeypatch.setattr(onestack.images, "build_tiny", fake_build)
    monkeypatch.setenv("ONESTACK_TINY_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["images", "build-tiny", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    cached = tmp_path / "cache" / "onestack-tiny-0123.qcow2"
    assert result.stdout.strip().splitlines()[-1] == str(cached)
    assert calls == [{"cache_dir": tmp_path / "cache", "force": False}]

    out = tmp_path / "tiny.qcow2"
    result = CliRunner().invoke(main, ["images", "build-tiny", "--data-dir", str(data),
                                       "--output", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert out.read_bytes() == b"QFI\xfb"
    assert calls[-1]["force"] is True


def test_build_tiny_failure_is_a_clean_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cache_dir: Path, **kw: Any) -> Path:
        raise onestack.images.TinyImageError("the image builder needs: mtools")

    monkeypatch.setattr(onestack.images, "build_tiny", broken)
    result = CliRunner().invoke(main, ["images", "build-tiny", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "mtools" in result.output
