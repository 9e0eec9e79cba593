"""The design's import direction: cli -> api -> core -> {scheduler, db, drivers}."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "onestack"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


FORBIDDEN = {
    "core": ("onestack.api", "onestack.cli", "onestack.agent"),
    "db": ("onestack.api", "onestack.cli", "onestack.core", "onestack.drivers"),
    "drivers": ("onestack.api", "onestack.cli", "onestack.core", "onestack.db",
                "onestack.scheduler"),
    "scheduler": ("onestack.api", "onestack.cli", "onestack.core", "onestack.agent"),
    "agent": ("onestack.api", "onestack.cli"),
    "dashboard": ("onestack.core", "onestack.db"),
}


def test_import_direction() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        pkg = package_of(path)
        for mod in imports(path):
            if pkg != "cli" and mod.startswith("onestack.cli"):
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
            if pkg not in ("api", "cli") and mod.startswith("onestack.api"):
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
            for prefix in FORBIDDEN.get(pkg, ()):
                if mod.startswith(prefix):
                    bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(SRC)}: {n} lines" for p in SRC.rglob("*.py")
           if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 500]
    assert not big, big


def test_only_drivers_touch_the_host() -> None:
    """No subprocesses outside drivers/ (and the CLI and image builder, which are tools)."""
    bad = []
    for path in SRC.rglob("*.py"):
        if package_of(path) not in ("api", "core", "db", "scheduler", "agent"):
            continue
        text = path.read_text()
        mods = imports(path)
        if "subprocess" in mods or "create_subprocess_exec" in text or "os.system" in text:
            bad.append(str(path.relative_to(SRC)))
    assert not bad, bad


def test_drivers_do_not_import_each_other() -> None:
    """A driver package imports only itself and ``drivers.diskimage`` (the shared image
    inspector and qemu-img runner that both storage and virt must use)."""
    bad = []
    for path in (SRC / "drivers").rglob("*.py"):
        rel = path.relative_to(SRC / "drivers").parts
        if len(rel) < 2:
            continue
        own = f"onestack.drivers.{rel[0]}"
        for mod in imports(path):
            if (mod.startswith("onestack.drivers.") and not mod.startswith(own)
                    and not mod.startswith("onestack.drivers.diskimage")):
                bad.append(f"drivers/{'/'.join(rel)} imports {mod}")
    assert not bad, "\n".join(bad)
