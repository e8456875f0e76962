"""The LLM layer: one small interface, its backends, wrappers and fakes.

Only this package imports ``openai`` or ``llama_cpp``.
"""
