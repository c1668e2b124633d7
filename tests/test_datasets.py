"""Tests of :mod:`sparsenode.datasets` on the reference data named by ``SPARSENODE_DATA_DIR``.

No test reaches the network: ``urllib.request.urlopen`` is replaced by a function that fails the
test, and the download tests serve the local reference files through a stand-in instead.
"""

from __future__ import annotations

import io
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparsenode import datasets
from sparsenode.datasets._registry import URL_BASES

ORIENTATION = "row=target, column=regulator"
MOCAP_URL = "https://github.com/uncbiag/neuro_shooting/raw/master/data/mocap/mocap35.mat"


def _refuse_network(url, *args, **kwargs):
    pytest.fail(f"A test tried to download {url}.")


@pytest.fixture(autouse=True, scope="module")
def no_network():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(urllib.request, "urlopen", _refuse_network)
        yield


@pytest.fixture(scope="module")
def data_dir() -> Path:
    configured = os.environ.get(datasets.DATA_DIR_ENV)
    if not configured or not Path(configured).is_dir():
        pytest.skip(f"Reference data absent: set {datasets.DATA_DIR_ENV} to a folder like shared/data.")
    return Path(configured)


@pytest.fixture
def download_cache(monkeypatch, tmp_path) -> Path:
    """No data folder chosen, so loaders use (and download into) a cache under ``tmp_path``."""
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "sparsenode"


def _serve_from(data_dir: Path, requested: list[str], *, corrupt: bool = False):
    """A stand-in for ``urlopen`` answering public data addresses with the local reference files."""

    def urlopen(url, *, timeout):
        requested.append(url)
        for prefix, base in URL_BASES.items():
            if url.startswith(base):
                content = (data_dir / prefix / urllib.parse.unquote(url.removeprefix(base))).read_bytes()
                return io.BytesIO(content + b"corrupted" if corrupt else content)
        raise urllib.error.URLError(f"unexpected address {url}")

    return urlopen


# krumsiek11 ships with scanpy and needs no data folder.


@pytest.fixture(scope="module")
def krumsiek():
    return datasets.krumsiek11()


def test_krumsiek11_annotations(krumsiek):
    assert krumsiek.shape == (640, 11)
    assert krumsiek.obs_names.is_unique
    np.testing.assert_array_equal(krumsiek.obs["time"], np.tile(np.arange(160.0), 4))
    assert set(krumsiek.obs["lineage"].cat.categories) == {"Ery", "Mk", "Mo", "Neu"}
    per_realization = krumsiek.obs["lineage"].to_numpy().reshape(4, 160)
    assert all(len(set(row)) == 1 for row in per_realization)
    assert list(per_realization[:, 0]) == list(krumsiek.obs["cell_type"].to_numpy()[159::160])


def test_krumsiek11_reference_is_target_by_regulator(krumsiek):
    reference = pd.DataFrame(krumsiek.varp["reference"], index=krumsiek.var_names, columns=krumsiek.var_names)
    assert krumsiek.varp["reference"].dtype == np.float32
    assert krumsiek.uns["reference_orientation"] == ORIENTATION
    assert reference.loc["Gata2", "Fog1"] == -1.0  # "Gata2 Fog1 -1.0": Fog1 represses Gata2
    assert reference.loc["Fog1", "Gata1"] == pytest.approx(0.1)  # Fog1 = Gata1
    assert reference.loc["Gata1", "Fog1"] == 0.0
    assert reference.loc["Gfi1", "EgrNab"] == -5.0
    assert reference.loc["Pu.1", "Pu.1"] == 10.0
    assert np.count_nonzero(reference.to_numpy()) == 30


# Hematopoiesis (PathReg).


@pytest.fixture(scope="module")
def hematopoiesis_all(data_dir):
    return datasets.hematopoiesis()


def test_hematopoiesis_layout(hematopoiesis_all):
    adata = hematopoiesis_all
    assert adata.n_vars == 529
    assert adata.obs_names.is_unique
    assert adata.X.dtype == np.float32
    counts = adata.obs.groupby(["donor", "lineage"], observed=False).size().unstack()
    assert list(counts.index) == ["s1d1", "s1d2", "s2d1", "s2d4", "s3d6"]
    assert list(counts.columns) == ["erythroid", "monocyte", "B"]
    assert counts.loc["s2d4", "erythroid"] == 0  # eryth_24_norm.csv is absent
    assert (counts.drop(index="s2d4").to_numpy() > 0).all()
    assert counts.loc["s1d2"].tolist() == [310, 854, 198]
    assert adata.obs["dpt_pseudotime"].between(0, 1).all()


