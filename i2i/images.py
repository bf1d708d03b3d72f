"""Reading and writing image files with every conversion stated (numpy + Pillow + OpenCV; no torch).

Read: any Pillow format → float32 RGB in [0, 1] plus an optional alpha plane. The rules:
- grayscale (1, L, I;16, I, F) is replicated to three channels;
- 16-bit data is divided by 65535 — never clipped at 255 or truncated to its high byte (Pillow decodes
  16-bit colour PNG/TIFF to 8 bits, so those files are decoded by OpenCV instead);
- palette images are expanded (keeping palette transparency), CMYK/YCbCr/LAB are converted to RGB;
- alpha is split off and the colour composited onto white (drawings on transparent backgrounds stay
  white-backed); the caller may write the alpha back;
- the EXIF orientation is applied, so a photo is translated the way viewers show it.
Every conversion is pixel by pixel, so a block of a decoded image (`Decoded`, as tiled translation
reads a huge image without a float copy of it) converts exactly as the whole image does.
Bad files raise ImageReadError naming the file and the reason, each case stated: missing or unreadable,
empty (0 bytes), not an image, truncated or corrupt data, too large for the memory this process can
spare (`i2i.memory`; checked from the header, before anything is decoded), unsupported pixel data.
Write: atomically (temporary file in the same folder, then rename), 8-bit unless asked for 16.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.memory import ImageHeader, MemoryLimit, read_cost

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
WRITABLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# Whether an image fits is decided by the memory it would cost (`MemoryLimit`, checked from the header).
# Pillow's and OpenCV's own pixel caps (2^30 by default) would refuse a 40k² scan that a large machine
# can tile, so they are raised far above any budget, and Pillow's warning silenced; a header claiming
# more than twice PIXEL_CAP pixels (17 gigapixels) is refused by Pillow in open(), before its size is read.
PIXEL_CAP = 1 << 33
Image.MAX_IMAGE_PIXELS = PIXEL_CAP
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(PIXEL_CAP))  # read at OpenCV's first decode


class ImageReadError(ValueError):
    """A file that is not a readable image; the message names the file and the reason."""


@dataclass
class ImageInfo:
    mode: str          # Pillow's mode of the file as stored (e.g. "RGB", "L", "I;16", "RGBA")
    bits: int          # 8 or 16 (32 for float/int32 data)
    grayscale: bool
    has_alpha: bool


def is_image_file(path: Path) -> bool:
    """An image by its extension, and not a temporary file of an interrupted atomic write."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and ".i2i-tmp" not in path.name


def images_under(folder: str | Path, recursive: bool = True, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The image files in `folder` (and its subfolders if `recursive`), sorted; [] if it is not a folder.
    Files under one of the `exclude` folders are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in candidates
                  if p.is_file() and is_image_file(p) and not any(e in p.parents for e in exclude))


def output_bits(info: ImageInfo | None) -> int:
    """The bit depth a translation of this input is written with: 16 for 16-bit (or deeper) inputs,
    else 8. The one rule for every output path (whole images, tiles, the Python API)."""
    return 16 if info is not None and info.bits >= 16 else 8


def _opencv_16bit(path: Path, image: Image.Image) -> bool | None:
    """None when Pillow decodes the file exactly. For a 16-bit PNG/TIFF that Pillow would cut to 8-bit
    colour (RGB, RGBA, and PNG grey + alpha, which Pillow returns as RGBA): whether it is grey."""
    if image.mode not in ("RGB", "RGBA"):
        return None
    if image.format == "PNG":
        with path.open("rb") as handle:
            header = handle.read(26)
        if len(header) >= 26 and header[24] == 16:  # IHDR bit depth, then colour type (0 grey, 4 grey + alpha)
            return header[25] in (0, 4)
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        if max(bits if isinstance(bits, tuple) else (bits,)) == 16:
            return False
    return None


def _read_16bit_colour(path: Path) -> np.ndarray:
    import cv2  # OpenCV decodes 16-bit colour PNG/TIFF exactly; it comes with albumentations

    data = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 3:
        raise ImageReadError(f"{path}: OpenCV could not decode this 16-bit image")
    order = cv2.COLOR_BGRA2RGBA if data.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(data, order, dst=data)  # in place: no second copy of a large image


