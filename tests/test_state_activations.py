"""The activations pane's state, driven with a fake ``submit``: no Qt, no TensorFlow."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from cnnviz.ml.inspect import (
    JOBS,
    ActivationResult,
    AdoptRequest,
    ComputeRequest,
    FiltersRequest,
    FiltersResult,
    GradCam,
    InputActivations,
    LayerRow,
    LoadFailed,
    LoadRefused,
    LoadRequest,
    ModelInfo,
    Prediction,
)
from cnnviz.state.activations import (
    ActivationsState,
    can_draw,
    choose_demo,
    class_choices,
    compare_defaults,
    compare_note,
    default_scaling,
    filter_channel_choices,
    input_note,
    layer_cells,
    levels_for,
    looks_like_a_digit,
    page_text,
    prediction_rows,
)


class FakeWorker:
    """Records submissions; a test answers them with ``done``/``fail``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, object, object]] = []

    def __call__(self, kind, request, on_done, on_error):
        assert kind in JOBS
        self.calls.append((kind, request, on_done, on_error))

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]

    def last(self, kind: str):
        return next(c for c in reversed(self.calls) if c[0] == kind)

    def of(self, kind: str) -> list:
        return [c for c in self.calls if c[0] == kind]

    def done(self, kind: str, result) -> None:
        self.last(kind)[2](result)

    def fail(self, kind: str, message: str) -> None:
        self.last(kind)[3](message)


def digits_info(model_id: int = 1, **kw) -> ModelInfo:
    layers = [
        LayerRow("conv2d", "Conv2D", (None, 26, 26, 16), 160, "", "maps"),
        LayerRow("conv2d_1", "Conv2D", (None, 11, 11, 32), 4640, "", "maps"),
        LayerRow("flatten", "Flatten", (None, 800), 0, "", "vector"),
        LayerRow("dense", "Dense", (None, 10), 8010, "", "vector"),
    ]
    base = dict(model_id=model_id, name="digits_cnn.keras", path="/m/digits_cnn.keras", format="keras",
                keras_version="3.0", trusted=False, notes=[], labels=[str(i) for i in range(10)],
                buildable=True, spec=(28, 28, 1), layers=layers, conv_layers=["conv2d", "conv2d_1"],
                spatial_layers=["conv2d", "conv2d_1"], last_conv="conv2d_1", classifier=True, params=12810)
    base.update(kw)
    return ModelInfo(**base)


def result_for(req: ComputeRequest, total: int = 16, **kw) -> ActivationResult:
    maps = np.zeros((min(total, 64), 4, 4), np.float32)
    fields = dict(preview=np.zeros((28, 28), np.uint8), input_hw=(28, 28), source_hw=(28, 28),
                  x_range=(0.0, 1.0), layer=req.layer, shape=(4, 4, total), layer_range=(-1.0, 2.0),
                  kind="maps", first=req.page * 64, total=total, page=req.page, maps=maps,
                  map_index=req.map_index if req.map_index is not None else 3,
                  model_id=req.model_id, request=req.request)
    if req.want_prediction:
        fields["prediction"] = Prediction(np.full(10, 0.1, np.float32), [str(i) for i in range(10)], True)
    if req.want_gradcam:
        fields["gradcam"] = GradCam("conv2d_1", np.zeros((28, 28), np.float32), 5, "5", 0.9)
        fields["gradcam_key"] = req.gradcam_key
    if req.global_range:
        fields["global_range"] = (-3.0, 9.0)
    fields.update(kw)
    return ActivationResult(**fields)


IMAGE = np.zeros((28, 28, 3), np.uint8)


@pytest.fixture
def fake():
    return FakeWorker()


@pytest.fixture
def state(fake):
    """A started state with the digits model open and its first layer chosen."""
    s = ActivationsState(fake, image=lambda: IMAGE)
    s.started = True
    s.adopt(digits_info())
    s.set_layer(s.first_layer())
    return s


def compute(s: ActivationsState, fake: FakeWorker, **kw) -> ActivationResult:
    req = s.compute(IMAGE)
    res = result_for(req, **kw)
    fake.done("compute", res)
    return res


# ---------------------------------------------------------------------------- rules


