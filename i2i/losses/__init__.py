"""What the networks are trained against: the GAN objectives, the discriminator regularisers (R1,
WGAN-GP, instance noise, clipping), DiffAugment/ADA, `recipe.gan` wired together (`adversarial.py`) and
the VGG perceptual loss. Imports torch, `nn`, `hub` (feature weights) and the shared modules; never a
method or the trainer.
"""
