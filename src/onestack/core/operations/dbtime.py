"""Database transaction times, from SQLAlchemy's engine events (no change to the engine):
the time from BEGIN to COMMIT or ROLLBACK of each transaction of this process. Read-only
sessions end in a rollback, so ``end="rollback"`` is mostly reads."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event

from onestack.core.operations.metrics import Histogram
from onestack.db.engine import Database

DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_START = "onestack_tx_started"


class TransactionTimes:
    def __init__(self, db: Database) -> None:
        self.histogram = Histogram("onestack_db_transaction_seconds",
                                   "Database transaction time, BEGIN to COMMIT/ROLLBACK.",
                                   ("end",), DB_BUCKETS)
        for engine in db.sync_engines():
            event.listen(engine, "begin", self._begin)
            event.listen(engine, "commit", self._commit)
            event.listen(engine, "rollback", self._rollback)

    def _begin(self, conn: Any) -> None:
        conn.info[_START] = time.perf_counter()

    def _end(self, conn: Any, end: str) -> None:
        started = conn.info.pop(_START, None)
        if started is not None:
            self.histogram.observe((end,), time.perf_counter() - started)

    def _commit(self, conn: Any) -> None:
        self._end(conn, "commit")

    def _rollback(self, conn: Any) -> None:
        self._end(conn, "rollback")
