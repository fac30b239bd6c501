"""The siamese jobs against Keras and numpy: distances are the model's own, the embedding map is
PCA of the base's embeddings, and the pane's contrastive and triplet formulas match a Keras
implementation of the losses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cnnviz import paths
from cnnviz.ml import siamese as S
from cnnviz.ml.inspect import LoadRequest
from cnnviz.ml.store import ModelStore
from cnnviz.state import siamese as state

BUNDLED = paths.resources_dir() / "models" / "siamese_digits.keras"


def _job():
    return SimpleNamespace(models=ModelStore(), stopped=False, progress=lambda *a, **k: None)


@pytest.fixture(scope="module")
def opened():
    job = _job()
    info = S.open_job(job, LoadRequest(str(BUNDLED)))
    return job, info


def test_the_bundled_model_is_small_and_siamese(opened):
    _, info = opened
    assert BUNDLED.stat().st_size < 1_000_000
    assert isinstance(info, S.SiameseInfo)
    assert info.input_shape == (28, 28, 1) and info.embedding_size == 128


def test_distances_are_the_models_own_output_and_the_embeddings_norm(opened):
    job, info = opened
    digits, labels = S.bundled_digits()
    rng = np.random.default_rng(1)
    idx = rng.choice(len(digits), 5, replace=False)
    images = [digits[i] for i in idx]
    pairs = [(0, 1), (0, 2), (3, 4), (1, 1)]
    res = S.distances_job(job, S.DistancesRequest(info.model_id, images, pairs))
    model = job.models.get(info.model_id).model
    x = np.stack(images).astype(np.float32)[..., None] / 255.0
    own = model.predict([x[[a for a, _ in pairs]], x[[b for _, b in pairs]]], verbose=0).reshape(-1)
    np.testing.assert_allclose(res.distances, own, rtol=1e-5, atol=1e-6)
    e = res.embeddings
    by_hand = [np.sqrt(max(((e[a] - e[b]) ** 2).sum(), 1e-7)) for a, b in pairs]
    np.testing.assert_allclose(res.distances, by_hand, rtol=1e-4, atol=1e-5)
    assert res.previews[0].shape == (28, 28) and res.previews[0].dtype == np.uint8


def test_the_trained_model_puts_same_digits_closer_than_different(opened):
    job, info = opened
    x, y = S.map_digits(10)
    same = [(i, i + 1) for i in range(0, 100, 10)]
    diff = [(i, (i + 10) % 100) for i in range(0, 100, 10)]
    res = S.distances_job(job, S.DistancesRequest(info.model_id, list(x), same + diff))
    assert res.distances[:10].mean() < 0.5 < res.distances[10:].mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pca_points_match_numpy_eigenvectors(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 60)), int(rng.integers(3, 12))
    e = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    points, mean, comps, var = S.pca_2d(e)
    c = e - e.mean(axis=0)
    w, v = np.linalg.eigh(c.T @ c)
    top = v[:, ::-1][:, :2]
    for k in range(2):
        ref = c @ top[:, k]
        sign = np.sign(ref @ points[:, k])
        np.testing.assert_allclose(points[:, k], sign * ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(var, w[::-1][:2] / w.sum(), rtol=1e-6)
    np.testing.assert_allclose((e - mean) @ comps.T, points, atol=1e-9)


def test_the_embedding_map_has_ten_classes_and_projects_chosen_inputs(opened):
    job, info = opened
    m = S.embedding_job(job, S.EmbeddingRequest(info.model_id, per_class=8))
    assert m.points.shape == (80, 2) and sorted(set(m.labels.tolist())) == list(range(10))
    x, _ = S.map_digits(8)
    res = S.distances_job(job, S.DistancesRequest(info.model_id, [x[0], x[1]], [(0, 1)]))
    projected = (res.embeddings - m.mean) @ m.components.T
    np.testing.assert_allclose(projected, m.points[:2], rtol=1e-3, atol=1e-3)


def _keras_triplet(keras, d_ap, d_an, alpha):
    ops = keras.ops
    return float(ops.convert_to_numpy(ops.maximum(ops.convert_to_tensor(d_ap) - d_an + alpha, 0.0)))


@pytest.mark.parametrize("seed", range(4))
def test_the_loss_formulas_match_hand_and_keras(seed):
    from cnnviz.ml.backend import keras as get_keras
    from cnnviz.ml.layers import contrastive_loss

    keras = get_keras()
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 2, size=8).astype(np.float32)
    y = rng.integers(0, 2, size=8).astype(np.float32)
    margin = float(rng.uniform(0.2, 2.0))
    ours = np.array([state.contrastive_loss(float(di), int(yi), margin) for di, yi in zip(d, y, strict=True)])
    by_hand = y * d ** 2 + (1 - y) * np.maximum(margin - d, 0) ** 2
    np.testing.assert_allclose(ours, by_hand, rtol=1e-5)
    k = [float(keras.ops.convert_to_numpy(contrastive_loss(yi[None], di[None, None], margin=margin)).reshape(-1)[0])
         for di, yi in zip(d, y, strict=True)]
    np.testing.assert_allclose(ours, k, rtol=1e-5, atol=1e-6)
    d_ap, d_an, alpha = rng.uniform(0, 2, size=3)
    assert state.triplet_loss(d_ap, d_an, alpha) == pytest.approx(max(d_ap - d_an + alpha, 0))
    assert state.triplet_loss(d_ap, d_an, alpha) == pytest.approx(_keras_triplet(keras, d_ap, d_an, alpha), abs=1e-6)


def _two_inputs(keras, shape_a, shape_b):
    a, b = keras.Input(shape_a), keras.Input(shape_b)
    fa = keras.layers.Flatten()(a)
    fb = keras.layers.Flatten()(b)
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([fa, fb]))
    return keras.Model([a, b], out)


def test_models_that_are_not_siamese_are_refused_with_reasons(tmp_path):
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    one = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    ins = [keras.Input((8, 8, 1)) for _ in range(3)]
    three = keras.Model(ins, keras.layers.Dense(1)(keras.layers.Concatenate()([keras.layers.Flatten()(i) for i in ins])))
    mixed = _two_inputs(keras, (8, 8, 1), (16, 16, 3))
    job = _job()
    for model, words in ((one, "it has one input"), (three, "it has 3 inputs"),
                         (mixed, "different shapes (8×8×1 and 16×16×3)")):
        path = tmp_path / f"m{len(model.inputs)}{model.inputs[-1].shape[1]}.keras"
        model.save(path)
        out = S.open_job(job, LoadRequest(str(path)))
        assert isinstance(out, S.NotSiamese), out
        assert "not a siamese model" in out.message and words in out.message


def test_a_pair_model_without_an_embedding_layer_still_gives_distances(tmp_path):
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    model = _two_inputs(keras, (8, 8, 1), (8, 8, 1))
    path = tmp_path / "concat.keras"
    model.save(path)
    job = _job()
    info = S.open_job(job, LoadRequest(str(path)))
    assert isinstance(info, S.SiameseInfo) and info.embedding_size is None
    img = np.zeros((8, 8), np.uint8)
    res = S.distances_job(job, S.DistancesRequest(info.model_id, [img, img], [(0, 1)]))
    assert res.embeddings is None and res.distances.shape == (1,)
    with pytest.raises(ValueError, match="no embedding to map"):
        S.embedding_job(job, S.EmbeddingRequest(info.model_id, per_class=2))


def test_a_model_gone_with_its_engine_is_reopened_from_its_file(opened):
    _, info = opened
    fresh = _job()  # another engine: the model is not held
    img = S.bundled_digits()[0][0]
    res = S.distances_job(fresh, S.DistancesRequest(info.model_id, [img, img], [(0, 1)],
                                                    LoadRequest(str(BUNDLED))))
    assert res.distances[0] == pytest.approx(np.sqrt(1e-7), abs=1e-4)
