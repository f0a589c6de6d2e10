"""course_utils: the reusable code of the diffusion course.

One module per concern, each readable in one sitting:

    env          device, seeds, quick mode, Colab detection, progress bars, CPU thread timing
    data         MNIST, offline first, scaled to [-1, 1]
    schedules    noise schedules (linear, cosine) and the index convention
    forward      the forward process q: one step, the closed form, the posterior
    model        the tiny U-Net and its timestep embedding
    exact        the exact denoiser of a finite image set (the best possible; it memorises)
    training     the eps-prediction loss, EMA, a resumable training loop
    samplers     DDPM and DDIM: one loop (``sample``), two steps, and DDIM inversion
    guidance     classifier-free and classifier guidance, as wrappers around a model
    inpainting   filling in a masked digit, on the sampling loop's after-step hook
    classifier   the reference digit classifier and the noise-aware one, one training loop
    metrics      digit-FID, confidence, recognised %, class accuracy
    captions     notebook 10's captions: attributes measured on each digit, words, paraphrases, held-out combinations
    text_encoder a word tokenizer (start token, padding, the null prompt) and a tiny transformer text encoder
    autoencoder  the latent space: 28x28 digits <-> 4x7x7 latents of unit variance
    text2img     the text-to-image model: a latent denoiser that reads the tokens through cross-attention
    prompting    prompts bound to the model for the sampling loop, guidance on text, attention recording
    text2img_bench  how well the text-to-image model follows its prompts (python -m course_utils.text2img_bench)
    pretrained   the shipped checkpoints in data/
    bench        the sampler benchmark (python -m course_utils.bench)
    train        the training command (python -m course_utils.train)
    recipes      the stages that made each shipped model (python -m course_utils.recipes)
    checkpoints  safe saving and loading
    plotting     grids, histograms, loss curves, animations
    widgets      sliders to explore the forward process, DDIM and guidance
    checks       one check per exercise, one module per notebook (checks/nb01.py ...)

The instructor's tools (student copies, Colab cells, grading) are a separate package,
``course_tools``, which the student edition leaves out.

Names and symbols: GLOSSARY.md next to this file.
"""

__version__ = "0.2.0"
