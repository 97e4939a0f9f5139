"""Bad input to every command ends the same way: exit status 2, one line on stderr that names
the bad value and what is valid, no traceback, nothing on stdout, and no file written or
changed. One table row per input a user (or a file someone shared) can get wrong."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from energybench.cli import main

QUICK = ["--epochs", "1", "--no-power", "--no-report", "--quiet"]
BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
               for p, k in zip([None, *"abcdefgh"], "abcdefghi"))  # 9 levels of 9: 387 million values


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(">u1").tobytes())


def _mnist(root: Path, bad_label: int) -> Path:
    """Four IDX files of a tiny MNIST whose training labels include `bad_label`."""
    root.mkdir()
    labels = np.arange(20) % 10
    labels[7] = bad_label
    for part, n in (("train", 20), ("t10k", 10)):
        _idx(root / f"{part}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        _idx(root / f"{part}-labels-idx1-ubyte.gz", labels[:n])
    return root


def _imagefolder(root: Path, broken: str | None = None) -> Path:
    """train/ and val/ with classes cat and dog, 2 PNG images each; `broken` spoils one thing."""
    from PIL import Image

    for part in ("train", "val"):
        for cls in ("cat", "dog"):
            (root / part / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((12, 12, 3), 60 * i, np.uint8)).save(root / part / cls / f"{i}.png")
    if broken == "empty class":
        (root / "train" / "eel").mkdir()
    elif broken == "zero-byte jpg":
        (root / "train" / "dog" / "2.jpg").write_bytes(b"")
    elif broken == "no val folder":
        shutil.rmtree(root / "val" / "dog")
    elif broken == "text as jpg":
        (root / "val" / "cat" / "notes.jpg").write_text("not an image\n")
    return root


def _write(name: str, content: str | bytes):
    def make(tmp: Path) -> str:
        path = tmp / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return str(path)
    return make


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
ARCH = ("name: a\ndescription: d\ndataflow: layer_buffer\nlevels:\n"
        "  - {{name: glb, kind: sram, capacity_bytes: {capacity}}}\n"
        "  - {{name: dram, kind: dram, type: LPDDR4}}\n")
ERT = ("ERT:\n  version: 0.3\n  tables:\n  - {{name: mac, actions: [{{name: mac, energy: {mac}}}]}}\n"
       "  - {{name: buf, actions: [{{name: read, energy: {read}}}, {{name: write, energy: 1.0}}]}}\n")
ARCH_ERT = ("name: a\ndescription: d\ndataflow: layer_buffer\nlevels:\n"
            "  - {name: glb, kind: sram, capacity_bytes: 64, energy: {ert: e.yaml, component: buf}}\n"
            "  - {name: dram, kind: dram, type: LPDDR4}\n")

# (id, argv (strings, or callables that make a file in the test's folder and return its path), message)
CASES = [
    # non-finite numbers, on the command line and in YAML (item 8)
    ("lr nan", ["run", "--lr", "nan"], "argument --lr: must be a finite number, got 'nan'"),
    ("lr inf", ["run", "--lr", "inf"], "argument --lr: must be a finite number, got 'inf'"),
    ("tolerance nan", ["run", "--tolerance", "nan"], "argument --tolerance: must be a finite number, got 'nan'"),
    ("width -inf", ["run", "--width=-inf"], "argument --width: must be a finite number, got '-inf'"),
    ("power rate nan", ["run", "--power-rate", "nan"], "argument --power-rate: must be a finite number, got 'nan'"),
    ("idle inf", ["run", "--idle-seconds", "inf"], "argument --idle-seconds: must be a finite number, got 'inf'"),
    ("yaml momentum .nan", ["run", _write("c.yaml", "momentum: .nan\n")],
     "c.yaml: momentum (nan) is not a finite number; every number must be finite"),
    ("yaml epochs .inf", ["run", _write("epochs.yaml", "epochs: .inf\n")], "epochs.yaml: epochs (inf) is not a finite"),
    ("yaml weight_decay .inf", ["run", _write("c.yaml", "weight_decay: .inf\n")], "weight_decay (inf) is not a finite"),
    ("yaml lr_gamma .nan", ["run", _write("c.yaml", "lr_gamma: .nan\n")], "lr_gamma (nan) is not a finite number"),
    ("yaml sharing .nan", ["run", _write("c.yaml", "sharing: [0, .nan]\n")], "c.yaml: sharing[1] (nan) is not"),
    ("yaml lr_milestones .inf", ["run", _write("c.yaml", "lr_milestones: [.inf]\n")],
     "c.yaml: lr_milestones[0] (inf) is not a finite number"),
    ("yaml memory_size .nan", ["run", _write("c.yaml", "memory_size: .nan\n")], "memory_size (nan) is not a finite"),
    ("yaml 1e400 in method options", ["run", _write("c.yaml", "options: {lucir: {lambda_base: 1.0e+400}}\n")],
     "c.yaml: options.lucir.lambda_base (inf) is not a finite number; every number must be finite (not .nan, .inf, "
     "or beyond 1.8e308)"),
    ("cost width inf", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--width", "inf"],
     "argument --width: must be a finite number, got 'inf'"),
    ("cost sharing nan", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sharing", "nan"],
     "argument --sharing: must be a finite number, got 'nan'"),
    ("energy-table sram-bytes inf", ["energy-table", "--sram-bytes", "inf"],
     "argument --sram-bytes: must be a finite number, got 'inf'"),
    ("power duration nan", ["power", "--duration", "nan"],
     "--duration must be from 0 to 86,400 seconds (a day), got nan"),
    ("run node list with a word", ["run", "--node", "45,x"],
     "argument --node: invalid int value: 'x'; give one of the technology nodes 90, 65, 45, 32, 22, 16, 14, 10, 7"),
    ("power rate inf", ["power", "--power-rate", "inf"],
     "--power-rate must be more than 0 and at most 1,000 Hz, got inf"),
    ("power rate above run's bound", ["power", "--power-rate", "5000"],
     "--power-rate must be more than 0 and at most 1,000 Hz, got 5000"),
    ("rtl vdd nan", ["rtl", "characterize", "--vdd", "nan"], "argument --vdd: must be a finite number, got 'nan'"),
    ("energy table ops nan", ["energy-table", "--energy-table", _write("t.yaml", "ops_pj: {fp32: {add: .nan}}\n")],
     "t.yaml: ops_pj.fp32.add (nan) is not a finite number"),
    # files that are not YAML text (item 9)
    ("config is binary", ["run", _write("c.yaml", PNG)], "c.yaml is a binary file, not YAML text"),
    ("config is latin-1", ["run", _write("c.yaml", "epochs: 3  # caf\xe9\n".encode("latin-1"))],
     "c.yaml is not UTF-8 text (byte 0xe9 at offset 16)"),
    ("config is a directory", ["run", lambda tmp: str(tmp)], "is a directory; give a YAML file"),
    ("config alias bomb", ["run", _write("c.yaml", BOMB)], "its aliases expand it to more than 100,000 values"),
    ("config recursive alias", ["run", _write("c.yaml", "sharing: &a [*a]\n")], "an alias refers to a value that"),
    ("config nested too deeply", ["run", _write("c.yaml", "[" * 3000)], "nested too deeply"),
    ("config key set twice", ["run", _write("c.yaml", "epochs: 3\nlr: 0.1\nepochs: 5\n")],
     "c.yaml is refused: key 'epochs' is set twice (lines 1 and 3)"),
    ("config bad date", ["run", _write("c.yaml", "run_id: 2024-13-45\n")], "is not valid YAML: month must be in"),
    ("energy table is binary", ["run", "--energy-table", _write("t.yaml", PNG)],
     "t.yaml is a binary file, not YAML text"),
    ("energy-table file is latin-1", ["energy-table", "--energy-table", _write("t.yaml", b"name: \xff\n")],
     "t.yaml is not UTF-8 text (byte 0xff at offset 6)"),
    ("cost table alias bomb", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table",
                               _write("t.yaml", BOMB)], "t.yaml is refused: its aliases expand it"),
    # class_order of the wrong shape
    ("class_order mapping", ["run", _write("c.yaml", "class_order: {a: 1}\n")],
     "config key 'class_order' must be 'seeded', 'natural', 'pycil' or a list of class indices (e.g. [3, 1, 0, 2] or "
     "3,1,0,2), got {'a': 1}"),
    ("class_order integer", ["run", _write("c.yaml", "class_order: 3\n")],
     "config key 'class_order' must be 'seeded', 'natural', 'pycil' or a list of class indices"),
    ("class_order strings", ["run", _write("c.yaml", "class_order: [cat, dog]\n")],
     "config key 'class_order': 'cat' (in ['cat', 'dog']) is not a whole number"),
    ("class_order negative", ["run", "--class-order", "0,-1,2,3,4,5,6,7,8,9"], "class indices are 0 or more, got -1"),
    ("class_order floats", ["run", _write("c.yaml", "class_order: [0, 1.5]\n")], "1.5 (in [0, 1.5]) is not a whole"),
    ("scenario mapping", ["run", _write("c.yaml", "scenario: {B4: 3}\n")], "config key 'scenario' must be B<base>"),
    ("scenario list of strings", ["run", _write("c.yaml", "scenario: [4, three]\n")], "'three' (in [4, 'three'])"),
    # seeds beyond what the generators take
    ("seed 2**64", ["run", "--seed", "18446744073709551616"],
     "--seed: 18446744073709551616 is outside 0..4294967295"),
    ("seed 2**32", ["run", _write("c.yaml", "seed: 4294967296\n")], "4294967296 is outside 0..4294967295"),
    ("seed negative", ["run", "--seed", "-1"], "-1 is outside 0..4294967295"),
    ("seed 1.5", ["run", "--seed", "1.5"], "--seed: '1.5' is not a whole number"),
    ("seeds repeat", ["run", "--seed", "0,1,0"], "seeds repeat: 0, 1, 0"),
    ("cost seed", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--seed", "18446744073709551616"],
     "argument --seed: 18446744073709551616 is outside 0..4294967295"),
    ("rtl seed", ["rtl", "characterize", "--seed", "-3"], "argument --seed: -3 is outside 0..4294967295"),
    ("rtl vectors", ["rtl", "characterize", "--vectors", "100000000000"],
     "--vectors must be from 1 to 10,000,000, got 100,000,000,000"),
    # sizes
    ("scenario that would fill the memory", ["run", "--scenario", "B4-3x99999999999"],
     "scenario 'B4-3x99999999999' covers 300000000001 classes but digits has only 10"),
    ("zero-sized phases that would fill the memory", ["run", "--scenario", "B4-0x99999999999"],
     "every phase needs a positive number of classes"),
    ("run id of 300 characters", ["run", "--run-id", "r" * 300],
     "is 300 bytes long; a directory name holds at most 255"),
    ("run id with a control character", ["run", "--run-id", "a\tb"], "'a\\tb' contains a control character"),
    ("image_size 0", ["run", _write("c.yaml", "image_size: 0\n"), "--dataset", "imagefolder", "--data-root", "/x"],
     "config key 'image_size': must be a positive number of pixels, got 0"),
    ("image_size negative", ["run", _write("c.yaml", "image_size: -32\n"), "--dataset", "imagefolder"],
     "must be a positive number of pixels, got -32"),
    ("image_size for digits", ["run", _write("c.yaml", "image_size: 64\n")],
     "the crop size applies to the imagefolder dataset only, not 'digits'"),
    ("backbone too deep for the input", ["run", "--backbone", "vgg19"],
     "backbone 'vgg19' cannot take input 1x8x8 (Given input size: (512x1x1)"),
    ("input too small for lenet", ["run", "--backbone", "LeNet"], "lenet needs inputs of at least 16x16, got 8x8"),
    ("data_root for digits", ["run", "--data-root", "/data"], "--data-root: digits is scikit-learn's"),
    ("download for mnist", ["run", "--dataset", "mnist", "--download"], "only cifar10 and cifar100 can be downloaded"),
    ("threads absurd", ["run", "--threads", "1000000000"], "--threads: at most 4096, got 1000000000"),
    # 1.2e18 bytes: beyond any address space, so refused even where the kernel overcommits memory
    ("cost step too large", ["cost", "--backbone", "resnet20", "--input", "3x32x32", "--batch-size", "100000000000000"],
     "one training step of resnet20 at batch 100,000,000,000,000 on 3x32x32 must hold at least"),
    # data that does not match its description
    ("IDX labels outside the classes", ["run", "--dataset", "mnist", "--data-root",
                                        lambda tmp: str(_mnist(tmp / "m", 12))],
     "/m/train-labels-idx1-ubyte.gz must be 0..9 (10 classes); 1 are not, the first 12 at position 7"),
    ("imagefolder empty class folder", ["run", "--dataset", "imagefolder", "--data-root",
                                         lambda tmp: str(_imagefolder(tmp / "f", "empty class"))],
     "train/eel holds no image files (.jpg, .jpeg, .png"),
    ("imagefolder class missing from val", ["run", "--dataset", "imagefolder", "--data-root",
                                            lambda tmp: str(_imagefolder(tmp / "f", "no val folder"))],
     "f/val/dog does not exist; every class of"),
    ("imagefolder zero-byte jpg", ["run", "--dataset", "imagefolder", "--data-root",
                                    lambda tmp: str(_imagefolder(tmp / "f", "zero-byte jpg"))],
     "train/dog/2.jpg is not a readable image (empty file)"),
    ("imagefolder text as jpg", ["run", "--dataset", "imagefolder", "--data-root",
                                  lambda tmp: str(_imagefolder(tmp / "f", "text as jpg"))],
     "val/cat/notes.jpg is not a readable image (cannot identify image file"),
    ("imagefolder unknown class", ["run", _write("c.yaml", "classes: [cat, dgo]\n"), "--dataset", "imagefolder",
                                    "--data-root", lambda tmp: str(_imagefolder(tmp / "f"))],
     "unknown class 'dgo' (did you mean 'dog'?); valid classes in"),
    # misspelt names get the closest valid one (item 5)
    ("method finetun", ["run", "--method", "finetun"], "unknown method 'finetun' (did you mean 'finetune'?); valid "
                                                        "methods: finetune, joint"),
    ("yaml key epoch", ["run", _write("c.yaml", "epoch: 3\n")], "unknown config key 'epoch' (did you mean 'epochs'?)"),
    ("dataset fashion_mnist", ["run", "--dataset", "fashion_mnist"], "(did you mean 'fashion-mnist'?)"),
    ("backbone resnet-20", ["run", "--backbone", "resnet-20"], "(did you mean 'resnet20'?)"),
    ("precision fp61", ["run", "--precision", "fp61"], "unknown precision 'fp61' (did you mean 'fp16'?)"),
    ("sram cell itrs-lsp", ["run", "--sram-cell", "itrs-lsp"], "(did you mean 'itrs-lstp'?)"),
    ("herding herd", ["run", "--herding", "herd"], "(did you mean 'herding'?)"),
    ("report format htm", ["run", "--report-format", "htm"], "(did you mean 'html'?)"),
    ("power duration of a lifetime", ["power", "--duration", "1e9"],
     "--duration must be from 0 to 86,400 seconds (a day), got 1e+09"),
    ("report format and no report", ["run", "--report-format", "html", "--no-report"],
     "--report-format html with --no-report: no report is written; give one of the two"),
    ("report format docx and no report", ["run", "--report-format", "docx", "--no-report"],
     "unknown report format 'docx'; valid formats: html, pdf"),
    ("memory budget no method uses", ["run", "--method", "finetune,lwf", "--memory-budget", "100000"],
     "--memory-budget: 100000 bytes bounds the stored model and exemplars of der, eeil, foster, icarl, lucir, memo, "
     "simplecil; none of this run's methods (finetune, lwf) is one of them, so it would be ignored"),
    # an export into a folder that does not exist is said, not made (a typo would scatter folders)
    ("actions into a missing folder", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--export-actions",
                                       "/no/such/dir/a.yaml"],
     "--export-actions /no/such/dir/a.yaml: folder /no/such/dir does not exist"),
    ("ert into a missing folder", ["energy-table", "--export-ert", "/no/such/dir/e.yaml"],
     "--export-ert /no/such/dir/e.yaml: folder /no/such/dir does not exist"),
    ("workload format alone", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--workload-format", "timeloop"],
     "--workload-format timeloop is the format of --export-workload; give --export-workload FILE too"),
    ("empty report out", ["report", "/no/run", "--out", ""], "argument --out: is empty (''); give a path"),
    ("empty figures folder", ["report", "/no/run", "--figures", " "],
     "argument --figures: is empty (' '); give a path"),
    ("empty compare out", ["compare", "/no/a", "/no/b", "--out", ""], "argument --out: is empty (''); give a path"),
    ("empty resume", ["run", "--resume", ""], "argument --resume: is empty (''); give a path"),
    ("energy table horowits45", ["run", "--energy-table", "horowits45"], "(did you mean 'horowitz45'?)"),
    ("cost model resnt20", ["cost", "--backbone", "resnt20", "--input", "3x32x32"], "(did you mean 'resnet20'?)"),
    ("cost sram cell", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sram-cell", "itrs-hpp"],
     "(did you mean 'itrs-hp'?)"),
    ("energy-table precision", ["energy-table", "--precision", "fp23"], "(did you mean 'fp32'?)"),
    ("report format htm", ["report", "/no/run", "--report-format", "htm"],
     "unknown report format 'htm' (did you mean 'html'?); valid formats: html, pdf"),
    ("command cots", ["cots"], "invalid choice: 'cots'"),
    ("flag --metod", ["run", "--metod", "joint"], "unrecognized arguments: --metod (did you mean '--method'?)"),
    ("rtl adder", ["rtl", "characterize", "--adder", "kogge"], "(did you mean 'kogge_stone'?)"),
    ("flag type", ["run", "--epochs", "two"], "argument --epochs: invalid int value: 'two'; give a whole number "
                                              "from 1 to 10,000"),
    # the last unguarded inputs (issue 32): each was a traceback, ran for ever, or was taken silently
    ("width of 14 digits", ["run", "--width", "99999999999999"], "--width: at most 16, got 99999999999999"),
    ("workers of 14 digits", ["run", "--workers", "99999999999999"],
     "--workers: at most "),  # this machine's CPU count follows
    ("image size 100000", ["run", "--dataset", "imagefolder", "--data-root", "/x", "--image-size", "100000"],
     "--image-size: at most 1024, got 100000"),
    ("epochs of 14 digits", ["run", "--epochs", "99999999999999"], "--epochs: at most 10000, got "
                                                                   "99999999999999"),
    ("yaml epochs of 30 digits", ["run", _write("epochs.yaml", "epochs: " + "9" * 30 + "\n")],
     "config key 'epochs': at most 10000, got " + "9" * 30),  # from a file: named as the file names it
    ("batch of 14 digits", ["run", "--batch-size", "99999999999999"], "--batch-size: at most 65536, got 9999"),
    ("idle seconds of 14 digits", ["run", "--idle-seconds", "99999999999999"],
     "--idle-seconds: at most 3600, got 99999999999999"),
    ("sharing with an empty item", ["run", "--sharing", "0,,0.5"],
     "--sharing: item 2 of '0,,0.5' is empty; give a finite number between every two commas"),
    ("methods with an empty item", ["run", "--method", "finetune,,joint"],
     "--method: item 2 of 'finetune,,joint' is empty; give a name between"),
    ("yaml seeds with an empty item", ["run", _write("c.yaml", "seeds: [0, null]\n")], "'seeds': item 2 of [0, None]"),
    ("scenario without an incremental phase", ["run", "--scenario", "B4-3x0"],
     "--scenario: 'B4-3x0' is the base phase alone (4 classes), with no incremental phase"),
    ("scenario of one count", ["run", "--scenario", "10"], "'10' is the base phase alone (10 classes)"),
    ("negative scenario list", ["run", "--scenario", "-4,3,3"], "cannot read scenario '-4,3,3': use B<base>"),
    ("negative sharing list", ["run", "--sharing", "-0.5,0.2"], "every sharing level must be in [0, 1), got -0.5"),
    ("negative infinity", ["run", "--memory-size", "-inf"], "argument --memory-size: invalid int value: '-inf'"),
    ("gpus per cell with the local executor", ["run", "--gpus-per-cell", "1"],
     "--gpus-per-cell: 1 is a Ray resource request; the local executor runs every cell in this process"),
    ("cpus per cell with the local executor", ["run", "--executor", "local", "--cpus-per-cell", "4"],
     "--cpus-per-cell: 4 is a Ray resource request"),
    ("empty out", ["run", "--out", ""], "--out: '' is empty; give the directory"),
    # a whole number may be written 1e6, exactly, as for --seed; not one past 64 bits, nor 2.5
    # a dot where the colon of package.module:Name goes
    ("dotted backbone", ["cost", "--backbone", "my_nets.SmallNet", "--input", "1x8x8"],
     "or your own as package.module:factory (did you mean 'my_nets:SmallNet'? your own code is named "
     "package.module:Name, with a colon)"),
    ("dotted method", ["run", "--method", "my_methods.L2Anchor"], "(did you mean 'my_methods:L2Anchor'? your own "
                                                                   "code is named package.module:Name, with a colon)"),
    ("int flag huge exponent", ["run", "--epochs", "1e400"],
     "argument --epochs: invalid int value: '1e400'; give a whole number"),
    ("int flag fraction", ["run", "--memory-budget", "2.5e0"], "argument --memory-budget: invalid int value: '2.5e0'"),
    ("int flag exponent in range", ["run", "--epochs", "2e4"], "--epochs: at most 10000, got 20000"),
    ("int flag inf", ["run", "--epochs", "inf"], "argument --epochs: invalid int value: 'inf'; give a whole number "
                                                 "from 1 to 10,000"),
    ("int flag inf without an upper bound", ["run", "--memory-size", "inf"],
     "argument --memory-size: invalid int value: 'inf'; give a whole number from 1 up"),
    ("float flag 1e400", ["run", "--lr", "1e400"], "argument --lr: must be a finite number, got '1e400'"),
    ("cost width of 14 digits", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--width", "99999999999999"],
     "--width must be at most 16, got 99999999999999"),
    ("cost sharing with an empty item", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sharing", "0,,0.5"],
     "--sharing: item 2 of '0,,0.5' is empty"),
    ("architecture capacity .nan", ["run", "--arch", _write("a.yaml", ARCH.format(capacity=".nan"))],
     "a.yaml: levels[0].capacity_bytes (nan) is not a finite number"),
    ("cost architecture capacity .inf", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch",
                                         _write("a.yaml", ARCH.format(capacity=".inf"))],
     "a.yaml: levels[0].capacity_bytes (inf) is not a finite number"),
    ("architecture is binary", ["run", "--arch", _write("a.yaml", PNG)],
     "a.yaml is a binary file, not YAML text"),
    ("architecture is latin-1", ["energy-table", "--arch", _write("a.yaml", "name: caf\xe9\n".encode("latin-1"))],
     "a.yaml is not UTF-8 text (byte 0xe9 at offset 9)"),
    ("architecture key set twice", ["run", "--arch", _write("a.yaml", ARCH.format(capacity=64) + "name: b\n")],
     "a.yaml is refused: key 'name' is set twice"),
    ("architecture ERT read .inf", ["run", "--arch", lambda tmp: _write("e.yaml", ERT.format(read=".inf", mac=1.0))(tmp)
                                     and _write("a.yaml", ARCH_ERT)(tmp)],  # the ERT beside it, named by the file only
     "a.yaml: levels[0] (glb): energy.ert: Accelergy ERT "),
    ("ERT read .inf", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table",
                       _write("e.yaml", ERT.format(read=".inf", mac=1.0)), "--json"],
     "e.yaml: ERT.tables[1].actions[0].energy (inf) is not a finite number"),
    ("ERT mac .nan", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table",
                      _write("e.yaml", ERT.format(read=1.0, mac=".nan")), "--json"],
     "e.yaml: ERT.tables[0].actions[0].energy (nan) is not a finite number"),
    ("energy table of fp64 only", ["run", "--energy-table", _write("t.yaml", "ops_pj: {fp64: {add: 1, mult: 2}}\n")],
     "t.yaml gives op energies for fp64 only, which no run takes (runs take fp32, fp16, bf16, int8, int16, int32)"),
    ("cost sharing repeated", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sharing", "0,0.5,0"],
     "--sharing: values repeat: 0, 0.5, 0"),
    ("cost node repeated", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--node", "45,45"],
     "--node: values repeat: 45, 45"),
    ("cost arch repeated in another case", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch",
                                            "layer_buffer,LAYER_BUFFER"],
     "--arch: values repeat: layer_buffer, LAYER_BUFFER"),
    ("cost batch past 64 bits", ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "9" * 29],
     "--batch-size " + "9" * 29 + " is beyond any machine's memory; sizes are at most 2**62"),
    ("cost input past 64 bits", ["cost", "--backbone", "tiny_cnn", "--input", "3x8x" + "9" * 26],
     "--input " + "9" * 26 + " is beyond any machine's memory"),
    ("cost input whose storage overflows", ["cost", "--backbone", "tiny_cnn", "--input", "3x99999999999x99999999999"],
     "has a tensor of more than 2**63 elements or bytes, past what even --device meta can describe"),
    ("meta batch whose storage overflows", ["cost", "--backbone", "tiny_cnn", "--input", "3x32x32", "--batch-size",
                                            str(2**48), "--device", "meta"],
     "has a tensor of more than 2**63 elements or bytes, past what even --device meta can describe; give a smaller "
     "--batch-size"),
    ("architecture integer of 400 digits", ["energy-table", "--arch",
                                             _write("a.yaml", ARCH.format(capacity="9" * 400))],
     "a.yaml: levels[0].capacity_bytes (" + "9" * 18 + "..." + "9" * 19 + ") is not a finite number"),
    ("architecture integer past 2**53", ["energy-table", "--arch", _write("a.yaml", ARCH.format(capacity=10**20))],
     "levels[0] (glb): capacity_bytes must be at most 2**53 (9,007,199,254,740,992), got 100000000000000000000"),
    ("energy-table word bits of 400 digits", ["energy-table", "--word-bits", "9" * 400],
     "--word-bits must be at most 2**53 (9,007,199,254,740,992), got 999"),
    ("node not a number", ["energy-table", "--node", "seven"],
     "argument --node: invalid int value: 'seven'; give one of the technology nodes 90, 65, 45, 32, 22, 16, 14, 10, 7"),
    ("lr_gamma zero", ["run", _write("c.yaml", "lr_gamma: 0\n")], "config key 'lr_gamma': must be positive, got 0.0"),
    # found by trying it as a new user: each used to fail late, or not at all
    ("memory too small", ["run", "--method", "icarl", "--sharing", "0", "--memory-size", "5"],
     "--memory-size 5 cannot hold one exemplar for each of 10 classes; use --memory-size >= 10"),
    ("cache with augment", ["run", "--cache-shared", "--augment", "--method", "finetune"],
     "--cache-shared: caches the frozen trunk's outputs of each training image once a phase"),
    ("study file as config", ["run", _write("s.yaml", "base: a.yaml\narms: {x: {epochs: 2}}\n")],
     "s.yaml is a study of several runs (base and arms), not one run's config; run it with: python "
     "scripts/ablation.py"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv, message, tmp_path, capsys, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    argv = [a(inputs) if callable(a) else a for a in argv]
    if argv[0] == "run":  # what the case sets itself is left as it is
        quick = QUICK[2 * any("epochs" in a for a in argv):]
        if "--report-format" in argv:  # a report format is the case's to check (--no-report would contradict it)
            quick = [a for a in quick if a != "--no-report"]
        argv += ["--out", str(tmp_path / "runs")] * ("--out" not in argv) + quick
    monkeypatch.chdir(tmp_path)  # a default output folder would land here
    before = _snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err
    assert err.startswith("energybench") and err.count("\n") == 1 and "Traceback" not in err, err
    assert out == ""
    assert _snapshot(tmp_path) == before


def test_alias_bomb_is_refused_before_it_is_built(tmp_path):
    """The 9x9 bomb (387 million values) is measured on the composed document, whose aliases
    share nodes: 91 nodes walked, nothing expanded."""
    import yaml

    from energybench.user_yaml import MAX_VALUES, RefusedDocument, expanded_size

    assert expanded_size(yaml.compose("a: [x, [y, z]]\n")) == 7  # map, key, seq, x, seq, y, z
    # map, key a, [x, x] (3), key b, and [*a, *a]: a sequence of two 3-value copies
    assert expanded_size(yaml.compose("a: &a [x, x]\nb: [*a, *a]\n")) == 1 + 1 + 3 + 1 + (1 + 2 * 3)
    with pytest.raises(RefusedDocument, match=f"more than {MAX_VALUES:,} values"):
        expanded_size(yaml.compose(BOMB))
    assert len(BOMB) < 400


def test_good_values_beside_the_bad_ones_still_load(tmp_path):
    """The limits leave real configs alone: built-in names in any case, a 1000-class explicit
    order, the largest seed, a 255-byte run id, and an experiment file that uses anchors."""
    from energybench.config import SEED_MAX, load_yaml
    from energybench.engine.preflight import make_config

    cfg = make_config({"methods": "LwF,JOINT", "dataset": "Digits", "precision": "FP16", "sram_cell": "ITRS-HP",
                       "herding": "Random", "report_formats": "HTML", "device": "CPU", "energy_table": "Aladdin45",
                       "seeds": [0, SEED_MAX], "run_id": "r" * 255, "options": {"LUCIR": {}}})
    assert (cfg.methods, cfg.dataset, cfg.precision, cfg.sram_cell, cfg.herding, cfg.report_formats, cfg.device,
            cfg.energy_table) == (["lwf", "joint"], "digits", "fp16", "itrs-hp", "random", ["html"], "cpu", "aladdin45")
    assert list(cfg.options) == ["lucir"] and cfg.seeds == [0, SEED_MAX]
    assert make_config({"executor": "LOCAL"}).executor == "local" and make_config({"executor": "Ray"}).executor == "ray"
    assert make_config({"arch": "EYERISS_LIKE"}).arch == "eyeriss_like"
    p = tmp_path / "c.yaml"
    p.write_text("common: &c [0, 0.5]\nclass_order: [" + ", ".join(map(str, range(1000))) + "]\n")
    data = load_yaml(p)
    assert data["common"] == [0, 0.5] and data["class_order"] == list(range(1000))
    assert make_config({"class_order": "natural"}).class_order == "natural"
    assert make_config({"class_order": "3, 1, 0, 2, 4, 5, 6, 7, 8, 9"}).class_order[:3] == [3, 1, 0]
    assert make_config({"image_size": 224}).image_size is None  # older runs recorded it for every dataset
    assert make_config({"dataset": "imagefolder", "data_root": "/x"}).image_size == 224
    assert make_config({}).image_size is None
