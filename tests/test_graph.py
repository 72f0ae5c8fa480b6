"""The graph algorithms the loader and the compiler run, against networkx's own."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from patcher.graph import (
    components_in_order,
    cycle_through,
    is_loop,
    strongly_connected,
    topological_order,
)


def random_graph(seed: int, size: int = 40, edges: int = 60) -> dict[int, list[int]]:
    rng = random.Random(seed)
    successors: dict[int, list[int]] = {vertex: [] for vertex in range(size)}
    for _ in range(edges):
        source, target = rng.randrange(size), rng.randrange(size)
        if target not in successors[source]:
            successors[source].append(target)
    return successors


def as_networkx(successors: dict) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(successors)
    graph.add_edges_from((vertex, child) for vertex, children in successors.items() for child in children)
    return graph


@pytest.mark.parametrize("seed", range(30))
def test_components_are_networkx_s_in_reverse_topological_order(seed: int) -> None:
    successors = random_graph(seed)
    components = strongly_connected(successors)
    expected = {
        frozenset(component) for component in nx.strongly_connected_components(as_networkx(successors))
    }
    assert {frozenset(component) for component in components} == expected
    position = {vertex: number for number, component in enumerate(components) for vertex in component}
    for vertex, children in successors.items():
        for child in children:
            assert position[child] <= position[vertex]  # reverse topological: successors first


@pytest.mark.parametrize("seed", range(30))
def test_components_in_order_condense_as_networkx_sorts(seed: int) -> None:
    successors = {
        str(vertex): [str(child) for child in children] for vertex, children in random_graph(seed).items()
    }
    graph = as_networkx(successors)
    condensed = nx.condensation(graph)
    expected = [
        sorted(condensed.nodes[c]["members"])
        for c in nx.lexicographical_topological_sort(
            condensed, key=lambda c: min(condensed.nodes[c]["members"])
        )
    ]
    assert list(components_in_order(successors)) == expected


@pytest.mark.parametrize("seed", range(10))
def test_topological_order_is_networkx_s_lexicographical_one(seed: int) -> None:
    graph = nx.gn_graph(30, seed=seed).reverse()  # a random DAG
    successors = {vertex: list(graph.successors(vertex)) for vertex in graph}
    assert topological_order(successors) == list(nx.lexicographical_topological_sort(graph, key=str))


def test_a_cycle_through_a_loop_closes_on_its_start() -> None:
    successors = {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": ["d"]}
    components = strongly_connected(successors)
    loop = next(c for c in components if "a" in c)
    cycle = cycle_through("a", successors, set(loop))
    assert cycle == [("a", "b"), ("b", "c"), ("c", "a")]
    assert is_loop(["d"], successors) and is_loop(loop, successors)


def test_a_chain_of_a_hundred_thousand_does_not_overflow_the_stack() -> None:
    size = 100_000
    successors = {vertex: [vertex + 1] if vertex + 1 < size else [0] for vertex in range(size)}
    (component,) = strongly_connected(successors)
    assert len(component) == size
