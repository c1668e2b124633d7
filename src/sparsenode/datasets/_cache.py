"""Locate reference data files: an explicit folder, ``SPARSENODE_DATA_DIR``, or a download cache.

Every folder involved has the same layout (``pathreg/``, ``beeline/``, ``mocap/``), and files are named
by their path relative to it, e.g. ``"mocap/mocap35.mat"``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._registry import CHECKSUMS, URL_BASES

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "SPARSENODE_DATA_DIR"
_DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20


def user_data_dir(path: str | os.PathLike[str] | None) -> Path | None:
    """The data folder the user chose: ``path`` if given, else ``$SPARSENODE_DATA_DIR``, else ``None``."""
    if path is not None:
        return Path(path).expanduser()
    from_environment = os.environ.get(DATA_DIR_ENV)
    if from_environment:
        return Path(from_environment).expanduser()
    return None


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/sparsenode``, by default ``~/.cache/sparsenode``."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "sparsenode"


def source_url(relative: str) -> str:
    """Public raw address of a data file, from its path relative to a data folder."""
    for prefix, base in URL_BASES.items():
        if relative.startswith(prefix):
            return base + urllib.parse.quote(relative.removeprefix(prefix))
    raise ValueError(f"No public source is known for {relative!r}.")


def missing_file_message(relative: str, *, reason: str) -> str:
    """``reason``, followed by the three ways to provide the data file ``relative``."""
    return (
        f"{reason} Provide {relative!r} in one of three ways: "
        f"(1) pass `path=` a folder that holds it as <folder>/{relative}; "
        f"(2) set the environment variable {DATA_DIR_ENV} to such a folder; or "
        f"(3) leave both unset to download it from {source_url(relative)} into the cache {cache_dir()}."
    )


def not_found_reason(relative: str, folder: Path) -> str:
    """Say that ``relative`` is missing from the data folder ``folder``."""
    folder_note = "" if folder.is_dir() else " (that folder does not exist)"
    return f"Data file {relative!r} not found in {folder}{folder_note}."


def fetch(relative: str, *, path: str | os.PathLike[str] | None = None) -> Path:
    """Local path of a data file, downloading it into the cache when no data folder was chosen.

    Parameters
    ----------
    relative
        Path of the file relative to a data folder, e.g. ``"mocap/mocap35.mat"``.
    path
        Data folder laid out like ``SPARSENODE_DATA_DIR``; overrides the environment variable.

    Returns
    -------
    The path of the file on disk.

    Raises
    ------
    FileNotFoundError
        If a chosen data folder lacks the file, or the download fails.
    OSError
        If a downloaded file does not match its known checksum.
    """
    chosen = user_data_dir(path)
    if chosen is not None:
        local = chosen / relative
        if not local.is_file():
            raise FileNotFoundError(missing_file_message(relative, reason=not_found_reason(relative, chosen)))
        return local
    cached = cache_dir() / relative
    if not cached.is_file():
        _download(relative, cached)
    return cached


def _download(relative: str, destination: Path) -> None:
    """Download a data file to ``destination``, verifying its checksum where one is known."""
    url = source_url(relative)
    known_checksum = CHECKSUMS.get(relative)
    algorithm = known_checksum.split(":")[0] if known_checksum else "sha256"
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f"{destination.name}.part{os.getpid()}")
    logger.info("Downloading %s to %s", url, destination)
    try:
        checksum = f"{algorithm}:{_stream_to_file(url, partial, algorithm=algorithm)}"
        if known_checksum is None:
            logger.warning("No checksum is known for %s (%s); it was not verified.", relative, checksum)
        elif checksum != known_checksum:
            raise OSError(
                f"Checksum mismatch for {relative!r} downloaded from {url}: expected {known_checksum}, "
                f"got {checksum}. The download was discarded."
            )
        os.replace(partial, destination)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = f"Data file {relative!r} is not in the cache and downloading it from {url} failed ({error})."
        raise FileNotFoundError(missing_file_message(relative, reason=reason)) from error
    finally:
        partial.unlink(missing_ok=True)


def _stream_to_file(url: str, target: Path, *, algorithm: str) -> str:
    """Copy the body at ``url`` into ``target`` and return its hex digest."""
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, target.open("wb") as sink:
        while chunk := response.read(_CHUNK_BYTES):
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()
