"""Offline datasets, adaptation to a model's input, and Listing 4.4 augmentation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnviz.ml import datasets as data


def test_bundled_digits_are_real_mnist_and_offline():
    ds = data.load("digits")
    assert ds.x_train.shape == (5000, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_train, minlength=10).tolist() == [500] * 10
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert "LeCun" in ds.attribution and "CC BY-SA 3.0" in ds.attribution
    assert not ds.flip_ok  # a mirrored digit is not a digit
    # Real strokes: ink on a black background, about 19 % of the pixels lit.
    lit = (ds.x_train > 127).mean()
    assert 0.08 < lit < 0.3 and ds.x_train[:, 0, :].max() < 50
    # Shuffled with the seed, the same each time.
    assert np.array_equal(data.load("digits", seed=3).y_train, data.load("digits", seed=3).y_train)
    assert not np.array_equal(data.load("digits", seed=3).y_train, ds.y_train)


def test_shapes_are_seeded_balanced_and_any_size():
    a = data.load("shapes", n=80, size=40, seed=5)
    b = data.load("shapes", n=80, size=40, seed=5)
    assert np.array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (80, 40, 40, 1)
    assert np.bincount(a.y_train).tolist() == [20] * 4
    assert a.class_names == ["circle", "square", "triangle", "hexagon"]
    colour = data.load("shapes", n=4, size=128, channels=3, seed=1)
    assert colour.input_shape == (128, 128, 3)
    with pytest.raises(ValueError, match="at least 8"):
        data.load("shapes", size=4)


def test_shapes_differ_by_kind():
    """A figure's area relative to its bounding circle tells the kinds apart (triangle smallest)."""
    ds = data.load("shapes", n=200, size=64, seed=0, noise=0.0)
    fill = []
    for img in ds.x_train[..., 0]:
        mask = (img > 110).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        c = max(contours, key=cv2.contourArea)
        (_, _), r = cv2.minEnclosingCircle(c)
        fill.append(cv2.contourArea(c) / (np.pi * r * r))
    fill = np.array(fill)
    means = [fill[ds.y_train == k].mean() for k in range(4)]
    circle, square, triangle, hexagon = means
    assert triangle < square < hexagon < circle


def test_segmentation_masks_are_trimaps_aligned_with_the_figures():
    ds = data.load("segmentation", n=6, size=64, seed=2)
    assert ds.task == "segmentation" and ds.class_names == ["object", "border", "background"]
    assert ds.y_train.shape == (6, 64, 64) and set(np.unique(ds.y_train)) <= {0, 1, 2}
    for img, mask in zip(ds.x_train, ds.y_train):
        brightness = img.mean(axis=2)
        assert brightness[mask == 0].mean() > brightness[mask == 2].mean() + 40
        # The border band separates object from background: no object pixel touches background.
        obj = (mask == 0).astype(np.uint8)
        grown = cv2.dilate(obj, np.ones((3, 3), np.uint8))
        assert not np.any((grown > 0) & (mask == 2))


def test_digit_pairs_are_balanced_and_labelled_right():
    ds = data.load("digit_pairs", n=200, seed=1)
    assert ds.task == "pairs" and ds.x_train.shape == (200, 2, 28, 28, 1)
    assert ds.y_train.mean() == pytest.approx(0.5)
    digits = data._bundled_digits()
    lookup = {img.tobytes(): int(label) for img, label in zip(*digits)}
    for pair, same in zip(ds.x_train[:40], ds.y_train[:40]):
        a, b = (lookup[pair[k, ..., 0].tobytes()] for k in range(2))
        assert (a == b) == bool(same)


