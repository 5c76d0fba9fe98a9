"""The batch manifest: one SQLite file in OUTDIR (``batch.sqlite``) with a row per input.

Only the batch's driver process writes it, one short transaction per change,
so a batch killed at any moment leaves it consistent; SQLite's journal
undoes a transaction cut off half way. Table ``inputs``:

============  =====================================================================
key           the output folder, relative to OUTDIR, POSIX separators (primary key)
source        the input's absolute path (unique)
status        pending, running (handed to a worker), ok, empty (processed, nobody
              tracked) or failed
error         why it failed: one line that names the file (NULL unless failed)
warning       what the pipeline warned about, e.g. why nobody was tracked
attempts      how often it was handed to a worker
frames        frames processed; tracks: people in the output
checksum      SHA-256 (hex) of its poses3d.npz
started_at    Unix time (s) the last attempt was handed out; finished_at: when it ended
seconds       wall time of the last attempt in the worker
worker        host:pid of the worker of the last attempt
peak_rss_mb   that worker process's peak resident memory so far, MB
============  =====================================================================

Table ``settings`` holds the options that shape the outputs (``options``, JSON),
so that a rerun with other options cannot mix two kinds of output in one OUTDIR.

Query it with any SQLite client, e.g.
``sqlite3 out/batch.sqlite "select key, error from inputs where status = 'failed'"``.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "batch.sqlite"
SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "ok", "empty", "failed")
DONE = ("ok", "empty")

_SCHEMA = f"""
CREATE TABLE inputs (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    error TEXT,
    warning TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    frames INTEGER,
    tracks INTEGER,
    checksum TEXT,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    worker TEXT,
    peak_rss_mb REAL
);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class Row:
    """One input's row (see the module docstring for the fields)."""

    key: str
    source: str
    status: str
    error: str | None
    warning: str | None
    attempts: int
    frames: int | None
    tracks: int | None
    checksum: str | None
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    worker: str | None
    peak_rss_mb: float | None


class Manifest:
    """The manifest of one OUTDIR; open with `Manifest.open`, one writer at a time (the batch driver)."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> "Manifest":
        """Open or create the manifest; ValueError names the file when it is not a monocap batch manifest."""
        path = Path(path)
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and not db.execute("SELECT name FROM sqlite_master").fetchall():
                db.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
            elif version != SCHEMA_VERSION:
                db.close()
                raise ValueError(f"{path}: not a monocap batch manifest of version {SCHEMA_VERSION}; "
                                 "use another OUTDIR")
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{path}: not a readable SQLite manifest ({err}); use another OUTDIR") from None
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    # --- settings -------------------------------------------------------------------------------

    def check_options(self, options_json: str) -> None:
        """Store the options on first use; later, refuse others (their outputs would differ from the ones there)."""
        row = self._db.execute("SELECT value FROM settings WHERE name = 'options'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO settings VALUES ('options', ?)", (options_json,))
        elif row["value"] != options_json:
            raise ValueError(f"{self.path}: this OUTDIR was processed with other options ({row['value']}, now "
                             f"{options_json}); rerun with the same options, or use another OUTDIR")

    # --- rows -----------------------------------------------------------------------------------

    def keys_by_source(self) -> dict[str, str]:
        return {r["source"]: r["key"] for r in self._db.execute("SELECT source, key FROM inputs")}

    def add(self, keys: dict[str, str]) -> None:
        """New inputs {source: key}, pending; sources already there are left as they are."""
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO inputs (key, source, status) VALUES (?, ?, 'pending')",
                                 [(key, source) for source, key in keys.items()])

    def rows(self, status: str | None = None) -> list[Row]:
        sql, args = "SELECT * FROM inputs", ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        return [Row(**dict(r)) for r in self._db.execute(sql + " ORDER BY rowid", args)]

    def row(self, key: str) -> Row:
        return Row(**dict(self._db.execute("SELECT * FROM inputs WHERE key = ?", (key,)).fetchone()))

    def claim(self, key: str) -> float:
        """Mark an input as handed to a worker (one more attempt); returns the time stamp recorded."""
        now = time.time()
        self._set(key, status="running", started_at=now, finished_at=None, attempts_plus=1)
        return now

    def finish(self, key: str, status: str, *, error: str | None = None, warning: str | None = None,
               frames: int | None = None, tracks: int | None = None, checksum: str | None = None,
               seconds: float | None = None, worker: str | None = None, peak_rss_mb: float | None = None) -> None:
        """Record the end of an attempt."""
        fields = dict(status=status, error=error, warning=warning, frames=frames, tracks=tracks, checksum=checksum,
                      finished_at=time.time(), seconds=seconds, peak_rss_mb=peak_rss_mb)
        if worker is not None:
            fields["worker"] = worker
        self._set(key, **fields)

    def reset(self, key: str) -> None:
        """Back to pending (to be processed again); the attempt count stays."""
        self._set(key, status="pending", error=None, warning=None, checksum=None, finished_at=None)

    def _set(self, key: str, attempts_plus: int = 0, **fields) -> None:
        assigns = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction():
            changed = self._db.execute(f"UPDATE inputs SET {assigns}, attempts = attempts + ? WHERE key = ?",
                                       (*fields.values(), attempts_plus, key)).rowcount
        if changed != 1:
            raise KeyError(f"{self.path}: no input with key {key!r}")

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
