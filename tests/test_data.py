import hashlib

import pytest
import torch

from nbprune import data
from nbprune.data import CIFAR_MEAN, CIFAR_STD, augment, draw_augmentation, load_cifar, normalize, train_batches


def test_imagefolder_and_archive_give_the_same_tensors(tiny_folder, tiny_archive):
    a = load_cifar("cifar10", tiny_folder)
    data._MEMO.clear()
    b = load_cifar("cifar10", tiny_archive)
    assert a.train_x.dtype == torch.uint8 and a.train_x.shape == (60, 3, 32, 32)
    assert a.test_x.shape == (30, 3, 32, 32)
    assert a.classes == [f"class{c:03d}" for c in range(10)]
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    assert b.sha256 == hashlib.sha256(tiny_archive.read_bytes()).hexdigest()
    # labels follow the class folders: class c has mean intensity around 20*c + 30
    means = torch.stack([a.train_x[a.train_y == c].float().mean() for c in range(10)])
    assert torch.all(means[1:] > means[:-1])


def test_second_load_comes_from_the_cache(tiny_archive, monkeypatch):
    first = load_cifar("cifar10", tiny_archive)
    data._MEMO.clear()
    monkeypatch.setattr(data, "_decode", lambda blob: (_ for _ in ()).throw(AssertionError("decoded again")))
    second = load_cifar("cifar10", tiny_archive)
    assert torch.equal(first.train_x, second.train_x)
    assert list(data.cache_dir().glob("cifar10-archive-*.pt"))


def test_environment_variable_picks_the_source(tiny_archive, monkeypatch):
    monkeypatch.setenv("NBPRUNE_DATA", str(tiny_archive))
    assert load_cifar().source == str(tiny_archive)


def test_validation_split_and_subsets_are_disjoint_and_fixed(tiny_folder):
    d = load_cifar("cifar10", tiny_folder, val_size=10, train_subset=20, test_subset=7)
    assert len(d.train_y) == 20 and len(d.val_y) == 10 and len(d.test_y) == 7
    rows = lambda x: {bytes(t.flatten().tolist()) for t in x}  # noqa: E731
    assert not rows(d.train_x) & rows(d.val_x)
    data._MEMO.clear()
    again = load_cifar("cifar10", tiny_folder, val_size=10, train_subset=20, test_subset=7)
    assert torch.equal(d.train_x, again.train_x) and torch.equal(d.val_x, again.val_x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="cifar11"), r"dataset: unknown 'cifar11'; did you mean 'cifar10'"),
    (dict(dataset="cifar100"), r"data_root: .* has 10 classes but dataset='cifar100' needs 100"),
    (dict(val_size=-1), r"val_size: must be"),
    (dict(train_subset=0), r"train_subset: must be a positive integer"),
    (dict(val_size=10_000), r"val_size: must be smaller than the training set"),
])
def test_bad_input_names_the_parameter(tiny_folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_cifar(root=tiny_folder, **{"dataset": "cifar10", **kwargs})


def test_missing_path_and_no_network(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_root: .* does not exist"):
        load_cifar("cifar10", tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="data_root: no cifar10 under"):
        load_cifar("cifar10", empty, download=False)


def test_augmentation_matches_an_independent_per_image_computation():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8, generator=g)
    dy, dx, flip = draw_augmentation(50, g)
    out = augment(x, dy, dx, flip)
    for i in range(50):
        ref = torch.zeros(3, 40, 40, dtype=torch.uint8)
        ref[:, 4:36, 4:36] = x[i]
        ref = ref[:, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        if flip[i]:
            ref = ref.flip(2)
        assert torch.equal(out[i], ref)


def test_augmentation_has_the_reference_distribution():
    n = 81_000
    dy, dx, flip = draw_augmentation(n, torch.Generator().manual_seed(0))
    counts = torch.bincount(dy * 9 + dx, minlength=81).float()
    expected = n / 81
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 130  # 80 degrees of freedom: p ~ 0.0004 at 130; a biased draw lands far above
    assert dy.min() == 0 and dy.max() == 8 and dx.min() == 0 and dx.max() == 8
    assert abs(flip.float().mean().item() - 0.5) < 0.01
    # padded pixels are zero in pixel space, i.e. -mean/std after normalisation
    x = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    z = normalize(augment(x, torch.tensor([0]), torch.tensor([0]), torch.tensor([False])))
    expected_pad = torch.tensor([-m / s for m, s in zip(CIFAR_MEAN, CIFAR_STD)])
    assert torch.allclose(z[0, :, 0, 0], expected_pad) and torch.allclose(z[0, :, 3, 10], expected_pad)
    assert torch.allclose(z[0, :, 4, 4], torch.tensor([(1 - m) / s for m, s in zip(CIFAR_MEAN, CIFAR_STD)]))


def test_epochs_are_repeatable_and_differ_from_each_other():
    x = torch.randint(0, 256, (130, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(130) % 10
    a = list(train_batches(x, y, 64, seed=3, epoch=2))
    b = list(train_batches(x, y, 64, seed=3, epoch=2))
    c = list(train_batches(x, y, 64, seed=3, epoch=3))
    assert [len(yb) for _, yb in a] == [64, 64, 2]  # the last partial batch is kept
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    assert a[0][0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
@pytest.mark.data
def test_real_cifar10(cifar_path):
    d = load_cifar("cifar10", cifar_path)
    assert d.train_x.shape == (50_000, 3, 32, 32) and d.test_x.shape == (10_000, 3, 32, 32)
    assert torch.bincount(d.train_y).tolist() == [5000] * 10
    assert d.classes[0] == "airplane" and d.classes[-1] == "truck"
    if cifar_path.name == "cifar10-jpeg.tar.gz":
        assert d.sha256 == "691affb504919caee12c7a1d3ac5cc4180ade5f6d13c2b284dc9dc877445c135"


def test_imagenet_loaders_on_a_tiny_tree(tmp_path):
    from PIL import Image

    from nbprune.data import imagenet_loaders

    for split in ("train", "val"):
        for c in ("n01", "n02"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (300, 260), (i * 40, 80, 120)).save(tmp_path / split / c / f"{i}.jpg")
    train, val = imagenet_loaders(tmp_path, batch_size=4, workers=0)
    xb, yb = next(iter(train))
    assert xb.shape == (4, 3, 224, 224) and yb.dtype == torch.int64
    xv, _ = next(iter(val))
    assert xv.shape == (4, 3, 224, 224)
    with pytest.raises(FileNotFoundError, match="data_root: ImageNet needs"):
        imagenet_loaders(tmp_path / "nope")
