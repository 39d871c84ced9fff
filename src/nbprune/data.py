"""CIFAR-10/100 as uint8 tensors with batched, on-device augmentation (airbench style); ImageNet from an
ImageFolder through DataLoaders with decode workers (:class:`FolderData`, at the end of this module).

Where CIFAR comes from (first that applies):
1. ``root`` argument, else the ``NBPRUNE_DATA`` environment variable: an ImageFolder-layout directory
   (``train/<class>/*``, ``test/<class>/*``), a ``.tar``/``.tar.gz`` of one, or a torchvision CIFAR root.
2. torchvision's download into ``~/.cache/nbprune/torchvision``.

The images are decoded once and cached as uint8 tensors (``$NBPRUNE_CACHE`` or ``~/.cache/nbprune``), keyed by
the source's checksum, so the second load takes about a second. Training batches are augmented as the
paper does (zero-pad 4 px in pixel space, random 32x32 crop, horizontal flip p=0.5, then normalisation)
with a few tensor ops per batch, on whatever device the tensors live on. The offsets and flips of an epoch
are drawn from a generator seeded by (seed, epoch), so an epoch is the same however it is resumed.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .choices import unknown_choice

# The paper's normalisation, used for both CIFAR datasets (PROTOCOL.md).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# Soft Filter Pruning's own CIFAR normalisation (He et al. 2018's code), selectable per run
SFP_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
SFP_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
NORMS = {"cifar": (CIFAR_MEAN, CIFAR_STD), "sfp": (SFP_MEAN, SFP_STD)}  # RunConfig.normalization -> (mean, std)
CIFAR = {"cifar10": 10, "cifar100": 100}  # the datasets held as uint8 tensors (load_cifar)
# every dataset a run may name -> its standard number of classes (an ImageFolder's own count may differ:
# RunConfig.num_classes records it)
DATASETS = {**CIFAR, "imagenet": 1000}
PAD = 4
SUBSET_SEED = 0  # one fixed split/subset for every run, so runs with different seeds see the same images


@dataclass
class ImageData:
    """A dataset held as uint8 NCHW tensors plus int64 labels, and where it came from."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    classes: list[str]
    source: str
    sha256: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        """Sizes and provenance as plain JSON."""
        return {"dataset": self.name, "source": self.source, "sha256": self.sha256,
                "train": len(self.train_y), "test": len(self.test_y),
                "val": 0 if self.val_y is None else len(self.val_y)}


# ----------------------------------------------------------------------------------------------- loading
def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$NBPRUNE_CACHE`` or ``~/.cache/nbprune``."""
    return Path(os.environ.get("NBPRUNE_CACHE") or Path.home() / ".cache" / "nbprune")


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    """The data source a load will use: ``root``, else ``$NBPRUNE_DATA``, else None (torchvision)."""
    root = root if root not in (None, "") else os.environ.get("NBPRUNE_DATA") or None
    if root is None:
        return None
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data_root: {str(path)!r} does not exist (give an ImageFolder directory, "
                                "a .tar/.tar.gz of one, or a torchvision CIFAR root; or unset NBPRUNE_DATA)")
    return path


def _is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.endswith((".tar", ".tar.gz", ".tgz")))


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dir_fingerprint(path: Path) -> str:
    """A cheap checksum of a directory tree: relative paths, sizes and mtimes of every file."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _decode(blob: bytes) -> torch.Tensor:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        arr = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
        w, h = im.size
    if (h, w) != (32, 32):
        raise ValueError(f"data_root: images must be 32x32 for CIFAR, found {w}x{h}")
    return arr.view(32, 32, 3).permute(2, 0, 1)


def _read_imagefolder(files: Iterator[tuple[str, bytes]]) -> dict[str, dict[str, list]]:
    """Group ``(relative path, bytes)`` pairs of an ImageFolder tree by split and class."""
    out: dict[str, dict[str, list]] = {"train": {}, "test": {}}
    for rel, blob in files:
        parts = Path(rel).parts
        if len(parts) < 3 or parts[-3] not in out:
            continue
        out[parts[-3]].setdefault(parts[-2], []).append((parts[-1], blob))
    return out


