"""Data parallel settings of the training form (Qt-free): the Strategy and "CPU replicas"
rules, the lines that show how a batch is shared and on which devices, when TensorFlow must
restart to split the CPU, and the words for settings that cannot work (the same words as
``cnnviz train``)."""

from __future__ import annotations

import pytest

from cnnviz.ml import distribute
from cnnviz.state import training as st


@pytest.fixture
def form(tmp_path):
    return st.TrainingForm(tmp_path / "runs", model="mnist_fast")


def test_zero_or_too_many_replicas_are_refused_with_the_reason_and_keep_the_last_good(form):
    seen = []
    form.changed.connect(seen.append)
    form.enter_cpu_replicas(2)
    assert form.cpu_replicas == 2 and form.replicas_problem() is None
    form.enter_cpu_replicas(0)
    assert form.cpu_replicas == 2  # the last good number stays
    assert form.replicas_problem() == "The CPU replicas must be a whole number of at least 1 (1 = no split), not 0."
    with pytest.raises(ValueError, match="at least 1"):  # Start is refused with the reason
        form.make_config(form.output_root() / "run")
    form.enter_cpu_replicas(9)
    assert form.replicas_problem() == "At most 8 CPU replicas: a processor split further only adds overhead. Choose 1 (no split) to 8."
    form.enter_cpu_replicas(2)  # back to a good number: the problem is gone
    assert form.replicas_problem() is None and form.cpu_replicas == 2
    assert seen.count("cpu_replicas") >= 4


def test_more_replicas_than_the_batch_is_said_in_the_words_of_the_command_line(form):
    form.set_strategy("mirrored")
    form.enter_cpu_replicas(8)
    form.set_batch_size(4)
    with pytest.raises(ValueError) as cli:
        distribute.check("mirrored", 8, 4)
    assert form.replicas_problem() == str(cli.value)
    assert form.replicas_problem().startswith("8 CPU replicas cannot share a batch of 4: each replica needs")
    with pytest.raises(ValueError, match="cannot share a batch of 4"):
        form.make_config(form.output_root() / "run")
    form.set_batch_size(64)
    assert form.replicas_problem() is None


def test_the_batch_line_shows_the_global_and_the_per_replica_batch(form):
    form.set_batch_size(64)
    form.enter_cpu_replicas(2)
    assert form.batch_split_text() == "Global batch 64 = 2 replicas × 32"
    assert form.batch_split_text(gpus=4) == "Global batch 64 = 4 replicas × 16"
    form.set_strategy("none")
    assert form.batch_split_text() == "Global batch 64 (one replica)"
    assert st.replicas_text(2, 64) == "2 replicas × 32 = 64 per step"
    assert st.replicas_text(4, 6) == "4 replicas × 1–2 = 6 per step"
    assert st.replicas_text(1, 32) == "1 replica: 32 per step"


def test_the_devices_line(form):
    cpu = {"gpus": [], "cpus": 1}
    form.set_strategy("mirrored")
    assert form.devices_text(cpu) == "1 CPU: mirrored runs with one replica"
    assert form.devices_text({"gpus": ["/GPU:0"], "cpus": 1}) == "1 GPU: mirrored runs with one replica"
    assert form.devices_text({"gpus": ["/GPU:0", "/GPU:1"], "cpus": 1}) == "2 GPUs: mirrored runs with 2 replicas"
    form.enter_cpu_replicas(2)
    assert form.devices_text(cpu, engine_split=1) == (
        "2 logical CPUs (TensorFlow restarts to split the CPU when you press Start)")
    assert form.devices_text({"gpus": [], "cpus": 2}, engine_split=2) == "2 logical CPUs"
    assert form.devices_text(None, engine_split=2) == "2 logical CPUs"  # before the engine said
    form.enter_cpu_replicas(1)
    assert form.devices_text({"gpus": [], "cpus": 2}, engine_split=2) == (
        "1 CPU: mirrored runs with one replica (TensorFlow restarts with the CPU whole when you press Start)")
    form.set_strategy("none")
    assert form.devices_text(cpu) == "CPU: one device, no data parallelism"


def test_tensorflow_restarts_only_when_the_split_differs(form):
    form.set_strategy("auto")
    assert form.cpu_split_to_start(engine_split=1) is None  # nothing changed: no restart
    form.enter_cpu_replicas(2)
    assert form.cpu_split_to_start(engine_split=1) == 2
    assert form.cpu_split_to_start(engine_split=2) is None
    assert form.cpu_split_to_start(engine_split=1, gpus=1) is None  # the GPUs are the replicas
    form.enter_cpu_replicas(1)
    assert form.cpu_split_to_start(engine_split=2) == 1  # joined again
    form.enter_cpu_replicas(4)
    form.set_strategy("none")
    assert form.cpu_split_to_start(engine_split=1) is None  # one device: the split is not used
    assert form.restart_message(2) == "Restarting TensorFlow with 2 logical CPUs…"
    assert form.restart_message(1) == "Restarting TensorFlow with the CPU whole (one replica)…"


def test_the_engine_reads_its_split_from_the_environment():
    env = distribute.CPU_REPLICAS_ENV
    assert distribute.cpu_replicas_from_env({}) == 1
    assert distribute.cpu_replicas_from_env({env: "2"}) == 2
    assert distribute.cpu_replicas_from_env({env: "two"}) == 1
    assert distribute.cpu_replicas_from_env({env: "0"}) == 1


def test_a_session_keeps_the_strategy_and_replicas(form, tmp_path):
    form.set_strategy("mirrored")
    form.enter_cpu_replicas(3)
    other = st.TrainingForm(tmp_path / "runs", model="mnist_fast")
    other.apply_session(form.to_session())
    assert (other.strategy, other.cpu_replicas) == ("mirrored", 3)
