"""Interactive explorers: a slider over t, DDIM steps and η, a digit and a guidance scale.

Each explorer is two layers:

    render_forward(image, t, ...)              -> matplotlib Figure   (a plain function: test it, call it)
    forward_process_explorer(image, ...)       -> ipywidgets box that calls render_forward on every change

    render_ddim(model, schedule, noise, num_steps, eta)    <- ddim_explorer(model, schedule, noise)
    render_guidance(model, schedule, noise, digit, scale)  <- guidance_explorer(model, schedule, noise)

The explorers run on ipywidgets 7.7.1 (what Google Colab ships) and on 8.x: they use only
``IntSlider``, ``FloatSlider``, ``Dropdown``, ``Output``, ``HBox``/``VBox`` and ``observe``.
Sliders that start a sampling run have ``continuous_update=False``, so sampling starts when the
slider is released, not at every pixel it moves.

Without widgets (ipywidgets not installed, no Jupyter kernel, or ``COURSE_NO_WIDGETS=1``) an
explorer prints a one-line note saying why and returns one static figure instead (a
:class:`course_utils.plotting.ShownFigure`: the picture with its alt text), so a notebook
still runs top to bottom. Every picture an explorer draws carries alt text that says what it
shows. A front end that cannot draw widgets at all (some editors) shows the widget's text form;
the render functions still work there.

Every explorer returns what a notebook should show: put it on the last line of a cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from .env import env_flag
from .forward import q_sample
from .guidance import ClassifierFreeGuidance, scale_note
from .plotting import ShownFigure, draw_image, show_images
from .samplers import DDIMSampler, sample
from .schedules import NoiseSchedule, make_schedule, snr_db

NO_WIDGETS_ENV_VAR = "COURSE_NO_WIDGETS"


# ----------------------------------------------------------------------------- widgets or not


def why_no_widgets() -> str | None:
    """Why the explorers would fall back to a static figure here, or None when widgets can be used."""
    if env_flag(NO_WIDGETS_ENV_VAR):
        return f"{NO_WIDGETS_ENV_VAR} is set"
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return "ipywidgets is not installed (pip install ipywidgets)"
    try:
        from IPython import get_ipython
    except ImportError:
        return "IPython is not installed"
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return "this is not a Jupyter kernel, so nothing can draw a widget"
    return None


def _use_static(static: bool | None) -> bool:
    """``static=None`` decides by :func:`why_no_widgets`; True/False force a path (tests use False)."""
    if static is None:
        reason = why_no_widgets()
        if reason is not None:
            print(f"(No interactive widget: {reason}. Showing one static picture instead.)")
        return reason is not None
    return static


def _static(fig, alt: str) -> ShownFigure:
    """The figure for the notebook to show once, with its alt text (closed, so pyplot does not show it again)."""
    return ShownFigure(fig, alt)


def _explorer(render: Callable[..., plt.Figure], controls: Mapping[str, object], describe: Callable[..., str]):
    """A box with ``controls`` above an output area that shows ``render(**values)`` after every change, with
    ``describe(**values)`` as its alt text (see :func:`course_utils.plotting.show`)."""
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()

    def refresh(change=None):
        values = {name: control.value for name, control in controls.items()}
        fig = render(**values)
        with out:
            out.clear_output(wait=True)
            display(ShownFigure(fig, describe(**values)))
        plt.close(fig)

    for control in controls.values():
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


# ----------------------------------------------------------------------------- forward process


def _as_schedules(schedules) -> dict[str, NoiseSchedule]:
    """Names ("linear"), NoiseSchedule objects or a {name: schedule} dict -> {name: NoiseSchedule}."""
    if isinstance(schedules, (str, NoiseSchedule)):
        schedules = [schedules]
    if isinstance(schedules, Mapping):
        items = list(schedules.items())
    else:
        items = [(s, s) if isinstance(s, str) else (s.name, s) for s in schedules]
    out = {name: make_schedule(s) if isinstance(s, str) else s for name, s in items}
    if len({s.num_timesteps for s in out.values()}) != 1:
        raise ValueError("all schedules must have the same number of steps T")
    return out


def _as_image(image: torch.Tensor) -> torch.Tensor:
    """(H, W), (1, H, W) or (1, 1, H, W) -> (1, 1, H, W) on the CPU."""
    image = image.detach().float().cpu()
    while image.dim() < 4:
        image = image.unsqueeze(0)
    if image.shape[:2] != (1, 1):
        raise ValueError(f"give one grey image, (H, W) or (1, 1, H, W); got shape {tuple(image.shape)}")
    return image


def render_forward(
    image: torch.Tensor,
    t: int,
    schedules=("linear", "cosine"),
    noise: torch.Tensor | None = None,
    seed: int = 0,
) -> plt.Figure:
    """The same digit noised to step ``t`` with each schedule (same noise ε), one panel per schedule.

    Each title gives the schedule, t, ᾱ_t and the SNR in dB. ``noise`` (shaped like the image)
    defaults to ε drawn with ``seed``, so calls with different t differ only through ᾱ_t.
    """
    x0 = _as_image(image)
    schedules = _as_schedules(schedules)
    if noise is None:
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    noise = noise.reshape(x0.shape)
    fig, axes = plt.subplots(1, len(schedules), figsize=(2.6 * len(schedules), 3.0), squeeze=False,
                             layout="constrained")
    for ax, (name, schedule) in zip(axes[0], schedules.items()):
        x_t = q_sample(x0, t, schedule, noise)
        abar = schedule.alphas_cumprod[t]
        draw_image(ax, x_t[0], title=f"{name}, t = {t}\n" + rf"$\bar\alpha_t$ = {float(abar):.3g}, "
                   f"SNR {float(snr_db(abar)):+.1f} dB", fontsize=10)
        ax.set_axis_off()
    return fig


def forward_process_explorer(image: torch.Tensor, schedules=("linear", "cosine"), t: int | None = None,
                             seed: int = 0, static: bool | None = None):
    """A slider over t (0 … T−1) showing ``image`` noised to step t with each schedule, same noise for all.

    ``schedules``: names, NoiseSchedule objects or a {name: schedule} dict. ``t`` is where the slider
    starts (default T // 2). Returns the widget, or a static figure at ``t`` when widgets are off.
    """
    x0 = _as_image(image)
    schedules = _as_schedules(schedules)
    T = next(iter(schedules.values())).num_timesteps
    t = T // 2 if t is None else t
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))  # one ε for every t
    def describe(t):
        return (f"The same digit noised to step t = {t} with the {' and the '.join(schedules)} schedule, the same noise "
                "in each panel; each title gives ᾱ_t and the signal-to-noise ratio in decibels.")

    if _use_static(static):
        return _static(render_forward(x0, t, schedules, noise), describe(t))
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=t, min=0, max=T - 1, step=1, description="step t",
                               layout=widgets.Layout(width="420px"))
    # Looked up at call time, so the explorer always draws with the current render_forward.
    return _explorer(lambda t: render_forward(x0, t, schedules, noise), {"t": slider}, describe)


# ----------------------------------------------------------------------------- DDIM


def render_ddim(model, schedule: NoiseSchedule, noise: torch.Tensor, num_steps: int = 20, eta: float = 0.0,
                seed: int = 0, nrow: int = 8) -> plt.Figure:
    """Samples from ``noise`` (N, C, H, W) with DDIM in ``num_steps`` steps and noise level η = ``eta``.

    The fresh noise that η > 0 adds is drawn with ``seed``, so the same settings give the same picture.
    """
    sampler = DDIMSampler(schedule, num_steps=num_steps, eta=eta)
    out = sample(model, sampler, noise=noise, generator=torch.Generator().manual_seed(seed), show_progress=False)
    ax = show_images(out.images, nrow=min(nrow, len(noise)), size=0.9)
    ax.set_title(f"DDIM, {num_steps} steps, η = {eta:.2f} ({out.seconds:.2f} s)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def ddim_explorer(model, schedule: NoiseSchedule, noise: torch.Tensor, num_steps: int = 20, eta: float = 0.0,
                  max_steps: int = 100, seed: int = 0, static: bool | None = None):
    """Sliders for the number of DDIM steps (1 … ``max_steps``) and η (0 … 1); shows the samples.

    The starting ``noise`` stays fixed, so with η = 0 only the step count changes the picture.
    Returns the widget, or a static figure for the starting values when widgets are off.
    """
    max_steps = min(max_steps, schedule.num_timesteps)

    def describe(num_steps, eta):
        return (f"{len(noise)} digits sampled with DDIM in {num_steps} steps with η = {eta:.1f}, from the same starting "
                "noises every time.")

    if _use_static(static):
        return _static(render_ddim(model, schedule, noise, num_steps, eta, seed), describe(num_steps, eta))
    import ipywidgets as widgets

    controls = {
        "num_steps": widgets.IntSlider(value=num_steps, min=1, max=max_steps, description="DDIM steps",
                                       continuous_update=False),
        "eta": widgets.FloatSlider(value=eta, min=0.0, max=1.0, step=0.1, description="η",
                                   continuous_update=False),
    }
    return _explorer(lambda num_steps, eta: render_ddim(model, schedule, noise, num_steps, eta, seed), controls,
                     describe)


# ----------------------------------------------------------------------------- guidance


def render_guidance(model, schedule: NoiseSchedule, noise: torch.Tensor, digit: int = 3, guidance_scale: float = 3.0,
                    num_steps: int = 50, nrow: int = 8) -> plt.Figure:
    """Samples of ``digit`` from ``noise`` with classifier-free guidance scale w = ``guidance_scale`` (deterministic DDIM).

    The course's convention (guidance.guided_eps): w = 0 unconditional, w = 1 no guidance, w > 1 stronger.
    """
    guided = ClassifierFreeGuidance(model, guidance_scale)
    labels = torch.full((len(noise),), int(digit), dtype=torch.long)
    out = sample(guided, DDIMSampler(schedule, num_steps=num_steps, eta=0.0), noise=noise, labels=labels,
                 show_progress=False)
    ax = show_images(out.images, nrow=min(nrow, len(noise)), size=0.9)
    ax.set_title(f"digit {int(digit)}, guidance scale w = {guidance_scale:.1f}{scale_note(guidance_scale)}", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def guidance_explorer(model, schedule: NoiseSchedule, noise: torch.Tensor, digit: int = 3, guidance_scale: float = 3.0,
                      num_steps: int = 50, static: bool | None = None):
    """A dropdown for the digit (0-9) and a slider for the guidance scale w (0 … 8); shows guided samples.

    ``model`` is a class-conditional eps-model; ``num_steps`` DDIM steps (η = 0) per picture.
    Returns the widget, or a static figure for the starting values when widgets are off.
    """
    def describe(digit, guidance_scale):
        return (f"{len(noise)} samples asked to be the digit {int(digit)}, with classifier-free guidance scale "
                f"w = {guidance_scale:.1f}, from the same starting noises every time.")

    if _use_static(static):
        return _static(render_guidance(model, schedule, noise, digit, guidance_scale, num_steps),
                       describe(digit, guidance_scale))
    import ipywidgets as widgets

    controls = {
        "digit": widgets.Dropdown(options=[(str(d), d) for d in range(10)], value=int(digit), description="digit"),
        "guidance_scale": widgets.FloatSlider(value=guidance_scale, min=0.0, max=8.0, step=0.5, description="scale w",
                                     continuous_update=False),
    }
    return _explorer(
        lambda digit, guidance_scale: render_guidance(model, schedule, noise, digit, guidance_scale, num_steps), controls,
        describe,
    )


__all__: Sequence[str] = [
    "NO_WIDGETS_ENV_VAR",
    "why_no_widgets",
    "render_forward",
    "forward_process_explorer",
    "render_ddim",
    "ddim_explorer",
    "render_guidance",
    "guidance_explorer",
]
