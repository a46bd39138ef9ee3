"""Content-addressed request cache in SQLite (WAL), shared by every teacher and by evaluation.

Key = sha256(model id + messages/prompt + sampling parameters + seed + n) (`Request.key`). A rerun
or a resumed run sends no request whose answer is stored. WAL mode lets several processes read
while one writes.

Write-through: `CachedTeacher` stores each answer the moment the teacher reports it (`put`), in its
own transaction. With WAL and `synchronous=NORMAL` a commit is one append to the WAL file and no
fsync, so it costs microseconds and survives the process being killed at any instant (the data is
in the OS page cache); syncing to the disk itself (what survives a power cut) is batched by time: a
checkpoint, which fsyncs the WAL, runs at most every `sync_every` seconds. A kill therefore loses
only the requests still in flight. Batching the commits themselves by time would instead lose every
answer of the last interval, which at a fast endpoint is many more than the requests in flight.

`Budget` is the hard cost cap: before a request goes out, its worst case (an upper bound of its
prompt tokens + `max_tokens` x n, at the price table) is reserved, and a request that could cross
`max_cost` is not sent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, Request, Teacher, generate_streaming


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
    def __init__(self, path: str | Path | None = None, sync_every: float = 1.0):
        self.path = Path(path) if path else default_cache_path()
        self.sync_every = sync_every
        self._synced = time.monotonic()
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

    @staticmethod
    def _row(model_id: str, request: Request, completion: Completion) -> tuple[Any, ...]:
        data = completion.to_dict()
        for volatile in ("cached", "key", "error"):
            data.pop(volatile, None)
        return (request.key(model_id), model_id, json.dumps(request.__dict__, ensure_ascii=False, default=list),
                json.dumps(data, ensure_ascii=False), completion.prompt_tokens, completion.completion_tokens,
                time.time())

    def put(self, model_id: str, request: Request, completion: Completion) -> None:
        """Store one answer now, in its own transaction (see the module docstring)."""
        self.put_many(model_id, [(request, completion)])

    def put_many(self, model_id: str, items: Sequence[tuple[Request, Completion]]) -> None:
        rows = [self._row(model_id, request, completion) for request, completion in items]
        with self._lock:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            if time.monotonic() - self._synced >= self.sync_every:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # fsyncs the WAL: the time-batched sync
                self._synced = time.monotonic()

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

        return cls.checked(load_yaml(path), path)  # YAML is a superset of JSON: either works

    @classmethod
    def checked(cls, data: Any, source: str | Path | None = None) -> "PriceTable":
        from seedtune.errors import InputError

        if not isinstance(data, dict):
            raise InputError("a price table maps model names to {input: PRICE, output: PRICE}", path=source,
                             hint="e.g. gpt-4o-mini: {input: 0.15, output: 0.6} (per 1M tokens)")
        for model, entry in data.items():
            if (not isinstance(entry, dict) or not set(entry) <= {"input", "output"}
                    or not all(isinstance(v, (int, float)) and v >= 0 for v in entry.values())):
                raise InputError("each model needs {input: PRICE, output: PRICE} per 1M tokens", path=source,
                                 field=str(model), hint="e.g. gpt-4o: {input: 2.5, output: 10.0}")
        return cls(data)

    @classmethod
    def from_setting(cls, prices: str | dict[str, Any] | None, max_cost: float | None,
                     key: str = "prices") -> "PriceTable | None":
        """The table a config names (a file, or the mapping inline); `max_cost` requires one."""
        from seedtune.errors import ConfigError

        if max_cost is not None and not prices:
            raise ConfigError("max_cost needs a price table to know what answers cost", key=key,
                              hint="set prices: {MODEL: {input: $/1M, output: $/1M}} (inline or a YAML file)")
        if not prices:
            return None
        return cls.checked(prices, "prices") if isinstance(prices, dict) else cls.load(prices)

    @staticmethod
    def bare_name(model_id: str) -> str:
        """"openai:gpt-4o@URL" and the eval stage's "eval:openai:gpt-4o@FP" -> "gpt-4o"; a colon
        that is part of a model name ("ollama3:8b") stays."""
        name = model_id.split("@", 1)[0]
        while name.partition(":")[0] in ("eval", "openai", "hf", "vllm") and ":" in name:
            name = name.partition(":")[2]
        return name

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


def prompt_token_bound(request: Request) -> int:
    """An upper bound of a request's prompt tokens without its tokenizer: byte-level BPE tokens
    cover at least one UTF-8 byte each, plus a few template tokens per message."""
    if request.prompt is not None:
        return len(request.prompt.encode("utf-8")) + 8
    return sum(len(role.encode("utf-8")) + len(text.encode("utf-8")) + 8 for role, text in request.messages) + 8


class BudgetExceeded(SeedtuneError):
    """Raised by a `CachedTeacher` that may not return a partial answer (judges, evaluation)."""


class Budget:
    """A hard cap on what a stage's answers cost, shared by every teacher the stage uses.

    `spent` is the cost of every answer used, cached or bought, so a resumed run stops where an
    uninterrupted one would. Each call reserves the worst case of its requests, in order, before
    any is sent; the first that could cross `max_cost` is refused with all after it, and once
    refused the budget stays closed. Because an answer never costs more than its worst case,
    `spent` never exceeds `max_cost`.
    """

    def __init__(self, max_cost: float, prices: PriceTable):
        self.max_cost = float(max_cost)
        self.prices = prices
        self.spent = 0.0
        self.undone = 0  # requests refused
        self.stopped: str | None = None

    def worst_case(self, model_id: str, request: Request) -> float:
        return self.prices.cost(model_id, prompt_token_bound(request), request.max_tokens * max(1, request.n))

    def admit(self, model_id: str, requests: Sequence[Request]) -> int:
        """How many of `requests` (a prefix) may go; records why the rest may not."""
        if requests and self.prices.price(model_id) is None:
            raise SeedtuneError(f"max_cost is set but the price table has no price for {PriceTable.bare_name(model_id)!r}",
                                hint="add it to prices ({MODEL: {input: $/1M, output: $/1M}}), or drop max_cost")
        reserved = 0.0
        for i, request in enumerate(requests):
            worst = self.worst_case(model_id, request)
            if self.stopped is None and self.spent + reserved + worst > self.max_cost:
                self.stopped = (f"max_cost {self.max_cost:g} reached: spent {self.spent:.4f}, and the next request "
                                f"could cost up to {worst:.4f}")
            if self.stopped is not None:
                self.undone += len(requests) - i
                return i
            reserved += worst
        return len(requests)

    def summary(self) -> dict[str, Any]:
        return {"max_cost": self.max_cost, "spent": round(self.spent, 6), "stopped": self.stopped,
                "undone_requests": self.undone}


class CachedTeacher:
    """Wraps a teacher: stored answers come from the cache, only misses reach the teacher.

    Each answer bought is committed to the cache as it arrives (write-through). Counts tokens and
    (with a price table) cost twice: for every answer the run used (`usage`, cached or not, so a
    resumed run sees the same totals as an uninterrupted one) and for the answers actually bought
    now (`fresh`). Identical requests in one call are sent once. Without a cache it only counts and
    keeps the budget. With a `budget`, a call answers
    only the prefix of its requests the budget admits: a shorter list when `partial_ok`, else
    `BudgetExceeded` (after the admitted answers are stored).
    """

    def __init__(self, teacher: Teacher, cache: RequestCache | None, prices: PriceTable | None = None,
                 budget: Budget | None = None, partial_ok: bool = False):
        self.teacher = teacher
        self.cache = cache
        self.model_id = teacher.model_id
        self.prices = prices if prices is not None else (budget.prices if budget else None)
        self.budget = budget
        self.partial_ok = partial_ok
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
        self.fresh = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}

    def _count(self, bucket: dict[str, float], completion: Completion) -> float:
        bucket["prompt_tokens"] += completion.prompt_tokens
        bucket["completion_tokens"] += completion.completion_tokens
        cost = 0.0
        if self.prices is not None:
            cost = self.prices.cost(self.model_id, completion.prompt_tokens, completion.completion_tokens)
            bucket["cost"] += cost
        return cost

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        admitted = self.budget.admit(self.model_id, requests) if self.budget is not None else len(requests)
        results: list[Completion | None] = []
        missing: dict[str, list[int]] = {}
        for i, request in enumerate(requests[:admitted]):
            key = request.key(self.model_id)
            hit = self.cache.get(key) if self.cache is not None else None
            results.append(hit)
            if hit is None:
                missing.setdefault(key, []).append(i)
        self.hits += sum(r is not None for r in results)
        self.misses += len(missing)
        if missing:
            self._buy(requests, missing, results)
        done = [r for r in results if r is not None]
        for completion in done:
            cost = self._count(self.usage, completion)
            if self.budget is not None:
                self.budget.spent += cost
        if admitted < len(requests) and not self.partial_ok:
            assert self.budget is not None and self.budget.stopped
            raise BudgetExceeded(f"{self.model_id}: {self.budget.stopped}; {self.budget.undone} request(s) not sent",
                                 hint="rerun with a higher max_cost: every answer so far is in the request cache")
        return done

    def _buy(self, requests: Sequence[Request], missing: dict[str, list[int]], results: list[Completion | None]) -> None:
        """Send the misses; each answer is stored the moment it arrives (a provider's refusal is not)."""
        keys = list(missing)
        firsts = [missing[key][0] for key in keys]

        def store(j: int, completion: Completion) -> None:
            completion.key = keys[j]
            if completion.error is None and self.cache is not None:
                self.cache.put(self.model_id, requests[firsts[j]], completion)

        fresh = generate_streaming(self.teacher, [requests[i] for i in firsts], store)
        for key, completion in zip(keys, fresh):
            completion.key = key
            self.errors += completion.error is not None
            self._count(self.fresh, completion)
            for i in missing[key]:
                results[i] = completion

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {"model": self.model_id, "cache_hits": self.hits, "cache_misses": self.misses,
                                  "usage": {k: round(v, 6) for k, v in self.usage.items()},
                                  "fresh": {k: round(v, 6) for k, v in self.fresh.items()}}
        if self.errors:
            out["provider_errors"] = self.errors
        return out


def usage_totals(teachers: Sequence[Any]) -> dict[str, Any]:
    """Tokens and cost summed over the counted teachers of a stage (others are skipped)."""
    counted = [t for t in teachers if isinstance(t, CachedTeacher)]
    total = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "fresh_cost": 0.0}
    for t in counted:
        total["prompt_tokens"] += int(t.usage["prompt_tokens"])
        total["completion_tokens"] += int(t.usage["completion_tokens"])
        total["cost"] += t.usage["cost"]
        total["fresh_cost"] += t.fresh["cost"]
    total["cost"], total["fresh_cost"] = round(total["cost"], 6), round(total["fresh_cost"], 6)
    priced = any(t.prices is not None for t in counted)
    return {**total, "priced": priced, "by_model": {t.model_id: t.stats() for t in counted}}
