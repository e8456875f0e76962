"""Map known failures to one-line user errors (exit code 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from parley.cli import UserError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn scenario, parameter, backend and results errors into :class:`UserError`."""
    from parley.experiments.storage import ResultsError
    from parley.llm.interface import CapabilityError, LLMError
    from parley.scenarios import ScenarioError

    try:
        yield
    except (ScenarioError, ResultsError, CapabilityError) as err:
        raise UserError(str(err)) from None
    except LLMError as err:
        raise UserError(f"LLM backend failed: {err}") from None
    except ValueError as err:  # parameter checks of the model and factories
        raise UserError(str(err)) from None
