"""What every `loopscope` subcommand shares: exit codes, one-line errors, argument types."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn, TypeVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
MAX_DURATION_S = 3600.0
# A comma-separated list of levels longer than this is a typo, not a sweep.
MAX_LIST_ITEMS = 50

T = TypeVar("T")


class UsageError(Exception):
    """Bad arguments: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One readable line instead of argparse's usage block.
        raise UsageError(message)


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low} and {high}, got {value}"
            )
        return value

    return parse


def bounded_float(
    low: float, high: float, what: str, *, open_low: bool = False
) -> Callable[[str], float]:
    """An argparse type: a number in [low, high] (or (low, high] with open_low)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if math.isnan(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low:g} and {high:g}, got {text}"
            )
        return value

    return parse


def comma_list(item: Callable[[str], T], what: str) -> Callable[[str], tuple[T, ...]]:
    """An argparse type: `a,b,c`, each parsed by `item`; at least one, no empty items."""

    def parse(text: str) -> tuple[T, ...]:
        parts = [part.strip() for part in text.split(",")]
        if not text.strip() or any(not part for part in parts):
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got {text!r}")
        if len(parts) > MAX_LIST_ITEMS:
            raise argparse.ArgumentTypeError(f"{what} takes at most {MAX_LIST_ITEMS} items")
        return tuple(item(part) for part in parts)

    return parse


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(measured: float, predicted: float) -> str:
    if math.isnan(measured) or math.isnan(predicted) or predicted <= 0 or math.isinf(predicted):
        return "-"
    return f"{measured / predicted:.2f}"
