"""The engine keeps an input's all-layer activations: a layer switch or a page change slices the
kept pass instead of running the model again, and gives what a fresh computation gives."""

from __future__ import annotations

import dataclasses
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnviz.ml import inspect as I
from cnnviz.ml.store import ModelStore

FIX = Path(__file__).resolve().parent / "fixtures" / "models"


@pytest.fixture()
def opened():
    job = SimpleNamespace(models=ModelStore(), stopped=False)
    info = I.load_job(job, I.LoadRequest(str(FIX / "keras3_cnn.keras")))
    assert isinstance(info, I.ModelInfo) and info.spec is not None
    I.activation_cache.drop()
    yield job, info
    I.activation_cache.drop()


def _image(seed: int, info) -> np.ndarray:
    h, w, _ = info.spec
    return np.random.default_rng(seed).integers(0, 256, (h or 32, w or 32, 3), dtype=np.uint8)


def _req(info, image, layer, **kw) -> I.ComputeRequest:
    return I.ComputeRequest(model_id=info.model_id, request=1, image=image, scaling="div255", layer=layer, **kw)


def _assert_same(a, b) -> None:
    for f in dataclasses.fields(a):
        if f.name in ("from_cache", "request"):
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb, err_msg=f.name)
        elif isinstance(va, I.Prediction):
            np.testing.assert_array_equal(va.probabilities, vb.probabilities)
            assert va.labels == vb.labels
        elif dataclasses.is_dataclass(va):
            _assert_same(va, vb)
        else:
            assert va == vb, f.name


def test_a_layer_switch_on_the_same_input_does_not_run_the_model(opened):
    job, info = opened
    image = _image(0, info)
    layers = [r.name for r in info.layers if r.kind != "none"]
    assert len(layers) >= 3
    first = I.compute_job(job, _req(info, image, layers[0], global_range=True))
    runs = I.activation_cache.runs
    assert not first.from_cache
    results = {}
    for layer in layers[1:]:
        res = I.compute_job(job, _req(info, image, layer, global_range=True, want_prediction=False))
        assert res.from_cache and res.layer == layer and res.input_key == first.input_key
        results[layer] = res
    assert I.activation_cache.runs == runs  # not one more pass through the model

    # the same as computed afresh, with nothing kept
    for layer, res in results.items():
        I.activation_cache.drop()
        fresh = I.compute_job(job, _req(info, image, layer, global_range=True, want_prediction=False))
        assert not fresh.from_cache
        _assert_same(res, fresh)


def test_another_input_or_scaling_or_model_runs_it_again(opened):
    job, info = opened
    layer = info.layers[1].name
    a, b = _image(1, info), _image(2, info)
    I.compute_job(job, _req(info, a, layer))
    runs = I.activation_cache.runs
    assert not I.compute_job(job, _req(info, b, layer)).from_cache
    assert I.compute_job(job, _req(info, a, layer)).from_cache  # the two latest inputs are kept
    assert not I.compute_job(job, dataclasses.replace(_req(info, a, layer), scaling="none")).from_cache
    assert I.activation_cache.runs == runs + 2
    assert len([k for k in I.activation_cache._items if k[0] == info.model_id]) <= I.ACTIVATION_CACHE_PER_MODEL
    # the id now names another model object: its own pass, not the old one's
    other = I.load_job(job, I.LoadRequest(str(FIX / "keras3_cnn.keras")))
    job.models.put_as(info.model_id, job.models.get(other.model_id))
    assert not I.compute_job(job, _req(info, a, layer)).from_cache


def test_compare_input_is_kept_beside_the_main_one(opened):
    job, info = opened
    layers = [r.name for r in info.layers if r.kind != "none"]
    a, b = _image(3, info), _image(4, info)
    I.compute_job(job, _req(info, a, layers[0], compare_image=b))
    runs = I.activation_cache.runs
    res = I.compute_job(job, _req(info, a, layers[1], compare_image=b))
    assert res.from_cache and res.compare.from_cache and res.compare.layer == layers[1]
    assert I.activation_cache.runs == runs


def test_memory_is_bounded():
    cache = I.ActivationCache(max_bytes=1000, per_model=2)

    class M:
        pass

    open_models = [M()]
    m = open_models[0]

    def entry(n):
        return I._Pass(weakref.ref(open_models[0]), np.zeros(1), np.zeros(1), {}, n)

    cache.put(1, "big", entry(5000))  # bigger than the bound: recomputed each time instead
    assert cache.get(1, m, "big") is None
    for i in range(3):
        cache.put(1, f"k{i}", entry(300))
    assert cache.get(1, m, "k0") is None and cache.get(1, m, "k2") is not None  # two per model
    cache.put(2, "a", entry(300))
    cache.put(3, "a", entry(300))
    assert cache.nbytes <= 1000 and cache.get(3, m, "a") is not None
    assert cache.get(1, M(), "k2") is None  # another model under the same id
    del m, open_models[0]  # the models are closed
    cache.put(4, "x", I._Pass(weakref.ref(M), np.zeros(1), np.zeros(1), {}, 1))
    assert all(k[0] == 4 for k in cache._items)  # passes of models no longer open are dropped
