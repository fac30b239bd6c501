"""The training engine on real bundled data: progress, the run folder, stop, NaN, bad inputs."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnviz.ml import datasets as data
from cnnviz.ml import training as T


class Recorder(T.Handle):
    """A handle that keeps everything it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[dict] = []
        self.epochs: list[dict] = []
        self.messages: list[str] = []

    def on_batch(self, info: dict) -> None:
        self.batches.append(info)

    def on_epoch(self, info: dict) -> None:
        self.epochs.append(info)

    def on_message(self, text: str) -> None:
        self.messages.append(text)


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as _keras

    return _keras()


@pytest.fixture(scope="module")
def good_run(keras, tmp_path_factory):
    """Two epochs of Listing 2.1 (pooled) on 800 bundled digits."""
    handle = Recorder()
    config = T.TrainConfig(model="mnist_fast", dataset="digits", epochs=2, batch_size=32,
                           max_samples=800, seed=1, save_h5=True, reduce_lr_on_plateau=True,
                           out_dir=tmp_path_factory.mktemp("runs") / "good")
    result = T.run(config, handle)
    assert result.status == "finished", result.message
    return config, handle, result


BATCH_KEYS = {"epoch", "epochs", "batch", "batches", "step", "steps", "loss", "metrics", "lr",
              "samples_per_s", "eta_s", "elapsed_s"}
EPOCH_KEYS = {"epoch", "epochs", "loss", "val_loss", "metrics", "lr", "elapsed_s", "epoch_time_s",
              "samples_per_s", "checkpoint", "partial", "nan"}


def test_training_lowers_the_loss_and_reports_plain_data(good_run):
    _, handle, result = good_run
    assert len(handle.batches) == 2 * 23  # 720 training samples / 32, two epochs
    assert all(set(b) == BATCH_KEYS for b in handle.batches)
    assert [b["step"] for b in handle.batches] == list(range(1, 47))
    assert all(isinstance(b["loss"], float) and isinstance(b["metrics"]["accuracy"], float) for b in handle.batches)
    assert handle.batches[-1]["eta_s"] == 0.0 and handle.batches[-1]["samples_per_s"] > 0
    assert handle.batches[0]["lr"] == pytest.approx(1e-3)
    first = np.mean([b["loss"] for b in handle.batches[:3]])
    assert handle.epochs[-1]["loss"] < 0.6 * first  # real learning: ln(10) = 2.30 at the start
    assert [e["epoch"] for e in handle.epochs] == [1, 2]
    assert all(set(e) == EPOCH_KEYS for e in handle.epochs)
    assert handle.epochs[1]["loss"] < handle.epochs[0]["loss"]
    assert handle.epochs[-1]["metrics"]["val_accuracy"] > 0.6  # 10 classes: chance is 0.1
    assert result.history["loss"] == [e["loss"] for e in handle.epochs]
    assert any("Training on CPU" in m or "Training on" in m for m in handle.messages)
    assert result.ok and result.epochs_completed == 2 and result.samples_per_s > 0


def test_run_folder_holds_checkpoints_log_final_model_and_description(good_run, keras):
    config, handle, result = good_run
    run_dir = Path(config.out_dir)
    names = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    assert names == ["checkpoints/epoch-01.h5", "checkpoints/epoch-01.keras",
                     "checkpoints/epoch-02.h5", "checkpoints/epoch-02.keras",
                     "final.h5", "final.keras", "log.csv", "run.json"]
    assert handle.epochs[0]["checkpoint"] == str(run_dir / "checkpoints" / "epoch-01.keras")
    with open(run_dir / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert float(rows[1]["loss"]) == pytest.approx(result.history["loss"][1], rel=1e-5)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["model"] == "mnist_fast" and info["dataset"] == "digits"
    assert info["train_samples"] == 720 and info["val_samples"] == 80 and info["epochs_completed"] == 2
    assert info["final"] == "final.keras" and info["config"]["batch_size"] == 32
    # Everything reloads in safe mode and predicts what the trained model predicts.
    x = data.normalize(data.load("digits").x_train[:8])
    expected = result.model.predict(x, verbose=0)
    for name in ("final.keras", "final.h5"):
        loaded = keras.models.load_model(run_dir / name, safe_mode=True, compile=name.endswith(".keras"))
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-5)
    loaded = keras.models.load_model(run_dir / "checkpoints" / "epoch-02.keras")
    assert loaded.count_params() == result.model.count_params()
    # Writing the .h5 twins did not strip the optimizer from the later .keras files.
    assert type(loaded.optimizer).__name__ == "Adam" and int(loaded.optimizer.iterations) == 46


