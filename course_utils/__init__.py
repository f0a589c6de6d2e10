"""course_utils: the reusable code of the diffusion course.

One module per concern, each readable in one sitting:

    env          device, seeds, quick mode, Colab detection, progress bars
    data         MNIST, offline first, scaled to [-1, 1]
    schedules    noise schedules (linear, cosine) and the index convention
    forward      the forward process q: one step, the closed form, the posterior
    model        the tiny U-Net and its timestep embedding
    training     the eps-prediction loss, EMA, a resumable training loop
    samplers     DDPM and DDIM (one loop, two steps) and classifier-free guidance
    classifier   the reference digit classifier
    metrics      digit-FID, confidence, recognised %, class accuracy
    pretrained   the shipped checkpoints in data/
    bench        the sampler benchmark (python -m course_utils.bench)
    checkpoints  safe saving and loading
    plotting     grids, histograms, loss curves, animations
    widgets      sliders to explore the forward process, DDIM and guidance
    checks       one check per exercise
    notebooks    student copies from the solution notebooks
    grading      grade submitted notebooks
    colab        badges and setup cells

Names and symbols: GLOSSARY.md next to this file.
"""

__version__ = "0.1.0"
