"""A small flame graph renderer: collapsed stacks in, a standalone SVG out.

Like flamegraph.pl: the root at the bottom, callees stacked above their callers,
widths proportional to weight, siblings in alphabetical order (so the x axis is not
time), and a tooltip (<title>) with each frame's weight and share.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

WIDTH = 1200
ROW = 16
PAD = 10
TITLE_SPACE = 34
CHAR_WIDTH = 6.6  # 11 px monospace
MIN_WIDTH = 0.3  # px; thinner frames are left out


@dataclass
class _Node:
    name: str
    value: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(counts: Mapping[str, int]) -> _Node:
    root = _Node("all")
    for path, weight in counts.items():
        root.value += weight
        node = root
        for name in path.split(";"):
            node = node.children.setdefault(name, _Node(name))
            node.value += weight
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _colour(name: str) -> str:
    # Stable warm colours: the same function gets the same colour in every graph.
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 180 + 40},{(h >> 16) % 55})"


def render_svg(counts: Mapping[str, int], title: str, unit: str) -> str:
    """An SVG flame graph of `counts` (collapsed path -> weight)."""
    root = _tree(counts)
    depth = _depth(root)
    height = TITLE_SPACE + depth * ROW + PAD * 2
    scale = (WIDTH - 2 * PAD) / root.value if root.value else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" '
        'font-size="11">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f0"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">'
        f'{escape(title)}</text>',
    ]
    if root.value:
        _draw(root, PAD, height - PAD - ROW, scale, root.value, unit, parts)
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{height - PAD - 4}" text-anchor="middle">'
                     "no samples</text>")
    parts.append("</svg>\n")
    return "\n".join(parts)


def _draw(node: _Node, x: float, y: float, scale: float, total: int, unit: str,
          parts: list[str]) -> None:
    # Iterative, so deep recursion in the profiled code never overflows ours.
    stack = [(node, x, y)]
    while stack:
        current, cx, cy = stack.pop()
        width = current.value * scale
        if width < MIN_WIDTH:
            continue
        share = 100.0 * current.value / total
        label = escape(current.name)
        parts.append(
            f'<g><title>{label} ({current.value} {unit}, {share:.2f}%)</title>'
            f'<rect x="{cx:.2f}" y="{cy}" width="{width:.2f}" height="{ROW - 1}" '
            f'fill="{_colour(current.name)}" rx="2"/>')
        fits = int((width - 6) / CHAR_WIDTH)
        if fits >= 3:
            text = current.name if len(current.name) <= fits else current.name[:fits - 2] + ".."
            parts.append(f'<text x="{cx + 3:.2f}" y="{cy + ROW - 4}">{escape(text)}</text>')
        parts.append("</g>")
        child_x = cx
        for name in sorted(current.children):
            child = current.children[name]
            stack.append((child, child_x, cy - ROW))
            child_x += child.value * scale
