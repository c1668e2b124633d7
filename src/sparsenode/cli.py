"""Command line: ``sparsenode demo`` and ``sparsenode fit``."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("sparsenode")

#: Settings of the demo fit on krumsiek11 (kept small so it runs in well under a minute on 2 cores).
#: Its cells are time series: 4 realizations of one simulation, one cell per step, not snapshots of different
#: cells. So the demo fits them as trajectories rather than transport pairs, with the derivative-matching warm
#: start and the rate-based time unit (off by default in ``tl.fit`` for pseudotime-ordered cells) and on
#: segments that start from observed states (so no initial-state noise): AUROC about 0.68 against about 0.5 with
#: the ``tl.fit`` defaults (rows "sparsenode demo settings" and "sparsenode tl.fit defaults" of
#: ``benchmarks/krumsiek11_limits.py``).
DEMO_SETTINGS = {"time_key": "time", "lineage_key": "lineage", "training_data": "trajectories",
                 "warm_start_epochs": 500, "time_unit": "rate", "segment_points": 40, "initial_noise": 0.0}


def non_negative_int(text: str) -> int:
    """An argparse ``type``: the text as an integer >= 0 (for ``--seed``), else a usage error naming it."""
    try:
        value: int | None = int(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0, such as 0 or 42")
    return value


def _fit_errors() -> tuple[type[Exception], ...]:
    """Errors of ``sn.tl.fit`` that a command reports as a one-line message, not a traceback: invalid input or
    arguments, and a fit that fails (:class:`~sparsenode.nn.train.FitError`)."""
    from sparsenode.nn import FitError

    return KeyError, TypeError, ValueError, FitError


def _command_error(command: str, error: Exception) -> SystemExit:
    """The exit (status 1) of ``sparsenode command`` for one of :func:`_fit_errors`: its message on one line (a
    :class:`KeyError`'s without the quotes ``str`` adds)."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    return SystemExit(f"sparsenode {command}: {message}")


def _demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sparsenode as sn

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"sparsenode demo: --out {args.out!r} exists and is not a folder")
    nearest = next(folder for folder in (out, *out.parents) if folder.exists())  # checked before the fit
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        raise SystemExit(f"sparsenode demo: cannot write to --out {args.out!r} ({str(nearest)!r} is not a "
                         "writable folder)")
    start = time.perf_counter()
    adata = sn.datasets.krumsiek11()
    try:
        sn.tl.fit(adata, **DEMO_SETTINGS, seed=args.seed, progress=not args.quiet)
    except _fit_errors() as error:
        raise _command_error("demo", error) from error
    sn.tl.predict(adata)
    fit_seconds = time.perf_counter() - start
    try:  # the folder is made only now, so that a failed fit leaves none behind
        out.mkdir(parents=True, exist_ok=True)
        adata.write_h5ad(out / "krumsiek11.h5ad")
    except OSError as error:
        raise SystemExit(f"sparsenode demo: cannot write to --out {args.out!r} ({error})") from error
    figures = {
        "dependencies": sn.pl.dependencies(adata, return_fig=True),
        "network": sn.pl.network(adata, n_top=20, return_fig=True),
        "trajectories": sn.pl.trajectories(adata, genes=["Gata1", "Pu.1", "Gata2", "Cebpa"], return_fig=True),
        "history": sn.pl.history(adata, return_fig=True),
    }
    for name, figure in figures.items():
        figure.savefig(out / f"{name}.png", dpi=120, bbox_inches="tight")
        plt.close(figure)
    scores = sn.tl.score(adata, reference="reference")
    print(f"krumsiek11: {adata.n_obs} cells x {adata.n_vars} genes, fitted in {fit_seconds:.1f} s")
    print(f"AUROC {scores['auroc']:.3f}   AUPRC {scores['auprc']:.3f} "
          f"(random {scores['auprc'] / scores['auprc_ratio']:.3f})   early precision {scores['early_precision']:.3f}")
    print("strongest edges (regulator -> target, sign):")
    print(sn.tl.edges(adata, n_top=10).to_string(index=False))
    print(f"wrote {out / 'krumsiek11.h5ad'} and {', '.join(f'{name}.png' for name in figures)} in {out}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    import anndata

    import sparsenode as sn

    source = Path(args.input)
    if source.is_dir():
        raise SystemExit(f"sparsenode fit: input {str(source)!r} is a folder, not an .h5ad file")
    if not source.is_file():
        raise SystemExit(f"sparsenode fit: input file {str(source)!r} does not exist")
    if Path(args.out).is_dir():
        raise SystemExit(f"sparsenode fit: --out {args.out!r} is a folder; give the path of the .h5ad file to write")
    if not Path(args.out).resolve().parent.is_dir():
        raise SystemExit(f"sparsenode fit: the folder of --out {args.out!r} does not exist")
    try:
        adata = anndata.read_h5ad(source)
    except OSError as error:
        raise SystemExit(f"sparsenode fit: {str(source)!r} is not a readable .h5ad file ({error})") from error
    options = {"lam": args.lam} if args.epochs is None else {"lam": args.lam, "epochs": args.epochs}
    try:
        sn.tl.fit(
            adata,
            time_key=args.time_key,
            lineage_key=args.lineage_key,
            batch_key=args.batch_key,
            layer=args.layer,
            regularization=args.regularization,
            training_data=args.training_data,
            key_added=args.key_added,
            seed=args.seed,
            progress=not args.quiet,
            **options,
        )
    except _fit_errors() as error:
        raise _command_error("fit", error) from error
    try:
        adata.write_h5ad(args.out)
    except OSError as error:
        raise SystemExit(f"sparsenode fit: cannot write --out {args.out!r} ({error})") from error
    metrics = adata.uns[args.key_added]["metrics"]
    print(f"wrote {args.out}: varp[{args.key_added!r}] (row = target, column = regulator); "
          f"train MSE {metrics['train_mse']:.4g}, validation MSE {metrics['val_mse']:.4g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``sparsenode`` argument parser."""
    parser = argparse.ArgumentParser(prog="sparsenode", description=__doc__.replace("``", ""))
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no log messages below warnings (warnings and the summary still "
                             "print)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {importlib.metadata.version('sparsenode')}")
    quiet = argparse.ArgumentParser(add_help=False)  # -q also after the subcommand, not overriding one before it
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="as sparsenode -q")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", parents=[quiet], help="fit the built-in krumsiek11 network, write .h5ad and figures"
    )
    demo.add_argument("--out", default="sparsenode-demo", help="output folder (default: sparsenode-demo)")
    demo.add_argument("--seed", type=non_negative_int, default=0, help="random seed, an integer >= 0 (default: 0)")
    demo.set_defaults(run=_demo)

    fit = commands.add_parser("fit", parents=[quiet], help="fit on an .h5ad file and write the result")
    fit.add_argument("input", help="input .h5ad")
    fit.add_argument("--time-key", required=True, help="obs column with (pseudo)time")
    fit.add_argument("--lineage-key", default=None)
    fit.add_argument("--batch-key", default=None)
    fit.add_argument("--layer", default=None)
    fit.add_argument("--regularization", default="pathreg", help="a regularizer of sn.tl.fit (default: pathreg)")
    fit.add_argument("--training-data", default="transport+trajectories",
                     choices=["transport+trajectories", "transport", "trajectories"], help="see sn.tl.fit")
    fit.add_argument("--lam", type=float, default=None, help="penalty strength (default: the regularizer's)")
    fit.add_argument("--epochs", type=int, default=None,
                     help="epochs of the first stage (the transport pairs in the default training data)")
    fit.add_argument("--key-added", default="sparsenode")
    fit.add_argument("--seed", type=non_negative_int, default=0, help="random seed, an integer >= 0 (default: 0)")
    fit.add_argument("--out", required=True, help="output .h5ad")
    fit.set_defaults(run=_fit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparsenode`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