def _iter_archive(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            if m.isfile() and not Path(m.name).name.startswith("."):
                yield m.name, tar.extractfile(m).read()


def _iter_dir(path: Path) -> Iterator[tuple[str, bytes]]:
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            yield str(p.relative_to(path)), p.read_bytes()


def _tensors_from_imagefolder(files: Iterator[tuple[str, bytes]], source: str) -> dict:
    groups = _read_imagefolder(files)
    classes = sorted(groups["train"])
    if not classes or sorted(groups["test"]) != classes:
        raise ValueError(f"data_root: {source} is not an ImageFolder tree with matching train/<class>/ and "
                         f"test/<class>/ folders (found train classes {classes[:5]}..., "
                         f"test classes {sorted(groups['test'])[:5]}...)")
    out = {"classes": classes}
    for split in ("train", "test"):
        xs, ys = [], []
        for label, cls in enumerate(classes):
            for _, blob in sorted(groups[split][cls]):
                xs.append(_decode(blob))
                ys.append(label)
        out[f"{split}_x"] = torch.stack(xs)
        out[f"{split}_y"] = torch.tensor(ys, dtype=torch.int64)
    return out


def _tensors_from_torchvision(dataset: str, root: Path, download: bool) -> dict:
    import torchvision

    cls = torchvision.datasets.CIFAR10 if dataset == "cifar10" else torchvision.datasets.CIFAR100
    out = {}
    try:
        for split, train in (("train", True), ("test", False)):
            ds = cls(str(root), train=train, download=download)
            out[f"{split}_x"] = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            out[f"{split}_y"] = torch.tensor(ds.targets, dtype=torch.int64)
    except (RuntimeError, OSError) as e:  # no files and no network
        raise FileNotFoundError(
            f"data_root: no {dataset} under {str(root)!r} and the download failed ({str(e).splitlines()[0]}); "
            "set NBPRUNE_DATA to an ImageFolder directory or .tar.gz, or allow network access") from None
    out["classes"] = list(ds.classes)
    return out


def _load_raw(dataset: str, root: Path | None, download: bool) -> tuple[dict, str, str]:
    """Decode (or read from the cache) the full train/test tensors; returns (tensors, source, checksum)."""
    if root is None:
        root, source_kind = cache_dir() / "torchvision", "torchvision"
        root.mkdir(parents=True, exist_ok=True)
    elif _is_archive(root):
        source_kind = "archive"
    elif (root / "train").is_dir() and (root / "test").is_dir():
        source_kind = "imagefolder"
    else:
        source_kind = "torchvision"
    if source_kind == "torchvision":
        raw = _tensors_from_torchvision(dataset, root, download)
        digest = hashlib.sha256(raw["train_x"].numpy().tobytes() + raw["test_x"].numpy().tobytes()).hexdigest()
        return raw, f"torchvision:{root}", digest
    digest = file_sha256(root) if source_kind == "archive" else _dir_fingerprint(root)
    cache = cache_dir() / f"{dataset}-{source_kind}-{digest[:16]}.pt"
    if cache.exists():
        try:
            return torch.load(cache, weights_only=True), str(root), digest
        except Exception:  # noqa: BLE001 - a torn cache file (any unpickling error): decode again
            cache.unlink(missing_ok=True)
    files = _iter_archive(root) if source_kind == "archive" else _iter_dir(root)
    raw = _tensors_from_imagefolder(files, str(root))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    torch.save(raw, tmp)
    os.replace(tmp, cache)
    return raw, str(root), digest


_MEMO: dict[tuple, ImageData] = {}


def load_cifar(dataset: str = "cifar10", root: str | os.PathLike | None = None, *, val_size: int = 0,
               train_subset: int | None = None, test_subset: int | None = None,
               download: bool = True) -> ImageData:
    """Load CIFAR-10/100 as uint8 tensors (decoded once, then cached).

    Args:
        dataset: "cifar10" or "cifar100".
        root: data source (see module docstring); None uses ``$NBPRUNE_DATA`` or torchvision's download.
        val_size: images held out of the training set as a validation split (0: none, as in the paper).
        train_subset: use only this many training images (after the validation split); None: all.
        test_subset: evaluate on only this many test images; None: all.
        download: let torchvision download when no local source is given.

    The split and the subsets are drawn with one fixed seed, so every run sees the same images.
    """
    if dataset not in CIFAR:
        raise unknown_choice("dataset", dataset, CIFAR)
    for name, value in (("val_size", val_size), ("train_subset", train_subset), ("test_subset", test_subset)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0
                                  or (value == 0 and name != "val_size")):
            raise ValueError(f"{name}: must be a positive integer{' or 0' if name == 'val_size' else ' or None'}, "
                             f"got {value!r}")
    path = resolve_root(root)
    key = (dataset, str(path), val_size, train_subset, test_subset)
    if key in _MEMO:
        return _MEMO[key]
    raw, source, digest = _load_raw(dataset, path, download)
    if len(raw["classes"]) != CIFAR[dataset]:
        raise ValueError(f"data_root: {source} has {len(raw['classes'])} classes but dataset={dataset!r} "
                         f"needs {CIFAR[dataset]}")
    n_train = len(raw["train_y"])
    if val_size >= n_train:
        raise ValueError(f"val_size: must be smaller than the training set ({n_train}), got {val_size}")
    g = torch.Generator().manual_seed(SUBSET_SEED)
    perm = torch.randperm(n_train, generator=g)
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    train_idx = train_idx.sort().values
    test_x, test_y = raw["test_x"], raw["test_y"]
    if test_subset is not None and test_subset < len(test_y):
        idx = torch.randperm(len(test_y), generator=g)[:test_subset].sort().values
        test_x, test_y = test_x[idx], test_y[idx]
    data = ImageData(
        name=dataset,
        train_x=raw["train_x"][train_idx], train_y=raw["train_y"][train_idx],
        test_x=test_x, test_y=test_y,
        val_x=raw["train_x"][val_idx.sort().values] if val_size else None,
        val_y=raw["train_y"][val_idx.sort().values] if val_size else None,
        classes=list(raw["classes"]), source=source, sha256=digest,
    )
    _MEMO.clear()  # hold one dataset in memory at a time
    _MEMO[key] = data
    return data


# ------------------------------------------------------------------------------------------ augmentation
def normalize(x: torch.Tensor, mean=CIFAR_MEAN, std=CIFAR_STD) -> torch.Tensor:
    """uint8 NCHW -> float32 normalised, as ToTensor() then Normalize(mean, std)."""
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x.float() / 255.0 - m) / s


