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


def _connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the cache database; a folder, another kind of file or an unwritable place
    is one error that names the path, not an sqlite3 traceback."""
    from seedtune.errors import InputError
    from seedtune.io import ensure_dir

    if path.is_dir():
        raise InputError("the request cache must be a file, but this is a folder", path=path, field="cache",
                         hint=f"pass a file path, e.g. --cache {path / 'requests.sqlite'}")
    ensure_dir(path.parent)
    try:
        db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, request TEXT, "
                   "completion TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
        db.commit()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"cannot use this file as the request cache: {exc}", path=path, field="cache",
                         hint="pass a new file path with --cache (seedtune creates it); keep this file, it is not "
                              "a seedtune cache") from None
    return db


class RequestCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self._lock = threading.Lock()
        self._db = _connect(self.path)

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


class PriceTable:
    """Prices in currency units per 1M tokens, by model: `{"gpt-4o": {"input": 2.5, "output": 10}}`.

    Looked up by the bare model name of a teacher id ("openai:gpt-4o@http://..." -> "gpt-4o"),
    exactly first, then the longest table key the name starts with ("gpt-4o-2024-08-06" -> "gpt-4o").
    """

    def __init__(self, prices: dict[str, dict[str, float]] | None = None):
        self.prices = {k: {"input": float(v.get("input", 0.0)), "output": float(v.get("output", 0.0))}
                       for k, v in (prices or {}).items()}

    @classmethod
    def load(cls, path: str | Path) -> "PriceTable":
        from seedtune.config import load_yaml
        from seedtune.errors import InputError

        data = load_yaml(path)  # YAML is a superset of JSON: either works
        for model, entry in data.items():
            if not isinstance(entry, dict) or not set(entry) <= {"input", "output"}:
                raise InputError("each model needs {input: PRICE, output: PRICE} per 1M tokens", path=path,
                                 field=str(model), hint='e.g. gpt-4o: {input: 2.5, output: 10.0}')
        return cls(data)

    @staticmethod
    def bare_name(model_id: str) -> str:
        name = model_id.split(":", 1)[1] if ":" in model_id.split("@", 1)[0] else model_id
        return name.split("@", 1)[0]

    def price(self, model_id: str) -> dict[str, float] | None:
        name = self.bare_name(model_id)
        if name in self.prices:
            return self.prices[name]
        prefixes = [k for k in self.prices if name.startswith(k)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
        entry = self.price(model_id)
        if entry is None:
            return 0.0
        return (prompt_tokens * entry["input"] + completion_tokens * entry["output"]) / 1_000_000


class CachedTeacher:
    """Wraps a teacher: stored answers come from the cache, only misses reach the teacher.

    Counts tokens and (with a price table) cost twice: for every answer the run used (`usage`,
    cached or not, so a resumed run sees the same totals as an uninterrupted one and stops at the
    same `max_cost`) and for the answers actually bought now (`fresh`). Identical requests in one
    call are sent once.
    """

    def __init__(self, teacher: Teacher, cache: RequestCache, prices: PriceTable | None = None):
        self.teacher = teacher
        self.cache = cache
        self.model_id = teacher.model_id
        self.prices = prices
        self.hits = 0
        self.misses = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
        self.fresh = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}

    def _count(self, bucket: dict[str, float], completion: Completion) -> None:
        bucket["prompt_tokens"] += completion.prompt_tokens
        bucket["completion_tokens"] += completion.completion_tokens
        if self.prices is not None:
            bucket["cost"] += self.prices.cost(self.model_id, completion.prompt_tokens, completion.completion_tokens)

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        results: list[Completion | None] = []
        missing: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            key = request.key(self.model_id)
            hit = self.cache.get(key)
            results.append(hit)
            if hit is None:
                missing.setdefault(key, []).append(i)
        self.hits += sum(r is not None for r in results)
        self.misses += len(missing)
        if missing:
            firsts = [positions[0] for positions in missing.values()]
            fresh = self.teacher.generate([requests[i] for i in firsts])
            self.cache.put_many(self.model_id, [(requests[i], c) for i, c in zip(firsts, fresh)])
            for (key, positions), completion in zip(missing.items(), fresh):
                completion.key = key
                self._count(self.fresh, completion)
                for i in positions:
                    results[i] = completion
        done = [r for r in results if r is not None]
        for completion in done:
            self._count(self.usage, completion)
        return done

    def stats(self) -> dict[str, object]:
        return {"model": self.model_id, "cache_hits": self.hits, "cache_misses": self.misses,
                "usage": dict(self.usage), "fresh": dict(self.fresh)}
