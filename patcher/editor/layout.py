"""Where nodes go on the canvas: each node's size, estimated from its spec, and a tidy layout.

:func:`arrange` lays a patch out left to right in the direction signal flows, as a layered
("Sugiyama") drawing does: columns by the longest path from the sources, feedback links
(a delay's loop) left out of the ordering, each source just before the first node it feeds
(an LFO sits beside what it modulates), nodes in a column ordered to cross few links, and
each node as level with its inputs as the nodes above it allow. No two nodes overlap.

GUI-free: sizes come from :func:`node_size`, which follows how the view draws a node (a title,
the type's name, one picture per plot, one row per port). The editor's window test checks it
against the sizes dearpygui really draws.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import networkx as nx

from patcher.editor.visuals import has_picture
from patcher.model import NodeData, Patch

Position = tuple[float, float]
Size = tuple[float, float]

#: The editor's text: DejaVu Sans Mono (as Pure Data's), from matplotlib's fonts, at this size
#: in pixels at zoom 1 and UI scale 1 (every size below grows with both).
BASE_FONT_SIZE = 14
FONT_NAME = "DejaVuSansMono.ttf"
#: The picture a node draws inside itself (width, height in pixels).
NODE_PICTURE = (128, 48)
#: Plots a node's picture has, where it is not one (the convolver: its IR and its spectrum).
PLOTS = {"convolver": 2}
# As dearpygui draws a node at zoom 1 (measured by the window test): the title bar and padding,
# a row of text, a picture with its spacing, a character of the font (its size is the line's
# height, ascent to descent, so a character is 0.52 of it wide; a little more, as a bound).
NODE_FRAME_HEIGHT = 42.0
ROW_HEIGHT = 20.0
PLOT_HEIGHT = NODE_PICTURE[1] + 4.0
CHAR_WIDTH = 0.53 * BASE_FONT_SIZE
NODE_PADDING = 16.0

MARGIN = 40.0
COLUMN_GAP = 60.0
ROW_GAP = 30.0
ORDERING_SWEEPS = 4


@functools.cache
def font_file() -> Path | None:
    """The editor's font file (None: dearpygui's built-in bitmap font, which cannot scale)."""
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / FONT_NAME
    return path if path.is_file() else None


def node_size(node: NodeData) -> Size:
    """The node's size on the canvas, as the view draws it (an upper bound of a few pixels)."""
    cls = node.spec  # a subpatch's or a poly's own: its ports are its inner patch's
    inputs = list(cls.input_ports())
    rows = 1 + len(inputs) + len(cls.OUTPUTS)  # the type's name, then one row per port
    plots = PLOTS.get(node.type, 1) if has_picture(node.type) else 0
    height = NODE_FRAME_HEIGHT + ROW_HEIGHT * rows + PLOT_HEIGHT * plots
    labels = [node.id, cls.TYPE, *(f"~ {port}" for port in inputs)]
    text = CHAR_WIDTH * max(len(label) for label in labels)
    # Outputs are right-aligned to the picture's width, so a node with any is at least that wide.
    picture = float(NODE_PICTURE[0]) if plots else 0.0
    outputs = NODE_PICTURE[0] - 8.0 if cls.OUTPUTS else 0.0  # rounded to whole pixels
    widest = max(text, picture, outputs)
    return widest + NODE_PADDING, height


def arrange(patch: Patch, size: Callable[[NodeData], Size] = node_size) -> dict[str, Position]:
    """A position for every node of ``patch``: signal flowing left to right, nothing overlapping."""
    if not patch.nodes:
        return {}
    sizes = {node_id: size(node) for node_id, node in patch.nodes.items()}
    flow = _flow_graph(patch)
    columns = _columns(flow)
    _order_columns(flow, columns)
    return _place(flow, columns, sizes)


def overlapping(patch: Patch, size: Callable[[NodeData], Size] = node_size) -> list[tuple[str, str]]:
    """Pairs of nodes that cover each other on the canvas."""
    boxes = [(node.id, *node.position, *size(node)) for node in patch.nodes.values()]
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[1] + b[3] and b[1] < a[1] + a[3] and a[2] < b[2] + b[4] and b[2] < a[2] + a[4]
    ]


def piled_up(patch: Patch) -> bool:
    """Whether half the nodes or more share one place: a patch made without a layout (by a
    script, every node at (0, 0)), not a laid-out one with a node dropped on another."""
    positions = collections.Counter(node.position for node in patch.nodes.values())
    return len(patch.nodes) >= 2 and max(positions.values()) >= max(2, len(patch.nodes) / 2)


