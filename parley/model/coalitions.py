"""Coalitions: connected components of a graph of close or supporting negotiators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx


def coalition_graph(
    positions: Mapping[str, float],
    supports: Iterable[tuple[str, str]],
    tolerance: float,
) -> nx.Graph:
    """Nodes are parties (with their ``position``); an edge joins two parties whose
    positions are within ``tolerance`` (absolute units), or one that supported the other
    this round (edge attribute ``support=True``).
    """
    graph = nx.Graph()
    for party, value in positions.items():
        graph.add_node(party, position=value)
    parties = sorted(positions)
    for i, a in enumerate(parties):
        for b in parties[i + 1 :]:
            if abs(positions[a] - positions[b]) <= tolerance + 1e-9:
                graph.add_edge(a, b, support=False)
    for a, b in supports:
        if a in graph and b in graph:
            graph.add_edge(a, b, support=True)
    return graph


def coalitions(graph: nx.Graph) -> list[tuple[str, ...]]:
    """Connected components as sorted tuples, ordered by mean position then first id.

    The order gives each coalition a stable id (its index) for the same table.
    """
    comps = [tuple(sorted(c)) for c in nx.connected_components(graph)]
    pos = nx.get_node_attributes(graph, "position")
    return sorted(comps, key=lambda c: (sum(pos[p] for p in c) / len(c), c[0]))


def membership(groups: list[tuple[str, ...]]) -> dict[str, int]:
    """Party id -> coalition id (index in ``groups``)."""
    return {party: i for i, group in enumerate(groups) for party in group}
