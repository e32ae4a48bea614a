"""SVG screenshots that render the same in browsers and in rsvg-convert; standard library only."""

from __future__ import annotations

__all__ = ["svg_for_every_renderer"]


def svg_for_every_renderer(svg: str) -> str:
    """Textual's SVG with plain spaces kept by ``xml:space="preserve"`` instead of ``&#160;``.

    rsvg-convert drops no-break spaces at the start of a text run, which shifts right-aligned
    numbers and glues "373.2" to " RPS"; preserved plain spaces render at their width everywhere.
    """
    if "&#160;" not in svg:
        return svg
    return svg.replace("<svg ", '<svg xml:space="preserve" ', 1).replace("&#160;", " ")
