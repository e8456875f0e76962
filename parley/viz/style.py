"""How the app looks: one colour per party everywhere, font sizes, presenter mode, page CSS.

Each party keeps its colour in every view (network, positions, feed, outcome table);
coalitions are drawn as shaded groups and edges around the parties, never by recolouring
them. Presenter mode (a projector at the back of a room) enlarges every font, in the page
and in the figures, and raises the contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

import solara

# Matplotlib's tab10, written out so colours never depend on global rcParams.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
AUTHORITY_COLOUR = "#b22222"


def party_colours(parties: list[str]) -> dict[str, str]:
    """Each party's colour, by its place in the scenario's order (the same in every view)."""
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(parties)}


def swatch(colour: str) -> str:
    """A small disc in a party's colour (HTML), next to its name in tables and the feed."""
    return f"<span class='parley-swatch' style='background:{colour}'></span>"


@dataclass(frozen=True)
class Display:
    """Sizes for the figures (points) and the page (CSS), normal or presenter mode."""

    presenter: bool = False

    @property
    def font(self) -> float:
        """Base font size of figure text (ticks, labels, legends)."""
        return 15.0 if self.presenter else 11.5

    @property
    def title(self) -> float:
        return self.font + 1.5

    @property
    def line(self) -> float:
        """Line width multiplier (thicker on a projector)."""
        return 1.6 if self.presenter else 1.0

    @property
    def figsize(self) -> tuple[float, float]:
        """Inches: a figure drawn about as large as it is shown keeps its fonts readable."""
        return (6.0, 4.2) if self.presenter else (5.6, 3.8)


NORMAL, PRESENTER = Display(), Display(presenter=True)
#: Presenter mode or not, for every component below the page (ParleyApp provides it).
display_context = solara.create_context(NORMAL)

# Page CSS in one place. Tables get column spacing; the layout wraps from 1024 px up.
PAGE_CSS = """
.parley-page { font-size: 15px; }
.parley-page table.parley-table { border-collapse: collapse; }
.parley-page table.parley-table th, .parley-page table.parley-table td {
  padding: 3px 14px 3px 0; vertical-align: top; text-align: left;
}
.parley-page table.parley-table td.num, .parley-page table.parley-table th.num {
  text-align: right; font-variant-numeric: tabular-nums;
}
.parley-page table.parley-table td:first-child, .parley-page table.parley-table th {
  white-space: nowrap;
}
.parley-note { font-size: 0.85em; color: #444; }
.parley-label { font-size: 0.95em; color: #333; margin-top: 6px; }
.parley-swatch {
  display: inline-block; width: 0.8em; height: 0.8em; border-radius: 50%;
  margin-right: 0.35em; vertical-align: baseline; border: 1px solid #333;
}
.parley-grid {
  display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr));
  margin: 8px 0;
}
.parley-grid > * { min-width: 0; }
.parley-grid img { width: 100%; height: auto; }
.parley-layout { display: flex; gap: 12px; align-items: flex-start; }
.parley-settings { flex: 0 0 320px; max-width: 320px; }
.parley-main { flex: 1 1 0; min-width: 0; }
@media (max-width: 1100px) {
  .parley-grid { grid-template-columns: 1fr; }
}
@media (max-width: 760px) {
  .parley-layout { flex-direction: column; }
  .parley-settings { max-width: none; flex-basis: auto; width: 100%; }
}
.parley-human-seat { margin: 8px 0; }
.parley-human-seat.parley-your-turn { border: 3px solid #1976d2; }
.parley-move-form { max-width: 760px; }
.parley-page.parley-presenter { font-size: 22px; color: #000; }
.parley-presenter .v-card, .parley-presenter .v-card-title { color: #000 !important; }
.parley-presenter .v-card { border: 2px solid #000; }
.parley-presenter .v-btn { font-size: 20px; }
.parley-presenter .v-field__input, .parley-presenter .v-label { font-size: 19px; }
.parley-presenter h2 { font-size: 34px; }
.parley-presenter h3 { font-size: 26px; }
"""
