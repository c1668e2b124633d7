"""Model files: plain arrays plus a JSON config in one ``.npz``, read without unpickling."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._uns import to_json

#: Version of the model format written by this package; readers refuse newer ones.
FORMAT_VERSION = 1
_CONFIG_ENTRY = "__config__"
#: How files that numpy can read begin: a zip archive (``.npz``, also empty) or a single ``.npy`` array.
_NUMPY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")
#: AnnData file suffixes, with the anndata function that reads them (a fit's model is stored inside).
_ANNDATA_READERS = {".h5ad": "read_h5ad", ".h5": "read_h5ad", ".zarr": "read_zarr"}


class ModelFormatError(ValueError):
    """A model file or stored model is missing, corrupted, truncated or of an unsupported format version."""


def check_format_version(config: dict[str, Any], source: str) -> None:
    """Raise :class:`ModelFormatError` unless ``config`` is a dict that carries a format version this package
    reads."""
    if not isinstance(config, dict):
        raise ModelFormatError(f"{source} has a config of type {type(config).__name__}, not a JSON object; it was "
                               "not written by sparsenode")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFormatError(f"{source} has no valid 'format_version' (a positive integer; got {version!r}); it "
                               "was not written by sparsenode")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{source} has model format version {version}, newer than this sparsenode reads ({FORMAT_VERSION}); "
            "upgrade sparsenode (pip install -U sparsenode)"
        )


def write_model(path: str | os.PathLike, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and the JSON-able ``config`` (with the format version) to ``path`` (``.npz``)."""
    config = {**config, "format_version": FORMAT_VERSION}
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    payload[_CONFIG_ENTRY] = np.array(to_json(config))
    with open(path, "wb") as handle:
        np.savez(handle, **payload)


def read_model(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file written by :func:`write_model`; never unpickles.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    OSError
        When ``path`` cannot be opened, e.g. for lack of permission.
    ModelFormatError
        When the file is not a sparsenode model (e.g. an ``.h5ad`` file or a folder), is truncated or corrupted,
        holds pickled objects, or has a newer format version.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    if not _starts_like_numpy(path):
        raise _not_a_model(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.lib.npyio.NpzFile):
            with archive:
                arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as error:
        raise ModelFormatError(
            f"{os.fspath(path)!r} is not a readable sparsenode model file (corrupted, truncated, or it contains "
            f"pickled objects, which are refused): {error}"
        ) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFormatError(f"{os.fspath(path)!r} holds a single array, not a sparsenode model file (.npz "
                               "written by SparseNODE.save)")
    if _CONFIG_ENTRY not in arrays:
        raise ModelFormatError(f"{os.fspath(path)!r} has no {_CONFIG_ENTRY!r} entry; it is not a sparsenode model")
    try:
        config = json.loads(str(arrays.pop(_CONFIG_ENTRY)))
    except json.JSONDecodeError as error:
        raise ModelFormatError(f"the config in {os.fspath(path)!r} is not valid JSON: {error}") from error
    check_format_version(config, repr(os.fspath(path)))
    return config, arrays


def _starts_like_numpy(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that begins like an ``.npz`` archive or an ``.npy`` array (numpy would read
    anything else as a pickle)."""
    if os.path.isdir(path):
        return False
    with open(path, "rb") as handle:
        return handle.read(max(len(magic) for magic in _NUMPY_MAGIC)).startswith(_NUMPY_MAGIC)


def _not_a_model(path: str | os.PathLike) -> ModelFormatError:
    """The error for a path that is no numpy file at all; for an AnnData file, it names the way to its model."""
    name = os.fspath(path)
    message = f"{name!r} is not a sparsenode model file (the .npz written by SparseNODE.save)"
    reader = _ANNDATA_READERS.get(Path(name).suffix.lower())
    if reader is not None:
        message += (f"; it looks like an AnnData file: for the model of a fit stored in it, use "
                    f"sn.tl.model(anndata.{reader}({name!r}))")
    return ModelFormatError(message)
