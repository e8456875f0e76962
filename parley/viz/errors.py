"""One-line messages for the page, in place of tracebacks (as the CLI's exit-2 errors)."""

from __future__ import annotations

from parley.experiments.storage import ResultsError
from parley.llm.interface import BudgetExceeded, CapabilityError, LLMError
from parley.scenarios.loader import ScenarioError


def describe_error(err: BaseException) -> str:
    """What went wrong, in one line a user can act on."""
    match err:
        case ScenarioError():
            return f"Invalid scenario: {err}"
        case ResultsError():
            return f"Cannot open the recorded run: {err}"
        case CapabilityError():
            return f"The LLM backend cannot do this: {err}"
        case LLMError():
            return f"LLM backend failed: {err}"
        case BudgetExceeded():
            return f"Budget exhausted: {err}"
        case ValueError():
            return f"Invalid parameters: {err}"
        case _:
            return f"Unexpected error ({type(err).__name__}): {err}"