def test_the_trained_model_has_the_layer_names_of_the_summary(keras, tmp_path):
    """Models built earlier in the process do not shift the names (conv2d_2 for conv2d)."""
    from cnnviz.ml import zoo
    from cnnviz.ml.training_jobs import summary_job

    zoo.build("mnist_fast")
    first = [row[0] for row in summary_job(None, "mnist_fast")["rows"]]
    again = [row[0] for row in summary_job(None, "mnist_fast")["rows"]]
    assert first == again == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten",
                              "dense", "dense_1"]
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=1, max_samples=200, out_dir=tmp_path / "n"))
    assert r.status == "finished", r.message
    saved = keras.models.load_model(r.final_path)
    assert [layer.name for layer in saved.layers] == first


def test_gradient_flow_reports_each_layers_norm_through_the_handle(keras, tmp_path):
    class Flow(Recorder):
        def __init__(self):
            super().__init__()
            self.gradients = []

        def on_gradients(self, report):
            self.gradients.append(report)

    handle = Flow()
    r = T.run(T.TrainConfig(model="plain_deep", epochs=1, max_samples=320, batch_size=32,
                            gradient_flow=True, out_dir=tmp_path / "g"), handle)
    assert r.status == "finished", r.message
    assert len(handle.gradients) >= 5  # the first batch, then about ten an epoch
    report = handle.gradients[-1]
    assert report["layers"][0] == "conv1" and len(report["norms"]) == len(report["layers"]) > 5
    assert all(v >= 0 for v in report["norms"]) and report["epoch"] == 1
    # Off (the default): nothing measured.
    quiet = Flow()
    T.run(T.TrainConfig(model="mnist_fast", epochs=1, max_samples=200, out_dir=tmp_path / "q"), quiet)
    assert quiet.gradients == []


def test_same_seed_gives_the_same_model(keras, tmp_path):
    weights = []
    for k in range(2):
        r = T.run(T.TrainConfig(model="mnist_fast", epochs=1, max_samples=160, seed=7,
                                out_dir=tmp_path / f"r{k}"))
        assert r.status == "finished"
        weights.append(r.model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_resume_continues_the_epoch_count(good_run, tmp_path):
    config, _, _ = good_run
    source = Path(config.out_dir) / "checkpoints" / "epoch-01.keras"
    handle = Recorder()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=1, max_samples=800, seed=1,
                            resume_from=source, out_dir=tmp_path / "more"), handle)
    assert r.status == "finished", r.message
    assert [e["epoch"] for e in handle.epochs] == [2] and r.epochs_completed == 2
    assert (tmp_path / "more" / "checkpoints" / "epoch-02.keras").is_file()
    # Same seed, same data: continuing from epoch 1 repeats the uninterrupted run's epoch 2.
    assert handle.epochs[0]["loss"] == pytest.approx(good_run[2].history["loss"][1], rel=1e-4)
    assert any("Continuing from epoch-01.keras" in m for m in handle.messages)


def test_stop_before_the_first_batch_returns_the_model(keras, tmp_path):
    handle = Recorder()
    handle.stop()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=2, max_samples=200, out_dir=tmp_path / "s"), handle)
    assert r.status == "stopped" and r.model is not None and r.epochs_completed == 0
    assert handle.batches == []
    assert json.loads((tmp_path / "s" / "run.json").read_text())["status"] == "stopped"


def test_stop_within_the_first_batch_finishes_it_and_keeps_the_model(keras, tmp_path):
    class StopAtOnce(Recorder):
        def on_batch(self, info):
            super().on_batch(info)
            self.stop()

    handle = StopAtOnce()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=3, max_samples=400, out_dir=tmp_path / "s"), handle)
    assert r.status == "stopped", r.message
    assert "epoch 1 batch 1" in r.message
    assert len(handle.batches) == 1 and len(handle.epochs) == 1
    assert handle.epochs[0]["partial"] and handle.epochs[0]["val_loss"] is None
    assert r.final_path == tmp_path / "s" / "final.keras" and r.final_path.is_file()
    assert all(np.all(np.isfinite(w)) for w in r.model.get_weights())


