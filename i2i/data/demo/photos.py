"""Built-in super-resolution demo set: real photographs from scikit-image's bundled data.

scikit-image ships a few public-domain/CC photographs inside its wheel (`skimage/data`), so the demo
needs no download. Training and test photos are disjoint scenes; the test split holds photos the
model never sees (motorcycle_right is left out: it is the stereo twin of the training motorcycle_left).
Grey photos are written as they are (read back as three equal channels).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from i2i.errors import I2IError

TRAIN = ("astronaut.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png", "retina.jpg",
         "brick.png", "grass.png", "gravel.png", "moon.png", "cell.png", "page.png", "text.png")
TEST = ("chelsea.png", "rocket.jpg", "camera.png", "coins.png")


def skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError:
        raise I2IError("the photos demo copies scikit-image's bundled photographs: pip install scikit-image") from None
    return Path(skimage.__file__).parent / "data"


def make_photos(out_dir: str | Path) -> dict[str, int]:
    """Copy the photos into `out_dir/train` and `out_dir/test` (byte-identical files). Returns counts."""
    source, out = skimage_data_dir(), Path(out_dir)
    missing = [name for name in TRAIN + TEST if not (source / name).is_file()]
    if missing:
        raise I2IError(f"scikit-image's data folder {source} lacks {', '.join(missing)} (another version?)")
    for split, names in (("train", TRAIN), ("test", TEST)):
        (out / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            target = out / split / name
            temporary = target.with_name(f".{name}.i2i-tmp")
            shutil.copyfile(source / name, temporary)
            temporary.replace(target)  # atomic: a killed copy never leaves a truncated photo
    return {"train": len(TRAIN), "test": len(TEST)}
