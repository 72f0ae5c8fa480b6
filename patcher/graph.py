"""The patch as a graph: the phase graph the schedule follows, its loops, and their order.

A two-phase node (a delay) is two vertices, ``read`` (its tap, from memory) and ``write`` (its
input): a loop through a read output is legal, because the phase graph stays acyclic. Any
other loop is a delay-free feedback loop, refused with its path (:func:`cycle_problems`),
by the loader and the compiler alike.

The algorithms are the textbook ones (Tarjan's strongly connected components, Kahn's
topological order) over plain dicts: they run on every load and every live edit, where
networkx's general graphs cost most of the time (and a fifth of a second to import).
:func:`node_graph` still gives a networkx graph, for the analysis and the editor's layout.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from patcher.model import Link, Patch
from patcher.spec import Node
from patcher.text import excerpt, quote

if TYPE_CHECKING:
    import networkx as nx

Vertex = tuple[str, str]  # (node id, phase): phase is "node", "read" or "write"
V = TypeVar("V", bound=Hashable)


def node_graph(patch: Patch) -> nx.DiGraph:
    """Nodes and links as a networkx graph; each edge holds its links in ``links``."""
    import networkx as nx

    graph = nx.DiGraph()
    for node_id, node in patch.nodes.items():
        graph.add_node(node_id, type=node.type)
    for link in patch.links:
        source, target = link.source.node, link.target.node
        if graph.has_edge(source, target):
            graph.edges[source, target]["links"].append(link)
        else:
            graph.add_edge(source, target, links=[link])
    return graph


# -- graph algorithms over {vertex: successors} ----------------------------------------------
def strongly_connected(successors: Mapping[V, Sequence[V]]) -> list[list[V]]:
    """Tarjan's strongly connected components, iteratively (a long chain must not overflow
    Python's stack); each component lists its vertices, the components in reverse
    topological order. Every successor must be a key of ``successors``."""
    index: dict[V, int] = {}
    low: dict[V, int] = {}
    on_stack: set[V] = set()
    stack: list[V] = []
    components: list[list[V]] = []
    for root in successors:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors[root]))]
        while work:
            vertex, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                    break
                if child in on_stack:
                    low[vertex] = min(low[vertex], index[child])
            else:  # every child seen: close the vertex
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[vertex])
                if low[vertex] == index[vertex]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == vertex:
                            break
                    components.append(component)
    return components


def is_loop(component: Sequence[V], successors: Mapping[V, Sequence[V]]) -> bool:
    """Whether a strongly connected component is a loop (more than one vertex, or a vertex
    that feeds itself)."""
    return len(component) > 1 or component[0] in successors[component[0]]


def cycle_through(start: V, successors: Mapping[V, Sequence[V]], within: set[V]) -> list[tuple[V, V]]:
    """The shortest closed path from ``start`` back to it inside ``within`` (a strongly
    connected component), as its edges."""
    parents: dict[V, V] = {}
    queue = deque([start])
    while queue:
        vertex = queue.popleft()
        for child in successors[vertex]:
            if child not in within:
                continue
            if child == start:
                path = [vertex]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                path.reverse()
                return list(zip(path, [*path[1:], start], strict=True))
            if child not in parents:
                parents[child] = vertex
                queue.append(child)
    raise ValueError(f"{start!r} is on no loop")


def components_in_order(successors: Mapping[str, Sequence[str]]) -> Iterator[list[str]]:
    """The strongly connected components (a node, or a loop), each sorted, in topological
    order of the graph they condense to, ties broken by their first id: Kahn's algorithm with
    a heap, so the order is the same for the same patch, whatever order it was built in."""
    components = [sorted(component) for component in strongly_connected(successors)]
    number_of = {vertex: number for number, component in enumerate(components) for vertex in component}
    after: list[set[int]] = [set() for _ in components]
    waiting = [0] * len(components)
    for vertex, children in successors.items():
        for child in children:
            before, later = number_of[vertex], number_of[child]
            if before != later and later not in after[before]:
                after[before].add(later)
                waiting[later] += 1
    ready = [(component[0], number) for number, component in enumerate(components) if not waiting[number]]
    heapq.heapify(ready)
    while ready:
        _first, number = heapq.heappop(ready)
        yield components[number]
        for later in after[number]:
            waiting[later] -= 1
            if not waiting[later]:
                heapq.heappush(ready, (components[later][0], later))


def topological_order(successors: Mapping[V, Sequence[V]], key: Any = str) -> list[V]:
    """An acyclic graph's vertices in topological order, ties broken by ``key``."""
    waiting = dict.fromkeys(successors, 0)
    for children in successors.values():
        for child in children:
            waiting[child] += 1
    ready = [(key(vertex), vertex) for vertex, count in waiting.items() if not count]
    heapq.heapify(ready)
    order = []
    while ready:
        _key, vertex = heapq.heappop(ready)
        order.append(vertex)
        for child in successors[vertex]:
            waiting[child] -= 1
            if not waiting[child]:
                heapq.heappush(ready, (key(child), child))
    return order