# EXIF orientation (tag 274) → how to turn the stored pixels (H×W×C) into what viewers show; the same
# transposes as Pillow's ImageOps.exif_transpose, applied to the array so that the 16-bit path gets them too.
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],                        # mirrored left-right
    3: lambda a: a[::-1, ::-1],                     # rotated 180°
    4: lambda a: a[::-1],                           # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),              # transposed
    6: lambda a: np.rot90(a, -1),                   # rotated 90° clockwise to view
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # transversed
    8: lambda a: np.rot90(a, 1),                    # rotated 90° anticlockwise to view
}
# The same as (transposed, stored rows reversed, stored columns reversed): shown[r, c] is stored[r, c]
# (or stored[c, r] when transposed) with the reversed axes counted from the end.
ORIENTATION_AXES = {1: (False, False, False), 2: (False, False, True), 3: (False, True, True),
                     4: (False, True, False), 5: (True, False, False), 6: (True, True, False),
                     7: (True, True, True), 8: (True, False, True)}


def _orientation(image: Image.Image) -> int:
    value = int(image.getexif().get(ExifTags.Base.Orientation, 1))
    return value if value in ORIENTATION_AXES else 1


@contextmanager
def _named_errors(path: Path) -> Iterator[None]:
    """Every way a file fails to decode as one ImageReadError naming it and the reason."""
    try:
        yield
    except ImageReadError:
        raise
    except Image.DecompressionBombError:  # Pillow's guard fires in open(), before the size can be read
        raise ImageReadError(f"{path}: image too large (its header claims over {2 * PIXEL_CAP / 1e6:,.0f} "
                             f"megapixels); downscale or crop it first") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image (no format Pillow reads recognises it)") from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
        raise ImageReadError(f"{path}: cannot read ({error.strerror})") from None
    except (OSError, SyntaxError) as error:  # Pillow's decoders: "image file is truncated", "broken PNG file", …
        raise ImageReadError(f"{path}: truncated or corrupt image data ({error})") from None
    except ValueError as error:  # stored_pixels: pixel data i2i does not read (e.g. 32-bit integers beyond 16 bits)
        raise ImageReadError(f"{path}: {error}") from None
    except MemoryError:
        raise ImageReadError(f"{path}: too large to decode in memory") from None
    except Exception as error:  # a Pillow plugin's own exception on a mangled file (found by fuzzing: a TIFF
        # tag edited into a fraction gives TypeError from its decoder): a bad file, never a crash of the run
        raise ImageReadError(f"{path}: cannot decode ({type(error).__name__}: {error})") from None


def _header(path: Path, image: Image.Image) -> ImageHeader:
    width, height = image.size
    return ImageHeader(width, height, image.mode, deep_colour=_opencv_16bit(path, image) is not None,
                       transparency="transparency" in image.info)


def read_header(path: str | Path) -> ImageHeader:
    """The header of an image file (nothing is decoded). Raises ImageReadError."""
    path = Path(path)
    with _named_errors(path):
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as image:
            return _header(path, image)


@dataclass
class Decoded:
    """A decoded file, not yet converted: Pillow's image as it holds it (an RGB pixel in 4 bytes, a 1-bit
    one in 1), or an array (16-bit colour from OpenCV, 32-bit integer or float data), and the EXIF
    orientation it is shown with. `stored_pixels` converts any crop of it as `read_image` converts all."""

    stored: Image.Image | np.ndarray
    info: ImageInfo
    orientation: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) as shown."""
        height, width = self.stored.shape[:2] if isinstance(self.stored, np.ndarray) else self.stored.size[::-1]
        return (width, height) if ORIENTATION_AXES[self.orientation][0] else (height, width)

    def whole(self) -> np.ndarray:
        """All converted pixels as shown (H×W×C); Pillow's storage is released."""
        if isinstance(self.stored, np.ndarray):
            data = self.stored
        else:
            data = stored_pixels(self.stored)[0]
            self.close()
        data = data[:, :, None] if data.ndim == 2 else data
        return _ORIENTATIONS.get(self.orientation, np.asarray)(data)

    def close(self) -> None:
        if isinstance(self.stored, Image.Image):
            self.stored.close()


