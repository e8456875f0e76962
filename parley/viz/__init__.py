"""The Solara app and its components (only this package imports solara)."""