# -- the phase graph --------------------------------------------------------------------------
def is_two_phase(cls: type[Node]) -> bool:
    return bool(cls.READ_OUTPUTS)


def output_vertex(cls: type[Node], node_id: str, port: str) -> Vertex:
    if not is_two_phase(cls):
        return (node_id, "node")
    return (node_id, "read" if port in cls.READ_OUTPUTS else "write")


def input_vertex(cls: type[Node], node_id: str, port: str) -> Vertex:
    if not is_two_phase(cls):
        return (node_id, "node")
    return (node_id, "read" if port in cls.READ_INPUTS else "write")


def phase_graph(
    patch: Patch, node_ids: Iterable[str] | None = None, links: Iterable[Link] | None = None
) -> dict[Vertex, list[Vertex]]:
    """The graph the schedule follows, as {vertex: successors}: acyclic exactly when every
    loop passes a delay's tap. Of ``node_ids`` only, if given (``links`` may narrow the links
    to look at)."""
    keep = patch.nodes if node_ids is None else set(node_ids)
    successors: dict[Vertex, list[Vertex]] = {}
    for node_id in patch.nodes if node_ids is None else node_ids:
        if is_two_phase(patch.nodes[node_id].spec):
            successors[(node_id, "read")] = [(node_id, "write")]
            successors[(node_id, "write")] = []
        else:
            successors[(node_id, "node")] = []
    for link in patch.links if links is None else links:
        if link.source.node not in keep or link.target.node not in keep:
            continue
        source_cls = patch.nodes[link.source.node].spec
        target_cls = patch.nodes[link.target.node].spec
        source = output_vertex(source_cls, link.source.node, link.source.port)
        target = input_vertex(target_cls, link.target.node, link.target.port)
        if target not in successors[source]:
            successors[source].append(target)
    return successors


def cycle_problems(patch: Patch) -> list[str]:
    """One message per delay-free feedback loop, naming its path and why it has no delay."""
    successors = phase_graph(patch)
    problems = []
    for component in reversed(strongly_connected(successors)):
        if not is_loop(component, successors):
            continue
        cycle = cycle_through(min(component), successors, set(component))
        path = _node_path([edge[0] for edge in cycle] + [cycle[0][0]])
        problems.append(f"delay-free feedback loop {_loop_text(path)}: {_why_no_delay(patch, cycle)}")
    return problems


def _why_no_delay(patch: Patch, cycle: list[tuple[Vertex, Vertex]]) -> str:
    """A loop that comes back into a port a delay reads before making its tap (``time_ms``)
    does pass through that tap, and still has no delay in it: say so, not "use the tap"."""
    for source, (node_id, phase) in cycle:
        if phase != "read":
            continue
        cls = patch.nodes[node_id].spec
        port = _port_entered(patch, source, node_id, cls.READ_INPUTS)
        other_inputs = [name for name in cls.input_ports() if name not in cls.READ_INPUTS]
        return (
            f"{cls.TYPE} {quote(node_id)} needs its {port!r} before it can make its "
            f"{_either(cls.READ_OUTPUTS)}, so a loop into {port!r} must pass through another "
            f"{cls.TYPE}, entering by {_either(other_inputs)} and leaving by {_either(cls.READ_OUTPUTS)}"
        )
    return "a loop must pass through a delay's 'tap' output (a delay's 'out' includes its dry input)"


def _port_entered(patch: Patch, source: Vertex, node_id: str, ports: tuple[str, ...]) -> str:
    """Which of ``ports`` of ``node_id`` a link from the vertex ``source`` goes into."""
    for link in patch.links_into(node_id):
        source_cls = patch.nodes[link.source.node].spec
        from_source = output_vertex(source_cls, link.source.node, link.source.port) == source
        if from_source and link.target.port in ports:
            return link.target.port
    raise AssertionError(f"no link from {source} into {ports} of {node_id!r}")


def _either(names: list[str] | tuple[str, ...]) -> str:
    quoted = [repr(name) for name in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def _loop_text(path: list[str], shown: int = 6) -> str:
    """``a -> b -> a``; a long loop shows its first nodes and how many there are in all."""
    if len(path) <= shown + 1:
        return " -> ".join(excerpt(node_id, 30) for node_id in path)
    start = " -> ".join(excerpt(node_id, 30) for node_id in path[:shown])
    return f"{start} -> … ({len(path) - 1} nodes in all) -> {excerpt(path[-1], 30)}"


def _node_path(vertices: list[Vertex]) -> list[str]:
    """Node ids along a closed vertex path, a delay's read and write counted once."""
    path: list[str] = []
    for node_id, _phase in vertices:
        if not path or path[-1] != node_id:
            path.append(node_id)
    return path if len(path) > 1 else path * 2
