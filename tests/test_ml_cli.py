"""``cnnviz train`` in a real subprocess: progress lines, checkpoints, CSV, exit codes."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def train(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    code = f"from cnnviz.ml.cli import main; raise SystemExit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as _keras

    return _keras()


def test_headless_training_writes_checkpoints_and_csv_that_reload(keras, tmp_path):
    out = tmp_path / "run"
    proc = train("--model", "mnist_cnn", "--dataset", "digits", "--epochs", "2", "--out", str(out),
                 "--batch-size", "32", "--max-samples", "300", "--seed", "3", "--h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("epoch 1/2: loss ") for line in lines)
    # The speed is unknown after the first batch (it includes building the step function).
    first = next(line for line in lines if line.startswith("  epoch 1/2 batch 1/"))
    assert "… samples/s" in first and " 0 samples/s" not in proc.stdout
    for name in ("epoch-01.h5", "epoch-02.h5", "final.h5"):  # .h5 twins are written atomically too
        assert not list(out.rglob(f".*{Path(name).suffix}"))
    assert any(line.startswith("epoch 2/2: loss ") and "val_accuracy" in line for line in lines)
    assert "FINISHED: Finished 2 epoch(s)." in proc.stdout and f"run folder: {out}" in proc.stdout
    for name in ("epoch-01.keras", "epoch-02.keras", "epoch-01.h5", "epoch-02.h5"):
        assert (out / "checkpoints" / name).is_file()
    with open(out / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    model = keras.models.load_model(out / "checkpoints" / "epoch-02.keras")  # safe mode
    assert model.count_params() == 4_738_826
    legacy = keras.models.load_model(out / "checkpoints" / "epoch-01.h5", compile=False)
    assert legacy.count_params() == 4_738_826


def test_headless_siamese_reloads_without_lambda(keras, tmp_path):
    out = tmp_path / "siamese"
    proc = train("--model", "siamese_mnist", "--epochs", "1", "--out", str(out),
                 "--max-samples", "256", "--batch-size", "64")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pair_accuracy" in proc.stdout
    import cnnviz.ml.layers  # noqa: F401  (registers the custom objects, as the app does)

    model = keras.models.load_model(out / "final.keras", safe_mode=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "EuclideanDistance" in kinds and "Lambda" not in kinds


@pytest.mark.parametrize("name, total", [("resnet_small", 68_250), ("densenet_small", 33_590)])
def test_headless_chapter_4_models_train_and_reload(keras, tmp_path, name, total):
    out = tmp_path / name
    proc = train("--model", name, "--epochs", "1", "--out", str(out), "--max-samples", "128",
                 "--batch-size", "32", "--seed", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(line.startswith("epoch 1/1: loss ") and "val_accuracy" in line for line in proc.stdout.splitlines())
    assert "FINISHED: Finished 1 epoch(s)." in proc.stdout
    model = keras.models.load_model(out / "final.keras", safe_mode=True)  # Add/Concatenate reload
    assert model.name == name and model.count_params() == total


def test_headless_failures_exit_non_zero_with_a_message(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    proc = train("--epochs", "1", "--out", str(blocker / "run"))
    assert proc.returncode == 2
    assert "FAILED: The output folder" in proc.stdout and "cannot be written" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_list_and_usage_errors(capsys):
    import io

    from cnnviz.ml.cli import main

    buf = io.StringIO()
    assert main(["--list"], out=buf) == 0
    assert "mnist_fast" in buf.getvalue() and "digit_pairs" in buf.getvalue()
    for name in ("plain_deep", "resnet_small", "densenet_small"):
        assert f"  {name} " in buf.getvalue()
    assert main(["--model", "vgg"]) == 2  # argparse explains the choices on stderr
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--dataset", "folder"]) == 2  # --folder is required with it
    assert "--folder" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (("--seed", "-1"), "The seed must be a whole number from 0 to 4294967295, not -1."),
    (("--epochs", "0"), "Train for at least one epoch, not 0."),
    (("--batch-size", "-1"), "The batch size must be at least 1, not -1."),
    (("--lr", "nan"), "The learning rate must be a positive number, not nan."),
    (("--cpu-replicas", "0"), "The CPU replicas must be a whole number of at least 1 (1 = no split), not 0."),
    (("--cpu-replicas", "8", "--batch-size", "4"), "8 CPU replicas cannot share a batch of 4: each "
     "replica needs at least one sample of every batch. Choose a batch size of at least 8"),
])
def test_bad_numbers_exit_2_with_a_message(tmp_path, capsys, args, message):
    import io

    from cnnviz.ml.cli import main

    buf = io.StringIO()
    assert main([*args, "--out", str(tmp_path / "run")], out=buf) == 2
    assert f"FAILED: {message}" in buf.getvalue()
    assert "Traceback" not in capsys.readouterr().err


def test_two_cpu_replicas_train_a_streamed_folder_and_the_model_reloads(keras, tmp_path):
    """Logical CPU devices must exist before TensorFlow starts, so this runs in its own process."""
    import json

    import cv2
    import numpy as np

    for cls, value in (("dark", 30), ("light", 220)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(20):
            img = np.full((24 + i % 3, 24, 3), value, np.uint8) + np.uint8(i)
            cv2.imwrite(str(tmp_path / "imgs" / cls / f"{i}.jpg"), img)
    out = tmp_path / "run"
    proc = train("--model", "mnist_fast", "--dataset", "folder", "--folder", str(tmp_path / "imgs"),
                 "--strategy", "mirrored", "--cpu-replicas", "2", "--batch-size", "8", "--epochs", "1",
                 "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Data parallel: MirroredStrategy over 2 replicas (CPU:0, CPU:1); global batch 8 = 2 replicas × 4" in proc.stdout
    assert "strategy: mirrored, 2 replica(s); global batch 8, 4 per replica" in proc.stdout
    assert "ran out of data" not in proc.stderr and "shuffle" not in proc.stderr
    info = json.loads((out / "run.json").read_text())
    assert (info["strategy"], info["replicas"], info["global_batch_size"], info["per_replica_batch_size"]) == (
        "mirrored", 2, 8, 4)
    assert info["config"]["cpu_replicas"] == 2 and info["streamed"] and info["epochs_completed"] == 1
    model = keras.models.load_model(out / "final.keras", safe_mode=True)
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 2)


def test_a_folder_with_one_class_fails_with_a_message(tmp_path, capsys):
    import io

    import cv2
    import numpy as np

    from cnnviz.ml.cli import main

    (tmp_path / "imgs" / "only").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "imgs" / "only" / "a.png"), np.zeros((8, 8), np.uint8))
    buf = io.StringIO()
    assert main(["--model", "small_cnn", "--dataset", "folder", "--folder", str(tmp_path / "imgs"),
                 "--out", str(tmp_path / "run")], out=buf) == 2
    assert "FAILED: an image folder needs at least two classes" in buf.getvalue()
    assert "only 'only'" in buf.getvalue() and "Traceback" not in capsys.readouterr().err
