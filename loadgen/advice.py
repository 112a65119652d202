"""What to do about a line that held the event loop, as FastAPI's docs would say it.

Only what the stack shows: the line's text, the module it was inside when sampled, and
whether the loop thread computed or waited meanwhile. A call we cannot name gets the
general advice, not a guess.
"""

from __future__ import annotations

import re

from loopscope.embedded_server import BlockSite

# Blocking clients and drivers, by the module they live in (the top-level package) or a
# call on the line, with their async counterparts.
_CLIENTS: tuple[tuple[str, str], ...] = (
    ("requests", "httpx.AsyncClient or aiohttp"),
    ("urllib", "httpx.AsyncClient or aiohttp"),
    ("urllib3", "httpx.AsyncClient or aiohttp"),
    ("http.client", "httpx.AsyncClient or aiohttp"),
    ("httpx", "httpx.AsyncClient"),
    ("sqlite3", "aiosqlite"),
    ("psycopg2", "psycopg 3's async connection or asyncpg"),
    ("psycopg", "psycopg 3's async connection"),
    ("pymysql", "aiomysql or asyncmy"),
    ("MySQLdb", "aiomysql or asyncmy"),
    ("pymongo", "motor (or pymongo's AsyncMongoClient)"),
    ("redis", "redis.asyncio"),
    ("sqlalchemy", "SQLAlchemy's AsyncSession"),
    ("boto3", "aioboto3"),
    ("botocore", "aioboto3"),
    ("socket", "asyncio streams (asyncio.open_connection)"),
    ("subprocess", "asyncio.create_subprocess_exec"),
)
_TIME_SLEEP = re.compile(r"\btime\s*\.\s*sleep\s*\(|(?<![\w.])sleep\s*\(")
_OFFLOAD = (
    "or make the route `def` (FastAPI runs it in its thread pool), "
    "or `await run_in_threadpool(...)`"
)


def advice(site: BlockSite) -> str:
    """One sentence: what to change at `site` so the loop is not held."""
    code, callee = site.site.code, site.site.calls_into
    if site.computing:
        return (
            "CPU work on the event loop: move it to a process pool "
            "(`await loop.run_in_executor(ProcessPoolExecutor(), ...)`) or run more workers; "
            "a `def` route frees the loop, but the GIL still runs one thread at a time"
        )
    if not callee and _TIME_SLEEP.search(code) and "asyncio" not in code:
        return "`time.sleep` blocks the loop: use `await asyncio.sleep(...)`"
    for module, counterpart in _CLIENTS:
        top = module.split(".")[0]
        called = callee == module or callee.startswith(module + ".") or callee.split(".")[0] == top
        if called or re.search(rf"\b{re.escape(module)}\s*\.", code):
            return f"a blocking `{module}` call: use {counterpart}, {_OFFLOAD}"
    return f"a call that waits without `await`: use an async counterpart, {_OFFLOAD}"