def test_hematopoiesis_reference(hematopoiesis_all):
    adata = hematopoiesis_all
    assert adata.uns["reference_orientation"] == ORIENTATION
    assert adata.var["is_tf"].sum() == 113
    reference = pd.DataFrame(adata.varp["reference"], index=adata.var_names, columns=adata.var_names)
    assert set(np.unique(reference.to_numpy())) == {0.0, 1.0}
    assert (reference.to_numpy().sum(axis=0) > 0).sum() == 113  # regulators: TF columns
    assert (reference.to_numpy().sum(axis=1) > 0).sum() == 365  # targets
    assert not reference.loc[:, ~adata.var["is_tf"].to_numpy()].to_numpy().any()
    # The base GRN file lists AHR -> ABCB6 (ABCB6 is no TF) but not GATA1 -> AHR.
    assert reference.loc["ABCB6", "AHR"] == 1.0
    assert reference.loc["AHR", "ABCB6"] == 0.0
    assert reference.loc["AHR", "GATA1"] == 0.0


def test_hematopoiesis_warns_about_absent_trajectory(data_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="sparsenode.datasets"):
        adata = datasets.hematopoiesis(["s2d4"], lineages=["erythroid", "B"])
    assert "eryth_24_norm.csv" in caplog.text
    assert adata.obs["lineage"].value_counts().to_dict() == {"erythroid": 0, "B": 1035}


def test_hematopoiesis_selection(data_dir):
    adata = datasets.hematopoiesis("s1d2", lineages="monocyte")
    assert adata.shape == (854, 529)
    assert set(adata.obs["donor"]) == {"s1d2"}
    assert adata.obs_names[0] == "s1d2_monocyte_0"
    trajectory_file = data_dir / "pathreg/trajectories/mono_12_norm.csv"
    first_row = pd.read_csv(trajectory_file, sep="\t", index_col=0, nrows=1)
    np.testing.assert_allclose(adata.X[0], first_row.to_numpy()[0], rtol=1e-6)
    assert adata.obs["dpt_pseudotime"].iloc[0] == first_row.index[0]


@pytest.mark.parametrize(("donors", "lineages"), [(["s1d2", "s9d9"], None), (None, ["erythroid", "T"])])
def test_hematopoiesis_rejects_unknown_names(donors, lineages):
    with pytest.raises(ValueError, match=r"s9d9|'T'"):
        datasets.hematopoiesis(donors, lineages=lineages)


def test_hematopoiesis_donor_without_files_is_an_error(data_dir, tmp_path):
    linked = [
        "pathreg/TFs_Targets/tf_targets_baseGRN_human_matrix.csv.gz",
        "pathreg/trajectories/B_12_norm.csv",
    ]
    for relative in linked:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).symlink_to(data_dir / relative)
    only_b = datasets.hematopoiesis("s1d2", path=tmp_path)
    assert only_b.obs["lineage"].value_counts().to_dict() == {"erythroid": 0, "monocyte": 0, "B": 198}
    with pytest.raises(FileNotFoundError, match="s1d1"):
        datasets.hematopoiesis(["s1d1", "s1d2"], path=tmp_path)


