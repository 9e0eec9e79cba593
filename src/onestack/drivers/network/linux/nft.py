"""nftables: whole tables applied atomically with one ``nft -f`` transaction."""

from __future__ import annotations

import json

from onestack.drivers.network import names
from onestack.drivers.network.linux.cmd import run


async def tables(ns: str | None = None) -> list[tuple[str, str]]:
    out = await run(["nft", "-j", "list", "tables"], ns=ns)
    found: list[tuple[str, str]] = []
    for item in json.loads(out or "{}").get("nftables", []):
        table = item.get("table")
        if table and names.is_ours_table(str(table.get("name", ""))):
            found.append((str(table["family"]), str(table["name"])))
    return sorted(found)


def script(family: str, table: str, body: str) -> str:
    """Create-if-missing, delete, recreate: one transaction, so packets never see a gap
    between the old rules and the new."""
    return (f"table {family} {table} {{}}\n"
            f"delete table {family} {table}\n"
            f"table {family} {table} {{\n{body}\n}}\n")


async def apply(family: str, table: str, body: str, ns: str | None = None) -> None:
    await run(["nft", "-f", "-"], ns=ns, stdin=script(family, table, body))


async def delete(family: str, table: str, ns: str | None = None) -> None:
    if (family, table) in await tables(ns):
        await run(["nft", "delete", "table", family, table], ns=ns)
