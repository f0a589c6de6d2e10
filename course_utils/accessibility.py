"""Figures everyone can read: alt text for screen readers, colours that need no colour vision, maths that renders.

The course shows every figure with :func:`course_utils.plotting.show`, which stores the figure in the notebook as

    text/html   <img src="data:image/png;base64,..." alt="ALT">     what JupyterLab, Colab and classic Notebook draw
    text/plain  ALT                                                 what text-only front ends show
    metadata    {"alt": ALT, "course_figure": {"problems": [...]}}

Why HTML and not an ``image/png`` with an ``alt`` metadata field: nbconvert's HTML export reads ``alt`` from an
image's output metadata (jupyter/nbconvert#1112) and IPython's ``Image(alt=...)`` writes it (ipython/ipython#12864),
but JupyterLab's image renderer does not: its ``renderImage`` (``@jupyterlab/rendermime``, 4.x) sets only ``src``,
``width`` and ``height`` on the ``<img>``, and a standard ``alt`` field is still a proposal
(jupyter/enhancement-proposals#120). An ``<img alt>`` in a ``text/html`` output reaches the screen reader in every
front end the course supports: JupyterLab ranks ``text/html`` above ``image/png`` and its HTML sanitizer keeps
``img`` with its ``alt`` and a ``data:`` ``src`` (it checks URL schemes on ``href`` and ``cite`` only), Colab and
classic Notebook render the HTML as it is. Only one copy of the picture is stored, so a notebook does not double in
size.

ALT is the author's sentence about what the figure shows, followed by :func:`describe_figure`'s summary of its
parts (titles, axes with their scales, legend entries, images), which the figure itself provides.

:func:`figure_problems` lists what makes a figure hard to read for some people:

* raw TeX or code-style subscripts in its text (``x_{T-1}``, ``x_t``) instead of rendered maths (``$x_{T-1}$``);
* a colormap that is not colour-blind safe: sequential data in ``cividis`` or ``viridis``, images in grey,
  signed data in ``RdBu`` (ColorBrewer's colour-blind-safe diverging scheme);
* series told apart by colour alone: two labelled lines with the same line style and marker, two labelled
  scatters with the same marker, two labelled bar series with the same hatch;
* text that runs into other text or touches another panel's image (a caption pressed against the picture
  above it, two point labels on top of each other).
"""

from __future__ import annotations

import re

from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer

# Colormaps the course allows: grey for images, cividis/viridis for sequential data, RdBu for signed data.
SAFE_CMAPS = {"gray", "gray_r", "Greys", "Greys_r", "binary", "binary_r", "cividis", "cividis_r", "viridis",
              "viridis_r", "RdBu", "RdBu_r"}

_MATH = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$")
# TeX commands, braces after _ or ^, and a one-symbol name with a subscript (x_t, ᾱ_t, x_T); code names such as
# variance_after_steps are left alone
_RAW_TEX = re.compile(r"\\[A-Za-z]+|[_^]\{|(?<![\w])[^\W\d_]\u0304?_(?:\w(?!\w))")
_TEX_WORDS = {
    r"\bar\alpha": "ᾱ", r"\alpha": "α", r"\beta": "β", r"\tilde\beta": "β̃", r"\sigma": "σ", r"\varepsilon": "ε",
    r"\epsilon": "ε", r"\eta": "η", r"\theta": "θ", r"\lambda": "λ", r"\mu": "μ", r"\varnothing": "∅",
    r"\hat x": "x̂", r"\mathrm": "", r"\mathbb": "", r"\,": " ", r"\;": " ", r"\cdot": "·", r"\times": "×",
    r"\propto": "∝", r"\mid": "|", r"\leq": "≤", r"\geq": "≥", r"\approx": "≈", r"\infty": "∞", r"\ldots": "…",
}


def plain_maths(text: str) -> str:
    """Matplotlib's mathtext (``$\\sqrt{\\bar\\alpha_t}$``) as plain text a screen reader can say (``√(ᾱ_t)``)."""

    def one(match: re.Match) -> str:
        maths = match.group(1)
        maths = re.sub(r"\\sqrt\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", r"√(\1)", maths)
        for tex, plain in sorted(_TEX_WORDS.items(), key=lambda kv: -len(kv[0])):
            maths = maths.replace(tex, plain)
        maths = re.sub(r"([_^])\{([^{}]*)\}", lambda m: m.group(1) + (m.group(2) if len(m.group(2)) == 1 else f"({m.group(2)})"),
                       maths)
        return maths.replace("{", "").replace("}", "").replace("\\", "")

    return _MATH.sub(one, text)


