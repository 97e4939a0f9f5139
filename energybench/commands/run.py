"""`energybench run`: run methods over a scenario (and a sharing sweep), write a run directory."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from energybench.commands import options
from energybench.commands.arguments import finite_float, given_path, whole
from energybench.commands.interrupt import SigtermAsInterrupt
from energybench.commands.supervise import TTY, note, supervise, watched
from energybench.config import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_IDLE_SECONDS, MAX_IMAGE_SIZE, MAX_THREADS, max_workers
from energybench.errors import ModuleMissing, OutputFailed, RunStopped, UserError, error_line

# CLI flag -> config key; flags left unset do not override the YAML file or the defaults.
FLAG_KEYS = {
    "method": "methods", "dataset": "dataset", "data_root": "data_root", "download": "download",
    "classes": "classes", "image_size": "image_size",
    "backbone": "backbone", "width": "width", "cifar_stem": "cifar_stem", "weights": "weights", "scenario": "scenario",
    "class_order": "class_order", "train_per_class": "train_per_class", "test_per_class": "test_per_class",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "augment": "augment", "seed": "seeds",
    "device": "device", "threads": "threads", "sharing": "sharing", "tolerance": "tolerance",
    "cache_shared": "cache_shared",
    "memory_size": "memory_size", "memory_per_class": "memory_per_class", "memory_budget": "memory_budget",
    "herding": "herding",
    "precision": "precision", "energy_table": "energy_table", "sram_cell": "sram_cell",
    "sram_bytes": "sram_bytes", "node": "node", "vdd": "vdd", "arch": "arch", "mapper": "mapper",
    "power": "power", "power_rate": "power_rate_hz", "idle_seconds": "idle_seconds",
    "out": "out", "run_id": "run_id", "report": "report", "report_format": "report_formats",
    "executor": "executor", "workers": "workers", "ray_address": "ray_address", "gpus_per_cell": "gpus_per_cell",
    "cpus_per_cell": "cpus_per_cell", "carbon_intensity": "carbon_intensity", "grid": "grid", "pue": "pue",
    "tracker": "trackers", "tracking_uri": "tracking_uri",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run class-incremental methods and record accuracy and hardware cost per phase",
        description=(
            "Run one or more class-incremental methods over a scenario, at one or more sharing levels "
            "(each phase priced at one or more --node and --arch), and write a run directory (config.yaml, "
            "manifest.json, metrics.csv, summary.json, reports). "
            "With no arguments: a quick benchmark of the default methods (see --method) on scikit-learn's "
            "bundled digits. "
            "Flags override the values of CONFIG.yaml; an interrupted run resumes with --resume DIR."
        ),
    )
    p.add_argument("config", nargs="?", help="YAML experiment config (see experiments/)")
    _add_what(p.add_argument_group("what to run"))
    _add_network(p.add_argument_group("network and training"))
    _add_sharing(p)
    _add_cost(p.add_argument_group("cost model and measurement"))
    _add_execution(p)
    _add_output(p.add_argument_group("output"))
    _show_defaults(p)
    p.set_defaults(handler=main)


def _add_what(g: argparse._ArgumentGroup) -> None:
    """The scenario: methods, data, class split and seeds."""
    from energybench.methods import DEFAULT_METHODS, OPT_IN

    g.add_argument("--method", help=f"comma-separated methods, any case: {', '.join(DEFAULT_METHODS)} (the default: "
                                    f"all of these), {', '.join(OPT_IN)} (run only when named), a name an installed "
                                    "package registers, or your own as package.module:Class (imports that module)")
    g.add_argument("--trust-code", action="store_true",
                   help="import the package.module:Class methods and package.module:factory backbones that the "
                        "config file, or a resumed run's config.yaml, names (a file never runs code without it; "
                        "names given as --method or --backbone are imported anyway)")
    g.add_argument("--dataset", help="digits (default), fashion-mnist, mnist, cifar10, cifar100, imagefolder")
    g.add_argument("--data-root", help="dataset directory (Fashion-MNIST default: /usr/share/datasets/fashion-mnist)")
    g.add_argument("--download", action="store_const", const=True,
                   help="let torchvision download CIFAR into --data-root")
    g.add_argument("--classes", help="imagefolder: the classes to use, a comma list of its train/ folder names "
                                     "(default: every class)")
    g.add_argument("--image-size", type=whole(1, MAX_IMAGE_SIZE), metavar="N",
                   help=f"imagefolder: the square crop its images are resized to (default: 224; at most "
                        f"{MAX_IMAGE_SIZE})")
    g.add_argument("--scenario",
                   help="class split: B<base>-<step>x<phases> (e.g. B4-3x2), B50-10-20-20 or 50,10,20,20; "
                        "the standard ones: B0-10x10, B0-20x5, B0-5x20, B50-10x5, B50-5x10")
    g.add_argument("--class-order",
                   help="'seeded' (a permutation drawn from the seed), 'natural', 'pycil' (PyCIL's and "
                        "iCaRL's seed-1993 permutation), or a comma list")
    g.add_argument("--train-per-class", type=whole(1), help="cap training samples per class (CPU-sized runs)")
    g.add_argument("--test-per-class", type=whole(1), help="cap test samples per class")
    g.add_argument("--seed", help="seed, or comma-separated seeds (each is a separate run)")


def _add_network(g: argparse._ArgumentGroup) -> None:
    """The network and how each phase trains it."""
    options.add(g, "backbone", default_text="depends on the dataset")
    options.add(g, "width")
    options.add(g, "cifar_stem")
    g.add_argument("--weights", metavar="FILE", help="a local state dict for the backbone (tensors only; torchvision's "
                                                    "own key names or energybench's), loaded before phase 0")
    g.add_argument("--epochs", type=whole(1, MAX_EPOCHS), help=f"epochs per phase (at most {MAX_EPOCHS:,})")
    options.add(g, "batch_size", type=whole(1, MAX_BATCH_SIZE), limit=f"at most {MAX_BATCH_SIZE:,}")
    g.add_argument("--lr", type=finite_float, help="initial SGD learning rate")
    g.add_argument("--augment", action="store_const", const=True, help="random crop (and mirror where sensible)")
    g.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--threads", type=whole(1, MAX_THREADS),
                   help="CPU threads for PyTorch (default: 1 for the small backbones on CPU, whose layers are too "
                        "small to split; else PyTorch's choice)")


def _add_sharing(p: argparse.ArgumentParser) -> None:
    """Sharing levels and the exemplar memory."""
    g = p.add_argument_group("sharing")
    g.add_argument("--sharing", help="sharing level(s) in [0, 1), comma-separated for a sweep, e.g. 0,0.5,0.8")
    g.add_argument("--tolerance", type=finite_float,
                   help="accuracy tolerance (percentage points) for the optimal sharing point")
    g.add_argument("--cache-shared", action="store_const", const=True,
                   help="compute the frozen trunk's outputs once per phase (no augmentation)")
    g = p.add_argument_group("exemplar memory")
    g.add_argument("--memory-size", type=whole(1),
                   help="fixed total exemplar capacity K (overrides --memory-per-class)")
    g.add_argument("--memory-per-class", type=whole(1), help="fixed exemplars per class R")
    g.add_argument("--memory-budget", type=whole(1), metavar="BYTES",
                   help="total memory of stored model + exemplars: each exemplar method keeps what its model leaves "
                        "(overrides --memory-size and --memory-per-class)")
    g.add_argument("--herding", help="exemplar selection: herding or random")


def _add_cost(g: argparse._ArgumentGroup) -> None:
    """How the steps are priced and the power measured."""
    from energybench.power.monitor import DEFAULT_IDLE_SECONDS

    options.add(g, "precision")
    options.add(g, "energy_table")
    options.add(g, "sram_cell")
    g.add_argument("--sram-bytes", type=whole(1), help="fix the SRAM buffer size instead of sizing it per layer")
    # sweep axes, as in `cost`: each phase is trained once and priced at every (node, arch)
    options.add(g, "node", sweep=True)
    options.add(g, "vdd", default_text=options.VDD_DEFAULT + "; with one --node only")
    options.add(g, "arch", sweep=True)
    options.add(g, "mapper")
    g.add_argument("--no-power", dest="power", action="store_const", const=False, help="do not sample power")
    options.add(g, "power_rate")
    g.add_argument("--idle-seconds", type=finite_float,
                   help="measure idle power for this long before the first phase, for the above-idle energy "
                        f"(default: {DEFAULT_IDLE_SECONDS:g} s when a power sensor is found; 0 turns the baseline off; "
                        f"at most {MAX_IDLE_SECONDS:g})")


def _add_execution(p: argparse.ArgumentParser) -> None:
    """Carbon accounting, and where the cells run."""
    g = p.add_argument_group("carbon (CO2e = energy in kWh x intensity x PUE, modelled and measured apart)")
    g.add_argument("--carbon-intensity", type=finite_float, metavar="G_PER_KWH",
                   help="grams of CO2e per kWh of electricity")
    g.add_argument("--grid", metavar="REGION", help="a country's published grid intensity, by ISO 3166-1 alpha-3 code "
                                                    "(e.g. FRA, USA; CodeCarbon's energy-mix data)")
    g.add_argument("--pue", type=finite_float,
                   help="power usage effectiveness of the data centre, 1 or more (default: 1)")
    g = p.add_argument_group("execution (Ray: README, 'Sweeps on many cores, GPUs and machines')")
    g.add_argument("--executor", help="local (every cell in this process, the default) or ray")
    g.add_argument("--workers", type=whole(1, max_workers()),
                   help=f"run cells in parallel on an embedded Ray cluster of N workers on this machine, at most its "
                        f"{max_workers()} CPUs (no set-up; alone it implies --executor ray; with --executor local "
                        "it is an error)")
    g.add_argument("--ray-address", help="join a running Ray cluster (ray start --head): HOST:PORT, or auto to find "
                                         "it; implies --executor ray (with --executor ray alone, the RAY_ADDRESS "
                                         "variable's cluster is "
                                         "joined)")
    g.add_argument("--gpus-per-cell", type=finite_float, help="GPUs one cell asks Ray for; fractions share a GPU "
                                                      "(default: 1 on CUDA, 0 on CPU)")
    g.add_argument("--cpus-per-cell", type=finite_float, help="CPUs one cell asks Ray for (default: 1)")


def _add_output(g: argparse._ArgumentGroup) -> None:
    """Where the run directory goes, its reports and trackers."""
    options.add(g, "out")
    g.add_argument("--run-id", help="name of the run directory (default: timestamp-dataset)")
    g.add_argument("--resume", type=given_path, metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR")
    g.add_argument("--no-report", dest="report", action="store_const", const=False, help="skip HTML/PDF reports")
    options.add(g, "report_format")
    g.add_argument("--tracker", help="also log to experiment trackers, comma-separated: mlflow, tensorboard (each "
                                     "from its extra: pip install 'energybench[mlflow]'); default: none (on "
                                     "--resume: the run's own; none to stop logging)")
    g.add_argument("--tracking-uri", help="MLflow tracking server (http(s)://) or database (sqlite:////path/m.db, "
                                          "postgresql://...; default: mlflow.db in the run directory)")
    g.add_argument("--quiet", action="store_true",
                   help="no progress bars or per-phase lines (progress bars show only on a terminal)")


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append each option's real default (from RunConfig) to its help text."""
    from energybench.config import RunConfig

    defaults = RunConfig()
    for action in parser._actions:
        key = FLAG_KEYS.get(action.dest)
        if key is None or action.help is None or "default" in action.help:
            continue
        value = getattr(defaults, key)
        if isinstance(value, list):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "all"
        if value is None or isinstance(value, bool) or action.const is not None:
            continue
        action.help += f" (default: {value})"


