"""Content-addressed request cache in SQLite (WAL), shared by every teacher and by evaluation.

Key = sha256(model id + messages/prompt + sampling parameters + seed + n) (`Request.key`). A rerun
or a resumed run sends no request whose answer is stored. WAL mode lets several processes read
while one writes; each `put_many` is one transaction, so a kill never leaves a half-written row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from seedtune.teachers.base import Completion, Request, Teacher


def default_cache_path() -> Path:
    from seedtune.paths import cache_dir

    return cache_dir() / "requests.sqlite"


class RequestCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, request TEXT, "
            "completion TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
        )
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        data.update(cached=True, key=key)
        return Completion(**data)

    def put_many(self, model_id: str, items: Sequence[tuple[Request, Completion]]) -> None:
        rows = []
        for request, completion in items:
            data = completion.to_dict()
            data.pop("cached", None)
            data.pop("key", None)
            rows.append((request.key(model_id), model_id, json.dumps(request.__dict__, ensure_ascii=False, default=list),
                         json.dumps(data, ensure_ascii=False), completion.prompt_tokens,
                         completion.completion_tokens, time.time()))
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedTeacher:
    """Wraps a teacher: stored answers come from the cache, only misses reach the teacher."""

    def __init__(self, teacher: Teacher, cache: RequestCache):
        self.teacher = teacher
        self.cache = cache
        self.model_id = teacher.model_id
        self.hits = 0
        self.misses = 0

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        results: list[Completion | None] = []
        missing: list[int] = []
        for i, request in enumerate(requests):
            hit = self.cache.get(request.key(self.model_id))
            results.append(hit)
            if hit is None:
                missing.append(i)
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = self.teacher.generate([requests[i] for i in missing])
            self.cache.put_many(self.model_id, [(requests[i], c) for i, c in zip(missing, fresh)])
            for i, completion in zip(missing, fresh):
                completion.key = requests[i].key(self.model_id)
                results[i] = completion
        return [r for r in results if r is not None]
