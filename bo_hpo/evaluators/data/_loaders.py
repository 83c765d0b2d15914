"""Dataset loaders: an idx parser, Fashion-MNIST with a seeded validation split, Tiny Shakespeare.

Only numpy is needed here (no torch, no torchvision). The test images of Fashion-MNIST are read
only when :meth:`ImageDataset.test` is called, so a tuning run that never calls it provably never
touches them (``ImageDataset.test_reads`` counts the calls).
"""

from __future__ import annotations

import gzip
import logging
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from bo_hpo.errors import ConfigError

logger = logging.getLogger(__name__)

_PACKAGE = "bo_hpo.evaluators.data"
_SMALL_NPZ = "fashion_mnist_small.npz"
_SHAKESPEARE_TXT = "tinyshakespeare.txt"

#: The four standard Fashion-MNIST file names, by split and part.
FASHION_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# --------------------------------------------------------------------------------------------
# idx parsing
# --------------------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an idx file (gzipped when its name ends in ``.gz``) into a numpy array.

    Args:
        path: the idx or idx.gz file.

    Returns:
        The array, with the shape and dtype the header gives (uint8 for the MNIST family).

    Raises:
        ConfigError: the file is missing, unreadable, or not a well-formed idx file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"idx file {str(path)!r} does not exist or is not a file")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ConfigError(f"idx file {str(path)!r} cannot be read: {err}") from err
    if len(raw) < 4:
        raise ConfigError(f"idx file {str(path)!r} is {len(raw)} bytes, shorter than a header")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ConfigError(
            f"idx file {str(path)!r}: the magic number must be 0x0000, a known type code and "
            f"ndim >= 1, got zero={zero:#06x}, type={code:#04x}, ndim={ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ConfigError(f"idx file {str(path)!r} is truncated inside its header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ConfigError(
            f"idx file {str(path)!r}: shape {shape} needs {expected} data bytes, "
            f"found {len(raw) - header}"
        )
    # A writable copy: torch warns on (and may write through) read-only buffers.
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).copy()