def test_missing_file_names_the_file_and_three_ways(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        datasets.hematopoiesis(path=tmp_path)
    message = str(error.value)
    assert "pathreg/TFs_Targets/tf_targets_baseGRN_human_matrix.csv.gz" in message
    assert "path=" in message
    assert datasets.DATA_DIR_ENV in message
    assert "https://github.com/theislab/PathReg/raw/main/data/data/TFs_Targets/" in message


def test_environment_variable_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.mocap35()


# BEELINE.


@pytest.mark.parametrize("network", datasets.BEELINE_SYNTHETIC)
def test_beeline_data_sets(data_dir, network):
    adata = datasets.beeline(f"{network}_500_0")
    folder = data_dir / f"beeline/inputs/Synthetic/{network}/{network}_500_0"
    edges = pd.read_csv(folder / "refNetwork.csv")
    times = pd.read_csv(folder / "PseudoTime.csv", index_col=0)
    assert adata.n_obs == 500
    assert adata.X.dtype == np.float32
    assert adata.uns["reference_orientation"] == ORIENTATION
    assert np.count_nonzero(adata.varp["reference"]) == len(edges)
    lineages = adata.obsm["lineages"]
    assert list(lineages.columns) == list(times.columns)
    assert lineages.to_numpy().any(axis=1).all()
    assert list(adata.obs["lineage"].cat.categories) == list(times.columns)
    np.testing.assert_allclose(adata.obs["pseudotime"], times.loc[adata.obs_names].max(axis=1))


def test_beeline_reference_is_target_by_regulator(data_dir):
    adata = datasets.beeline("dyn-LI_500_0")
    reference = pd.DataFrame(adata.varp["reference"], index=adata.var_names, columns=adata.var_names)
    # refNetwork.csv lists "g2,g3,+" and "g7,g1,-" as Gene1 -> Gene2.
    assert reference.loc["g3", "g2"] == 1.0
    assert reference.loc["g2", "g3"] == 0.0
    assert reference.loc["g1", "g7"] == -1.0


def test_beeline_lineage_of_branching_network(data_dir):
    adata = datasets.beeline("dyn-BF_500_0")
    assert adata.obs.loc["E52_1_503", "lineage"] == "PseudoTime1"  # blank in PseudoTime0
    assert adata.obs.loc["E52_1_503", "pseudotime"] == pytest.approx(1.503)
    assert adata.obs.loc["E5_4_96", "lineage"] == "PseudoTime0"


@pytest.mark.parametrize("name", ["dyn-LI", "dyn-XX_500_0", "dyn-LI_500"])
def test_beeline_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="BEELINE"):
        datasets.beeline(name)


@pytest.mark.parametrize(("name", "match"), [
    ("dyn-LI_500_10", r"'dyn-LI_500_10': replicate '10' out of range; BEELINE has replicates 0 to 9"),
    ("dyn-LI_500_01", r"replicate '01' out of range"),
    ("dyn-LI_300_1", r"BEELINE has data sets of 100, 200, 500, 2000, 5000 cells, not 300"),
])
def test_beeline_rejects_a_data_set_beeline_does_not_have(name, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        datasets.beeline(name, path=tmp_path)


def test_beeline_published_scores(data_dir):
    scores = datasets.beeline_published_scores("dyn-LI", "AUROC")
    assert scores.shape == (12, 30)
    assert {"GENIE3", "SINCERITIES", "PIDC"} <= set(scores.index)
    assert "dyn-LI_500_0" in scores.columns
    assert scores.to_numpy().min() >= 0 and scores.to_numpy().max() <= 1
    assert datasets.beeline_published_scores("dyn-LI").loc["GENIE3", "dyn-LI_500_0"] == pytest.approx(
        0.3828098488812774
    )
    with pytest.raises(ValueError, match="metric"):
        datasets.beeline_published_scores("dyn-LI", "F1")


# Motion capture.


def test_mocap35(data_dir):
    mocap = datasets.mocap35()
    assert mocap.train.shape == (16, 300, 50)
    assert mocap.validation.shape == (3, 300, 50)
    assert mocap.test.shape == (4, 300, 50)
    assert mocap.train.dtype == np.float32
    assert mocap.dt == 0.1
    assert mocap.feature_names is None


# Downloads into the cache, served locally.


def test_download_verifies_and_caches(data_dir, download_cache, monkeypatch):
    requested: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _serve_from(data_dir, requested))
    downloaded = datasets.mocap35()
    assert requested == [MOCAP_URL]
    assert (download_cache / "mocap/mocap35.mat").is_file()
    monkeypatch.setattr(urllib.request, "urlopen", _refuse_network)
    np.testing.assert_array_equal(datasets.mocap35().test, downloaded.test)


def test_download_of_sha256_registered_files(data_dir, download_cache, monkeypatch):
    requested: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _serve_from(data_dir, requested))
    adata = datasets.beeline("dyn-CY_500_4")
    assert adata.n_obs == 500
    assert requested[0] == (
        "https://github.com/Murali-group/Beeline/raw/binder/inputs/Synthetic/dyn-CY/dyn-CY_500_4/ExpressionData.csv"
    )
    assert len(requested) == 3


def test_download_with_wrong_checksum_is_discarded(data_dir, download_cache, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _serve_from(data_dir, [], corrupt=True))
    with pytest.raises(OSError, match="Checksum mismatch"):
        datasets.mocap35()
    assert not any(path.is_file() for path in download_cache.rglob("*"))


def test_failed_download_names_the_three_ways(download_cache, monkeypatch):
    def unreachable(url, *, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(FileNotFoundError) as error:
        datasets.mocap35()
    message = str(error.value)
    assert "no route to host" in message
    assert MOCAP_URL in message
    assert "path=" in message and datasets.DATA_DIR_ENV in message and str(download_cache) in message
