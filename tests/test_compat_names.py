"""Other libraries' private names live in the packages' `_compat` modules only."""

from __future__ import annotations

import re
from pathlib import Path

from loopscope._compat import uvicorn_lifespan_code

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("desktop_app", "embedded_server", "loadgen", "loopscope")
# The private names the product reads or overrides; each has its one home in a `_compat`.
PRIVATE = re.compile(
    r"(?<!\w)_add_callback\b|_QEventLoop__|_timer_handle_cancelled|_mod_uses_pyside|"
    r"_retry_connection|_current_tasks|Handle\._run\b|\b_run_once\b|LifespanOn"
)


def test_private_names_of_other_libraries_sit_in_compat_modules_only() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "_compat.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []


def test_the_lifespan_of_the_installed_uvicorn_is_found() -> None:
    code = uvicorn_lifespan_code()
    assert code is not None and code.co_name == "main"
