"""Sparsity regularizers, one per module, registered by name in :data:`REGULARIZERS`."""

from . import cnode, group_lasso, l0, l1, lassonet, none, pathreg  # noqa: F401 - registers each regularizer
from .base import REGULARIZERS, Regularizer, make_regularizer, mean_path_product, path_product

__all__ = ["REGULARIZERS", "Regularizer", "make_regularizer", "mean_path_product", "path_product"]
