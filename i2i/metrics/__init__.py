"""Scores: pixel metrics (L1, PSNR, SSIM; numpy only), distribution metrics (FID/KID/IS/1-NN), LPIPS, and
the held-out evaluation that `i2i eval` and the trainer run through an inference backend. May import
`data`, `inference`, `hub` and the shared modules; never a method or the trainer.
"""