def test_a_stopped_epoch_is_saved_as_partial_and_continuing_trains_it_again(keras, tmp_path):
    class StopAtBatch3(Recorder):
        def on_batch(self, info):
            super().on_batch(info)
            if info["epoch"] == 2 and info["batch"] == 3:
                self.stop()

    handle = StopAtBatch3()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=3, max_samples=400, batch_size=32,
                            out_dir=tmp_path / "s"), handle)
    assert r.status == "stopped", r.message
    names = sorted(p.name for p in (tmp_path / "s" / "checkpoints").iterdir())
    assert names == ["epoch-01.keras", "epoch-02-partial.keras"]  # nothing hidden left behind
    partial = tmp_path / "s" / "checkpoints" / "epoch-02-partial.keras"
    assert r.last_good_checkpoint == partial
    again = Recorder()
    r2 = T.run(T.TrainConfig(model="mnist_fast", epochs=1, max_samples=400, batch_size=32,
                             resume_from=partial, out_dir=tmp_path / "more"), again)
    assert r2.status == "finished", r2.message
    # Epoch 2 was cut short, so it is the one trained, from its first batch.
    assert [e["epoch"] for e in again.epochs] == [2] and again.batches[0]["batch"] == 1
    assert r2.epochs_completed == 2
    assert any("epoch 2 was stopped" in m for m in again.messages)
    assert (tmp_path / "more" / "checkpoints" / "epoch-02.keras").is_file()


def test_continuing_in_the_run_folder_appends_to_the_same_run(keras, tmp_path):
    """Stop after one batch of epoch 2, then continue into the same folder: one run whose
    log.csv and run.json hold epochs 1..3, the cut-short epoch marked partial, then replaced."""
    class StopEarlyInEpoch2(Recorder):
        def on_batch(self, info):
            super().on_batch(info)
            if info["epoch"] == 2 and info["batch"] == 1:
                self.stop()

    run_dir = tmp_path / "run"
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=3, max_samples=400, out_dir=run_dir),
              StopEarlyInEpoch2())
    assert r.status == "stopped", r.message
    with open(run_dir / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r_["epoch"], r_["partial"]) for r_ in rows] == [("0", "0"), ("1", "1")]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["partial_epochs"] == [2] and len(info["history"]["loss"]) == 2
    first_loss = info["history"]["loss"][0]

    again = Recorder()
    partial = run_dir / "checkpoints" / "epoch-02-partial.keras"
    r2 = T.run(T.TrainConfig(model="mnist_fast", epochs=2, max_samples=400, resume_from=partial,
                             out_dir=run_dir), again)
    assert r2.status == "finished", r2.message and r2.run_dir == run_dir
    assert [e["epoch"] for e in again.epochs] == [2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no new run folder
    with open(run_dir / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r_["epoch"], r_["partial"]) for r_ in rows] == [("0", "0"), ("1", "0"), ("2", "0")]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_completed"] == 3
    assert info["initial_epoch"] == 0 and info["partial_epochs"] == []
    assert len(info["history"]["loss"]) == 3 and info["history"]["loss"][0] == first_loss
    assert info["continued"][0]["from"] == "epoch-02-partial.keras"
    assert "checkpoints/epoch-01.keras" in info["checkpoints"] and "checkpoints/epoch-03.keras" in info["checkpoints"]


def test_out_of_memory_during_fit_ends_in_a_plain_message(keras, tmp_path):
    tf = T.backend.tensorflow()

    class OutOfMemory(Recorder):
        def on_batch(self, info):
            super().on_batch(info)
            if info["batch"] == 2:  # as TensorFlow raises it when a tensor cannot be allocated
                raise tf.errors.ResourceExhaustedError(
                    None, None, "OOM when allocating tensor with shape[32,32,26,26] and type float")

    handle = OutOfMemory()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=2, max_samples=256, batch_size=32,
                            out_dir=tmp_path / "oom"), handle)
    assert r.status == "failed" and r.final_path is None
    assert r.message == ("Training ran out of memory with a batch of 32 (ResourceExhaustedError). "
                         "Choose a smaller batch size or fewer samples.")
    assert handle.messages[-1] == r.message and "Traceback" not in r.message
    info = json.loads((tmp_path / "oom" / "run.json").read_text())
    assert info["status"] == "failed" and info["message"] == r.message
    assert not (tmp_path / "oom" / "checkpoints").exists()  # no empty folder left behind


