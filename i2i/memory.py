"""What an image may cost in memory: its header's facts and what decoding it costs, what this process
can spare, and the one limit every image read is checked against (translate, the training data, eval).

Linux overcommits: a 30000 × 30000 image is allocated without complaint and the kernel's OOM killer
ends the whole run once the pages are touched. So i2i estimates what an image will cost from its
header and refuses it, in one line naming it, before anything is decoded.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path

GB = 1e9
MiB = 1 << 20
DECODER_STATE = 8 * MiB   # a decoder's own buffers and tables, whatever the image


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_room() -> int | None:
    """memory.max − memory.current of this process's cgroup (v2), None when it has no limit."""
    try:
        with open("/proc/self/cgroup") as handle:
            relative = next(line.split(":", 2)[2].strip() for line in handle if line.startswith("0::"))
        folder = Path("/sys/fs/cgroup") / relative.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, StopIteration, ValueError):
        return None


def _address_space_room() -> int | None:
    """RLIMIT_AS − the address space in use (allocations beyond it fail), None when unlimited."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as handle:
            size = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        size = 0
    return limit - size


def spare_memory() -> int:
    """Bytes this process may still allocate without being refused or killed: the least of the machine's
    available memory (MemAvailable), its cgroup's room and its address-space limit's room, less a
    headroom of a tenth (at least 256 MiB) for the runtime, the allocator's slack and other processes."""
    rooms = [room for room in (_meminfo("MemAvailable"), _cgroup_room(), _address_space_room()) if room is not None]
    if not rooms:  # not Linux: trust the physical memory size
        rooms = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    room = min(rooms)
    return max(0, room - max(256 * MiB, room // 10))


def gigabytes(count: int) -> str:
    if count >= 100 * GB:
        return f"{count / GB:,.0f} GB"
    return f"{count / GB:.1f} GB" if count >= 0.1 * GB else f"{count / MiB:.0f} MiB"


def megapixels(width: int, height: int) -> str:
    value = width * height / 1e6
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


_GREY_MODES = ("1", "L", "LA", "La", "I", "F")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_CONVERTED = {"P": 4, "PA": 4, "CMYK": 4, "YCbCr": 4, "LAB": 4, "HSV": 4, "RGBX": 4, "RGBa": 4, "La": 4, "1": 1}


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, before anything is decoded (`i2i.images.read_header`): the
    stored size (an EXIF orientation may swap it when shown), Pillow's mode, and what the estimates
    need to know of its decoding."""

    width: int
    height: int
    mode: str                  # Pillow's mode
    deep_colour: bool = False  # 16-bit colour, which OpenCV decodes (Pillow would cut it to 8 bits)
    transparency: bool = False  # a palette's transparent entries (become an alpha channel)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def channels(self) -> int:
        """Channels once converted (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)."""
        if self.deep_colour:
            return 4 if self.mode == "RGBA" else 3
        if self.mode == "P":
            return 4 if self.transparency else 3
        if self.mode in ("LA", "La"):
            return 2
        return 1 if self.mode.startswith(_GREY_MODES) else 4 if self.mode in _ALPHA_MODES else 3

    @property
    def sample_bytes(self) -> int:
        """Bytes of one converted sample: 1 (8-bit), 2 (16-bit), 4 (float)."""
        return 2 if self.deep_colour or self.mode.startswith("I") else 4 if self.mode == "F" else 1

    @property
    def stored_bytes(self) -> int:
        """Bytes a pixel takes as decoded: Pillow keeps every multi-band mode (RGB too) in 4 and a 1-bit
        pixel in 1; OpenCV's 16-bit colour array takes 2 per channel."""
        if self.deep_colour:
            return self.channels * 2
        if self.mode in ("1", "L", "P"):
            return 1
        return 2 if self.mode.startswith("I;16") else 4


def read_cost(header: ImageHeader) -> int:
    """Bytes `i2i.images.read_image` allocates at its peak, from the header: the decode (Pillow's image,
    its converted copy, the array taken from it and that array's transient twin; for 16-bit colour the
    file's bytes and OpenCV's array twice), then the float32 copy beside the array, then the alpha
    composite or grey replication."""
    array = header.channels * header.sample_bytes
    floats = header.channels * 4
    extra = 28 if header.channels in (2, 4) else 12 if header.channels == 1 else 0
    if header.deep_colour:  # measured: OpenCV's decode buffer stays beside its array for a while
        decode, held = 4 + 3 * array, 3 * array
    else:
        decode, held = header.stored_bytes + _CONVERTED.get(header.mode, 0) + 2 * array, array
    return header.pixels * max(decode, held + floats, array + floats + extra) + DECODER_STATE


@dataclass(frozen=True)
class MemoryLimit:
    """How large an image may be. With `max_megapixels` (`--max-megapixels N`), images of more pixels are
    refused and the estimate is not consulted (the user's word: a machine with swap, or a server that
    must never take large uploads); otherwise an image's estimated cost must fit in `spare` bytes
    (None: `spare_memory()` at the time of the check)."""

    max_megapixels: float | None = None
    spare: int | None = None

    def __post_init__(self) -> None:
        if self.max_megapixels is not None and not self.max_megapixels > 0:
            raise ValueError(f"--max-megapixels must be positive, got {self.max_megapixels}")

    def budget(self) -> int:
        """The bytes an image may cost under this limit (a pixel limit has no byte budget)."""
        return spare_memory() if self.spare is None else self.spare

    def refusal(self, path: Path | str, width: int, height: int, need: int, doing: str,
                way_out: str | None = None) -> str | None:
        """None when a `width`×`height` image costing `need` bytes to `doing` fits; else the one line that
        names the file, its size, the estimate and the budget, and the way out."""
        described = f"{path}: {width}×{height} ({megapixels(width, height)} megapixels)"
        if self.max_megapixels is not None:
            if width * height <= self.max_megapixels * 1e6:
                return None
            return (f"{described} is over --max-megapixels {self.max_megapixels:g}; downscale or crop it, "
                    f"or raise the limit")
        budget = self.budget()
        if need <= budget:
            return None
        anyway = f"--max-megapixels {math.ceil(width * height / 1e6)} to try anyway"
        return (f"{described} would need about {gigabytes(need)} to {doing}, more than the {gigabytes(budget)} "
                f"this process can spare; {way_out or 'downscale or crop it'}, or {anyway}")
