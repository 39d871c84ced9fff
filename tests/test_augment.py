"""The fast pipeline's augmentation has the reference distribution: Pad(4) + RandomCrop(32) offsets uniform over
the 9x9 positions, horizontal flips with probability 0.5, padded pixels equal to the normalised zero, and each
augmented image equal to torchvision's pad/crop/flip of it."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from nbprune import data

N, EPOCHS = 8100, 5  # 40,500 augmented images: 500 expected per crop position


def _positional_images(n: int) -> torch.Tensor:
    """uint8 NCHW images whose channel 0 encodes the row (7r + 1), channel 1 the column (7c + 1), channel 2 the
    image id; no pixel is 0, so padding is recognisable after augmentation."""
    r = (torch.arange(32) * 7 + 1).view(1, 32, 1).expand(n, 32, 32)
    c = (torch.arange(32) * 7 + 1).view(1, 1, 32).expand(n, 32, 32)
    ident = (torch.arange(n) % 254 + 1).view(n, 1, 1).expand(n, 32, 32)
    return torch.stack([r, c, ident], 1).to(torch.uint8).contiguous()


def _unnormalise(xb: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(data.CIFAR_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(data.CIFAR_STD).view(1, 3, 1, 1)
    return torch.round((xb.float() * s + m) * 255).to(torch.int64)


@pytest.mark.slow
def test_crop_offsets_are_uniform_flips_fair_and_padding_is_the_normalised_zero():
    x = _positional_images(N)
    y = torch.zeros(N, dtype=torch.long)
    counts = torch.zeros(9, 9)
    flips = 0
    zero = data.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8)).view(3)
    for epoch in range(EPOCHS):
        for xb, _ in data.train_batches(x, y, 512, seed=0, epoch=epoch):
            raw = _unnormalise(xb.contiguous())
            row16 = (raw[:, 0, 16, 16] - 1) // 7  # original row shown at output row 16
            col16, col17 = (raw[:, 1, 16, 16] - 1) // 7, (raw[:, 1, 16, 17] - 1) // 7
            flipped = col17 < col16
            dy = row16 - 12
            dx = torch.where(flipped, col16 - 11, col16 - 12)
            assert ((dy >= 0) & (dy <= 8) & (dx >= 0) & (dx <= 8)).all()
            counts.index_put_((dy, dx), torch.ones(len(dy)), accumulate=True)
            flips += int(flipped.sum())
            # padding: exactly the pixels outside the original image, each equal to the normalised zero
            pad = raw[:, 0] == 0  # every original pixel is >= 1
            assert torch.equal(pad, raw[:, 1] == 0) and torch.equal(pad, raw[:, 2] == 0)
            expected = 1024 - (32 - (4 - dy).abs()) * (32 - (4 - dx).abs())
            assert torch.equal(pad.sum((1, 2)), expected)
            padded_values = xb.permute(0, 2, 3, 1)[pad]
            assert torch.allclose(padded_values, zero.expand_as(padded_values), atol=1e-6)
    total = N * EPOCHS
    assert counts.sum() == total
    chi2, p = stats.chisquare(counts.flatten().numpy())
    assert p > 1e-3, f"crop offsets not uniform over 9x9 (chi2 {chi2:.1f}, p {p:.2g})"
    assert abs(flips / total - 0.5) < 0.01, f"flip rate {flips / total:.4f}"


def test_each_augmented_image_is_torchvisions_pad_crop_flip():
    from torchvision.transforms import functional as F

    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)
    dy, dx, flip = data.draw_augmentation(64, g)
    out = data.augment(x, dy, dx, flip)
    for i in range(64):
        ref = F.crop(F.pad(x[i], [4]), int(dy[i]), int(dx[i]), 32, 32)
        if flip[i]:
            ref = F.hflip(ref)
        assert torch.equal(out[i], ref), i
    assert flip.any() and (~flip).any()