def main(args: argparse.Namespace) -> int:
    try:
        return _main(args)
    except ModuleMissing as exc:
        raise _where_recorded(exc, args.resume) from None
    except UserError as exc:
        raise as_typed(exc, args) from None


def _where_recorded(exc: ModuleMissing, resume: Path | None) -> UserError:
    """A resumed run's module that is not found here: where the run found it (manifest.json)."""
    from energybench.rundir import read_manifest

    if resume is None or not resume.is_dir():
        return exc
    manifest = read_manifest(resume)
    entries = [manifest.get("backbone_code"), *(manifest.get("method_code") or {}).values()]
    files = {e.get("file") for e in entries if isinstance(e, dict) and e.get("module") == exc.module and e.get("file")}
    if not files:
        return exc
    file = Path(sorted(files)[0])
    folder = file.parents[len(exc.module.split(".")) - 1]  # the folder the module's package path starts in
    return UserError(f"{exc}. The run imported it from {file}: run from {folder}, or put {folder} on PYTHONPATH")


def as_typed(exc: UserError, args: argparse.Namespace) -> UserError:
    """A refused config value named as the user gave it: "--seed: ..." for a value typed on the
    command line, "config key 'seeds': ..." for one from a YAML file (or a recorded run)."""
    if type(exc) is not UserError:
        return exc
    typed = {key: "--" + flag.replace("_", "-") for flag, key in FLAG_KEYS.items()
             if getattr(args, flag, None) is not None}
    text = str(exc)
    match = re.match(r"config key '([a-z_]+)'", text)
    about = match is not None and match.group(1) in typed  # a message about a value typed as a flag
    if about:
        text = typed[match.group(1)] + text[match.end():]
    about = about or any(text.startswith(key + " ") for key in typed)
    # then the keys named in its body ("class_order lists 9 classes ...", "give carbon_intensity"), where
    # typed as flags; only keys with an underscore ('grid' may be the word), and never in a message about
    # something else (an unknown key's list of valid keys names keys)
    for key, flag in typed.items():
        if about and "_" in key:
            text = re.sub(rf"(?<![\w'-]){key}(?![\w'])", flag, text)
    return exc if text == str(exc) else UserError(text)


