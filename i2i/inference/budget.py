"""What translating one image costs in memory, estimated from its header before it is decoded, and the
run's ledger of what the images in flight hold.

The estimate follows the image through the path it takes (every term in bytes per pixel, float32
unless said): whole — the decode and float conversion (`i2i.memory.read_cost`), the RGB (+ alpha)
image, the padded batch, the network's activations, its output, and the write (quantising makes two
float temporaries, then Pillow's copy); tiled — the image as decoded (Pillow's 8/16-bit storage, never
a float copy), one float band of tiles across the image and its carry-over, one window through the
network, and the output: streamed row band by row band into a PNG, else held as integers and written.

The network's activations cannot be read from a header; they are estimated from the model's width
(the checkpoint's `ngf`/`channels`/`dim`, 64 when it names none): six float32 tensors of that many
channels at the input's resolution, plus two per output pixel for a super-resolution upsampler. That
is above what was measured for ResNet-9 (ngf 64: 1.0-1.4 KB per pixel in torch and onnxruntime,
`benchmarks/results/tile_memory.md`) and well above a U-Net, which halves its resolution first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from i2i.inference.tiling import TileSpec
from i2i.memory import ImageHeader, gigabytes, read_cost
from i2i.preprocess import padded_size

FLOAT_RGB = 12           # bytes of one float32 RGB pixel
SUGGESTED_TILE = 512     # what a refusal of a whole image suggests


def network_bytes_per_pixel(header: dict[str, Any], scale: int) -> int:
    """Estimated activation bytes per input pixel of the model described by a checkpoint `header`."""
    widths = [value for generator in header.get("generators", {}).values()
              for key, value in generator.get("config", {}).items()
              if key in ("ngf", "channels", "dim", "num_feat") and isinstance(value, int)]
    width = max(widths, default=64)
    return 4 * width * (6 + 2 * scale * scale)


@dataclass(frozen=True)
class Costs:
    """One model's and run's memory costs: `estimate(header)` is what one image will cost."""

    scale: int = 1
    multiple_of: int = 1
    min_size: int = 1
    network: int = 4 * 64 * 8          # activation bytes per network input pixel
    tile: TileSpec | None = None
    outscale: float | None = None

    def window(self, tile: TileSpec | None = None) -> int:
        tile = tile or self.tile
        return tile.window(self.multiple_of, self.min_size) if tile is not None else 0

    def tiled(self, header: ImageHeader) -> bool:
        """Whether the image is translated in tiles (larger than one window)."""
        return self.tile is not None and max(header.width, header.height) > self.window()

    def _output_pixels(self, header: ImageHeader) -> int:
        if self.outscale is None:
            return header.pixels * self.scale ** 2
        return max(1, int(header.width * self.outscale)) * max(1, int(header.height * self.outscale))

    def whole(self, header: ImageHeader) -> int:
        """Bytes at the peak of translating the image whole: the larger of its decode, the forward
        pass (image + batch + activations + output) and the write (image + output + quantising)."""
        pixels, alpha = header.pixels, header.channels in (2, 4)
        padded_h, padded_w = padded_size(header.height, header.width, self.multiple_of, self.min_size)
        padded = padded_h * padded_w
        image = pixels * (FLOAT_RGB + 4 * alpha)
        output = padded * FLOAT_RGB * self.scale ** 2
        forward = image + padded * (FLOAT_RGB + self.network) + output
        written = self._output_pixels(header)
        resize = written * 2 * FLOAT_RGB if self.outscale is not None else 0
        write = image + output + resize + written * (2 * FLOAT_RGB + 3 + 4 + 4 + 4 * alpha)
        return max(read_cost(header), forward, write)

    def in_tiles(self, header: ImageHeader, streamed: bool, tile: TileSpec | None = None) -> int:
        """Bytes at the peak of translating the image in tiles (`streamed`: the output goes to the
        file band by band instead of being held)."""
        tile = tile or self.tile
        assert tile is not None
        window, pixels = self.window(tile), header.pixels
        if header.deep_colour or header.mode in ("I", "F"):  # an array; decoding takes it twice or thrice
            held = pixels * header.channels * header.sample_bytes
            decode = 3 * held
        else:                                                 # Pillow's storage, decoded in place
            held = decode = pixels * header.stored_bytes
        padded_w = max(padded_size(header.height, header.width, self.multiple_of, 1)[1], window)
        band = window * self.scale * padded_w * self.scale * FLOAT_RGB
        one_window = window * window * (64 + self.network + FLOAT_RGB * self.scale ** 2)
        depth = 2 if header.deep_colour or header.sample_bytes > 1 else 1
        written = self._output_pixels(header)
        output = written * (3 + (header.channels in (2, 4))) * depth  # integer RGB (+ alpha)
        # The band, its carry-over, the 64-row quantising temporaries and the decoder's and runtime's own
        # buffers (measured on a 30000² RGB PNG: 4.19 GB above the process's baseline; this gives 4.27)
        tiles = held + 3 * band + one_window
        if streamed:
            return max(decode, tiles + 3 * 64 * padded_w * self.scale * 4 * depth)
        write = output * 2 + written * 4
        return max(decode, tiles + output, write)

    def way_out(self, header: ImageHeader, budget: int) -> str:
        """What to do when the image is refused: tiles when they would fit, else a smaller image."""
        if self.tile is None:
            tile = TileSpec(SUGGESTED_TILE)
            need = self.in_tiles(header, streamed=True, tile=tile)
            if need <= budget:
                return f"use --tile {SUGGESTED_TILE} (about {gigabytes(need)})"
        return "downscale or crop it"


class Ledger:
    """The bytes the images in flight have reserved, out of `total`. `reserve` waits until an image's
    estimate fits beside the others (one at a time fits always: a larger one was refused), in the
    order of the tickets, so that a later image never takes the memory an earlier one waits for.
    With `total` None (a pixel limit, not a byte budget), nothing waits."""

    def __init__(self, total: int | None) -> None:
        self.total, self.used, self.serving = total, 0, 0
        self._changed = threading.Condition()
        self.waiting = False

    def reserve(self, ticket: int, cost: int) -> None:
        """Take `cost` bytes on turn `ticket` (0, 1, 2, …: each exactly once; cost 0 passes the turn)."""
        with self._changed:
            while True:
                if ticket == self.serving:
                    if self.total is None or not self.used or self.used + cost <= self.total:
                        break
                    self.waiting = True  # the pipeline flushes its batch: held images give memory back
                self._changed.wait()
            self.waiting = False
            self.used += cost
            self.serving += 1
            self._changed.notify_all()

    def close(self) -> None:
        """Stop waiting for memory (the run is ending on an error: no waiter may block its shutdown)."""
        with self._changed:
            self.total = None
            self._changed.notify_all()

    def release(self, cost: int) -> None:
        if cost:
            with self._changed:
                self.used -= cost
                self._changed.notify_all()