def decode(path: str | Path, check: Callable[[ImageHeader], None] | None = None) -> Decoded:
    """Decode a file without converting it; `check(header)` runs first and may raise (a memory budget).
    Raises ImageReadError naming the file and the reason."""
    path = Path(path)
    with _named_errors(path):
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        image = Image.open(path)
        try:
            header = _header(path, image)
            if check is not None:
                check(header)
            if header.deep_colour:
                grey, orientation = _opencv_16bit(path, image), _orientation(image)
                mode = image.mode
                image.close()
                data = _read_16bit_colour(path)
                return Decoded(data, ImageInfo(mode + ";16", 16, grayscale=bool(grey),
                                               has_alpha=data.shape[2] == 4), orientation)
            image.load()
            if image.mode in ("I", "F"):  # checked (and I narrowed to 16 bits) once, as a whole
                data, info = stored_pixels(image)
                return Decoded(data, info, _orientation(image))
            return Decoded(image, _info(image.mode, header.channels), _orientation(image))
        except BaseException:
            image.close()
            raise


def _info(mode: str, channels: int) -> ImageInfo:
    bits = 16 if mode.startswith("I") else 32 if mode == "F" else 8
    return ImageInfo(mode, bits, grayscale=channels in (1, 2), has_alpha=channels in (2, 4))


_read_limit = MemoryLimit()


def limit_reads(max_megapixels: float | None) -> None:
    """Make `read_image` refuse images over `max_megapixels` instead of checking their estimated memory
    (None: the estimate again); `i2i train` and `i2i eval` call it with their --max-megapixels."""
    global _read_limit
    try:
        _read_limit = MemoryLimit(max_megapixels=max_megapixels)
    except ValueError as error:
        raise I2IError(str(error)) from None


def read_image(path: str | Path, limit: MemoryLimit | None = None) -> tuple[np.ndarray, np.ndarray | None, ImageInfo]:
    """(rgb HxWx3 float32 in [0, 1], alpha HxW float32 or None, info). An image whose decode would not
    fit in `limit` (default: `limit_reads`'s) is refused from its header. Raises ImageReadError."""
    path = Path(path)
    limit = _read_limit if limit is None else limit

    def check(header: ImageHeader) -> None:
        refusal = limit.refusal(path, header.width, header.height, read_cost(header), "decode it")
        if refusal is not None:
            raise ImageReadError(refusal)

    return converted(path, decode(path, check))


def converted(path: str | Path, decoded: Decoded) -> tuple[np.ndarray, np.ndarray | None, ImageInfo]:
    """A decoded file as `read_image` returns it (its storage is released on the way)."""
    with _named_errors(Path(path)):
        data = decoded.whole()
        if data.shape[0] == 0 or data.shape[1] == 0:
            raise ImageReadError(f"{path}: image has zero size")
        floats = unit_float(data)
        del data
        return (*split_alpha(floats), decoded.info)


