"""The editable price table (``pricing.toml``) and the cost of a call."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from parley.llm.interface import Usage

FREE_BACKENDS = frozenset({"embedded"})  # local inference: no bill


@dataclass(frozen=True)
class Price:
    """USD per million input (prompt) and output (completion + reasoning) tokens."""

    input: float
    output: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / 1e6


@dataclass(frozen=True)
class PriceTable:
    """Prices by model-name prefix; the longest matching prefix wins."""

    models: dict[str, Price]

    def price(self, model: str) -> Price | None:
        """The price of ``model``, or None if no key is a prefix of its name."""
        matches = [key for key in self.models if model.startswith(key)]
        return self.models[max(matches, key=len)] if matches else None

    def cost(self, model: str, backend: str, usage: Usage) -> float | None:
        """Estimated USD of one call; 0 on a local backend, None for an unlisted model."""
        if backend in FREE_BACKENDS:
            return 0.0
        price = self.price(model)
        return None if price is None else price.cost(usage)


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read a price table (default: the one shipped in the package).

    Raises:
        ValueError: the file is missing, not TOML, or an entry lacks ``input``/``output``.
    """
    if path is None:
        text = resources.files("parley.llm").joinpath("pricing.toml").read_text()
        where = "parley/llm/pricing.toml"
    else:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ValueError(f"cannot read price table {path}: {err.strerror}") from None
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"price table {where} is not valid TOML: {err}") from None
    models: dict[str, Price] = {}
    for name, entry in (data.get("models") or {}).items():
        try:
            models[name] = Price(input=float(entry["input"]), output=float(entry["output"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"price table {where}: [models.\"{name}\"] needs numeric 'input' and 'output'"
            ) from None
    return PriceTable(models)