def test_a_failed_run_leaves_no_empty_checkpoints_folder(keras, tmp_path):
    r = T.run(T.TrainConfig(model="mnist_fast", dataset="folder", out_dir=tmp_path / "f",
                            dataset_options={"path": str(tmp_path / "missing")}))
    assert r.status == "failed"
    assert (tmp_path / "f").is_dir() and not (tmp_path / "f" / "checkpoints").exists()


def test_a_run_marked_interrupted_says_so_and_names_its_last_checkpoint(tmp_path):
    run_dir = tmp_path / "r"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "epoch-01.keras").write_bytes(b"x")
    (run_dir / "run.json").write_text(json.dumps({"status": "running", "model": "mnist_fast"}))
    assert T.mark_interrupted(run_dir, "closed")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and info["message"] == "closed"
    assert info["model"] == "mnist_fast"
    assert info["last_good_checkpoint"] == str(run_dir / "checkpoints" / "epoch-01.keras")
    assert not T.mark_interrupted(run_dir, "again")  # only a run still running is changed
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "run.json"]


def test_nan_from_a_bad_sample_stops_with_an_explanation(keras, tmp_path):
    ds = data.load("digits").subset(96)
    x = ds.x_train.astype(np.float32)
    x[5, 10, 10, 0] = np.nan  # one corrupt pixel in one sample
    bad = data.Dataset("digits", x, ds.y_train, ds.class_names)
    handle = Recorder()
    r = T.run(T.TrainConfig(model="mnist_fast", dataset=bad, epochs=2, batch_size=16,
                            validation_split=0, out_dir=tmp_path / "n"), handle)
    assert r.status == "nan" and not r.ok
    assert r.message.startswith("The loss became NaN at epoch 1 batch ")
    assert "invalid values" in r.message  # the learning rate is the book's, so blame the data
    assert r.checkpoints == [] and r.final_path is None
    assert not list((tmp_path / "n" / "checkpoints").iterdir())
    assert json.loads((tmp_path / "n" / "run.json").read_text())["status"] == "nan"


def test_nan_from_a_huge_learning_rate_keeps_the_last_good_checkpoint(good_run, keras, tmp_path):
    config, _, _ = good_run
    source = Path(config.out_dir) / "checkpoints" / "epoch-02.keras"
    handle = Recorder()
    r = T.run(T.TrainConfig(model="mnist_fast", epochs=2, max_samples=800, learning_rate=1e6,
                            resume_from=source, out_dir=tmp_path / "lr"), handle)
    assert r.status == "nan", r.message
    assert "at epoch 3 batch" in r.message
    assert "learning rate 1e+06 is probably too high" in r.message
    assert r.last_good_checkpoint == source and "kept" in r.message
    # The returned model is the last good one again, and the checkpoint loads and is finite.
    assert all(np.all(np.isfinite(w)) for w in r.model.get_weights())
    reloaded = keras.models.load_model(r.last_good_checkpoint)
    for a, b in zip(reloaded.get_weights(), r.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "lr" / "checkpoints" / "epoch-03.keras").exists()


def test_unwritable_output_folder_is_reported_before_training(keras, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file where a folder should be")
    handle = Recorder()
    r = T.run(T.TrainConfig(model="mnist_fast", out_dir=blocker / "run"), handle)
    assert r.status == "failed"
    assert "cannot be written" in r.message and "afile" in r.message
    assert handle.batches == [] and handle.messages == [r.message]
    r = T.run(T.TrainConfig(model="mnist_fast", out_dir="/proc/cnnviz-run"))
    assert r.status == "failed" and "cannot be written" in r.message


def test_a_second_run_is_refused_while_one_is_running(keras, tmp_path):
    started, release = threading.Event(), threading.Event()

    class Blocking(Recorder):
        def on_batch(self, info):
            started.set()
            release.wait(30)
            self.stop()

    first = Blocking()
    results = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("first", T.run(
            T.TrainConfig(model="mnist_fast", epochs=1, max_samples=200, out_dir=tmp_path / "a"), first)),
        name="test-training-run")
    thread.start()
    try:
        assert started.wait(60)
        assert T.busy()
        second = T.run(T.TrainConfig(model="mnist_fast", out_dir=tmp_path / "b"))
        assert second.status == "failed" and "already in progress" in second.message
        assert not (tmp_path / "b").exists()
    finally:
        release.set()
        thread.join(60)
    assert results["first"].status == "stopped"
    assert not T.busy()


