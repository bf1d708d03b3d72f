"""The reference releases of pix2pix and CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix): data sets and
pretrained generators that `i2i data download` and `i2i weights download` fetch.

Names: a name that exists in both releases (facades, maps, sat2map, …) means the pix2pix one; the
CycleGAN one is `cyclegan/NAME`. Every other name is plain.

Files come from `http://efrosgans.eecs.berkeley.edu`; the environment variable `I2I_DOWNLOAD_BASE_URL`
replaces that prefix (a mirror with the same paths below it, or a local server in the tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from i2i.errors import I2IError

DEFAULT_BASE_URL = "http://efrosgans.eecs.berkeley.edu"
BASE_URL_VARIABLE = "I2I_DOWNLOAD_BASE_URL"

# The folders a finished download holds, by kind of data set: what i2i's readers look for.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "unpaired": ("trainA", "trainB", "testA", "testB"),  # a folder of images per domain and split
    "paired": ("train", "val", "test"),                  # A|B side by side in one image per pair
    "single": ("train", "val", "test"),                  # plain photos, no second domain
    # Super-resolution: folders of HR images (the LR inputs are made on the fly); `i2i train srgan
    # --data DIR` finds DIV2K's training folder and its validation folder as the held-out split.
    "div2k_train": ("DIV2K_train_HR",),
    "div2k_valid": ("DIV2K_valid_HR",),
    "sr_benchmark": ("Set5", "Set14", "B100", "Urban100"),  # each with HR/ (and LR_bicubic/)
}


def base_url(host: str | None = None) -> str:
    """The server prefix: `I2I_DOWNLOAD_BASE_URL` if set (a mirror holding every catalog path), else
    `host`, else the reference's server."""
    url = os.environ.get(BASE_URL_VARIABLE, "").strip() or host or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise I2IError(f"{BASE_URL_VARIABLE} must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class DataSet:
    path: str                   # below the base URL
    kind: str                   # a key of LAYOUTS
    domains: tuple[str, str]    # what A and B hold (trainA/trainB, or the left/right image halves)
    approx_size: str            # of the archive, for the listing only
    note: str                   # what it is and how i2i trains on it
    host: str | None = None     # server, when not the pix2pix/CycleGAN release's

    @property
    def url(self) -> str:
        return f"{base_url(self.host)}/{self.path}"


def _cyclegan(name: str, domains: tuple[str, str], approx_size: str, note: str) -> DataSet:
    return DataSet(f"cyclegan/datasets/{name}.zip", "unpaired", domains, approx_size, note)


def _pix2pix(name: str, domains: tuple[str, str], approx_size: str, note: str) -> DataSet:
    return DataSet(f"pix2pix/datasets/{name}.tar.gz", "paired", domains, approx_size, note)


_BTOA = "for B → A train with --set data.direction=BtoA"

DATASETS: dict[str, DataSet] = {
    # pix2pix: one JPEG per pair, A on the left half, B on the right; train/ val/ (test/).
    "facades": _pix2pix("facades", ("photo", "labels"), "29 MB",
                        f"CMP Facades, 400 train pairs; {_BTOA} (labels → photo)"),
    "cityscapes": _pix2pix("cityscapes", ("photo", "labels"), "99 MB",
                           f"Cityscapes street scenes, 2975 train pairs; {_BTOA} (labels → photo)"),
    "maps": _pix2pix("maps", ("satellite", "map"), "239 MB", "Google Maps, 1096 train pairs"),
    "edges2shoes": _pix2pix("edges2shoes", ("edges", "shoes"), "2 GB", "UT Zappos50K shoes with HED edges"),
    "edges2handbags": _pix2pix("edges2handbags", ("edges", "handbags"), "8 GB",
                               "Amazon handbags with HED edges"),
    "night2day": _pix2pix("night2day", ("night", "day"), "1.9 GB",
                          f"Transient Attributes webcams; {_BTOA} (day → night)"),
    # CycleGAN: a folder per domain and split, trainA/ trainB/ testA/ testB/; the first --domains name is A.
    "horse2zebra": _cyclegan("horse2zebra", ("horse", "zebra"), "117 MB", "ImageNet photos"),
    "apple2orange": _cyclegan("apple2orange", ("apple", "orange"), "78 MB", "ImageNet photos"),
    "summer2winter_yosemite": _cyclegan("summer2winter_yosemite", ("summer", "winter"), "126 MB",
                                        "Flickr photos of Yosemite"),
    "monet2photo": _cyclegan("monet2photo", ("monet", "photo"), "291 MB",
                             "Monet paintings, Flickr landscapes"),
    "cezanne2photo": _cyclegan("cezanne2photo", ("cezanne", "photo"), "267 MB",
                               "Cézanne paintings, Flickr landscapes"),
    "ukiyoe2photo": _cyclegan("ukiyoe2photo", ("ukiyoe", "photo"), "279 MB",
                              "Ukiyo-e prints, Flickr landscapes"),
    "vangogh2photo": _cyclegan("vangogh2photo", ("vangogh", "photo"), "292 MB",
                               "Van Gogh paintings, Flickr landscapes"),
    "iphone2dslr_flower": _cyclegan("iphone2dslr_flower", ("iphone", "dslr"), "324 MB",
                                    "flower photos: phone camera vs. DSLR with shallow depth of field"),
    "ae_photos": _cyclegan("ae_photos", ("photo", "photo"), "?",
                           "photos to try the style_* pretrained models on"),
    "cyclegan/facades": _cyclegan("facades", ("photo", "labels"), "34 MB", "CMP Facades as unpaired domains"),
    "cyclegan/maps": _cyclegan("maps", ("satellite", "map"), "1.4 GB", "Google Maps as unpaired domains"),
    # Super-resolution (srgan): DIV2K (Agustsson & Timofte 2017, 800 train + 100 validation 2K photos) from
    # ETH Zurich, and the Set5/Set14/B100/Urban100 benchmark bundle of the EDSR authors (SNU).
    "div2k": DataSet("DIV2K/DIV2K_train_HR.zip", "div2k_train", ("LR", "HR"), "3.5 GB",
                     "DIV2K training HR photos: i2i train srgan --data DIR", host="http://data.vision.ee.ethz.ch/cvl"),
    "div2k_valid": DataSet("DIV2K/DIV2K_valid_HR.zip", "div2k_valid", ("LR", "HR"), "428 MB",
                           "DIV2K validation HR photos (download into the same DIR: the held-out split)",
                           host="http://data.vision.ee.ethz.ch/cvl"),
    "sr_benchmark": DataSet("research/EDSR/benchmark.tar", "sr_benchmark", ("LR", "HR"), "240 MB",
                            "Set5, Set14, B100, Urban100: i2i eval RUN --data DIR/Set5/HR", host="https://cv.snu.ac.kr"),
    # The reference's own smoke-test sets: a handful of images each.
    "mini": _cyclegan("mini", ("A", "B"), "tiny", "smoke test for CycleGAN"),
    "mini_pix2pix": DataSet("cyclegan/datasets/mini_pix2pix.zip", "paired", ("A", "B"), "tiny",
                            "smoke test for pix2pix"),
    "mini_colorization": DataSet("cyclegan/datasets/mini_colorization.zip", "single", ("photo", "photo"),
                                 "tiny", "smoke test for the reference's colorization model (no i2i method)"),
}

# Names the release does not serve, with what to do instead.
UNAVAILABLE_DATASETS: dict[str, str] = {
    "cyclegan/cityscapes": (
        "cyclegan/cityscapes is not redistributed (Cityscapes licence): register at "
        "https://www.cityscapes-dataset.com, download gtFine_trainvaltest.zip and "
        "leftImg8bit_trainvaltest.zip, and build it with datasets/prepare_cityscapes_dataset.py of "
        "junyanz/pytorch-CycleGAN-and-pix2pix; "
        "the paired pix2pix version is `i2i data download cityscapes DIR`"
    ),
}


@dataclass(frozen=True)
class Pretrained:
    path: str                   # below the base URL
    method: str                 # "cyclegan" or "pix2pix": how the generator was trained
    domains: tuple[str, str]    # source → target of the one generator in the file
    architecture: str           # for the listing; the importer infers it from the weights

    @property
    def url(self) -> str:
        return f"{base_url()}/{self.path}"


_RESNET = "ResNet, 9 blocks, ngf 64, instance norm"
_UNET = "U-Net 256, ngf 64, batch norm"


def _cyclegan_model(name: str, domains: tuple[str, str]) -> Pretrained:
    return Pretrained(f"cyclegan/pretrained_models/{name}.pth", "cyclegan", domains, _RESNET)


def _pix2pix_model(name: str, domains: tuple[str, str]) -> Pretrained:
    return Pretrained(f"pix2pix/models-pytorch/{name}.pth", "pix2pix", domains, _UNET)


PRETRAINED: dict[str, Pretrained] = {
    # pix2pix (U-Net generators).
    "edges2shoes": _pix2pix_model("edges2shoes", ("edges", "shoes")),
    "sat2map": _pix2pix_model("sat2map", ("satellite", "map")),
    "map2sat": _pix2pix_model("map2sat", ("map", "satellite")),
    "facades_label2photo": _pix2pix_model("facades_label2photo", ("labels", "photo")),
    "day2night": _pix2pix_model("day2night", ("day", "night")),
    # CycleGAN (ResNet generators, one direction per file).
    "apple2orange": _cyclegan_model("apple2orange", ("apple", "orange")),
    "orange2apple": _cyclegan_model("orange2apple", ("orange", "apple")),
    "summer2winter_yosemite": _cyclegan_model("summer2winter_yosemite", ("summer", "winter")),
    "winter2summer_yosemite": _cyclegan_model("winter2summer_yosemite", ("winter", "summer")),
    "horse2zebra": _cyclegan_model("horse2zebra", ("horse", "zebra")),
    "zebra2horse": _cyclegan_model("zebra2horse", ("zebra", "horse")),
    "monet2photo": _cyclegan_model("monet2photo", ("monet", "photo")),
    "style_monet": _cyclegan_model("style_monet", ("photo", "monet")),
    "style_cezanne": _cyclegan_model("style_cezanne", ("photo", "cezanne")),
    "style_ukiyoe": _cyclegan_model("style_ukiyoe", ("photo", "ukiyoe")),
    "style_vangogh": _cyclegan_model("style_vangogh", ("photo", "vangogh")),
    "cyclegan/sat2map": _cyclegan_model("sat2map", ("satellite", "map")),
    "cyclegan/map2sat": _cyclegan_model("map2sat", ("map", "satellite")),
    "cityscapes_photo2label": _cyclegan_model("cityscapes_photo2label", ("photo", "labels")),
    "cityscapes_label2photo": _cyclegan_model("cityscapes_label2photo", ("labels", "photo")),
    "facades_photo2label": _cyclegan_model("facades_photo2label", ("photo", "labels")),
    "cyclegan/facades_label2photo": _cyclegan_model("facades_label2photo", ("labels", "photo")),
    "iphone2dslr_flower": _cyclegan_model("iphone2dslr_flower", ("iphone", "dslr")),
}


def dataset(name: str) -> DataSet:
    """The catalog entry for `name`; raises I2IError naming the choices (or why one is not served)."""
    if name in UNAVAILABLE_DATASETS:
        raise I2IError(UNAVAILABLE_DATASETS[name])
    if name not in DATASETS:
        raise I2IError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)} "
                       f"(`i2i data download --list` describes them)")
    return DATASETS[name]


def pretrained(name: str) -> Pretrained:
    """The catalog entry for `name`; raises I2IError naming the choices."""
    if name not in PRETRAINED:
        raise I2IError(f"unknown pretrained model {name!r}; choose one of: {', '.join(PRETRAINED)} "
                       f"(`i2i weights list` describes them)")
    return PRETRAINED[name]