def raw_tex(text: str) -> list[str]:
    """The pieces of ``text`` outside ``$...$`` that would print literally: TeX commands, ``_{``, ``^{``, ``x_t``."""
    outside = _MATH.sub(" ", text)
    return _RAW_TEX.findall(outside)


def _texts(fig):
    """Every visible text of the figure with where it is, for the raw-TeX check."""
    texts = [("suptitle", fig._suptitle)] if getattr(fig, "_suptitle", None) is not None else []
    texts += [("figure text", t) for t in fig.texts]
    for i, ax in enumerate(fig.axes):
        where = f"axes {i}"
        texts += [(f"{where} title", ax.title), (f"{where} left title", ax._left_title),
                  (f"{where} right title", ax._right_title), (f"{where} x label", ax.xaxis.label),
                  (f"{where} y label", ax.yaxis.label)]
        texts += [(f"{where} text", t) for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [(f"{where} legend", t) for t in legend.get_texts()]
    return [(where, t.get_text()) for where, t in texts if t.get_visible() and t.get_text().strip()]


def _labelled(artists):
    return [a for a in artists if a.get_label() and not a.get_label().startswith("_")]


def figure_problems(fig) -> list[str]:
    """What makes ``fig`` hard to read for some readers (see the module docstring); [] when nothing does."""
    problems = []
    for where, text in _texts(fig):
        pieces = raw_tex(text)
        if pieces:
            problems.append(f"{where} {text!r} prints raw TeX or a code subscript ({', '.join(pieces)}): "
                            "write maths as $...$ (e.g. $x_{T-1}$) or in words")
    for i, ax in enumerate(fig.axes):
        mappables = list(ax.images) + [c for c in ax.collections if c.get_array() is not None]
        for mappable in mappables:
            name = mappable.get_cmap().name
            if name not in SAFE_CMAPS:
                problems.append(f"axes {i} draws with the colormap {name!r}: use cividis or viridis for sequential "
                                "data, gray for images, RdBu for signed data")
        styles = {}
        for line in _labelled(ax.get_lines()):
            key = (line.get_linestyle(), line.get_marker() if line.get_marker() not in (None, "None", "") else "none")
            styles.setdefault(key, []).append(line.get_label())
        for (style, marker), labels in styles.items():
            if len(labels) > 1:
                problems.append(f"axes {i}: the lines {labels} differ only in colour (all linestyle {style!r}, marker "
                                f"{marker!r}): give each its own linestyle or marker")
        markers = {}
        for coll in _labelled(ax.collections):
            if isinstance(coll, PathCollection) and coll.get_paths():
                markers.setdefault(coll.get_paths()[0].vertices.round(3).tobytes(), []).append(coll.get_label())
        problems += [f"axes {i}: the scatters {labels} differ only in colour: give each its own marker"
                     for labels in markers.values() if len(labels) > 1]
        hatches = {}
        for container in ax.containers:
            if isinstance(container, BarContainer) and container.patches:
                # ax.bar labels the container, ax.hist the first bar of each data set
                label = container.get_label()
                if not label or label.startswith("_"):
                    label = container.patches[0].get_label()
                if label and not label.startswith("_"):
                    hatches.setdefault(container.patches[0].get_hatch(), []).append(label)
        problems += [f"axes {i}: the bar series {labels} differ only in colour: give each its own hatch"
                     for labels in hatches.values() if len(labels) > 1]
    return problems + _collisions(fig)


TOUCH = 2.0  # pixels: text closer than this to an image or to other text touches it


def _box(artist, renderer):
    box = artist.get_window_extent(renderer)
    return box if box.width > 0 and box.height > 0 else None


def _overlap(a, b, margin: float = 0.0) -> bool:
    return (a.x0 < b.x1 + margin and b.x0 < a.x1 + margin and a.y0 < b.y1 + margin and b.y0 < a.y1 + margin)


def _collisions(fig) -> list[str]:
    """Texts that overlap each other, and titles, axis labels or texts that touch another panel's image."""
    if not hasattr(fig.canvas, "get_renderer"):  # a closed figure keeps only a bare canvas: draw it with Agg
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    images = [(i, _box(image, renderer)) for i, ax in enumerate(fig.axes) if ax.get_visible() for image in ax.images]
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        texts = [t for t in [ax.title, ax.xaxis.label, *ax.texts] if t.get_visible() and t.get_text().strip()]
        boxes = [(t, _box(t, renderer)) for t in texts]
        for text, box in boxes:
            if box is None:
                continue
            for j, image in images:
                if j != i and image is not None and _overlap(box, image, TOUCH):
                    problems.append(f"axes {i}: the text {text.get_text()!r} touches the image of axes {j}: give it "
                                    "room (constrained layout, a taller figure)")
                    break
        own = [(t, b) for t, b in boxes if t in ax.texts and b is not None]
        for k, (a, box_a) in enumerate(own):
            for b, box_b in own[k + 1:]:
                if _overlap(box_a, box_b):
                    problems.append(f"axes {i}: the labels {a.get_text()!r} and {b.get_text()!r} overlap: move one or "
                                    "use a legend")
    return problems


def _axis_words(axis, name: str) -> str:
    label = " ".join(plain_maths(axis.label.get_text()).split())
    scale = f" ({axis.get_scale()} scale)" if axis.get_scale() != "linear" else ""
    return f"{name} axis: {label}{scale}" if label else (f"{name} axis{scale}" if scale else "")


def describe_figure(fig) -> str:
    """What the figure is made of, in words: each panel's title, axes and scales, legend entries, images.

    The structural half of a figure's alt text; :func:`course_utils.plotting.show` puts the author's sentence
    about what the figure shows in front of it.
    """
    panels = []
    suptitle = getattr(fig, "_suptitle", None)
    head = f"Figure titled '{plain_maths(suptitle.get_text())}'. " if suptitle is not None and suptitle.get_text() else ""
    visible = [ax for ax in fig.axes if ax.get_visible() and (ax.has_data() or ax.get_title())]
    for ax in visible:
        parts = []
        title = plain_maths(ax.get_title()).replace("\n", " ").strip()
        if title:
            parts.append(f"'{title}'")
        if ax.images:
            parts.append("an image" if len(ax.images) == 1 else f"{len(ax.images)} images")
        elif ax.axison:
            parts += [w for w in (_axis_words(ax.xaxis, "x"), _axis_words(ax.yaxis, "y")) if w]
        side = plain_maths(ax.yaxis.label.get_text()).replace("\n", " ").strip()
        if ax.images and side:
            parts.append(f"labelled '{side}'")
        legend = ax.get_legend()
        if legend is not None:
            entries = [plain_maths(t.get_text()) for t in legend.get_texts() if t.get_text()]
            if entries:
                parts.append("legend: " + "; ".join(entries))
        if parts:
            panels.append(", ".join(parts))
    if not panels:
        return head.strip()
    if len(panels) == 1:
        return f"{head}One panel: {panels[0]}."
    if len(panels) > 6:
        return f"{head}{len(panels)} panels; the first: {panels[0]}; the last: {panels[-1]}."
    return f"{head}{len(panels)} panels: " + " | ".join(f"({k}) {p}" for k, p in enumerate(panels, 1)) + "."


# ----------------------------------------------------------------------------- notebooks


_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ALT = re.compile(r"""\balt\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


def output_alt_problems(output: dict) -> list[str]:
    """Why one stored output's images have no alt text: an image MIME type without ``metadata[type]["alt"]``
    (or a top-level ``alt``), or an HTML ``<img>`` without a non-empty ``alt`` attribute. [] when all have one."""
    data, metadata = output.get("data", {}), output.get("metadata", {})
    problems = []
    for kind in IMAGE_TYPES:
        if kind in data:
            alt = (metadata.get(kind) or {}).get("alt") or metadata.get("alt")
            if not (isinstance(alt, str) and alt.strip()):
                problems.append(f"an {kind} output without alt text")
    html = data.get("text/html", "")
    html = "".join(html) if isinstance(html, list) else html
    for tag in _IMG.findall(html):
        alt = _ALT.search(tag)
        if alt is None or not alt.group(2).strip():
            problems.append("an <img> without alt text in an HTML output")
    return problems
