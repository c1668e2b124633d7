"""Test configuration: offline data, headless plotting, a one-thread fixture for small fits, a simulated Ctrl-C."""

import os
from collections.abc import Callable
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


@pytest.fixture
def interrupt_at_step(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, int]]:
    """``interrupt_at_step(step, once=True)`` makes optimisation step number ``step`` (counted over warm starts
    and epochs of every fit) raise ``KeyboardInterrupt``, as Ctrl-C in a notebook would (``once=False``: every
    later step too); it returns the step counter ``{"n": ...}``."""
    from sparsenode.nn import train

    def arrange(step: int, *, once: bool = True) -> dict[str, int]:
        original, calls = train._checked_step, {"n": 0}

        def interrupted_step(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step or (calls["n"] > step and not once):
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        monkeypatch.setattr(train, "_checked_step", interrupted_step)
        return calls

    return arrange
