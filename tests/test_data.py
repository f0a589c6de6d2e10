import gzip
import shutil

import pytest
import torch

from course_utils import data


def test_loads_full_mnist_offline_in_model_range():
    x_train, y_train = data.load_mnist("train")
    x_test, y_test = data.load_mnist("test")
    assert x_train.shape == (60_000, 1, 28, 28) and y_train.shape == (60_000,)
    assert x_test.shape == (10_000, 1, 28, 28) and y_test.shape == (10_000,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.min() == -1 and x_train.max() == 1
    # label counts from data/mnist/README.md
    assert torch.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_files_match_their_checksums():
    folder = data.data_dir() / "mnist"
    assert {name: data._sha256(folder / name) for name in data.MNIST_FILES} == data.MNIST_FILES


def test_callers_get_fresh_tensors():
    x, _ = data.load_mnist("test")
    x[0] = 5.0
    assert data.load_mnist("test")[0][0].max() == 1


def test_subset_is_deterministic_and_distinct():
    a, la = data.mnist_subset("train", 100, seed=3)
    b, lb = data.mnist_subset("train", 100, seed=3)
    c, _ = data.mnist_subset("train", 100, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert len(set(data.subset_indices(60_000, 100, 3).tolist())) == 100


def _copy_mnist(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(data.data_dir() / "mnist", folder)
    data._load_uint8.cache_clear()
    return folder


def test_missing_file_without_network_says_which_and_what_to_do(tmp_path, monkeypatch):
    folder = _copy_mnist(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(data, "_download_with_torchvision", offline)
    with pytest.raises(data.MNISTDataError) as err:
        data.load_mnist("test", folder=folder)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and "missing" in message
    assert "git checkout -- data/mnist" in message


def test_missing_file_falls_back_to_download(tmp_path, monkeypatch):
    folder = _copy_mnist(tmp_path)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    fake = (torch.zeros(10_000, 28, 28, dtype=torch.uint8), torch.zeros(10_000, dtype=torch.int64))
    monkeypatch.setattr(data, "_download_with_torchvision", lambda split, root: fake)
    x, _ = data.load_mnist("test", folder=folder)
    assert x.shape == (10_000, 1, 28, 28) and x.max() == -1


def test_corrupt_file_is_reported(tmp_path):
    folder = _copy_mnist(tmp_path)
    target = folder / "train-labels-idx1-ubyte.gz"
    with gzip.open(target, "rb") as f:
        raw = bytearray(f.read())
    raw[100] ^= 0xFF
    with gzip.open(target, "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(data.MNISTDataError) as err:
        data.load_mnist("train", folder=folder)
    assert "train-labels-idx1-ubyte.gz" in str(err.value) and "corrupt" in str(err.value)


def test_unknown_split():
    with pytest.raises(ValueError, match="train' or 'test"):
        data.load_mnist("validation")