def draw_augmentation(n: int, generator: torch.Generator, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crop offsets (dy, dx each uniform on 0..2*PAD) and flips (p=0.5) for ``n`` images."""
    dev = generator.device if device is None else device
    dy = torch.randint(0, 2 * PAD + 1, (n,), generator=generator, device=dev)
    dx = torch.randint(0, 2 * PAD + 1, (n,), generator=generator, device=dev)
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    return dy, dx, flip


def augment(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Pad ``x`` (uint8 NCHW) by 4 zero pixels, crop 32x32 at (dy, dx), mirror where ``flip``; batched."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    cols = dx.view(n, 1) + ar_w.view(1, w)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)  # a mirrored crop reads its columns backwards
    rows = dy.view(n, 1) + ar_h.view(1, h)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    idx_c = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[idx_n, idx_c, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def epoch_generator(seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of one epoch's order and augmentation: a function of (seed, epoch) only."""
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch + 1)


def train_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, epoch: int,
                  augment_data: bool = True, channels_last: bool = True,
                  norm: str = "cifar") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented, normalised batches (the last partial batch is kept); ``norm``
    names the normalisation constants (:data:`NORMS`)."""
    mean, std = NORMS[norm]
    g = epoch_generator(seed, epoch, x.device)
    n = len(y)
    perm = torch.randperm(n, generator=g, device=x.device)
    if augment_data:
        dy, dx, flip = draw_augmentation(n, g)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        xb = x[idx]
        if augment_data:
            xb = augment(xb, dy[start:start + batch_size], dx[start:start + batch_size],
                         flip[start:start + batch_size])
        xb = normalize(xb, mean, std)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yield xb, y[idx]


def eval_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
                 channels_last: bool = True, norm: str = "cifar") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised, un-augmented batches in order."""
    mean, std = NORMS[norm]
    for start in range(0, len(y), batch_size):
        xb = normalize(x[start:start + batch_size], mean, std)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yield xb, y[start:start + batch_size]