def _main(args: argparse.Namespace) -> int:
    from energybench.engine.lock import RunLock, may_be_run

    if _on_ray(args) and not watched() and getattr(args, "argv", None) is not None:
        from energybench.engine.ray_options import refuse_early

        refuse_early(*_layers(args))  # a refused Ray option is said now, not after the driver's imports
        return supervise(args.argv)  # Ray can end its driver's process from C++: a watcher says what was kept

    with SigtermAsInterrupt() as sigterm:
        lock = None
        if args.resume is not None and may_be_run(args.resume):  # (any other folder: refused, nothing written)
            lock = RunLock(args.resume, busy_hint="then resume it")  # before anything of the run directory is read
            lock.acquire()
        try:
            from energybench.engine.ray_start import abandon_early, boot_from_flags, booting

            boot_from_flags(args)  # --workers N: Ray's cluster boots while torch is imported and the data load
            cfg = _config(args)
        except BaseException as exc:
            if lock is not None:
                lock.release()
            if isinstance(exc, UserError) and booting():  # said now: the cluster's shutdown takes seconds more
                print(error_line("run", as_typed(exc, args)), file=sys.stderr, flush=True)
                abandon_early()
                return 2
            abandon_early()
            raise
        return _run(args, cfg, lock, sigterm)


def _config(args: argparse.Namespace):
    from energybench.engine.preflight import make_config

    return make_config(*_layers(args))


