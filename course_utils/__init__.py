"""course_utils: the reusable code of the diffusion course.

One module per concern, each readable in one sitting:

    env          device, seeds, quick mode, Colab detection, progress bars, CPU threads, free memory
    validation   the checks every function runs on what it is given (numbers, labels, images in [-1, 1])
    data         MNIST, offline first, scaled to [-1, 1]
    schedules    noise schedules (linear, cosine) and the index convention
    forward      the forward process q: one step, the closed form, the posterior; noise per image
    model        the tiny U-Net and its timestep embedding
    exact        the exact denoiser of a finite image set (the best possible; it memorises)
    loop         what training loops share: shuffled batches, stopping on Ctrl-C or SIGTERM, fit()
    training     the eps-prediction loss, EMA, one training step and a resumable loop around it
    flow         flow matching: the straight path, its velocity loss, Euler and Heun samplers
    samplers     the Sampler contract and its one loop (``sample``); DDPM, DDIM, DPM-Solver++; DDIM inversion
    sampler_registry  the samplers by name ("DDIM-50"), as the benchmark reads them
    guidance     classifier-free and classifier guidance, as wrappers around a model
    inpainting   filling in a masked digit: a sampler wrapper that keeps the known pixels (RePaint)
    classifier   the reference digit classifier and the noise-aware one
    vae          a tiny VAE, the one-shot generator notebook 8 compares with diffusion
    features     what the reference classifier reads from a batch of digits
    looks_real   does a sample look like a real digit? (python -m course_utils.looks_real)
    metrics      digit-FID, confidence, recognised %, class accuracy
    captions     notebook 10's captions: attributes measured on each digit, words, paraphrases, held-out combinations
    text_encoder a word tokenizer (start token, padding, the null prompt) and a tiny transformer text encoder
    autoencoder  the latent space: 28x28 digits <-> 4x7x7 latents of unit variance
    text2img     the text-to-image model: a latent denoiser that reads the tokens through cross-attention
    prompting    prompts bound to the model for the sampling loop, guidance on text, attention recording
    text2img_bench  how well the text-to-image model follows its prompts (python -m course_utils.text2img_bench)
    pretrained   the shipped checkpoints in data/
    cli          what the commands share: one-line errors, output locks, Ctrl-C at any moment
    run_files    what a training run keeps beside its --out (resume file, lock), and what may be overwritten
    bench        the sampler benchmark (python -m course_utils.bench)
    train_bench  the training benchmark of the live recipes (python -m course_utils.train_bench)
    budget       fitting a notebook's live run and its scoring into one time budget
    claims       sentences about two measurements, computed from their numbers and sds
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
