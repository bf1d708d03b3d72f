"""One device rule and one precision table (i2i.runtime) for training, translate and eval."""

from __future__ import annotations

import pytest
import torch

from i2i.errors import I2IError
from i2i.runtime import autocast_dtype, check_precision, resolve_device


def test_device_names():
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(I2IError, match="--device cuda was asked for, but PyTorch sees no CUDA GPU"):
            resolve_device("cuda")
    for bad in ("gpu", "cuda:x", "CPU"):
        with pytest.raises(I2IError, match="--device must be auto, cpu, cuda or cuda:N"):
            resolve_device(bad)


def test_precision_table_and_its_refusals():
    assert autocast_dtype("fp32", "cpu") is None
    assert autocast_dtype("bf16", "cpu") == torch.bfloat16
    assert autocast_dtype("fp16", "cuda:0") == torch.float16 or not torch.cuda.is_available()
    assert check_precision("auto", "cpu") == "fp32" and check_precision("auto", "cuda:0") == "fp16"
    with pytest.raises(I2IError, match=r"^--precision fp16 needs a CUDA GPU .*use --precision bf16 or fp32 here$"):
        check_precision("fp16", "cpu")
    # The trainer's recipe setting is spelt as the user wrote it, and has no `auto`.
    with pytest.raises(I2IError, match=r"^precision=fp16 needs a CUDA GPU .*use precision=bf16 or fp32 here$"):
        check_precision("fp16", "cpu", ("fp32", "bf16", "fp16"), flag="precision=")
    with pytest.raises(I2IError, match="precision must be one of fp32, bf16, fp16, got 'auto'"):
        check_precision("auto", "cpu", ("fp32", "bf16", "fp16"), flag="precision=")