def _layers(args: argparse.Namespace) -> list[dict]:
    """The run's config layers: its YAML file (or, resumed, its recorded config), then its flags."""
    from energybench.config import EXECUTION_KEYS, RUNNER_KEYS, load_yaml

    flags = {key: getattr(args, flag) for flag, key in FLAG_KEYS.items() if getattr(args, flag) is not None}
    if flags.get("report") is False and "report_formats" in flags:  # (a file's formats, --no-report overrides)
        from energybench.report.build import parse_formats

        parse_formats(args.report_format)  # a format that is wrong anyway is named first
        raise UserError(f"--report-format {args.report_format} with --no-report: no report is written; give one "
                        "of the two")
    if args.resume is not None:
        results_flags = sorted(f"--{flag.replace('_', '-')}" for flag, key in FLAG_KEYS.items()
                               if key in flags and key not in EXECUTION_KEYS)
        if args.config or results_flags:
            raise UserError("--resume takes its configuration from RUN_DIR/config.yaml; give no option that changes "
                            f"results ({', '.join(results_flags) or args.config}); only how it runs may change: "
                            "--executor, --workers, --ray-address, --gpus-per-cell, --cpus-per-cell, --no-report, "
                            "--report-format, --tracker, --tracking-uri, --trust-code")
        if not args.resume.is_dir():
            raise UserError(f"cannot resume {args.resume}: " + ("it is a file; give the run's directory"
                                                                 if args.resume.exists() else "no such directory"))
        layers = [load_yaml(args.resume / "config.yaml")] if (args.resume / "config.yaml").is_file() else []
        if not layers:
            raise UserError(f"cannot resume {args.resume}: no config.yaml there (is it a run directory?)")
        recorded = layers[0]
        if set(flags) & set(RUNNER_KEYS):  # another executor: none of the recorded one's settings carry over
            recorded = {k: v for k, v in recorded.items() if k not in RUNNER_KEYS}
        _refuse_named_code(recorded, flags, f"{args.resume / 'config.yaml'} (the run's recorded config)", args)
        layers = [recorded, flags]
    else:
        layers = [load_yaml(args.config)] if args.config else []
        if layers:
            _refuse_named_code(layers[0], flags, f"config file {args.config}", args)
        layers.append(flags)
    return layers


