"""i2i: image-to-image translation with GANs (pix2pix and more) — train, translate, export."""

__version__ = "0.1.0"
