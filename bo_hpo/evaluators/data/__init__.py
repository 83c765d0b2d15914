"""Datasets for the evaluators, and the embedded data files they default to.

This directory is also the package that ships ``fashion_mnist_small.npz``, ``tinyshakespeare.txt``
and their ``LICENSE`` / ``SOURCES.txt`` (read with :mod:`importlib.resources`).
"""

from __future__ import annotations

from bo_hpo.evaluators.data._loaders import (
    FASHION_FILES,
    ImageDataset,
    TextDataset,
    load_fashion_mnist,
    load_shakespeare,
    read_idx,
    stratified_split,
)

__all__ = [
    "FASHION_FILES",
    "ImageDataset",
    "TextDataset",
    "load_fashion_mnist",
    "load_shakespeare",
    "read_idx",
    "stratified_split",
]