def _refuse_named_code(layer: dict, flags: dict, source: str, args: argparse.Namespace) -> None:
    """A file (someone else's config, a run directory someone gave you) that names code to import is
    refused unless --trust-code: only names the user gives, as flags or with that flag, run code."""
    from energybench.plugins import code_references

    named = {key: refs for key, refs in code_references(layer).items() if key not in flags}
    if named and not getattr(args, "trust_code", False):
        what = "; ".join(f"{'method' if key == 'methods' else key} {', '.join(refs)}" for key, refs in named.items())
        raise UserError(f"{source} names code to import: {what}. A file never runs code by itself: read that code, "
                        "then give --trust-code to import it")


def _on_ray(args: argparse.Namespace) -> bool:
    """Whether this run's cells go to Ray: its flags say so, or its config file (or, resumed, its recorded one)."""
    if args.workers is not None or args.ray_address is not None or args.executor is not None:
        return args.executor != "local"
    source = args.resume / "config.yaml" if args.resume is not None else (Path(args.config) if args.config else None)
    if source is None:
        return False
    try:  # a peek only: the run reads (and checks) the file itself
        import yaml

        recorded = yaml.safe_load(source.read_text()[:1_000_000])
    except Exception:
        return False
    return isinstance(recorded, dict) and (recorded.get("executor") == "ray" or bool(recorded.get("workers")))


def _run(args: argparse.Namespace, cfg, lock, sigterm: SigtermAsInterrupt) -> int:
    from energybench.engine.runner import DISK_ERRORS, Runner, disk_remedy
    from energybench.report.worker import ReportWorker

    log = (lambda *a, **k: None) if args.quiet else print
    # Bars redraw with carriage returns: on a terminal they help, in a log file they are noise.
    tty = sys.stderr.isatty() or os.environ.get(TTY) == "1"
    worker = ReportWorker()
    if cfg.report:
        worker.start()  # imports the report code on the core the cells leave free (report/worker.py)
    try:
        runner = Runner(cfg, resume=args.resume, progress=not args.quiet and tty, log=log, lock=lock)
    except BaseException:
        worker.close()
        raise
    note(root=runner.store.root)
    sigterm.arm()  # again: ray.init (in Runner, under Ray) installs its own SIGTERM handler, which just exits
    try:
        try:
            root = runner.run(keep_lock=True)  # the reports are written into the run under its lock too
        except KeyboardInterrupt:
            done = runner.store.metrics_path.is_file()
            saved = (f"every finished phase is saved in {runner.store.root} ({len(runner.store.rows)} row(s) in "
                     "metrics.csv)") if done else "nothing was finished yet"
            sigterm.say(f"energybench run: interrupted{sigterm.how()}; {saved}.\nContinue with: "
                        f"{runner.resume_command}")
            return sigterm.status()
        reports = []
        if runner.cfg.report:
            try:
                reports = worker.build(root, formats=runner.cfg.report_formats)
                for path in reports:
                    print(f"report: {path}")
            except OutputFailed as exc:
                runner.trackers.abort("FAILED")  # not left RUNNING
                if exc.errno not in DISK_ERRORS:
                    raise
                raise RunStopped(f"stopped: {exc}. The run is finished and every row is saved in {root}; "
                                 f"{disk_remedy(exc.errno)} and write the reports with: energybench report "
                                 f"{root}") from None
            except KeyboardInterrupt:
                runner.trackers.abort()  # the tracker runs end KILLED, as when the cells are interrupted
                sigterm.say(f"energybench run: interrupted{sigterm.how()} while writing the reports; the run is "
                            f"finished and every row is saved in {root} (a report is written whole or not at all)."
                            f"\nWrite the reports with: energybench report {root}")
                return sigterm.status()
            except BaseException:
                runner.trackers.abort("FAILED")  # not left RUNNING
                raise
        runner.finish_tracking(reports)
    finally:
        worker.close()  # before the lock goes: an interrupted report process deletes its temporary files first
        runner.close()
    print(f"results: {root / 'metrics.csv'}")
    print(f"summary: {root / 'summary.json'}")
    return 0