def test_default_scaling_inverts_a_bright_image_for_a_small_gray_model():
    bright = np.full((28, 28), 230, np.uint8)
    dark = np.zeros((28, 28), np.uint8)
    assert default_scaling((28, 28, 1), bright) == "div255_inverted"
    assert default_scaling((28, 28, 1), dark) == "div255"
    assert default_scaling((224, 224, 1), bright) == "div255"
    assert default_scaling((28, 28, 3), bright) == "div255"
    assert default_scaling(None, bright) == default_scaling((28, 28, 1), None) == "div255"


def test_the_demo_model_suits_the_image():
    demos = [Path("digits_cnn.keras"), Path("shapes_cnn.keras")]
    digit = np.zeros((28, 28, 3), np.uint8)
    colour = np.zeros((28, 28, 3), np.uint8)
    colour[:, :, 0] = 200
    photo = np.zeros((200, 300, 3), np.uint8)
    assert looks_like_a_digit(digit) and not looks_like_a_digit(colour) and not looks_like_a_digit(photo)
    assert choose_demo(digit, demos).stem == "digits_cnn"
    assert choose_demo(photo, demos).stem == "shapes_cnn"
    assert choose_demo(photo, [Path("other.keras")]).stem == "other"
    assert choose_demo(photo, []) is None


def test_small_rules_and_wordings():
    assert can_draw((28, 28, 1)) and can_draw((None, 64, 3)) is False and not can_draw(None)
    assert compare_defaults("digit_7") == ("digit_5",) and compare_defaults("x") == ("digit_7", "digit_5")
    assert "its own range" in compare_note("map") and "share one scale" in compare_note("layer")
    cells, tip = layer_cells(LayerRow("c", "Conv2D", (None, 26, None, 16), 1600, "3×3", "maps"))
    assert cells == ["c", "Conv2D", "26×?×16", "1,600"] and tip == "c (Conv2D): 3×3"
    assert layer_cells(LayerRow("x", "?", None, None, "", "none"))[0][2:] == ["—", ""]
    assert page_text(16, 0, 64) == (False, "", False, False)
    assert page_text(3000, 64, 64) == (True, "64–127 of 3000 (page 2/47)", True, True)
    choices = class_choices(digits_info(labels=None))
    assert choices[0] == ("Top prediction", -1) and choices[-1] == ("class 9", 9) and len(choices) == 11


def test_levels_per_map_per_layer_and_shared_between_two_inputs():
    a = InputActivations(np.zeros(1), (1, 1), (1, 1), (0, 1), "l", (1, 1, 1), (0.5, 2.0), "maps", 0, 1, 0,
                         global_range=(-1.0, 5.0))
    b = InputActivations(np.zeros(1), (1, 1), (1, 1), (0, 1), "l", (1, 1, 1), (-0.5, 4.0), "maps", 0, 1, 0)
    assert levels_for("map", a) is None
    assert levels_for("layer", a) == (0.0, 2.0)  # always from 0
    assert levels_for("global", a) == (-1.0, 5.0)
    assert levels_for("layer", a, b) == (-0.5, 4.0)
    flat = InputActivations(np.zeros(1), (1, 1), (1, 1), (0, 1), "l", (1, 1, 1), (0.0, 0.0), "maps", 0, 1, 0)
    assert levels_for("layer", flat) == (0.0, 1.0)  # never an empty range


def test_prediction_rows_keep_five_and_sum_the_others():
    p = np.array([0.05, 0.5, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05], np.float32)
    rows = prediction_rows(Prediction(p, [str(i) for i in range(10)], True))
    assert rows.names[0] == "1" and rows.names[-1] == "5 others" and len(rows.names) == 6
    assert rows.values.sum() == pytest.approx(1.0)
    assert rows.top_label == "1" and rows.shown == 5 and rows.classes == 10
    few = prediction_rows(Prediction(np.array([0.2, 0.8]), ["a", "b"], False))
    assert few.names == ["b", "a"] and not few.is_probability


def test_input_note_says_what_was_fed():
    res = InputActivations(np.zeros(1), (28, 28), (100, 50), (0.0, 1.0), "l", (1,), (0, 1), "vector", 0, 1, 0)
    assert input_note(res, "cat.png", 1) == "Fed: cat.png (50×100), resized to 28×28, gray, values 0…1."


# ---------------------------------------------------------------------------- loading