def _write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls, value in (("cats", 40), ("dogs", 200)):
        for i in range(3):
            _write(tmp_path / cls / f"{i}.png", np.full((20, 30, 3), value, np.uint8) + rng.integers(0, 5, (20, 30, 3), dtype=np.uint8))
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_skips_unreadable_files_and_counts_them(image_folder):
    ds = data.load("folder", path=image_folder, size=16, channels=3)
    assert ds.class_names == ["cats", "dogs"]
    x_train, y_train = ds.read()  # a folder is decoded when asked, not when listed
    assert x_train.shape == (6, 16, 16, 3)
    assert sorted(y_train.tolist()) == [0, 0, 0, 1, 1, 1]
    assert len(ds.skipped) == 2
    assert {p.split("/")[-1] for p, _ in ds.skipped} == {"broken.png", "notes.txt"}
    assert ds.messages and "Skipped 2 file(s)" in ds.messages[0]
    gray = data.load("folder", path=image_folder, size=(8, 12), channels=1)
    assert gray.read()[0].shape == (6, 8, 12, 1)


def test_folder_with_one_class_is_refused(tmp_path):
    _write(tmp_path / "only" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="needs at least two classes"):
        data.load("folder", path=tmp_path)
    # A second class folder with nothing readable does not count as a class.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="at least two classes"):
        data.load("folder", path=tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        data.load("folder", path=tmp_path / "missing")


def test_keras_datasets_are_refused_plainly_when_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: nothing downloaded
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert not data.is_cached(name)
        with pytest.raises(data.DatasetUnavailableError, match="not downloaded.*'digits'"):
            data.load(name)


def test_a_cached_keras_file_is_recognised(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache = tmp_path / "datasets"
    cache.mkdir()
    rng = np.random.default_rng(0)
    # The file keras.datasets.mnist caches (loading it runs Keras's hash check, not ours).
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 255, (12, 28, 28), dtype=np.uint8),
             y_train=np.arange(12) % 10, x_test=np.zeros((3, 28, 28), np.uint8), y_test=np.arange(3))
    assert data.keras_cache_dirs() == [cache]
    assert data.is_cached("mnist") and not data.is_cached("cifar10")


def test_adapt_and_normalize_fit_any_classifier():
    ds = data.load("digits")
    x, y = data.model_arrays(ds, ds.x_train[:5], ds.y_train[:5], (128, 128, 1))
    assert x.shape == (5, 128, 128, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9  # ÷255
    assert y.shape == (5, 10) and np.array_equal(y.argmax(1), ds.y_train[:5])
    rgb = data.adapt_images(ds.x_train[:2], (32, 32, 3))
    assert rgb.shape == (2, 32, 32, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])
    back = data.adapt_images(rgb, (32, 32, 1))
    assert np.abs(back[..., 0].astype(int) - rgb[..., 0]).max() <= 1
    seg = data.load("segmentation", n=2, size=32)
    sx, sy = data.model_arrays(seg, seg.x_train, seg.y_train, (64, 64, 3))
    assert sx.shape == (2, 64, 64, 3) and sy.shape == (2, 64, 64, 3)
    assert np.array_equal(np.unique(sy.sum(-1)), [1.0])  # nearest-neighbour masks stay one-hot


def test_augmentation_is_seeded_and_changes_geometry_only():
    ds = data.load("shapes", n=4, size=48, seed=0, noise=0.0)
    img = ds.x_train[0]
    a = data.augment_preview(img, 9, seed=11)
    b = data.augment_preview(img, 9, seed=11)
    assert a.shape == (9, 48, 48, 1) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, data.augment_preview(img, 9, seed=12))
    assert all(not np.array_equal(s, img) for s in a)
    # Nearest fill: no black corners appear, values stay in the original range.
    assert a.min() >= img.min() and a.max() <= img.max()
    # A no-op augmentation returns the image unchanged.
    none = data.Augmentation(rotation=0, shift=0, shear=0, zoom=0, horizontal_flip=False)
    assert np.array_equal(data.augment_preview(img, 2, aug=none)[0], img)
    # A flip alone mirrors the image exactly.
    flip = data.Augmentation(rotation=0, shift=0, shear=0, zoom=0, horizontal_flip=True)
    outs = data.augment_preview(img, 8, seed=0, aug=flip)
    assert any(np.array_equal(o, img[:, ::-1]) for o in outs)
    # Masks move with their images.
    seg = data.load("segmentation", n=3, size=32, seed=4)
    x, m = data.augment(seg.x_train, np.random.default_rng(0), masks=seg.y_train)
    for img2, mask in zip(x, m):
        bright = img2.mean(axis=2)
        assert bright[mask == 0].mean() > bright[mask == 2].mean() + 30