def _read_npz_arrays(path: Path, keys: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Read only ``keys`` from an npz file (npz members are read lazily, one by one)."""
    try:
        with np.load(path) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise ConfigError(f"npz file {str(path)!r} lacks the arrays {missing}")
            return tuple(z[k] for k in keys)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ConfigError(f"npz file {str(path)!r} cannot be read: {err}") from err


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class ImageDataset:
    """Training images split into train and validation parts, with the test set held back.

    ``x_*`` are uint8 arrays of shape ``(n, 28, 28)``, ``y_*`` uint8 labels in ``0..9``.
    The test set is read from disk only by :meth:`test`; ``test_reads`` counts those calls.

    Attributes:
        x_train, y_train: the training part of the training data.
        x_val, y_val: the validation part of the training data (stratified, seeded).
        source: where the data came from (a directory, or ``"embedded"``).
        seed: the seed of the train/validation split.
        num_classes: number of classes (10).
        test_reads: how many times :meth:`test` has been called.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    source: str
    seed: int
    _test_loader: Callable[[], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    num_classes: int = 10
    test_reads: int = 0

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """Read and return ``(x_test, y_test)``; call this once, for the final evaluation only."""
        self.test_reads += 1
        logger.info("reading the Fashion-MNIST test set from %s", self.source)
        return self._test_loader()

    def full_train(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole training data (train part + validation part), for the final retraining."""
        return np.concatenate([self.x_train, self.x_val]), np.concatenate(
            [self.y_train, self.y_val]
        )


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into sorted train and validation indices.

    Each class gives ``round(val_fraction * n_class)`` of its members, chosen at random with
    ``numpy.random.default_rng(seed)``, to the validation part.
    """
    rng = np.random.default_rng(seed)
    val_parts = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        n_val = int(round(val_fraction * len(members)))
        val_parts.append(rng.permutation(members)[:n_val])
    val_idx = np.sort(np.concatenate(val_parts))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx


def _fashion_raw_dir(data_dir: Path) -> Path:
    """Accept either the ``raw`` directory itself or a root holding ``FashionMNIST/raw``."""
    for candidate in (data_dir, data_dir / "FashionMNIST" / "raw"):
        if (candidate / FASHION_FILES[("train", "images")]).is_file():
            return candidate
    raise ConfigError(
        f"data_dir {str(data_dir)!r} holds no Fashion-MNIST: expected "
        f"{FASHION_FILES[('train', 'images')]!r} in it or in its FashionMNIST/raw"
    )


def _check_images(x: np.ndarray, y: np.ndarray, where: str) -> None:
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
        raise ConfigError(
            f"{where}: images must be (n, 28, 28) with n labels, got images {x.shape} "
            f"and labels {y.shape}"
        )
    if y.size and (int(y.min()) < 0 or int(y.max()) > 9):
        raise ConfigError(f"{where}: labels must lie in 0..9, got {int(y.min())}..{int(y.max())}")


def load_fashion_mnist(
    data_dir: str | Path | None = None, *, val_fraction: float = 0.2, seed: int = 0
) -> ImageDataset:
    """Load Fashion-MNIST's training data split into train and validation parts.

    Args:
        data_dir: a directory with the four standard ``*-idx?-ubyte.gz`` files, or a root
            holding ``FashionMNIST/raw`` with them (torchvision's layout). ``None`` uses the
            embedded subset (5000 training and 1000 test images, stratified; see SOURCES.txt).
        val_fraction: fraction of each class's training images held out for validation,
            strictly between 0 and 1.
        seed: seed of the stratified split (not of training).

    Returns:
        An :class:`ImageDataset`; the test set is read only when its ``test()`` is called.

    Raises:
        ConfigError: ``val_fraction`` is out of range, or a file is missing or malformed.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    if data_dir is None:
        source = "embedded"
        npz = resources.files(_PACKAGE).joinpath(_SMALL_NPZ)
        path = Path(str(npz))
        x, y = _read_npz_arrays(path, ("x_train", "y_train"))

        def load_test() -> tuple[np.ndarray, np.ndarray]:
            return _read_npz_arrays(path, ("x_test", "y_test"))

    else:
        raw_dir = _fashion_raw_dir(Path(data_dir))
        source = str(raw_dir)
        x = read_idx(raw_dir / FASHION_FILES[("train", "images")])
        y = read_idx(raw_dir / FASHION_FILES[("train", "labels")])

        def load_test() -> tuple[np.ndarray, np.ndarray]:
            xt = read_idx(raw_dir / FASHION_FILES[("test", "images")])
            yt = read_idx(raw_dir / FASHION_FILES[("test", "labels")])
            _check_images(xt, yt, f"Fashion-MNIST test set in {source!r}")
            return xt, yt

    _check_images(x, y, f"Fashion-MNIST training set in {source!r}")
    train_idx, val_idx = stratified_split(y, val_fraction, seed)
    logger.debug(
        "Fashion-MNIST from %s: %d train, %d validation", source, len(train_idx), len(val_idx)
    )
    return ImageDataset(
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_val=x[val_idx],
        y_val=y[val_idx],
        source=source,
        seed=seed,
        _test_loader=load_test,
    )


# --------------------------------------------------------------------------------------------
# Tiny Shakespeare
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TextDataset:
    """A character-level corpus encoded as integer ids, split 90/10 by position.

    There is no test split: the last 10% of the text is the only held-out data, so the
    transformer's ``final_eval`` scores on it too.

    Attributes:
        train_ids: int64 ids of the first ``train_fraction`` of the text.
        val_ids: int64 ids of the rest.
        vocab: the sorted distinct characters; id ``i`` is ``vocab[i]``.
        source: the file read, or ``"embedded"``.
    """

    train_ids: np.ndarray
    val_ids: np.ndarray
    vocab: tuple[str, ...]
    source: str

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.vocab[int(i)] for i in ids)


def load_shakespeare(
    data_dir: str | Path | None = None, *, train_fraction: float = 0.9
) -> TextDataset:
    """Load Tiny Shakespeare as a character-level corpus.

    Args:
        data_dir: a text file, or a directory holding ``input.txt`` or ``tinyshakespeare.txt``.
            ``None`` uses the embedded copy.
        train_fraction: leading fraction of the text used for training; the rest is validation.

    Raises:
        ConfigError: the file is missing, not UTF-8, or too short to split.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(
            f"train_fraction must lie strictly between 0 and 1, got {train_fraction!r}"
        )
    if data_dir is None:
        path, source = Path(str(resources.files(_PACKAGE).joinpath(_SHAKESPEARE_TXT))), "embedded"
    else:
        path = Path(data_dir)
        if path.is_dir():
            found = [p for p in (path / "input.txt", path / _SHAKESPEARE_TXT) if p.is_file()]
            if not found:
                raise ConfigError(
                    f"data_dir {str(path)!r} holds neither input.txt nor {_SHAKESPEARE_TXT}"
                )
            path = found[0]
        source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"text file {str(path)!r} cannot be read as UTF-8: {err}") from err
    if len(text) < 1000:
        raise ConfigError(f"text file {str(path)!r} has {len(text)} characters, need >= 1000")
    vocab = tuple(sorted(set(text)))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
    cut = int(train_fraction * len(ids))
    return TextDataset(train_ids=ids[:cut], val_ids=ids[cut:], vocab=vocab, source=source)