def test_a_request_before_the_start_waits_then_the_demo_suiting_the_image_opens(fake):
    s = ActivationsState(fake, image=lambda: IMAGE)
    s.open_model("/m/a.keras")
    assert fake.calls == [] and s.pending == ("/m/a.keras", False)
    busy = []
    s.busy.connect(busy.append)
    assert s.start([Path("digits_cnn.keras")])
    kind, req, _, _ = fake.calls[-1]
    assert kind == "load" and req == LoadRequest("/m/a.keras", False) and s.pending is None
    assert s.loading == 1 and busy[-1] in ("Opening model…", "Loading TensorFlow…")
    fake.done("load", digits_info())
    assert s.loading == 0 and busy[-1] == "" and s.info.name == "digits_cnn.keras"

    other = ActivationsState(FakeWorker(), image=lambda: IMAGE)
    assert not other.start([])  # nothing to open
    other.start([Path("shapes.keras"), Path("digits_cnn.keras")])
    assert other._submit.last("load")[1].path == "digits_cnn.keras"


def test_adopting_a_model_resets_the_choices_and_reads_the_first_filters(fake):
    s = ActivationsState(fake, image=lambda: np.full((28, 28, 3), 240, np.uint8))
    s.started = True
    s.page, s.map_index, s.class_index, s.gradcam_layer, s.scaling_chosen = 3, 5, 2, "x", True
    changed, posted = [], []
    s.model_changed.connect(changed.append)
    s.posted.connect(posted.append)
    s.adopt(digits_info())
    assert (s.page, s.map_index, s.class_index, s.gradcam_layer) == (0, None, None, None)
    assert s.scaling == "div255_inverted"  # a bright image on a small gray model
    assert changed and posted == ["Opened the model digits_cnn.keras"]
    assert fake.last("filters")[1] == FiltersRequest(1, "conv2d")
    assert s.first_layer() == "conv2d"


def test_offering_a_model_from_the_store_by_id(fake):
    s = ActivationsState(fake)
    s.offer(7, "just trained")
    kind, req, _, _ = fake.calls[-1]
    assert kind == "adopt" and req == AdoptRequest(7, "just trained") and s.started
    fake.done("adopt", digits_info(model_id=9, name="just trained"))
    assert s.info.name == "just trained" and s.model_id == 9


def test_bad_and_unsafe_files_keep_the_previous_model(state, fake):
    errors = []
    state.error.connect(errors.append)
    state.open_model("/m/bad.h5")
    fake.done("load", LoadFailed("/m/bad.h5", "The file is damaged."))
    assert errors[-1] == "The file is damaged. The previous model stays open."
    assert state.info.name == "digits_cnn.keras"

    asked = []
    state.ask_trust = lambda outcome: asked.append(outcome) or False
    refused = LoadRefused("/m/lambda.h5", "unsafe", ["a Lambda layer"], "hint", False, True)
    state.open_model("/m/lambda.h5")
    fake.done("load", refused)
    assert asked == [refused]
    assert "was refused because it contains a Lambda layer" in state.last_error
    assert "previous model stays open" in state.last_error

    state.ask_trust = lambda outcome: True
    state.open_model("/m/lambda.h5")
    fake.done("load", refused)
    assert fake.calls[-1][1] == LoadRequest("/m/lambda.h5", True)
    fake.done("load", LoadFailed("/m/lambda.h5", "Still damaged."))

    # links to other files: trusting would not help, so nobody is asked
    asked.clear()
    state.ask_trust = lambda outcome: asked.append(outcome) or True
    state.open_model("/m/link.h5")
    fake.done("load", LoadRefused("/m/link.h5", "an external link", ["external link"], "", False, False))
    assert not asked and "external link" in state.last_error

    state.unattended = True
    state.open_model("/m/lambda.h5")
    fake.done("load", refused)
    assert not asked and "while a screenshot is taken" in state.last_error

    state.open_model("/m/x.h5")
    fake.fail("load", "boom")
    assert state.last_error == "The model could not be opened: boom" and state.loading == 0


def test_a_model_without_an_image_input_has_no_activations(fake):
    s = ActivationsState(fake)
    s.started = True
    reasons, wanted = [], []
    s.no_activations.connect(reasons.append)
    s.compute_wanted.connect(lambda: wanted.append(1))
    info = digits_info(spec=None, spec_reason="It takes 2 inputs.", classifier=False,
                       layers=[LayerRow("d", "Dense", None, 10, "", "none")], conv_layers=[])
    s.adopt(info)
    assert reasons == ["It takes 2 inputs."] and s.first_layer() is None
    s.set_layer("d")
    assert reasons == ["It takes 2 inputs."] * 2 and not wanted
    assert s.compute(IMAGE) is None and "compute" not in fake.kinds()