def test_compatibility_table():
    assert data.default_for("mnist_cnn") == "digits"
    assert data.compatible("siamese_mnist") == ("digit_pairs",)
    assert data.compatible("unet_small") == ("segmentation",)
    for model in ("mnist_fast", "mnist_cnn", "alexnet_small", "small_cnn"):
        assert all(data.task_of(d) == "classification" for d in data.compatible(model))
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet")


# --- image folders stream --------------------------------------------------------------------


def test_a_folder_is_listed_by_name_not_read(tmp_path, monkeypatch):
    for cls in ("a", "b", "c"):
        for i in range(30):
            _write(tmp_path / cls / f"{i:02d}.png", np.full((6, 6), 8 * i, np.uint8))
    opened = []
    real = data._read_image
    monkeypatch.setattr(data, "_read_image", lambda p, gray: opened.append(p) or real(p, gray))
    ds = data.load("folder", path=tmp_path, size=8)
    assert len(ds) == 90 and ds.class_names == ["a", "b", "c"]
    assert len(opened) == 3  # one file per class proves it has a readable image
    assert not hasattr(ds, "x_train")  # no array of the whole folder
    x, y = ds.read(4)  # a preview decodes what it shows
    assert x.shape == (4, 8, 8, 3) and y.tolist() == [0, 0, 0, 0] and len(opened) == 7


