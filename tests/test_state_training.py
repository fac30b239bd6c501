"""The training form's rules and the run-folder reading, without Qt or TensorFlow."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from cnnviz.ml import datasets as data
from cnnviz.ml import zoo
from cnnviz.state import training as st
from cnnviz.state.training import SEED_MAX, RunProgress, TrainingForm, read_run, run_folder_of


@pytest.fixture
def form(tmp_path):
    return TrainingForm(tmp_path / "runs")


def record(form: TrainingForm) -> list[str]:
    seen: list[str] = []
    form.changed.connect(seen.append)
    return seen


def test_defaults_match_the_form(form, tmp_path):
    assert form.model == zoo.NAMES[0] and form.dataset == data.compatible(form.model)[0]
    assert (form.epochs, form.batch_size, form.samples, form.seed) == (3, 32, 0, 0)
    assert form.validation_split == 0.1 and not form.augment and not form.reduce_lr and not form.save_h5
    assert form.optimizer is None and form.learning_rate() is None
    assert form.output_root() == tmp_path / "runs"
    form.set_output_root("  ")
    assert form.output_root() == tmp_path / "runs"  # empty: the default folder
    form.set_output_root("~/elsewhere")
    assert form.output_root() == Path("~/elsewhere").expanduser()


def test_a_model_brings_its_own_dataset_and_the_books_optimizer(form):
    form.set_optimizer("sgd")
    seen = record(form)
    form.set_model("unet_small")
    assert seen == ["model"]
    assert form.dataset == "segmentation" and form.optimizer is None
    assert [c.name for c in form.dataset_choices()] == list(data.compatible("unet_small"))
    form.set_model("unet_small")  # the same model again changes nothing
    assert seen == ["model"]
    with pytest.raises(ValueError, match="does not suit"):
        form.set_dataset("digits")
    with pytest.raises(ValueError, match="unknown model"):
        form.set_model("resnet9000")
    form.set_model("mnist_fast")
    form.set_dataset("digits")
    assert form.dataset == "digits"
    choices = form.optimizer_choices()
    assert choices[0] == (None, f"Book's ({zoo.spec('mnist_fast').optimizer})")
    assert [c[0] for c in choices[1:]] == list(zoo.OPTIMIZERS)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        form.set_optimizer("lion")


def test_keras_datasets_not_downloaded_say_so(form, monkeypatch):
    monkeypatch.setattr(data, "is_cached", lambda name: name == "fashion_mnist")
    form.set_model("mnist_fast")
    labels = {c.name: c.label for c in form.dataset_choices()}
    assert labels["mnist"] == "mnist (not downloaded)"
    assert labels["fashion_mnist"] == "fashion_mnist" and labels["digits"] == "digits"
    form.set_dataset("mnist")
    config = form.make_config(Path("/tmp/run"))
    assert form.download_needed(config) == ("mnist", "11 MB")
    assert "Download MNIST (11 MB) from the internet?" in form.download_question("mnist", "11 MB")
    assert form.download_refused("mnist").startswith("MNIST is not downloaded, so nothing was trained")
    form.allow_download(config)
    assert config.dataset_options["allow_download"] is True
    form.set_dataset("fashion_mnist")
    assert form.download_needed(form.make_config(Path("/tmp/run"))) is None


def test_numbers_stay_in_the_ranges_of_the_form(form):
    form.set_epochs(0)
    form.set_batch_size(-5)
    form.set_samples(5_000_000)
    form.set_validation_split(0.95)
    assert (form.epochs, form.batch_size, form.samples, form.validation_split) == (1, 1, 1_000_000, 0.9)
    form.set_validation_split(0.123)
    assert form.validation_split == 0.12  # two decimals, as the spin box shows
    form.set_epochs(10_001)
    assert form.epochs == 10_000


@pytest.mark.parametrize("bad", [-1, SEED_MAX + 1, 1.5, "seven", "", True, None, "1e3"])
def test_a_bad_seed_is_refused_with_its_range(form, bad):
    seen = record(form)
    with pytest.raises(ValueError, match=f"The seed must be a whole number from 0 to {SEED_MAX}"):
        form.set_seed(bad)
    assert form.seed == 0 and seen == []


def test_good_seeds(form):
    for value, expected in [(7, 7), ("42", 42), (3.0, 3), (SEED_MAX, SEED_MAX), (" 0 ", 0)]:
        form.set_seed(value)
        assert form.seed == expected


def test_learning_rate_text(form):
    form.set_learning_rate_text(" 1e-3 ")
    assert form.learning_rate() == 0.001
    form.set_learning_rate_text("0,01")
    assert form.learning_rate() == 0.01
    form.set_learning_rate_text("fast please")
    with pytest.raises(ValueError, match="'fast please' is not a number; type e.g. 0.001 or 1e-3"):
        form.learning_rate()
    for text in ("0", "-1", "nan", "inf"):
        form.set_learning_rate_text(text)
        with pytest.raises(ValueError, match="must be a positive number"):
            form.learning_rate()
    form.set_model("mnist_cnn")
    assert form.learning_rate_placeholder() == f"{zoo.spec('mnist_cnn').learning_rate:g} (the book's)"


def test_the_form_makes_the_train_config(form, tmp_path):
    form.set_model("small_cnn")
    form.set_functional(True)
    form.set_dataset("shapes")
    form.set_samples(512)
    form.set_epochs(4)
    form.set_batch_size(16)
    form.set_learning_rate_text("0.002")
    form.set_optimizer("rmsprop")
    form.set_validation_split(0.2)
    form.set_augment(True)
    form.set_seed(9)
    form.set_reduce_lr(True)
    form.set_save_h5(True)
    out = tmp_path / "run"
    config = form.make_config(out, tmp_path / "ck.keras")
    assert (config.model, config.dataset, config.epochs, config.batch_size) == ("small_cnn", "shapes", 4, 16)
    assert (config.learning_rate, config.optimizer, config.validation_split) == (0.002, "rmsprop", 0.2)
    assert config.augment and config.reduce_lr_on_plateau and config.save_h5 and config.functional
    assert config.seed == 9 and config.out_dir == out and config.resume_from == tmp_path / "ck.keras"
    assert config.max_samples == 512 and config.dataset_options == {"n": 512}  # generated: make 512
    assert form.summary_key() == ("small_cnn", True)

    form.set_model("mnist_fast")  # no functional variant: the ticked box does not apply
    assert not form.functional_available() and form.summary_key() == ("mnist_fast", False)
    form.set_samples(0)
    config = form.make_config(out)
    assert not config.functional and config.max_samples is None and config.dataset_options == {}


def test_a_folder_dataset_needs_a_folder(form):
    form.set_model("small_cnn")
    form.set_dataset("folder")
    assert form.uses_folder()
    with pytest.raises(ValueError, match="Choose an image folder"):
        form.make_config(Path("/tmp/run"))
    form.set_folder("/data/flowers")
    form.set_samples(100)
    assert form.make_config(Path("/tmp/run")).dataset_options == {"path": "/data/flowers"}


def test_the_preview_follows_the_seed_and_the_model(form):
    form.set_model("mnist_fast")
    form.set_seed(3)
    request = form.preview_request()
    assert request.local and request.dataset == "digits" and request.seed == 3000
    form.next_preview_round()
    assert form.preview_request().seed == 3001  # new changes, the same samples
    form.set_model("small_cnn")
    form.set_dataset("shapes")
    s = zoo.spec("small_cnn")
    assert form.preview_request().options == {"seed": 3, "n": 8, "size": s.input_shape[0], "channels": s.input_shape[2]}
    form.set_dataset("folder")
    with pytest.raises(ValueError, match="Choose an image folder to preview it"):
        form.preview_request()
    form.set_folder("/imgs")
    request = form.preview_request()
    assert not request.local and request.options["path"] == "/imgs" and request.options["max_per_class"] == 4


# --- run folders ---------------------------------------------------------------------------


def write_run(run_dir: Path, info: dict | str, log: str | None = None, checkpoints=()) -> None:
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "run.json").write_text(info if isinstance(info, str) else json.dumps(info))
    if log is not None:
        (run_dir / "log.csv").write_text(log)
    for i, name in enumerate(checkpoints):
        path = run_dir / "checkpoints" / name
        path.write_bytes(b"model")
        t = time.time() - 100 + i
        os.utime(path, (t, t))


def test_a_run_folder_is_read_into_plain_data(tmp_path):
    run_dir = tmp_path / "20260101-120000-mnist_fast"
    write_run(
        run_dir,
        {"config": {"model": "mnist_fast", "dataset": "digits", "dataset_options": {}},
         "status": "finished", "message": "Finished 2 epoch(s).", "epochs_completed": 2,
         "history": {"loss": [0.9, 0.5], "val_loss": [0.8, 0.6]}, "device": "CPU",
         "last_good_checkpoint": str(run_dir / "checkpoints" / "epoch-02.keras")},
        log="epoch,accuracy,loss,val_accuracy,val_loss\n0,0.7,0.9,0.75,0.8\n1,0.85,0.5,0.8,0.6\n",
        checkpoints=["epoch-01.keras", "epoch-02.keras", "epoch-02.h5", ".epoch-03.keras.tmp"],
    )
    (run_dir / "checkpoints" / "notes.txt").write_text("not a model")
    run = read_run(run_dir)
    assert run.model == "mnist_fast" and run.dataset == "digits" and run.status == "finished"
    assert run.message == "Finished 2 epoch(s)." and run.epochs_completed == 2 and run.device == "CPU"
    assert run.history == {"loss": [0.9, 0.5], "val_loss": [0.8, 0.6]}
    assert run.last_good_checkpoint == run_dir / "checkpoints" / "epoch-02.keras"
    assert [r.epoch for r in run.log] == [1, 2]
    assert run.log[1].values == {"accuracy": 0.85, "loss": 0.5, "val_accuracy": 0.8, "val_loss": 0.6}
    assert [p.name for p in run.checkpoints] == ["epoch-01.keras", "epoch-02.keras", "epoch-02.h5"]
    assert run_folder_of(run_dir / "checkpoints" / "epoch-01.keras") == run_dir
    assert run_folder_of(run_dir / "final.keras") == run_dir


@pytest.mark.parametrize("broken", ["", "{not json", "[1, 2]", json.dumps({"config": 5, "status": 3})])
def test_a_broken_run_json_leaves_its_fields_empty(tmp_path, broken):
    run_dir = tmp_path / "run"
    write_run(run_dir, broken, log="epoch,loss\n0,nan\nx,1\n", checkpoints=["epoch-01.keras"])
    run = read_run(run_dir)
    assert run.config == {} and run.status is None and run.model is None
    assert len(run.log) == 1 and run.log[0].epoch == 1  # the row without an epoch number is left out
    assert [p.name for p in run.checkpoints] == ["epoch-01.keras"]


def test_a_folder_without_anything(tmp_path):
    run = read_run(tmp_path / "nothing-here")
    assert run.config == {} and run.log == [] and run.checkpoints == []


def test_continuing_takes_the_model_and_data_of_the_run(form, tmp_path):
    run_dir = tmp_path / "run"
    write_run(run_dir, {"config": {"model": "small_cnn", "dataset": "folder",
                                   "dataset_options": {"path": "/data/cats"}}})
    form.set_model("mnist_cnn")
    form.take_settings_of(read_run(run_dir))
    assert (form.model, form.dataset, form.folder) == ("small_cnn", "folder", "/data/cats")

    other = tmp_path / "other"
    write_run(other, {"config": {"model": "unet_small", "dataset": "digits", "dataset_options": [1]}})
    form.take_settings_of(read_run(other))  # the dataset does not suit the model: kept as chosen
    assert (form.model, form.dataset) == ("unet_small", "segmentation")
    form.take_settings_of(read_run(tmp_path / "elsewhere"))  # no run.json: nothing changes
    assert form.model == "unet_small"


# --- a run in progress, in words -------------------------------------------------------------


def test_the_progress_of_a_run_in_words():
    info = {"epoch": 2, "epochs": 5, "batch": 3, "batches": 10, "step": 13, "steps": 30,
            "eta_s": 75.4, "samples_per_s": 1234.5, "lr": 0.001}
    assert st.progress_format(info, False) == "Epoch 2/5 · batch 3/10 · %p%"
    assert st.progress_format(info, True).endswith("%p% — stopping after this batch…")
    assert st.eta_text(info) == "ETA 1:15" and st.eta_text({}) == "ETA —"
    assert st.clock(3725) == "1:02:05" and st.clock(float("nan")) == "—" and st.clock(None) == "—"
    assert st.speed_text(1234.5) == "1,234 samples/s" and st.speed_text(0.0) == ""
    assert st.lr_text(0.001) == "learning rate 0.001" and st.lr_text(float("nan")) is None
    assert st.epoch_range(info) == (2, 5)  # a continued run: 30 steps of 10 batches end at 5
    assert st.diverged_mark(float("nan")) == "loss NaN" and st.diverged_mark(3e14) == "loss 3e+14"


def test_epoch_reports_and_their_metric_series():
    progress = RunProgress()
    progress.reset(3)
    assert progress.epochs == (0, 3)
    info = {"epoch": 1, "epochs": 3, "loss": 0.5, "val_loss": 0.6, "checkpoint": "/r/checkpoints/epoch-01.keras",
            "metrics": {"accuracy": 0.8, "val_accuracy": 0.75, "learning_rate": 0.001}}
    new = progress.take_epoch(info)
    assert [s.key for s in new] == ["accuracy", "val_accuracy"]
    train, val = new
    assert (train.legend, train.color, val.legend, val.color) == ("train", st.TRAIN_COLOR, "validation", st.VAL_COLOR)
    assert train.heading == "Accuracy per epoch (Figure 2.20)" and train.axis == "accuracy"
    assert st.epoch_note(info) == ("Epoch 1/3: loss 0.5, validation loss 0.6, accuracy 0.8, val_accuracy 0.75, "
                                   "learning_rate 0.001 — saved epoch-01.keras")
    assert progress.take_epoch(dict(info, epoch=2)) == []  # known series are not added again
    assert progress.take_epoch(dict(info, epoch=3, partial=True)) == []
    assert len(progress.epoch_reports) == 3

    several = st.metric_series("val_jaccard", {"dice_coef": 0.5, "jaccard": 0.4, "val_jaccard": 0.3, "mse": 1.0})
    assert several.legend is None and several.dashed and several.heading == "Metrics (dashed: validation)"
    assert several.color == st.METRIC_COLORS[1] and several.columns == 3  # sorted: dice_coef, jaccard, mse
    assert st.plotted_metrics({"metrics": {"mse": 1.0, "val_mse": 1.0, "dice_coef": 0.5}}) == {"dice_coef": 0.5}

    progress.reset(2, resumed=True)
    assert progress.epochs == (-1, -1) and progress.batches_seen == 0 and progress.last_info is None
    span = progress.take_batches({"x": [2.1, 2.2], "info": {"epochs": 4, "steps": 20, "batches": 10}})
    assert span == (2, 4) and progress.batches_seen == 2
    assert progress.take_batches({"x": [2.3], "info": {"epochs": 4, "steps": 20, "batches": 10}}) is None


def test_summary_words():
    s = zoo.spec("mnist_cnn")
    text = st.summary_totals("mnist_cnn", (s.book_params, s.book_params, 0))
    assert f"{s.book_params:,}" in text and "as in the book" in text
    assert "the book prints" in st.summary_totals("mnist_cnn", (1, 1, 0))
    assert st.summary_cells([("conv2d", "Conv2D", "(None, 26, 26, 32)", 320)]) == [
        ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320"]]
    assert "(functional)" in st.summary_heading("small_cnn", True)
    assert "no flip" in st.preview_caption({"flip": False, "dataset": "digits"})


def test_data_parallel_settings_and_their_rules(form, tmp_path):
    assert (form.strategy, form.cpu_replicas) == ("auto", 1)
    assert [c[0] for c in st.STRATEGY_CHOICES] == ["auto", "none", "mirrored"]
    seen = record(form)
    form.set_strategy("mirrored")
    form.set_cpu_replicas(2)
    assert seen == ["strategy", "cpu_replicas"]
    with pytest.raises(ValueError, match="Unknown strategy 'multiworker'"):
        form.set_strategy("multiworker")
    form.set_cpu_replicas(0)
    assert form.cpu_replicas == 1  # kept in range, like the spin box
    form.set_cpu_replicas(10_000)
    assert form.cpu_replicas == st.LIMITS["cpu_replicas"][1]
    form.set_cpu_replicas(4)
    form.set_batch_size(32)
    assert form.replicas_problem() is None
    assert form.batch_split_text() == "Global batch 32 = 4 replicas × 8"
    form.set_batch_size(6)
    assert form.batch_split_text() == "Global batch 6 = 4 replicas × 1–2"
    config = form.make_config(tmp_path / "run")
    assert (config.strategy, config.cpu_replicas, config.batch_size) == ("mirrored", 4, 6)
    form.set_batch_size(2)
    assert "4 CPU replicas cannot share a batch of 2" in form.replicas_problem()
    with pytest.raises(ValueError, match="cannot share a batch of 2"):
        form.make_config(tmp_path / "run")
    form.set_strategy("none")  # replicas unused: no problem, one replica
    assert form.replicas_problem() is None and form.batch_split_text() == "Global batch 2 (one replica)"


def test_continuing_from_where_a_run_ended_goes_on_in_it_else_a_new_run(tmp_path):
    run_dir = tmp_path / "20260101-120000-mnist_fast"
    log = "epoch,accuracy,loss,val_loss,partial\n0,0.5,1.0,0.9,0\n1,0.6,0.8,NA,1\n"
    write_run(run_dir, {"config": {"model": "mnist_fast"}, "status": "stopped", "epochs_completed": 2,
                        "last_good_checkpoint": str(run_dir / "checkpoints" / "epoch-02-partial.keras")},
              log, checkpoints=("epoch-01.keras", "epoch-02-partial.keras"))
    end = st.continue_plan(run_dir / "checkpoints" / "epoch-02-partial.keras")
    assert end.same_run and end.after_epoch == 1 and "Continuing the run" in end.note
    earlier = st.continue_plan(run_dir / "checkpoints" / "epoch-01.keras")
    assert not earlier.same_run and earlier.after_epoch == 1
    assert "starts a new run" in earlier.note and "grey" in earlier.note and earlier.has_earlier_curves
    # The partial epoch is not a whole epoch: only epoch 1 is carried on or shown.
    reports = st.earlier_epochs(end.run)
    assert [r["epoch"] for r in reports] == [1] and reports[0]["metrics"] == {"accuracy": 0.5}
    alone = tmp_path / "mine.keras"
    alone.write_bytes(b"model")
    plan = st.continue_plan(alone)
    assert not plan.same_run and not plan.has_earlier_curves and "not from a cnnviz run folder" in plan.note
    # Epochs before the continued part stay in view.
    progress = RunProgress()
    progress.reset(1, resumed=True, run_start=0)
    span = progress.take_batches({"info": {"epochs": 3, "steps": 8, "batches": 8}, "x": [2.1]})
    assert span == (0, 3)


def test_gradient_flow_is_a_form_option_that_reaches_the_config(tmp_path):
    form = TrainingForm(tmp_path)
    assert form.make_config(tmp_path / "r").gradient_flow is False
    changed = []
    form.changed.connect(changed.append)
    form.set_gradient_flow(True)
    assert changed == ["gradient_flow"] and form.make_config(tmp_path / "r").gradient_flow is True
    assert form.to_session()["gradient_flow"] is True
    caption = st.gradient_flow_caption({"epoch": 1, "batch": 3, "first": 1e-6, "last": 0.1,
                                        "ratio": 1e-5}, "plain_deep")
    assert caption.startswith("plain_deep, epoch 1 batch 3") and "1e-05×" in caption