# ---------------------------------------------------------------------------- computing


def test_request_building_and_the_prediction_and_grad_cam_cache(state, fake):
    req = state.compute(IMAGE)
    assert isinstance(req, ComputeRequest) and req.layer == "conv2d" and req.model_id == 1
    assert req.want_prediction and req.want_gradcam and req.compare_image is None
    assert req.scaling == "div255" and not req.global_range
    fake.done("compute", result_for(req))
    # the same input again: the prediction and Grad-CAM shown are still right
    state.choose_map(5)
    again = state.compute(IMAGE)
    assert again.map_index == 5 and not again.want_prediction and not again.want_gradcam
    fake.done("compute", result_for(again))
    assert state.result.prediction is not None and state.result.gradcam is not None  # merged
    # another class: only Grad-CAM is recomputed
    state.set_class(7)
    third = state.compute(IMAGE)
    assert third.want_gradcam and not third.want_prediction and third.class_index == 7
    # a new image: both
    state.image_changed()
    fourth = state.compute(IMAGE)
    assert fourth.want_prediction and fourth.want_gradcam


def test_a_stale_result_is_dropped_and_the_latest_request_wins(state, fake):
    first = state.compute(IMAGE)
    state.set_layer("conv2d_1")
    second = state.compute(IMAGE)
    shown = []
    state.result_changed.connect(lambda: shown.append(state.result.layer))
    fake.of("compute")[0][2](result_for(first))  # the older answer arrives late
    assert state.result is None and shown == []
    fake.done("compute", result_for(second))
    assert shown == ["conv2d_1"]
    # an answer for a model replaced since is dropped too
    third = state.compute(IMAGE)
    state.adopt(digits_info(model_id=2))
    fake.done("compute", result_for(third))
    assert state.result is None


def test_paging_a_wide_layer(state, fake):
    wanted = []
    state.compute_wanted.connect(lambda: wanted.append(1))
    compute(state, fake, total=3000)
    assert state.map_index == 3  # the most active map, chosen by the job
    state.prev_page()
    assert state.page == 0 and not wanted
    state.next_page()
    assert state.page == 1 and state.map_index is None and wanted
    req = state.compute(IMAGE)
    assert req.page == 1
    fake.done("compute", result_for(req, total=3000))
    state.page = 46
    state.next_page()
    assert state.page == 46  # the last page
    # a new layer starts at its first page
    state.set_layer("conv2d_1")
    assert state.page == 0 and state.map_index is None


def test_global_normalisation_recomputes_and_keeps_its_range(state, fake):
    compute(state, fake)
    redrawn, wanted = [], []
    state.result_changed.connect(lambda: redrawn.append(1))
    state.compute_wanted.connect(lambda: wanted.append(1))
    state.set_normalization("layer")
    assert redrawn and not wanted  # the layer's range is in the result already
    state.set_normalization("global")
    assert wanted
    req = state.compute(IMAGE)
    assert req.global_range
    fake.done("compute", result_for(req))
    assert state.result.global_range == (-3.0, 9.0)
    state.choose_map(1)
    req = state.compute(IMAGE)
    fake.done("compute", result_for(req, global_range=None))
    assert state.result.global_range == (-3.0, 9.0)  # merged from the previous result


def test_an_error_is_reported_and_cleared_by_the_next_result(state, fake):
    failed, cleared = [], []
    state.compute_failed.connect(failed.append)
    state.error_cleared.connect(lambda: cleared.append(1))
    state.compute(IMAGE)
    fake.fail("compute", "out of memory")
    assert state.last_error == "The activations could not be computed: out of memory"
    assert failed == ["out of memory"]
    compute(state, fake)
    assert state.last_error == "" and cleared


def test_source_scaling_and_drawing(state, fake):
    scalings = []
    state.scaling_changed.connect(scalings.append)
    v = state.input_version
    state.set_source("canvas")
    assert state.scaling == "div255" and state.input_version == v + 1
    assert state.drawing_changed()
    state.set_source("image")
    assert not state.drawing_changed()
    state.set_scaling("minus1to1")
    assert state.scaling_chosen
    state.image_changed()
    assert state.scaling == "minus1to1"  # a chosen scaling stays
    # a model too big to draw for falls back to the image
    state.source = "canvas"
    sources = []
    state.source_changed.connect(sources.append)
    state.adopt(digits_info(model_id=3, spec=(224, 224, 3)))
    assert state.source == "image" and sources == ["image"]


