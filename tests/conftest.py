"""Test configuration: offline data, headless plotting, a one-thread fixture for small fits."""

import os
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "SPARSENODE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["SPARSENODE_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small fields train fastest on one thread (intra-op threads only add overhead); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