def test_a_batch_too_large_for_memory_is_refused_with_advice(keras, tmp_path):
    from cnnviz.ml import zoo

    free = T._available_memory()
    if free is None:
        pytest.skip("free memory unknown on this platform")
    model = zoo.build("unet_small", compile=False)
    per_sample = T.estimate_batch_bytes(model, 2) - T.estimate_batch_bytes(model, 1)
    batch = int(2 * T.MEMORY_SHARE * free / per_sample) + 1  # twice what is allowed
    if batch > 4000:
        pytest.skip("too much memory here to build a dataset that large quickly")
    r = T.run(T.TrainConfig(model="unet_small", dataset="segmentation", batch_size=batch,
                            epochs=1, validation_split=0, dataset_options={"n": batch, "size": 128},
                            out_dir=tmp_path / "oom"))
    assert r.status == "failed", r.message
    assert f"A batch of {batch} would need about" in r.message and "smaller batch size" in r.message


def test_bad_settings_are_plain_messages(keras, tmp_path):
    cases = [
        (dict(model="unet_small", dataset="digits"), "does not suit unet_small"),
        (dict(model="mnist_fast", epochs=0), "at least one epoch"),
        (dict(model="mnist_fast", batch_size=0), "batch size"),
        (dict(model="mnist_fast", learning_rate=-1.0), "learning rate"),
        (dict(model="mnist_fast", dataset="cifar10", dataset_options={"allow_download": False}), None),
        (dict(model="nope"), "unknown model"),
    ]
    for kwargs, expected in cases:
        r = T.run(T.TrainConfig(out_dir=tmp_path / "x", **kwargs))
        assert r.status == "failed", kwargs
        if expected:
            assert expected in r.message, r.message


