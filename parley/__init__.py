"""parley: a Mesa laboratory where LLM negotiators bargain under reflection conditions.

Does a model behave like a plausible boundedly rational negotiator (a *sampler*) or like
a strategic *solver* that escalates to the authority?
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["NegotiationModel", "__version__", "load_results"]


def __getattr__(name: str):  # lazy: `import parley` stays light for the CLI and workers
    if name == "NegotiationModel":
        from parley.model.model import NegotiationModel

        return NegotiationModel
    if name == "load_results":
        from parley.experiments.storage import load_results

        return load_results
    raise AttributeError(name)
