"""Tests of the ``sparsenode`` command line (:mod:`sparsenode.cli`)."""

from __future__ import annotations

import time

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.cli import main
from sparsenode.nn import FitError

#: CPU seconds (all threads) the demo (default settings, krumsiek11) may use; CPU time, unlike wall time,
#: barely grows when other processes compete for the cores (a guard against hangs, not a benchmark).
DEMO_CPU_BUDGET_S = 300


def tiny_h5ad(path) -> None:
    rng = np.random.default_rng(0)
    time_points = np.tile(np.linspace(0, 1, 12), 2)
    adata = ad.AnnData(
        X=(0.5 + 0.3 * np.sin(4 * time_points[:, None] + np.arange(3)) + 0.01 * rng.normal(size=(24, 3))).astype(
            np.float32
        ),
        obs=pd.DataFrame(
            {"pseudotime": time_points, "branch": pd.Categorical(np.repeat(["x", "y"], 12))},
            index=[f"cell{i}" for i in range(24)],
        ),
        var=pd.DataFrame(index=["a", "b", "c"]),
    )
    adata.write_h5ad(path)


def test_demo_writes_data_figures_and_scores(tmp_path, capsys) -> None:
    start = time.process_time()
    assert main(["demo", "--quiet", "--out", str(tmp_path)]) == 0
    used = time.process_time() - start
    assert used < DEMO_CPU_BUDGET_S, f"the demo used {used:.0f} CPU seconds"
    written = {path.name for path in tmp_path.iterdir()}
    assert {"krumsiek11.h5ad", "dependencies.png", "network.png", "trajectories.png", "history.png"} <= written
    for name in ("dependencies.png", "network.png", "trajectories.png", "history.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    out = capsys.readouterr().out
    assert "AUROC" in out
    result = ad.read_h5ad(tmp_path / "krumsiek11.h5ad")
    assert result.varp["sparsenode"].shape == (11, 11)
    assert "sparsenode_predicted" in result.layers


def test_fit_command_writes_the_fit(tmp_path, capsys) -> None:
    source, target = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    tiny_h5ad(source)
    code = main(["fit", "--quiet", str(source), "--time-key", "pseudotime", "--lineage-key", "branch",
                 "--out", str(target), "--epochs", "3", "--key-added", "net"])
    assert code == 0
    result = ad.read_h5ad(target)
    assert result.varp["net"].shape == (3, 3) and result.varp["net"].dtype == np.float32
    params = result.uns["net"]["params"]
    assert params["epochs"] == 3 and params["time_key"] == "pseudotime"
    assert list(params["trajectories"]) == ["x", "y"]
    assert str(target) in capsys.readouterr().out
    assert "net" not in ad.read_h5ad(source).uns  # the input file is untouched


def test_fit_with_a_missing_input_file_exits_with_a_message(tmp_path) -> None:
    missing = tmp_path / "nowhere.h5ad"
    with pytest.raises(SystemExit, match="nowhere.h5ad") as error:
        main(["fit", str(missing), "--time-key", "t", "--out", str(tmp_path / "out.h5ad")])
    assert "does not exist" in str(error.value.code)
    assert not (tmp_path / "out.h5ad").exists()


def test_version_and_an_input_that_is_not_h5ad(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("sparsenode ")
    text = tmp_path / "cells.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit, match=r"'.*cells\.csv' is not a readable \.h5ad file"):
        main(["fit", str(text), "--time-key", "t", "--out", str(tmp_path / "out.h5ad")])


def test_fit_to_a_missing_output_folder_exits_before_fitting(tmp_path) -> None:
    source = tmp_path / "in.h5ad"
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(source)
    with pytest.raises(SystemExit, match=r"the folder of --out .*nowhere/out\.h5ad' does not exist"):
        main(["fit", str(source), "--time-key", "t", "--out", str(tmp_path / "nowhere" / "out.h5ad")])


def test_folders_where_files_are_expected_and_files_where_folders_are_exit_before_fitting(tmp_path) -> None:
    source = tmp_path / "in.h5ad"
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(source)
    with pytest.raises(SystemExit, match=r"--out '.*' is a folder; give the path of the \.h5ad file"):
        main(["fit", str(source), "--time-key", "t", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"input '.*' is a folder, not an \.h5ad file"):
        main(["fit", str(tmp_path), "--time-key", "t", "--out", str(tmp_path / "out.h5ad")])
    with pytest.raises(SystemExit, match=r"sparsenode demo: --out '.*in\.h5ad' exists and is not a folder"):
        main(["demo", "--out", str(source)])


def test_an_unwritable_output_exits_with_a_message(tmp_path, monkeypatch) -> None:
    source = tmp_path / "in.h5ad"
    tiny_h5ad(source)

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", refuse)
    with pytest.raises(SystemExit, match=r"cannot write --out '.*out\.h5ad' \(\[Errno 13\] Permission denied\)"):
        main(["fit", "-q", str(source), "--time-key", "pseudotime", "--out", str(tmp_path / "out.h5ad"),
              "--epochs", "2"])


def test_fit_without_time_key_is_an_argparse_error(tmp_path, capsys) -> None:
    source = tmp_path / "in.h5ad"
    tiny_h5ad(source)
    with pytest.raises(SystemExit) as error:
        main(["fit", str(source), "--out", str(tmp_path / "out.h5ad")])
    assert error.value.code == 2
    assert "--time-key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--time-key", "nope"], "time_key 'nope'"),
        (["--time-key", "pseudotime", "--regularization", "bogus"], "regularization='bogus'"),
        (["--time-key", "pseudotime", "--epochs", "0"], "epochs=0"),
    ],
)
def test_fit_with_invalid_options_exits_with_a_message(tmp_path, extra: list[str], match: str) -> None:
    source, target = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    tiny_h5ad(source)
    with pytest.raises(SystemExit, match=match):
        main(["fit", "--quiet", str(source), "--out", str(target), *extra])
    assert not target.exists()


