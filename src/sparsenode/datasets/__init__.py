"""Reference data sets with ground-truth or prior networks, as :class:`~anndata.AnnData`.

Files are looked up in, by priority: the ``path=`` argument of a loader; the folder named by the
environment variable ``SPARSENODE_DATA_DIR``; else a user cache (``$XDG_CACHE_HOME/sparsenode``, by
default ``~/.cache/sparsenode``), into which they are downloaded from their public GitHub addresses and
checked against known checksums. The first two are folders laid out like the cache, with subfolders
``pathreg/``, ``beeline/`` and ``mocap/``; nothing is downloaded into them.

Every network is stored in ``varp["reference"]`` with row = target gene, column = regulator.

Constants: ``BEELINE_SYNTHETIC``, the names of BEELINE's six synthetic networks (``"dyn-LI"`` ...);
``PUBLISHED_METRICS``, the metrics of :func:`beeline_published_scores` (``"AUPRC"``, ``"AUROC"``);
``DONOR_CODES`` and ``LINEAGE_PREFIXES``, the hematopoiesis donors and lineages with their codes in the file
names; ``DATA_DIR_ENV``, the name of the environment variable above.
"""

from ._beeline import BEELINE_SYNTHETIC, PUBLISHED_METRICS, beeline, beeline_published_scores
from ._cache import DATA_DIR_ENV
from ._hematopoiesis import DONOR_CODES, LINEAGE_PREFIXES, hematopoiesis
from ._krumsiek11 import krumsiek11
from ._mocap import MocapData, mocap35

__all__ = [
    "BEELINE_SYNTHETIC",
    "DATA_DIR_ENV",
    "DONOR_CODES",
    "LINEAGE_PREFIXES",
    "PUBLISHED_METRICS",
    "MocapData",
    "beeline",
    "beeline_published_scores",
    "hematopoiesis",
    "krumsiek11",
    "mocap35",
]