def _flow_graph(patch: Patch) -> nx.DiGraph:
    """Links as a DAG: node to node, feedback links (found depth-first from the sources, in
    the patch's reading order) left out."""
    graph = nx.DiGraph()
    reading_order = sorted(patch.nodes.values(), key=lambda node: (node.position[0], node.position[1]))
    graph.add_nodes_from(node.id for node in reading_order)
    graph.add_edges_from(
        (link.source.node, link.target.node) for link in patch.links if link.source.node != link.target.node
    )
    starts = [n for n in graph if graph.in_degree(n) == 0] + list(graph)
    visited: set[str] = set()
    feedback: list[tuple[str, str]] = []
    for start in starts:
        if start in visited:
            continue
        on_path = {start}
        visited.add(start)
        stack = [(start, iter(list(graph.successors(start))))]
        while stack:
            node, successors = stack[-1]
            child = next(successors, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
            elif child in on_path:
                feedback.append((node, child))
            elif child not in visited:
                visited.add(child)
                on_path.add(child)
                stack.append((child, iter(list(graph.successors(child)))))
    graph.remove_edges_from(feedback)
    return graph


def _columns(flow: nx.DiGraph) -> list[list[str]]:
    """Longest-path layering, then each source moved up to just before its nearest consumer."""
    layer: dict[str, int] = {}
    order = list(nx.topological_sort(flow))
    for node in order:
        layer[node] = max((layer[p] + 1 for p in flow.predecessors(node)), default=0)
    for node in order:
        if flow.in_degree(node) == 0 and flow.out_degree(node) > 0:
            layer[node] = min(layer[s] for s in flow.successors(node)) - 1
    columns: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    for node in flow:  # the reading order: the first ordering of each column
        columns[layer[node]].append(node)
    return columns


def _order_columns(flow: nx.DiGraph, columns: list[list[str]]) -> None:
    """Barycentre sweeps: each node goes to the mean rank of its neighbours in the column
    before (sweeping right) or after (sweeping left), ties kept in their order."""
    for sweep in range(ORDERING_SWEEPS):
        if sweep % 2 == 0:
            for index in range(1, len(columns)):
                columns[index] = _by_barycentre(columns[index], columns[index - 1], flow.predecessors)
        else:
            for index in range(len(columns) - 2, -1, -1):
                columns[index] = _by_barycentre(columns[index], columns[index + 1], flow.successors)


def _by_barycentre(
    column: list[str], reference: list[str], neighbours: Callable[[str], Iterable[str]]
) -> list[str]:
    rank = {node: position for position, node in enumerate(reference)}

    def barycentre(position_and_node: tuple[int, str]) -> float:
        position, node = position_and_node
        ranks = [rank[n] for n in neighbours(node) if n in rank]
        return sum(ranks) / len(ranks) if ranks else float(position)

    return [node for _position, node in sorted(enumerate(column), key=barycentre)]


def _place(flow: nx.DiGraph, columns: list[list[str]], sizes: dict[str, Size]) -> dict[str, Position]:
    """Columns side by side; down each, a node level with its inputs where there is room."""
    positions: dict[str, Position] = {}
    x = MARGIN
    for column in columns:
        free_y = MARGIN
        for node in column:
            inputs = [positions[p][1] for p in flow.predecessors(node) if p in positions]
            wanted = sum(inputs) / len(inputs) if inputs else free_y
            y = max(wanted, free_y)
            positions[node] = (float(round(x)), float(round(y)))
            free_y = y + sizes[node][1] + ROW_GAP
        x += max(sizes[node][0] for node in column) + COLUMN_GAP
    return positions


def _box(node: NodeData, position: Position | None = None) -> tuple[float, float, float, float]:
    x, y = position or node.position
    width, height = node_size(node)
    return (x, y, x + width, y + height)


def clear_of(placed: Iterable[NodeData], existing: Iterable[NodeData]) -> float:
    """How far down ``placed`` (new nodes at their positions) must move so that none of them
    covers an ``existing`` node: a new, pasted or duplicated node lands beside the others."""
    existing_boxes = [_box(node) for node in existing]
    placed = list(placed)
    down = 0.0
    for _ in range(len(existing_boxes) + 1):
        covered = [
            other
            for node in placed
            for box in [_box(node, (node.position[0], node.position[1] + down))]
            for other in existing_boxes
            if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]
        ]
        if not covered:
            return down
        down = max(other[3] for other in covered) + ROW_GAP - min(node.position[1] for node in placed)
    return down