def test_a_folder_with_no_readable_image_says_so(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "a.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
        (tmp_path / cls / "b.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"at least two classes with readable images.* has 0 \(none\)"):
        data.load("folder", path=tmp_path)


def test_nested_subfolders_belong_to_their_class(tmp_path):
    _write(tmp_path / "cats" / "a.png", np.zeros((5, 5), np.uint8))
    _write(tmp_path / "cats" / "indoor" / "b.png", np.zeros((5, 5), np.uint8))
    _write(tmp_path / "cats" / "indoor" / "sofa" / "c.jpg", np.zeros((5, 5), np.uint8))
    _write(tmp_path / "cats" / ".thumbs" / "d.png", np.zeros((5, 5), np.uint8))  # hidden: left out
    _write(tmp_path / "dogs" / "x" / "y" / "e.png", np.full((5, 5), 255, np.uint8))
    ds = data.load("folder", path=tmp_path, size=4)
    names = sorted(Path(f).name for f in ds.files)
    assert names == ["a.png", "b.png", "c.jpg", "e.png"] and ds.class_names == ["cats", "dogs"]
    assert sorted(ds.labels.tolist()) == [0, 0, 0, 1]


@pytest.fixture
def mixed_folder(tmp_path):
    """Sizes and modes mixed: gray, RGB, RGBA (half transparent), 16-bit gray PNG, gray BMP,
    and a TIFF (read by OpenCV, not TensorFlow). Every image is one flat value per class."""
    for cls, v in (("dark", 40), ("light", 200)):
        d = tmp_path / "imgs" / cls
        _write(d / "gray.png", np.full((20, 31), v, np.uint8))
        _write(d / "rgb.jpg", np.full((50, 40, 3), v, np.uint8))
        rgba = np.dstack([np.full((12, 12, 3), v, np.uint8), np.full((12, 12), 255, np.uint8)])
        rgba[:, 6:, 3] = 0  # the right half is transparent: shown over white
        _write(d / "rgba.png", rgba)
        _write(d / "deep.png", np.full((9, 17), v * 257, np.uint16))  # 16 bit: v * 257 → v
        _write(d / "gray.bmp", np.full((16, 16), v, np.uint8))
        _write(d / "colour.tif", np.full((16, 16, 3), v, np.uint8))
    return tmp_path / "imgs"


def _epoch(stream):
    stream.begin_epoch()
    xs, ys = [], []
    for x, y in stream.dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys), stream.end_epoch()


@pytest.mark.parametrize("channels", [3, 1])
def test_mixed_sizes_and_modes_stream_as_the_models_input(mixed_folder, channels):
    ds = data.load("folder", path=mixed_folder, size=16, channels=channels)
    assert len(ds) == 12
    stream = ds.stream((16, 16, channels), 5, shuffle=False)
    x, y, skipped = _epoch(stream)
    assert skipped == [] and x.shape == (12, 16, 16, channels) and x.dtype == np.float32
    assert y.shape == (12, 2) and np.array_equal(y.sum(1), np.ones(12))
    files = [Path(f).name for f in ds.files]
    for img, label, name in zip(x, y.argmax(1), files):
        v = (40, 200)[label] / 255
        if name == "rgba.png":  # opaque half as drawn, transparent half white
            assert np.allclose(img[:, :4], v, atol=2 / 255) and np.allclose(img[:, -4:], 1.0, atol=2 / 255)
        else:
            assert np.allclose(img, v, atol=2 / 255), name
    # The same pixels as decoding the files one by one with OpenCV (what a preview shows).
    x_cv, _ = ds.read()
    assert np.abs(x_cv / 255 - x).max() <= 3 / 255


def test_a_file_deleted_while_streaming_is_skipped_and_counted(mixed_folder):
    ds = data.load("folder", path=mixed_folder, size=8)
    train, val = ds.split(0.25, seed=0)
    assert (len(train), len(val)) == (9, 3)
    stream = train.stream((8, 8, 3), 4, seed=1)
    x1, _, skipped = _epoch(stream)
    assert len(x1) == 9 and skipped == []
    gone = Path(train.files[0])
    gone.unlink()
    x2, _, skipped = _epoch(stream)
    assert len(x2) == 8
    assert [Path(p).name for p, _ in skipped] == [gone.name] and "disappeared" in skipped[0][1]
    assert len(ds.skipped) == 1 and "Skipped 1 file(s)" in ds.messages[0]  # shared with the parts
    _, _, again = _epoch(stream)
    assert again == []  # counted once


def test_a_broken_file_found_while_streaming_has_its_reason(image_folder):
    ds = data.load("folder", path=image_folder, size=8)
    assert [Path(p).name for p, _ in ds.skipped] == ["notes.txt"]  # by its name, when listed
    x, _, skipped = _epoch(ds.stream((8, 8, 3), 4, seed=0))
    assert len(x) == 6 and [Path(p).name for p, _ in skipped] == ["broken.png"]
    assert "truncated" in skipped[0][1] or "Cannot open" in skipped[0][1]


def test_the_disk_cache_serves_later_epochs(mixed_folder, tmp_path):
    ds = data.load("folder", path=mixed_folder, size=8, cache=tmp_path / "cache")
    stream = ds.stream((8, 8, 3), 4, seed=0)
    x1, y1, _ = _epoch(stream)
    assert list((tmp_path / "cache").glob("cnnviz-all-*.index"))
    Path(ds.files[0]).unlink()  # served from the cache now
    x2, y2, skipped = _epoch(stream)
    assert len(x2) == len(x1) == 12 and skipped == []
    order1 = np.lexsort(x1.reshape(12, -1).T)
    order2 = np.lexsort(x2.reshape(12, -1).T)
    assert np.array_equal(x1[order1], x2[order2])


def test_augmentation_runs_in_the_stream(mixed_folder):
    ds = data.load("folder", path=mixed_folder, size=16)
    plain, _, _ = _epoch(ds.stream((16, 16, 3), 12, shuffle=False))
    flip = data.Augmentation(rotation=0, shift=0.3, shear=0, zoom=0, horizontal_flip=False)
    moved, _, _ = _epoch(ds.stream((16, 16, 3), 12, shuffle=False, augmentation=flip))
    rgba = [Path(f).name for f in ds.files].index("rgba.png")
    assert not np.array_equal(plain[rgba], moved[rgba])  # the half-white image shifted


def test_a_preview_of_a_folder_decodes_only_what_it_shows(image_folder):
    from cnnviz.ml.training_jobs import preview_from

    ds = data.load("folder", path=image_folder, size=16, max_per_class=4)
    preview = preview_from(ds, seed=0)
    assert preview["images"].shape == (4 + 12, 16, 16, 3) and preview["dataset"] == "folder"
