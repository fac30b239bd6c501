"""Session files without Qt: reading, writing and checking them, each state's part of a session
(saved, changed, opened: the same state), and the bundled lessons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnviz import paths
from cnnviz.state.activations import ActivationsState
from cnnviz.state.functions import FunctionsState
from cnnviz.state.kernels import KernelPlaygroundState
from cnnviz.state.matching import MatchingState
from cnnviz.state.session import (
    EMBED_LIMIT,
    FORMAT,
    VERSION,
    Session,
    SessionError,
    decode_png,
    encode_png,
    lesson_files,
    parse_session,
    portable_path,
    read_session,
    resolve_path,
    write_session,
)
from cnnviz.state.siamese import SiameseSettings
from cnnviz.state.stepper import StepperState
from cnnviz.state.training import TrainingForm

PANES = ("kernels", "matching", "stepper", "functions", "training", "siamese", "activations")


def _file(tmp_path, d, name="s.cnnviz"):
    path = tmp_path / name
    path.write_text(json.dumps(d) if not isinstance(d, str) else d, encoding="utf-8")
    return path


def _minimal(**extra):
    return {"format": FORMAT, "version": VERSION, "pane": "kernels", **extra}


# -- the file ----------------------------------------------------------------------------------
def test_a_written_session_reads_back_the_same(tmp_path):
    s = Session(pane="stepper", image={"path": "samples:shapes.png"}, title="T",
                panes={"kernels": {"kernel": [[1, 0], [0, -1.5]], "kernel_name": "custom"}})
    written = write_session(tmp_path / "lesson", s)
    assert written.name == "lesson.cnnviz"
    back = read_session(written, PANES)
    assert back.to_dict() == s.to_dict()
    assert back.source == written.resolve()
    raw = json.loads(written.read_text())
    assert raw["format"] == "cnnviz-session" and raw["version"] == 1
    # one setting per line, each row of numbers on one line: a person can edit it
    assert "[1, 0]," in written.read_text()
    assert oct(written.stat().st_mode & 0o777) != oct(0o600)


def test_a_session_from_a_newer_cnnviz_says_so(tmp_path):
    path = _file(tmp_path, _minimal(version=VERSION + 1))
    with pytest.raises(SessionError, match="newer cnnviz.*Update cnnviz"):
        read_session(path, PANES)


@pytest.mark.parametrize("text, words", [
    ('{"format": "cnnviz-session", "version": 1,', "broken at line 1"),
    ("[1, 2]", "not a cnnviz session"),
    ('{"format": "something-else", "version": 1, "pane": "kernels"}', "not a cnnviz session"),
    ('{"format": "cnnviz-session", "version": "1", "pane": "kernels"}', "no valid version"),
    ('{"format": "cnnviz-session", "version": 1, "pane": 3}', "\"pane\" must be one of"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "nowhere"}', "\"pane\" must be one of"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "kernels", "panes": []}', "\"panes\" must map"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "kernels", "panes": {"x": {}}}', "no pane called"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "kernels", "image": 5}', "\"image\" must say"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "kernels", "image": {"path": 5}}', "must be text"),
    ('{"format": "cnnviz-session", "version": 1, "pane": "kernels", "x": NaN}', "NaN"),
])
def test_a_broken_or_hand_edited_file_gets_a_clear_message(tmp_path, text, words):
    with pytest.raises(SessionError, match=words):
        read_session(_file(tmp_path, text), PANES)


def test_a_missing_or_binary_file_gets_a_clear_message(tmp_path):
    with pytest.raises(SessionError, match="There is no session file"):
        read_session(tmp_path / "nope.cnnviz")
    path = tmp_path / "b.cnnviz"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(SessionError, match="not text"):
        read_session(path)


def test_bundled_files_are_named_so_they_open_from_a_wheel_too(tmp_path):
    shapes = paths.sample_image("shapes")
    assert portable_path(shapes) == f"samples:{shapes.name}"
    model = paths.resource("models", "digits_cnn.keras")
    assert portable_path(model) == "resources:models/digits_cnn.keras"
    assert resolve_path("samples:shapes.png") == paths.sample_images_dir() / "shapes.png"
    assert resolve_path("resources:models/digits_cnn.keras").is_file()
    assert resolve_path("pics/a.png", tmp_path) == tmp_path / "pics" / "a.png"
    other = tmp_path / "x.png"
    assert portable_path(other) == str(other.resolve())


def test_small_images_are_kept_inside_large_ones_not():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    text = encode_png(small)
    assert text is not None
    assert np.array_equal(decode_png(text), small)
    noise = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)  # ~480 KB as PNG
    assert encode_png(noise) is None and EMBED_LIMIT == 256 * 1024
    with pytest.raises(SessionError, match="damaged"):
        decode_png("not base64!!")
    with pytest.raises(SessionError, match="damaged"):
        decode_png("aGVsbG8=")  # base64 of "hello": not a PNG


# -- each state's part --------------------------------------------------------------------------
def _json_round(d):
    return json.loads(json.dumps(d))


def test_the_kernel_playground_round_trips():
    a = KernelPlaygroundState()
    a.choose_preset("laplacian")
    a.set_kernel(np.array([[0, 1.5, 0], [1, -4, 1], [0, 1, 0]]), "custom")
    a.update(convolve=True, color="rgb", display="abs", border="zero")
    saved = _json_round(a.to_session())
    b = KernelPlaygroundState()
    seen = []
    b.changed.connect(seen.append)
    b.apply_session(saved)
    assert b.to_session() == a.to_session()
    assert np.array_equal(b.kernel, a.kernel) and b.chosen_preset == "laplacian"
    assert seen  # the view hears of it


def test_matching_round_trips():
    a = MatchingState()
    a.set_pattern(np.eye(4) * 0.5, "a diagonal")
    a.update(method="ncc", scale=1.5, top_n=5, enlarge=1.4)
    b = MatchingState()
    b.apply_session(_json_round(a.to_session()))
    assert b.to_session() == a.to_session()
    assert b.pattern_name == "a diagonal" and b.scale == 1.5 and b.method == "ncc"


@pytest.mark.parametrize("setup", ["transpose", "upsample", "crop", "explicit", "playground"])
def test_the_stepper_round_trips(setup):
    a = StepperState()
    picture = np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)
    playground = np.array([[1.0, -1.0], [2.0, 0.0]])
    if setup == "transpose":
        a.set_source("typed")
        a.type_matrix("1 2\n3 4")
        a.type_kernel("1 1\n1 1")
        a.set_mode("transpose")
        a.update(stride=2)
    elif setup == "upsample":
        a.set_mode("upsample")
        a.update(factor=(3, 2), interpolation="bilinear")
    elif setup == "crop":
        a.set_picture(picture)
        a.set_source("crop_rgb")
        a.set_crop(5, 7, 6, 4)
    elif setup == "explicit":
        a.update(stride=(2, 1), padding="explicit", pads=((1, 2), (0, 3)), dilation=2, pad_mode="reflect")
    else:
        a.set_kernel_source("playground", playground)
    a.go_to(a.n_steps // 2)
    saved = _json_round(a.to_session())
    b = StepperState()
    b.set_picture(picture)
    b.apply_session(saved, playground=playground)
    assert b.to_session() == a.to_session()
    assert np.array_equal(b.image, a.image) and np.array_equal(b.kernel, a.kernel)
    assert b.position == a.position and b.n_steps == a.n_steps


def test_the_functions_pane_round_trips():
    a = FunctionsState()
    a.update(function="leaky_relu", alpha=0.7, x=-2.5)
    a.set_logits([0.5, -1.0, 3.0, 2.0])
    a.update(true_class=3)
    b = FunctionsState()
    b.apply_session(_json_round(a.to_session()))
    assert b.to_session() == a.to_session()


def test_training_settings_round_trip(tmp_path):
    a = TrainingForm(tmp_path)
    a.set_model("resnet_small")
    a.set_dataset("shapes")
    a.set_epochs(7)
    a.set_batch_size(8)
    a.set_seed(42)
    a.set_optimizer("sgd")
    a.set_learning_rate_text("0.01")
    a.set_augment(True)
    b = TrainingForm(tmp_path)
    b.apply_session(_json_round(a.to_session()))
    assert b.to_session() == a.to_session()


def test_activations_keep_the_model_file_and_the_choices(tmp_path):
    submitted = []
    a = ActivationsState(lambda *args: submitted.append(args))
    model = paths.resource("models", "digits_cnn.keras")
    a.open_model(model)  # not started yet: it waits
    a.layer = "conv2d_1"
    a.normalization = "layer"
    a.compare_with = str(paths.sample_image("digit_7"))
    saved = _json_round(a.to_session())
    assert saved["model"] == "resources:models/digits_cnn.keras"
    assert saved["compare_with"] == "samples:digit_7.png"
    b = ActivationsState(lambda *args: submitted.append(args))
    plan = b.apply_session(saved)
    assert b.pending == (str(model), False)
    assert plan["layer"] == "conv2d_1" and plan["normalization"] == "layer" and plan["missing"] == ""
    assert plan["compare_with"] == paths.sample_image("digit_7")


def test_a_missing_model_is_said_and_nothing_is_opened(tmp_path):
    b = ActivationsState(lambda *args: None)
    plan = b.apply_session({"model": str(tmp_path / "gone.keras"), "compare_with": "samples:nope.png"})
    assert "gone.keras" in plan["missing"] and "nope.png" in plan["missing"]
    assert b.pending is None


@pytest.mark.parametrize("make, d, words", [
    (KernelPlaygroundState, {"kernel": [[1, 2], [3]]}, "rows of numbers"),
    (KernelPlaygroundState, {"kernel": "sobel"}, "rows of numbers"),
    (KernelPlaygroundState, {"kernel": [[1] * 16] * 16}, "at most 15×15"),
    (KernelPlaygroundState, {"display": "loud"}, "must be one of"),
    (KernelPlaygroundState, {"haar_size": 99}, "from 4 to 15"),
    (KernelPlaygroundState, {"kernel_name": "nonsense"}, "preset's name"),
    (MatchingState, {"scale": 50}, "from 0.2 to 3"),
    (MatchingState, {"top_n": 2.5}, "whole number"),
    (MatchingState, {"method": True}, "must be one of"),
    (StepperState, {"stride": [0, 1]}, "whole numbers from 1 to 64"),
    (StepperState, {"mode": "fold"}, "must be one of"),
    (StepperState, {"matrix_text": "1 2\n3"}, "cannot be read"),
    (StepperState, {"position": -1}, "from 0"),
    (StepperState, {"rate": 2}, "from 0 to 0.95"),
    (lambda: TrainingForm("/tmp"), {"model": "gpt"}, "must be one of"),
    (lambda: TrainingForm("/tmp"), {"epochs": 0}, "from 1 to"),
    (lambda: TrainingForm("/tmp"), {"model": "siamese_mnist", "dataset": "digits"}, "must be one of"),
    (lambda: ActivationsState(lambda *a: None), {"normalization": 3}, "must be one of"),
    (FunctionsState, {"logits": [1.0]}, "at least two"),
    (FunctionsState, {"logits": [1.0, 2.0], "true_class": 5}, "from 0 to 1"),
    (FunctionsState, {"function": "magic"}, "must be one of"),
])
def test_a_bad_value_says_which_and_changes_nothing(make, d, words):
    state = make()
    before = json.dumps(state.to_session())
    with pytest.raises(SessionError, match=words):
        state.apply_session(d)
    assert json.dumps(state.to_session()) == before


# -- the lessons --------------------------------------------------------------------------------
def test_the_lessons_cover_the_chapters_and_each_opens_on_fresh_states(tmp_path):
    lessons = lesson_files()
    titles = []
    for path in lessons:
        s = read_session(path, PANES)
        titles.append(s.title)
        assert path.with_suffix(".md").read_text().strip(), f"{path.name} has no notes"
        assert s.image is not None and resolve_path(s.image["path"]).is_file(), path.name
        KernelPlaygroundState().apply_session(s.panes["kernels"])
        MatchingState().apply_session(s.panes["matching"])
        StepperState().apply_session(s.panes["stepper"])
        FunctionsState().apply_session(s.panes.get("functions", {}))
        TrainingForm(tmp_path).apply_session(s.panes["training"])
        plan = ActivationsState(lambda *a: None).apply_session(s.panes["activations"])
        assert plan["missing"] == "", path.name
        if "siamese" in s.panes:
            siamese = SiameseSettings()
            siamese.apply_session(s.panes["siamese"])
            assert resolve_path(siamese.model).is_file(), path.name
    for chapter in ("Ch. 1", "Ch. 2", "Ch. 3", "Ch. 4", "Ch. 5", "Ch. 6", "Ch. 7"):
        assert any(t.startswith(chapter) for t in titles), chapter
    index = (paths.lessons_dir() / "index.md").read_text()
    assert "Chapter 5" in index and "siamese" in index


def test_parse_session_accepts_a_minimal_one():
    s = parse_session(json.dumps(_minimal()), PANES)
    assert s.pane == "kernels" and s.panes == {} and s.image is None