def test_folder_dataset_trains_and_reports_skipped_files(keras, tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    for cls, kind in (("circles", "circle"), ("squares", "square")):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            canvas = np.zeros((40, 40), np.float32)
            data.draw_shape(canvas, kind, (20 + rng.uniform(-4, 4), 20), 12, rng.uniform(0, 6), 255)
            cv2.imwrite(str(tmp_path / "imgs" / cls / f"{i}.png"), canvas.astype(np.uint8))
    (tmp_path / "imgs" / "circles" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    handle = Recorder()
    r = T.run(T.TrainConfig(model="small_cnn", dataset="folder", epochs=1, batch_size=8,
                            dataset_options={"path": tmp_path / "imgs"}, out_dir=tmp_path / "f"), handle)
    assert r.status == "finished", r.message
    assert any("Skipped 1 file" in m for m in handle.messages)
    assert r.model.outputs[0].shape[-1] == 2  # the model follows the folder's two classes
    assert r.model.inputs[0].shape[1:] == (32, 32, 3)


def test_siamese_and_unet_train_and_reload_in_safe_mode(keras, tmp_path):
    r = T.run(T.TrainConfig(model="siamese_mnist", epochs=1, batch_size=32, max_samples=320,
                            augment=True, out_dir=tmp_path / "siam"))
    assert r.status == "finished", r.message
    assert set(r.history) >= {"loss", "pair_accuracy", "val_loss", "val_pair_accuracy"}
    loaded = keras.models.load_model(tmp_path / "siam" / "final.keras", safe_mode=True)
    assert "Lambda" not in [type(layer).__name__ for layer in loaded.layers]
    r = T.run(T.TrainConfig(model="unet_small", epochs=1, batch_size=4, max_samples=8,
                            validation_split=0.25, dataset_options={"n": 8}, out_dir=tmp_path / "unet"))
    assert r.status == "finished", r.message
    assert {"jaccard", "dice_coef", "val_jaccard", "val_dice_coef"} <= set(r.history)
    keras.models.load_model(tmp_path / "unet" / "checkpoints" / "epoch-01.keras", safe_mode=True)


def _shape_folder(root, n=12, modes=False):
    """Two classes of drawn figures; with ``modes`` the files mix sizes, gray, RGBA, 16 bit."""
    import cv2

    rng = np.random.default_rng(0)
    for cls, kind in (("circles", "circle"), ("squares", "square")):
        (root / cls / "more").mkdir(parents=True)
        for i in range(n):
            side = 40 + 8 * (i % 3) if modes else 40
            canvas = np.zeros((side, side), np.float32)
            data.draw_shape(canvas, kind, (side / 2 + rng.uniform(-4, 4), side / 2), side * 0.3,
                            rng.uniform(0, 6), 255)
            img = canvas.astype(np.uint8)
            name = root / cls / ("more" if i % 2 else ".") / f"{i}.png"
            if modes and i % 4 == 1:
                img = np.dstack([img, img, img, np.full_like(img, 255)])  # RGBA
            elif modes and i % 4 == 2:
                img = img.astype(np.uint16) * 257  # 16-bit
            elif modes and i % 4 == 3:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                name = name.with_suffix(".jpg")
            cv2.imwrite(str(name), img)
    return root


def test_a_folder_streams_mixed_images_and_skips_a_file_deleted_mid_training(keras, tmp_path):
    root = _shape_folder(tmp_path / "imgs", n=16, modes=True)
    victim = root / "squares" / "more" / "5.png"

    class DeleteAfterEpoch1(Recorder):
        def on_epoch(self, info):
            super().on_epoch(info)
            if info["epoch"] == 1:
                victim.unlink()

    handle = DeleteAfterEpoch1()
    r = T.run(T.TrainConfig(model="mnist_fast", dataset="folder", epochs=3, batch_size=8,
                            dataset_options={"path": root}, out_dir=tmp_path / "run"), handle)
    assert r.status == "finished", r.message
    notes = [m for m in handle.messages if "Skipped 1 file(s)" in m]
    assert len(notes) == 1 and "5.png" in notes[0] and "disappeared" in notes[0]
    assert any("images read while training" in m for m in handle.messages)
    assert [e["epoch"] for e in handle.epochs] == [1, 2, 3] and all(np.isfinite(r.history["loss"]))
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["streamed"] and info["train_samples"] + info["val_samples"] == 32
    assert r.model.inputs[0].shape[1:] == (28, 28, 1)  # RGBA, 16-bit and JPEG all made gray 28×28
    keras.models.load_model(tmp_path / "run" / "final.keras", safe_mode=True)


def test_mirrored_with_one_device_runs_and_says_it_has_one_replica(keras, tmp_path):
    handle = Recorder()
    r = T.run(T.TrainConfig(model="mnist_fast", strategy="mirrored", epochs=1, batch_size=16,
                            max_samples=64, out_dir=tmp_path / "m"), handle)
    assert r.status == "finished", r.message
    assert any("MirroredStrategy with one replica" in m for m in handle.messages)
    assert (r.strategy, r.replicas, r.global_batch_size, r.per_replica_batch_size) == ("mirrored", 1, 16, 16)
    info = json.loads((tmp_path / "m" / "run.json").read_text())
    assert (info["strategy"], info["replicas"], info["per_replica_batch_size"]) == ("mirrored", 1, 16)
    assert info["config"]["strategy"] == "mirrored" and info["config"]["cpu_replicas"] == 1


def test_bad_replica_settings_are_plain_messages(keras, tmp_path):
    from cnnviz.ml import backend

    backend.tensorflow().config.list_logical_devices("CPU")  # TensorFlow's devices have started
    cases = [
        (dict(cpu_replicas=0), "The CPU replicas must be a whole number of at least 1"),
        (dict(cpu_replicas=4, batch_size=2), "4 CPU replicas cannot share a batch of 2"),
        (dict(strategy="multiworker"), "Unknown strategy 'multiworker'"),
        (dict(cpu_replicas=2, strategy="mirrored"), "only be split into 2 replicas before TensorFlow starts"),
    ]
    for kwargs, expected in cases:
        r = T.run(T.TrainConfig(model="mnist_fast", max_samples=64, out_dir=tmp_path / "x", **kwargs))
        assert r.status == "failed" and expected in r.message, (kwargs, r.message)
    # Replicas are fine with a small batch when they are not used.
    assert T.TrainConfig(cpu_replicas=4, batch_size=2, strategy="none").strategy == "none"


def test_the_plain_outcome_copies_every_field_of_the_result_and_names_the_model_by_id():
    from dataclasses import fields

    from cnnviz.ml.training_jobs import TrainOutcome, outcome_of

    result = T.TrainResult("stopped", "stopped after epoch 2", None, Path("run"), 2, {"loss": [1.0, 0.5]},
                           [Path("run/epoch-01.keras")], Path("run/epoch-01.keras"), None, "CPU", 3.0, 40.0,
                           strategy="mirrored", replicas=2, global_batch_size=32, per_replica_batch_size=16)
    outcome = outcome_of(result, 7)
    assert outcome.model_id == 7 and outcome.model_name == ""
    for f in fields(TrainOutcome):
        if f.name not in ("model_id", "model_name"):
            assert getattr(outcome, f.name) == getattr(result, f.name), f.name