def calibration_images(config, n: int = 256, data_root=None) -> torch.Tensor:
    """``n`` normalised, un-augmented training images of a run's data (a fixed seeded draw): the samples
    ThiNet and regression-based pruning reconstruct activations on (ImageNet: the evaluation transform's crops)."""
    if config.dataset not in CIFAR:
        return load_data(config, data_root).calibration_images(n)
    data = load_cifar(config.dataset, data_root, val_size=config.val_size, train_subset=config.train_subset,
                      test_subset=config.test_subset)
    g = torch.Generator().manual_seed(SUBSET_SEED + 1)
    idx = torch.randperm(len(data.train_y), generator=g)[:n].sort().values
    return normalize(data.train_x[idx])


# ---------------------------------------------------------------------------------------------- ImageNet
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 224  # the crop ImageNet models train and are evaluated at
RESIZE_RATIO = 256 / 224  # evaluation: resize the short side to 256, then centre-crop 224
FOLDER_SPLITS = ("train", "val")  # an ImageNet-style folder's splits; ``val`` is the paper's test set


def default_workers() -> int:
    """Decode workers of an ImageFolder loader: ``$NBPRUNE_WORKERS``, else min(8, CPUs of this process)."""
    env = os.environ.get("NBPRUNE_WORKERS")
    if env not in (None, ""):
        if not env.isdigit():
            raise ValueError(f"NBPRUNE_WORKERS: must be an integer >= 0, got {env!r}")
        return int(env)
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def folder_classes(root: str | os.PathLike) -> list[str]:
    """The class folders of ``root/train`` (sorted, as ImageFolder labels them), after checking that
    ``root`` has the ImageFolder layout ``train/<class>/*`` and ``val/<class>/*`` with the same classes.
    Any problem is a one-line FileNotFoundError/ValueError naming ``data_root``; no image is read."""
    if root in (None, ""):
        raise ValueError("data_root: ImageNet needs the path of an ImageFolder directory (train/<class>/*, "
                         "val/<class>/*); give --data / data_root, or set NBPRUNE_DATA")
    root = Path(root).expanduser()
    for split in FOLDER_SPLITS:
        if not (root / split).is_dir():
            raise FileNotFoundError(f"data_root: ImageNet needs {root / split} (ImageFolder layout: "
                                    "train/<class>/*, val/<class>/*)")
    found = {split: sorted(e.name for e in os.scandir(root / split) if e.is_dir() and not e.name.startswith("."))
             for split in FOLDER_SPLITS}
    if not found["train"]:
        raise ValueError(f"data_root: {root / 'train'} has no class folders (ImageFolder layout: train/<class>/*)")
    if found["val"] != found["train"]:
        extra = sorted(set(found["val"]) ^ set(found["train"]))[:5]
        raise ValueError(f"data_root: {root}'s val/ and train/ must hold the same class folders; they differ in "
                         f"{extra}")
    if len(found["train"]) < 2:
        raise ValueError(f"data_root: {root / 'train'} must hold at least 2 class folders, found "
                         f"{len(found['train'])}")
    return found["train"]


def folder_root(root: str | os.PathLike | None) -> Path:
    """An ImageNet-style folder: ``root``, else ``$NBPRUNE_DATA`` (checked as :func:`folder_classes` does)."""
    root = root if root not in (None, "") else os.environ.get("NBPRUNE_DATA") or None
    folder_classes(root)
    return Path(root).expanduser().resolve()


def folder_transforms(image_size: int = IMAGE_SIZE):
    """(training, evaluation) transforms of an ImageNet-style folder at crop ``image_size``: the standard
    RandomResizedCrop + horizontal flip for training, resize to ``image_size * 256 / 224`` + centre crop for
    evaluation (224 / 256 at full size), both normalised with torchvision's ImageNet constants."""
    import torchvision.transforms as T

    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    resize = round(image_size * RESIZE_RATIO)
    evaluation = T.Compose([T.Resize(resize), T.CenterCrop(image_size), T.ToTensor(), norm])
    return train, evaluation


