"""What a run cost: token usage times a price table the user can extend.

Prices are US dollars per million tokens: input, output, cache read, cache write. The
built-in table holds list prices as published by the providers (late 2025); they change,
so check them, and add or override entries in pyproject.toml:

    [tool.stickiness.prices]
    "gpt-4o" = {input = 2.5, output = 10, cache_read = 1.25}
    "openai:my-local-model" = {input = 0, output = 0}

A key matches a model name exactly, `provider:name`, or as a prefix of a dated name
(`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


class PriceError(ValueError):
    """A price table entry is malformed; the message names file and key."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float | None = None  # None: same as input
    cache_write: float | None = None

    def cost(self, usage: dict) -> float:
        per_token = 1e-6
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        return per_token * (
            self.input * usage.get("input_tokens", 0)
            + self.output * usage.get("output_tokens", 0)
            + read * usage.get("cache_read_tokens", 0)
            + write * usage.get("cache_write_tokens", 0)
        )


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50, 18.75),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30, 3.75),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08, 1.00),
}


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, Price]

    def lookup(self, provider: str, name: str) -> Price | None:
        if provider == "sim":
            return Price(0.0, 0.0)
        for key in (f"{provider}:{name}", name):
            if key in self.prices:
                return self.prices[key]
        prefixes = [k for k in self.prices if name.startswith(k)]
        return self.prices[max(prefixes, key=len)] if prefixes else None


def load_prices(pyproject: Path | None = None) -> PriceTable:
    prices = dict(DEFAULT_PRICES)
    if pyproject is None or not pyproject.is_file():
        return PriceTable(prices)
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PriceError(f"{pyproject}: not valid TOML: {exc}") from None
    for key, entry in data.get("tool", {}).get("stickiness", {}).get("prices", {}).items():
        try:
            if not all(isinstance(v, int | float) for v in dict(entry).values()):
                raise TypeError
            prices[key] = Price(**entry)
        except (TypeError, ValueError):
            raise PriceError(
                f"{pyproject}: field tool.stickiness.prices.{key}: expected a table with "
                "input and output (and optionally cache_read, cache_write) in USD per "
                "million tokens"
            ) from None
    return PriceTable(prices)
