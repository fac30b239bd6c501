"""Where the bundled resources and sample images are, from a checkout or an installed wheel.

A wheel carries them inside the package as ``cnnviz/_data/resources`` and
``cnnviz/_data/sample_images``; a source checkout has them at the top of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"cnnviz cannot find its bundled folder '{name}'; the installation looks incomplete"
    )


@cache
def resources_dir() -> Path:
    """The folder of bundled resources (demo models, datasets, icons)."""
    return _find("resources")


@cache
def sample_images_dir() -> Path:
    """The folder of bundled sample images."""
    return _find("sample_images")


def resource(*parts: str) -> Path:
    """Path of one bundled resource, e.g. ``resource("models", "digits_cnn.keras")``."""
    return resources_dir().joinpath(*parts)


def sample_images() -> list[Path]:
    """The bundled sample images, sorted by name."""
    folder = sample_images_dir()
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def sample_image(name: str) -> Path:
    """One bundled sample image by file name (with or without its suffix)."""
    for p in sample_images():
        if p.name == name or p.stem == name:
            return p
    raise FileNotFoundError(f"no bundled sample image called '{name}'")


def default_sample_image() -> Path:
    """The image the app opens when started without one."""
    try:
        return sample_image("shapes")
    except FileNotFoundError:
        images = sample_images()
        if not images:
            raise FileNotFoundError("no bundled sample images found") from None
        return images[0]


def lessons_dir() -> Path:
    """The folder of bundled lessons (``.cnnviz`` sessions and their notes)."""
    return resources_dir() / "lessons"
