"""Test configuration: offline data, headless plotting."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "SPARSENODE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["SPARSENODE_DATA_DIR"] = str(SHARED_DATA)
