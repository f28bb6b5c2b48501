"""Datasets as in-memory uint8 tensors, one registry: ``create_dataset(name, split)``, ``list_datasets()``.

Data root
    A folder holding one folder per dataset. Taken from the ``root`` argument, else the environment variable
    ``MPQLAB_DATA``, else ``~/.cache/mpqlab/data`` (the documented default). Errors for a missing dataset name
    every folder that was searched.

Small datasets (CIFAR-10, Fashion-MNIST, the embedded ``cifar10-mini``, ``synthetic``) are decoded once into
``uint8`` tensors (the JPEG tree is cached on disk as ``.npy``), and :class:`TensorLoader` does the standard
augmentation (random crop with 4-pixel padding, horizontal flip) on whole batches, so training is
compute-bound. ``imagefolder`` (ImageNet layout) goes through torchvision's ``ImageFolder`` and a
``DataLoader`` with the standard ImageNet transforms.
"""
from ..core.registry import load_external
from .loaders import TensorLoader, make_loader
from .sources import (
    CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, DEFAULT_ROOT, FASHION_CLASSES, cache_dir, create_dataset, data_root,
    list_datasets, register_dataset)
from .sample import analysis_batch, class_shares, labels_of, sample_indices, stratified_order
from .subsets import class_balanced_indices, proxy_subset, split_holdout
from .tensors import TensorData, cutout, random_crop_flip

__all__ = ["analysis_batch", "labels_of", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "DEFAULT_ROOT", "FASHION_CLASSES", "TensorData",
           "TensorLoader", "cache_dir", "class_balanced_indices", "class_shares", "create_dataset", "cutout", "data_root",
           "list_datasets", "make_loader", "proxy_subset", "random_crop_flip", "register_dataset", "sample_indices", "split_holdout",
           "stratified_order"]

load_external()  # plugin modules named in MPQLAB_PLUGINS, now that mpqlab.data is complete