def test_the_second_input(state, fake, tmp_path):
    assert state.compare_input(True, lambda: IMAGE) is None  # none chosen
    assert state.set_compare("canvas") and state.compare_name == "the drawing"
    drawing = np.ones((28, 28), np.uint8)
    assert state.compare_input(True, lambda: drawing) is drawing
    assert state.compare_input(False, lambda: drawing) is None  # the compare page is hidden
    errors = []
    state.error.connect(errors.append)
    assert not state.set_compare(str(tmp_path / "missing.png"))
    assert errors and state.compare_name == ""
    req = state.compute(IMAGE, drawing)
    assert req.compare_image.shape == (28, 28) and req.want_prediction


# ---------------------------------------------------------------------------- filters


def test_filters_are_read_once_per_layer_and_paged(state, fake):
    assert fake.kinds().count("filters") == 1
    drawn = []
    state.filters_changed.connect(lambda: drawn.append(1))
    fake.done("filters", FiltersResult(1, "conv2d", np.ones((3, 3, 1, 100), np.float32)))
    assert state.filter_channel == 0  # one input channel: no RGB view
    view = state.filter_view()
    assert view.maps.shape == (64, 3, 3) and view.label == "1–64 of 100" and view.pages == 2
    assert "input channel 0" in view.text
    state.request_filters()  # the same layer: a cache hit, no second job
    assert fake.kinds().count("filters") == 1 and drawn
    state.filter_next()
    assert state.filter_view().first == 64
    state.filter_next()
    assert state.filter_page == 1
    state.filter_prev()
    assert state.filter_page == 0
    # a conv layer clicked in the table shows its filters too
    layers = []
    state.filter_layer_changed.connect(layers.append)
    state.set_layer("conv2d_1")
    assert layers == ["conv2d_1"] and fake.last("filters")[1] == FiltersRequest(1, "conv2d_1")
    assert state.filter_channel == -1 and state.filter_page == 0
    # a result for a replaced model is dropped
    state.adopt(digits_info(model_id=2))
    fake.of("filters")[-2][2](FiltersResult(1, "conv2d_1", np.ones((3, 3, 1, 4), np.float32)))
    assert state.filters_result is None


def test_rgb_filters_and_channel_choices(state, fake):
    k = np.random.default_rng(0).normal(size=(3, 3, 3, 8)).astype(np.float32)
    fake.done("filters", FiltersResult(1, "conv2d", k))
    assert state.filter_channel == -1
    view = state.filter_view()
    assert view.rgb_tiles is not None and view.rgb_tiles[0].shape == (3, 3, 3) and view.label == "8 filters"
    assert filter_channel_choices(k)[:2] == [("All three as RGB", -1), ("0 (R)", 0)]
    state.set_filter_channel(2)
    assert state.filter_view().maps.shape == (8, 3, 3)
    failures = []
    state.filters_failed.connect(failures.append)
    state.set_filter_layer("conv2d_1")
    fake.fail("filters", "no weights")
    assert failures == ["no weights"]


def test_requests_and_results_are_plain_picklable_data(state, fake):
    req = state.compute(IMAGE)
    res = result_for(req)
    res.compare = InputActivations(**{k: getattr(res, k) for k in InputActivations.__dataclass_fields__})
    for obj in (req, res, digits_info(), FiltersResult(1, "c", np.zeros((1, 1, 1, 1))),
                LoadRefused("p", "m", ["f"], "h", False, True), LoadFailed("p", "m")):
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is type(obj)


# ---------------------------------------------------------------------------- a new model, bad files


def test_opening_a_model_forgets_the_second_input_of_the_previous_one(state, tmp_path):
    assert state.set_compare("canvas") and state.compare_with == "canvas"
    state.adopt(digits_info(model_id=2))
    assert (state.compare_with, state.compare_image, state.compare_name) == (None, None, "")


def test_a_model_that_could_not_be_built_says_why_and_what_is_left():
    from cnnviz.state.activations import NOT_BUILT_TITLE, build_failure, no_activations_text

    info = digits_info(buildable=False, spec=None, spec_reason="This file could not be built into a "
                       "runnable model, so there are no activations to show.",
                       notes=["Trusted file: its code ran.",
                              "The model cannot be built: it uses custom layers cnnviz does not know: "
                              "AttentionPooling ('attention_pooling')."])
    assert "AttentionPooling" in build_failure(info)
    text, title = no_activations_text(info, info.spec_reason)
    assert "could not be built" in text and "AttentionPooling" in text
    assert "Still available" in text and "stored weights" in text and "Filters tab" in text
    assert title == NOT_BUILT_TITLE and "image input" not in title.lower()
    # a built model without an image input keeps saying so
    vec = digits_info(spec=None, spec_reason="It takes a vector of 6 numbers.", conv_layers=[])
    text, title = no_activations_text(vec, vec.spec_reason)
    assert text.startswith("It takes a vector of 6 numbers.") and title == "No image input"
    assert build_failure(vec) is None


