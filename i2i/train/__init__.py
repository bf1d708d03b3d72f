"""Training: the one loop every method runs (`trainer.py`), with its parts as their own files:
optimisers and the loss weighting, LR schedules, the resumable batch order and micro-batches, the
resume state, checkpoint saving, held-out evaluation, sample grids, EMA, the image pool, torchrun data
parallelism with synchronised BatchNorm, and the stop request. The top of the dependency order: may
import any subpackage but `cli`.
"""