@pytest.mark.parametrize("seed", ["-1", "1.5", "one"])
@pytest.mark.parametrize("command", ["demo", "fit"])
def test_a_seed_that_is_not_a_non_negative_integer_is_a_usage_error(tmp_path, capsys, command: str,
                                                                    seed: str) -> None:
    out = tmp_path / "new" / ("demo" if command == "demo" else "out.h5ad")
    source = tmp_path / "in.h5ad"
    arguments = ["--out", str(out)] if command == "demo" else [str(source), "--time-key", "t", "--out", str(out)]
    with pytest.raises(SystemExit) as error:
        main([command, *arguments, "--seed", seed])
    assert error.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message == f"sparsenode {command}: error: argument --seed: {seed!r} is not an integer >= 0, such as 0 or 42"
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ValueError("seed=3 is bad"), "sparsenode demo: seed=3 is bad"),
        (KeyError("time_key 'time' is not in adata.obs"), "sparsenode demo: time_key 'time' is not in adata.obs"),
        (FitError("the solver diverged"), "sparsenode demo: the solver diverged"),
    ],
    ids=["ValueError", "KeyError", "FitError"],
)
def test_demo_reports_a_failed_fit_in_one_line_and_leaves_no_folder(tmp_path, monkeypatch, error: Exception,
                                                                    message: str) -> None:
    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(sn.datasets, "krumsiek11", lambda: ad.AnnData(np.ones((3, 2), dtype=np.float32)))
    monkeypatch.setattr(sn.tl, "fit", fail)
    out = tmp_path / "new" / "demo"
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--quiet", "--out", str(out)])
    assert exit_.value.code == message  # a string code: printed to stderr, exit status 1
    assert not (tmp_path / "new").exists()


def test_demo_refuses_an_out_it_cannot_write_before_fitting(tmp_path, monkeypatch) -> None:
    def must_not_fit(*_args, **_kwargs):
        raise AssertionError("the fit ran although --out cannot be written")

    monkeypatch.setattr(sn.tl, "fit", must_not_fit)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match="cannot write to --out .*is not a writable folder"):
        main(["demo", "--quiet", "--out", str(blocker / "demo")])