class _SeededImages(torch.utils.data.Dataset):
    """An ImageFolder whose items are asked for as ``(index, seed)``: each image's random crop and flip are
    drawn from its own generator state, seeded by ``seed`` (a function of the run's seed, the epoch and the
    index), so an epoch's augmentation is the same whatever the number of decode workers or processes."""

    def __init__(self, folder, transform) -> None:
        self.folder, self.transform = folder, transform

    def __len__(self) -> int:
        return len(self.folder.samples)

    def __getitem__(self, item):
        index, seed = item if isinstance(item, tuple) else (item, None)
        path, label = self.folder.samples[index]
        image = self.folder.loader(path)
        if seed is None:
            return self.transform(image), label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image), label


class FolderData:
    """An ImageNet-style ImageFolder (``train/<class>/*``, ``val/<class>/*``) read through DataLoaders with
    decode workers, with the interface :func:`nbprune.train.train` reads (the CIFAR path holds tensors instead).

    What identifies the data (:meth:`describe`, recorded in each run's ``provenance.json``): the class list,
    the image count of each split and a sha256 over the class list and every image's relative path. A
    checksum of the image bytes, as the CIFAR sources have, would read all of ImageNet (about 150 GB) before
    every run, which is impractical; files renamed or re-encoded in place therefore keep the same identity.

    Training batches: the order of an epoch is a permutation drawn from ``(seed, epoch)``
    (:func:`epoch_generator`), cut into global batches of ``batch_size``; with ``world`` processes
    (DistributedDataParallel) rank ``r`` takes every ``world``-th image of each global batch from offset
    ``r``, so the processes together see exactly the global batches of a one-process run. Each image's
    augmentation is seeded by (seed, epoch, index) (:class:`_SeededImages`), so a run is reproducible
    independently of the number of workers.
    """

    name = "imagenet"

    def __init__(self, root: str | os.PathLike | None, image_size: int = IMAGE_SIZE, train_subset: int | None = None,
                 test_subset: int | None = None, workers: int | None = None) -> None:
        from torchvision.datasets import ImageFolder

        self.root = folder_root(root)
        self.classes = folder_classes(self.root)
        self.image_size = image_size
        self.workers = default_workers() if workers is None else workers
        self.train_tf, self.eval_tf = folder_transforms(image_size)
        self._train = ImageFolder(str(self.root / "train"))
        self._val = ImageFolder(str(self.root / "val"))
        for split, folder in (("train", self._train), ("val", self._val)):
            if not folder.samples:
                raise ValueError(f"data_root: {self.root / split} holds no images")
        g = torch.Generator().manual_seed(SUBSET_SEED)
        n_train, n_val = len(self._train.samples), len(self._val.samples)
        self.train_idx = (torch.randperm(n_train, generator=g)[:train_subset].sort().values.tolist()
                          if train_subset is not None and train_subset < n_train else list(range(n_train)))
        self.test_idx = (torch.randperm(n_val, generator=g)[:test_subset].sort().values.tolist()
                         if test_subset is not None and test_subset < n_val else list(range(n_val)))
        h = hashlib.sha256("\n".join(self.classes).encode())
        for split, folder in (("train", self._train), ("val", self._val)):
            for path, label in folder.samples:
                h.update(f"{split}\0{Path(path).relative_to(self.root / split)}\0{label}\n".encode())
        self.sha256 = h.hexdigest()
        self.source = str(self.root)
        self.val_x = None  # no validation split held out of training (the paper's protocol)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        """Training images a run sees in one epoch (all processes together)."""
        return len(self.train_idx)

    @property
    def n_test(self) -> int:
        return len(self.test_idx)

    def describe(self) -> dict:
        """What identifies the data, as plain JSON (see the class docstring)."""
        return {"dataset": self.name, "source": self.source, "sha256": self.sha256, "train": self.n_train,
                "test": self.n_test, "val": 0, "classes": len(self.classes),
                "class_list_sha256": hashlib.sha256("\n".join(self.classes).encode()).hexdigest(),
                "images": {"train": len(self._train.samples), "val": len(self._val.samples)},
                "image_size": self.image_size, "identity": "class list + relative image paths (not image bytes)"}

    def batches_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.n_train / batch_size)

    def _loader(self, dataset, batch_sampler) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, num_workers=self.workers,
                                           pin_memory=torch.cuda.is_available())

    def train_batches(self, batch_size: int, seed: int, epoch: int, device: torch.device, rank: int = 0,
                      world: int = 1, channels_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of this process's share of each global batch, augmented, on ``device``."""
        g = epoch_generator(seed, epoch)
        order = torch.randperm(self.n_train, generator=g).tolist()
        base = (seed * 100_003 + epoch + 1) * 10_000_019  # one augmentation seed per (seed, epoch, image)
        batches = [[(self.train_idx[i], base + self.train_idx[i]) for i in order[s:s + batch_size][rank::world]]
                   for s in range(0, self.n_train, batch_size)]
        yield from self._to(self._loader(_SeededImages(self._train, self.train_tf), batches), device, channels_last)

    def eval_batches(self, device: torch.device, batch_size: int = 256, rank: int = 0, world: int = 1,
                     channels_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's share (every ``world``-th image) of the test (``val/``) images, centre-cropped."""
        idx = self.test_idx[rank::world]
        batches = [[(i, None) for i in idx[s:s + batch_size]] for s in range(0, len(idx), batch_size)]
        yield from self._to(self._loader(_SeededImages(self._val, self.eval_tf), batches), device, channels_last)

    def calibration_images(self, n: int = 256) -> torch.Tensor:
        """``n`` training images (a fixed seeded draw) through the evaluation transform, normalised float NCHW."""
        g = torch.Generator().manual_seed(SUBSET_SEED + 1)
        pick = sorted(self.train_idx[i] for i in torch.randperm(self.n_train, generator=g)[:n].tolist())
        ds = _SeededImages(self._train, self.eval_tf)
        return torch.stack([ds[i][0] for i in pick])

    @staticmethod
    def _to(loader, device, channels_last: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in loader:
            xb = xb.to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb.to(device, non_blocking=True)


def load_data(config, data_root: str | os.PathLike | None = None, workers: int | None = None):
    """The data a run of ``config`` trains on: CIFAR as tensors (:func:`load_cifar`) or an ImageNet-style
    folder (:class:`FolderData`, at the config's image size) whose class count must be the config's."""
    if config.dataset in CIFAR:
        return load_cifar(config.dataset, data_root, val_size=config.val_size, train_subset=config.train_subset,
                          test_subset=config.test_subset)
    data = FolderData(data_root, config.image_size or IMAGE_SIZE, config.train_subset, config.test_subset, workers)
    if data.num_classes != config.classes:
        raise ValueError(f"data_root: {data.source} has {data.num_classes} classes but the run's num_classes is "
                         f"{config.classes}; give num_classes={data.num_classes} (the CLI and the chapter runner "
                         "read it from the folder)")
    return data


def imagenet_loaders(root: str | os.PathLike, batch_size: int = 256, workers: int = 8,
                     seed: int = 0) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Train/val DataLoaders over an ImageFolder tree ``root/train``, ``root/val`` at 224 px (the first
    epoch's order for ``seed``; :class:`FolderData` is what training uses).

    Training: RandomResizedCrop(224) + horizontal flip; evaluation: Resize(256) + CenterCrop(224).
    """
    data = FolderData(root, workers=workers)
    g = epoch_generator(seed, 0)
    order = torch.randperm(data.n_train, generator=g).tolist()
    train = [[(i, seed * 10_000_019 + i) for i in order[s:s + batch_size]] for s in range(0, data.n_train, batch_size)]
    val = [[(i, None) for i in range(s, min(s + batch_size, data.n_test))] for s in range(0, data.n_test, batch_size)]
    return (data._loader(_SeededImages(data._train, data.train_tf), train),
            data._loader(_SeededImages(data._val, data.eval_tf), val))
