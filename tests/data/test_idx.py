"""The IDX reader on small gzipped files written here, including corrupt ones."""

import gzip
import struct

import numpy as np
import pytest

from energybench.data.idx import read_idx
from energybench.data.mnist_like import FILES, load_mnist_like
from energybench.errors import UserError


def write_idx(path, array: np.ndarray, code=0x08, gz=True):
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(">u1" if code == 0x08 else ">i4").tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


def test_reads_images_and_labels_exactly(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "img.gz", images)
    out = read_idx(tmp_path / "img.gz")
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    assert np.array_equal(out, images)


def test_reads_big_endian_int32(tmp_path):
    values = np.array([1, -2, 70000], dtype=np.int32)
    write_idx(tmp_path / "v.gz", values, code=0x0C)
    assert read_idx(tmp_path / "v.gz").tolist() == [1, -2, 70000]


def test_bad_magic_names_the_file(tmp_path):
    p = tmp_path / "bad.gz"
    gzip.open(p, "wb").write(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(UserError, match=r"corrupt IDX file .*bad\.gz: bad magic"):
        read_idx(p)


def test_truncated_payload_is_reported(tmp_path):
    p = tmp_path / "short.gz"
    gzip.open(p, "wb").write(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 7)
    with pytest.raises(UserError, match="dimensions \\[10\\] need 18 bytes, file has 15"):
        read_idx(p)


def test_not_gzip_is_reported(tmp_path):
    p = tmp_path / "garbage.gz"
    p.write_bytes(b"this is not gzip data")
    with pytest.raises(UserError, match="cannot decompress"):
        read_idx(p)


def _fake_mnist(root, n_train=12, n_test=6, corrupt_labels=False):
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("test", n_test)):
        img_name, lbl_name = FILES[part]
        write_idx(root / img_name, rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(root / lbl_name, (np.arange(n) % 10).astype(np.uint8))
    if corrupt_labels:
        (root / FILES["train"][1]).write_bytes(b"\x1f\x8b broken")


def test_loader_reads_a_directory_of_idx_files(tmp_path):
    _fake_mnist(tmp_path)
    src = load_mnist_like("fashion-mnist", str(tmp_path))
    assert src.in_shape == (1, 28, 28) and src.num_classes == 10
    assert len(src.train) == 12 and len(src.test) == 6
    assert src.train.y.tolist() == [i % 10 for i in range(12)]
    assert src.class_names[9] == "Ankle boot"


def test_loader_names_the_corrupt_file(tmp_path):
    _fake_mnist(tmp_path, corrupt_labels=True)
    with pytest.raises(UserError, match="train-labels-idx1-ubyte.gz"):
        load_mnist_like("mnist", str(tmp_path))


def test_missing_directory_says_where_and_how(tmp_path):
    with pytest.raises(UserError, match=r"looked for .*nowhere.*apt-get install dataset-fashion-mnist"):
        load_mnist_like("fashion-mnist", str(tmp_path / "nowhere"))