def test_the_trust_details_show_each_lambda_and_its_code_as_text():
    from cnnviz.ml.modelio import CodeDetail
    from cnnviz.state.activations import trust_details

    refused = LoadRefused("/m/lambda.h5", "contains a Lambda", ["a Lambda layer 'lambda_1' (Python code)"],
                          "hint", False, True,
                          [CodeDetail("lambda_1", "Lambda", "  2 LOAD_FAST 0 (x)", True),
                           CodeDetail("scale", "Lambda", "4wEAAAAAAAAA", False,
                                      "the Lambda's code was saved by Keras 2.2.4 and cannot be read")],
                          ["AttentionPooling ('pool')"])
    text = trust_details(refused)
    assert "Lambda layer 'lambda_1'" in text and "LOAD_FAST" in text and "not run" in text
    assert "Lambda layer 'scale'" in text and "4wEAAAAAAAAA" in text and "cannot be read" in text
    assert "AttentionPooling ('pool')" in text
    assert "load_model" not in text and "trust=True" not in text
    pickle.loads(pickle.dumps(refused))  # it crosses from the engine


def test_the_trust_question_has_one_wording_for_every_pane():
    from cnnviz.state.activations import (
        DECLINE_BUTTON,
        TRUST_BUTTON,
        TRUST_TITLE,
        trust_declined_text,
        trust_question,
        trust_unattended_text,
    )

    assert (TRUST_TITLE, TRUST_BUTTON, DECLINE_BUTTON) == ("Do you trust this file?", "Trust and open", "Don't open")
    question, meaning = trust_question("a<b>.h5", ["a Lambda layer", "a custom class"], "Click \"Trust and open\".")
    assert question == "<b>Do you trust this file?</b><br>'a&lt;b&gt;.h5' contains:"  # a name is text
    assert meaning.startswith("• a Lambda layer<br>• a custom class<br><br>")
    assert "runs that code on this computer" in meaning and meaning.endswith('Click "Trust and open".')
    refused = LoadRefused("/m/lambda.h5", "unsafe", ["a Lambda layer"], "hint", False, True)
    assert trust_declined_text(refused, " The open siamese model stays.") == (
        "Not opened: 'lambda.h5' was refused because it contains a Lambda layer. The open siamese model stays.")
    said = trust_unattended_text(refused)
    assert said.startswith("Not opened: 'lambda.h5' contains a Lambda layer.")
    assert "Nobody can answer 'Do you trust this file?' while a screenshot is taken" in said


def test_class_names_typed_for_the_model_are_part_of_the_session(state, fake, tmp_path):
    from cnnviz.state.session import SessionError

    assert state.to_session()["class_names"] is None  # none typed: the file's own
    names = [f"n{i}" for i in range(10)]
    state.set_class_names(names)
    saved = state.to_session()
    assert saved["class_names"] == names
    # bad values are refused in words, and nothing changes
    asked = len(fake.calls)
    for bad in ("cat, dog", ["cat", 3], {"0": "cat"}):
        with pytest.raises(SessionError, match='"class_names" must be a list of class names'):
            state.apply_session(dict(saved, class_names=bad))
        assert state.class_names() == names and len(fake.calls) == asked  # no model is opened
    # the names come back with the model they were typed for
    model = tmp_path / "digits_cnn.keras"
    model.write_bytes(b"not read here")
    state.set_class_names(["other"] * 10)
    state.apply_session(dict(saved, model=str(model)))
    kind, req, _, _ = fake.calls[-1]
    assert kind == "load" and req.path == str(model)
    fake.done("load", digits_info(model_id=5, path=str(model)))
    assert state.class_names() == names
    # an empty list: back to the file's own names
    state.apply_session(dict(saved, model=str(model), class_names=[]))
    fake.done("load", digits_info(model_id=6, path=str(model)))
    assert state.class_names() == [str(i) for i in range(10)]