def split_alpha(data: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """H×W×C float in [0, 1] (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) → (rgb H×W×3 float32, alpha
    H×W float32 or None): alpha split off and the colour composited onto white, grey replicated."""
    alpha = None
    if data.shape[2] in (2, 4):  # LA or RGBA: split off alpha, composite the colour onto white
        alpha = data[:, :, -1]
        data = data[:, :, :-1] * alpha[:, :, None] + (1.0 - alpha[:, :, None])
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    return np.ascontiguousarray(data, dtype=np.float32), np.ascontiguousarray(alpha) if alpha is not None else None


def from_pil(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None, ImageInfo]:
    """A Pillow image in memory converted as `read_image` converts a file's pixels: (rgb, alpha, info).
    The pixels are taken as they are (no EXIF orientation). Raises ValueError for pixel data i2i
    does not read."""
    data, info = stored_pixels(image)
    return (*split_alpha(unit_float(data[:, :, None] if data.ndim == 2 else data)), info)


def stored_pixels(image: Image.Image) -> tuple[np.ndarray, ImageInfo]:
    """A Pillow image's pixels converted to what i2i reads (H×W or H×W×C, C = 2 grey + alpha, 3 RGB,
    4 RGBA): uint8, uint16 (16-bit and 16-bit-range integer data) or float32 in [0, 1] ("F")."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        image = image.convert("RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "La":
        image = image.convert("LA")
    array = np.asarray(image)
    if mode.startswith("I;16") or (mode == "I" and array.max(initial=0) <= 65535 and array.min(initial=0) >= 0):
        array, bits = array.astype(np.uint16), 16
    elif mode == "I":
        raise ValueError(f"32-bit integer data outside 0..65535 (range {array.min()}..{array.max()})")
    elif mode == "F":
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"floating-point image must hold values in [0, 1], found {array.min():.3g}..{array.max():.3g}")
        array, bits = array.astype(np.float32), 32
    elif array.dtype == np.uint8:
        bits = 8
    else:
        raise ValueError(f"unsupported pixel format {mode} ({array.dtype})")
    channels = 1 if array.ndim == 2 else array.shape[2]
    return array, ImageInfo(mode, bits, grayscale=channels in (1, 2), has_alpha=channels in (2, 4))


def unit_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 ÷ 255, uint16 ÷ 65535, float32 as it is: float32 in [0, 1] (a new array)."""
    values = pixels.astype(np.float32)
    if pixels.dtype.kind == "u":
        values /= 65535.0 if pixels.dtype == np.uint16 else 255.0
    return values


def resize_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """One float plane (e.g. alpha) resized with Pillow's bicubic filter in float mode, clipped to [0, 1]."""
    resized = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F").resize(
        (width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def quantise(image: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float in [0, 1] → uint8 or uint16 (rounded); integer arrays pass through unchanged."""
    if image.dtype in (np.uint8, np.uint16):
        return image
    maximum, dtype = (65535.0, np.uint16) if bits == 16 else (255.0, np.uint8)
    return np.round(np.clip(image, 0.0, 1.0) * maximum).astype(dtype)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma (Pillow's RGB → L weights), same dtype: how a grey input is written back."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.round(y).astype(rgb.dtype) if rgb.dtype.kind == "u" else y.astype(rgb.dtype)


def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8,
                grayscale: bool = False) -> None:
    """Write RGB (HxWx3: float in [0, 1], or uint8/uint16 written as they are) atomically; the format
    follows the extension.

    Alpha is kept where the format has it (PNG, TIFF, WebP) and dropped for JPEG/BMP. `bits=16` (or a
    uint16 array) writes 16-bit PNG/TIFF through OpenCV, as Pillow cannot write 16-bit colour; other
    formats get 8 bits. `grayscale` writes one luma channel (a grey input stays grey).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_EXTENSIONS:
        raise ValueError(f"{path}: cannot write {suffix!r} images; use one of {', '.join(WRITABLE_EXTENSIONS)}")
    bits = 16 if rgb.dtype == np.uint16 else bits if rgb.dtype.kind == "f" else 8
    if bits == 16 and suffix not in (".png", ".tif", ".tiff"):
        bits = 8
    pixels = quantise(rgb, bits)
    if pixels.dtype == np.uint16 and bits == 8:
        pixels = (pixels // 257).astype(np.uint8)
    planes = [luma(pixels)[:, :, None] if grayscale else pixels]
    if alpha is not None and suffix in (".png", ".tif", ".tiff", ".webp"):
        planes.append(quantise(alpha, bits).astype(pixels.dtype)[:, :, None])
    data = np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

    def encode(temporary: Path) -> None:
        if data.dtype == np.uint16:
            import cv2

            channels = data.shape[2]
            order = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(channels)
            ok, encoded = cv2.imencode(suffix, cv2.cvtColor(data, order) if order is not None else data)
            if not ok:
                raise OSError(f"OpenCV could not encode {path}")
            temporary.write_bytes(encoded.tobytes())
        else:
            image = Image.fromarray(data[:, :, 0] if data.shape[2] == 1 else data, modes[data.shape[2]])
            options = {"quality": 95} if suffix in (".jpg", ".jpeg", ".webp") else {}
            image.save(temporary, format=Image.registered_extensions()[suffix], **options)

    atomic_write(path, encode, suffix=suffix, durable=False)
