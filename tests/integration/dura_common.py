"""Helpers shared by the store's integration tests (test_durability.py, test_disk_full.py).

- store_config(): the daemon's `store:` section for a test.
- open_db(): the daemon's SQLite file opened read-only (only after the daemon stopped).
- check_stream(): the per-publisher order rule for a stream of "<publisher>:<seq>" payloads (outbox rows in id
  order, or the messages a subscriber received).
- AckLog: follows the files the publishers append their acknowledged seqs to.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "netpie-edge.db"


def store_config(filters: list[str], max_db_bytes: str = "1GiB", policy: str = "reject_new",
                 max_rows: int = 1000000, **more) -> dict:
    cfg = {
        "synchronous": "normal",
        "commit_window_us": 2000,
        "max_db_bytes": max_db_bytes,
        "outbox": {"filters": list(filters), "policy": policy, "max_rows": max_rows},
    }
    cfg.update(more)
    return cfg


def db_path(broker) -> Path:
    return broker.dir / "state" / DB_NAME


def open_db(path: Path) -> sqlite3.Connection:
    """Read-only: `mode=ro` never writes; the -wal and -shm files next to it are read as SQLite would."""
    assert path.exists(), f"no database file {path}"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def integrity_check(path: Path) -> str:
    with open_db(path) as db:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    return "\n".join(r[0] for r in rows)


@dataclass
class OutboxRow:
    id: int
    origin: str
    origin_seq: int
    topic: str
    payload: bytes


def outbox_rows(path: Path) -> list[OutboxRow]:
    db = open_db(path)
    try:
        return [OutboxRow(int(r[0]), r[1], int(r[2]), r[3], bytes(r[4]))
                for r in db.execute("SELECT id, origin, origin_seq, topic, payload FROM outbox ORDER BY id")]
    finally:
        db.close()


def session_message_count(path: Path, client_id: str) -> int:
    db = open_db(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM session_msgs WHERE client_id = ?", (client_id,)).fetchone()[0])
    finally:
        db.close()


def parse_payload(payload: bytes) -> tuple[str, int]:
    text = payload.decode("ascii")
    name, _, seq = text.rpartition(":")
    assert name and seq.isdigit(), f"payload {payload!r} is not <publisher>:<seq>"
    return name, int(seq)


@dataclass
class StreamCheck:
    """Per publisher: what one ordered stream of its seqs holds."""

    seqs: list[int] = field(default_factory=list)
    distinct: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return len(self.seqs) - len(self.distinct)

    @property
    def highest(self) -> int:
        return max(self.distinct, default=0)


def check_stream(name: str, seqs: list[int], window: int) -> StreamCheck:
    """The order rule for one publisher's stream, given in the order the broker stored (or delivered) it.

    The publisher sends 1, 2, 3 ... and, after every reconnect, first re-sends its unacknowledged messages (at most
    `window`, all among the last `window` sent) in order. The broker handles one connection's PUBLISHes in order and
    commits them in order, so in the stream:
      - a seq seen for the first time is exactly one more than the highest seen so far (no gap, no reordering);
      - a repeated seq (a re-send of a message stored before the kill but not acknowledged) is one of the last
        `window` seqs below that highest.
    With window 1 this is exactly "non-decreasing, duplicates allowed". With a larger window a re-sent batch starts
    below rows already stored (e.g. 1..8 stored, 6..10 re-sent), so plain non-decreasing order cannot hold; the rule
    above is the exact one.
    """
    out = StreamCheck()
    highest = 0
    for i, s in enumerate(seqs):
        out.seqs.append(s)
        if s not in out.distinct:
            if s != highest + 1:
                out.errors.append(f"{name}: position {i}: new seq {s} after highest {highest} "
                                  f"({'gap' if s > highest + 1 else 'out of order'}); context "
                                  f"{seqs[max(0, i - 5):i + 5]}")
            out.distinct.add(s)
            highest = max(highest, s)
        elif highest - s >= window:
            out.errors.append(f"{name}: position {i}: repeated seq {s} is {highest - s} below the highest {highest} "
                              f"(a re-send repeats only the last {window}); context {seqs[max(0, i - 5):i + 5]}")
    return out


class AckLog:
    """Follows a publisher's acks file (one seq per line, appended and flushed by dura_publisher.py)."""

    def __init__(self, path: Path):
        self.path = path
        self.seqs: list[int] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return len(self.seqs)
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        self.seqs.extend(int(x) for x in lines if x)
        return len(self.seqs)
