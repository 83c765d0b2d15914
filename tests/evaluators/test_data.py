from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from bo_hpo.errors import ConfigError
from bo_hpo.evaluators.data import (
    FASHION_FILES,
    _loaders,
    load_fashion_mnist,
    load_shakespeare,
    read_idx,
    stratified_split,
)


def _write_idx(path, array: np.ndarray, *, code: int = 0x08, gz: bool = True) -> None:
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


# ---- idx parser -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    _write_idx(path, array, gz=gz)
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_on_real_fashion_mnist(shared_data):
    raw = shared_data / "fashion-mnist" / "FashionMNIST" / "raw"
    y = read_idx(raw / FASHION_FILES[("test", "labels")])
    x = read_idx(raw / FASHION_FILES[("test", "images")])
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,)
    assert np.bincount(y).tolist() == [1000] * 10


def test_read_idx_on_mnist_t10k(shared_data):
    y = read_idx(shared_data / "mnist-t10k" / "t10k-labels-idx1-ubyte.gz")
    assert y[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_read_idx_missing_file_names_path(tmp_path):
    path = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(ConfigError, match="nope-idx1-ubyte.gz"):
        read_idx(path)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ConfigError, match="magic"):
        read_idx(path)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "short.idx"
    _write_idx(path, np.zeros((4, 4), dtype=np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ConfigError, match="short.idx.*data bytes"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "corrupt.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="corrupt.gz"):
        read_idx(path)


# ---- Fashion-MNIST ----------------------------------------------------------------------------


def test_stratified_split_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(10), 50)
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert np.intersect1d(tr, va).size == 0 and len(tr) + len(va) == 500
    assert np.bincount(labels[va]).tolist() == [10] * 10
    np.testing.assert_array_equal(va, stratified_split(labels, 0.2, seed=3)[1])
    assert not np.array_equal(va, stratified_split(labels, 0.2, seed=4)[1])


def test_embedded_fashion_split(fashion_small):
    d = fashion_small
    assert d.x_train.shape == (4000, 28, 28) and d.x_val.shape == (1000, 28, 28)
    assert np.bincount(d.y_val).tolist() == [100] * 10
    assert d.source == "embedded" and d.test_reads == 0
    x_full, y_full = d.full_train()
    assert len(x_full) == 5000 and np.bincount(y_full).tolist() == [500] * 10


def test_split_depends_on_seed_only():
    a, b, c = (load_fashion_mnist(seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.y_val, b.y_val)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_test_set_read_only_on_request(monkeypatch, fashion_small):
    reads = []
    real = _loaders._read_npz_arrays
    monkeypatch.setattr(
        _loaders, "_read_npz_arrays", lambda path, keys: reads.append(keys) or real(path, keys)
    )
    d = load_fashion_mnist()
    assert reads == [("x_train", "y_train")]
    x, y = d.test()
    assert reads[-1] == ("x_test", "y_test") and d.test_reads == 1
    assert x.shape == (1000, 28, 28) and np.bincount(y).tolist() == [100] * 10


@pytest.mark.parametrize("layout", ["root", "raw"])
def test_fashion_from_idx_dir_reads_no_test_file(monkeypatch, shared_data, layout):
    paths = []
    real = _loaders.read_idx
    monkeypatch.setattr(_loaders, "read_idx", lambda p: paths.append(str(p)) or real(p))
    root = shared_data / "fashion-mnist"
    d = load_fashion_mnist(root if layout == "root" else root / "FashionMNIST" / "raw")
    assert len(d.x_train) == 48000 and len(d.x_val) == 12000
    assert paths and not any("t10k" in p for p in paths)
    assert d.test()[0].shape == (10000, 28, 28)
    assert any("t10k-images" in p for p in paths)


def test_fashion_missing_dir_names_path(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load_fashion_mnist(tmp_path)


def test_fashion_bad_label_file(tmp_path):
    _write_idx(tmp_path / FASHION_FILES[("train", "images")], np.zeros((20, 28, 28)))
    _write_idx(tmp_path / FASHION_FILES[("train", "labels")], np.full(20, 12))
    with pytest.raises(ConfigError, match="labels must lie in 0..9"):
        load_fashion_mnist(tmp_path)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_fashion_bad_val_fraction(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        load_fashion_mnist(val_fraction=fraction)


# ---- Tiny Shakespeare -------------------------------------------------------------------------


def test_shakespeare_embedded(shakespeare):
    s = shakespeare
    assert s.vocab_size == 65
    assert len(s.train_ids) + len(s.val_ids) == 1115394
    assert len(s.train_ids) == int(0.9 * 1115394)
    assert s.decode(s.train_ids[:14]) == "First Citizen:"


def test_shakespeare_from_dir_and_file(tmp_path):
    text = "To be, or not to be: that is the question.\n" * 40
    (tmp_path / "input.txt").write_text(text)
    by_dir, by_file = load_shakespeare(tmp_path), load_shakespeare(tmp_path / "input.txt")
    assert by_dir.vocab == tuple(sorted(set(text)))
    np.testing.assert_array_equal(by_dir.val_ids, by_file.val_ids)


def test_shakespeare_missing_or_short(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load_shakespeare(tmp_path)
    (tmp_path / "input.txt").write_text("too short")
    with pytest.raises(ConfigError, match="input.txt"):
        load_shakespeare(tmp_path)
