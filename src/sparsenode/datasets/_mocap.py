"""CMU motion capture of subject 35 walking, in the train/validation/test split of ODE2VAE."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._cache import fetch

_MOCAP_FILE = "mocap/mocap35.mat"


@dataclass(frozen=True, eq=False)
class MocapData:
    """Motion-capture sequences, each an array of sequences x frames x features.

    Attributes
    ----------
    train
        float32 training sequences, ``(16, 300, 50)``.
    validation
        float32 validation sequences, ``(3, 300, 50)``.
    test
        float32 test sequences, ``(4, 300, 50)``.
    dt
        Time between consecutive frames.
    feature_names
        Names of the features; ``None`` as the source file does not name its 50 joint-angle features.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    dt: float = 0.1
    feature_names: tuple[str, ...] | None = None


def mocap35(*, path: str | os.PathLike[str] | None = None) -> MocapData:
    """CMU motion capture subject 35 (walking), the benchmark split of ODE2VAE (Yildiz et al. 2019).

    Read from ``mocap35.mat`` of github.com/uncbiag/neuro_shooting (keys ``Xtr``, ``Xval``,
    ``Xtest``). Original data: CMU Graphics Lab Motion Capture Database (free for research; please
    acknowledge it).

    Parameters
    ----------
    path
        Data folder laid out like ``SPARSENODE_DATA_DIR`` (holding ``mocap/mocap35.mat``). By default
        the environment variable ``SPARSENODE_DATA_DIR``, else the file is downloaded into
        ``~/.cache/sparsenode`` (or ``$XDG_CACHE_HOME/sparsenode``) and checked against its md5.

    Returns
    -------
    The train, validation and test sequences with ``dt = 0.1``.

    Raises
    ------
    FileNotFoundError
        If the file is missing from the chosen data folder or its download fails.
    """
    from scipy.io import loadmat

    arrays = loadmat(fetch(_MOCAP_FILE, path=path), variable_names=("Xtr", "Xval", "Xtest"))
    return MocapData(
        train=arrays["Xtr"].astype(np.float32),
        validation=arrays["Xval"].astype(np.float32),
        test=arrays["Xtest"].astype(np.float32),
    )
