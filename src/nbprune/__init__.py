"""nbprune: "Rethinking the Value of Network Pruning" (Liu et al., ICLR 2019) on modern PyTorch.

Modules:
    models    -- CIFAR VGG/ResNet/PreResNet/DenseNet with explicit channel cfgs; one registry.
    data      -- CIFAR as uint8 tensors with batched on-device augmentation; ImageNet loaders.
    flops     -- FLOPs and parameter counts (dense and masked) in the paper's convention.
    train     -- the paper's training protocol (fine-tune, Scratch-E, Scratch-B) for one run.
    runs      -- the content-addressed run store: one directory per config hash.
    presets   -- smoke / quick / paper.
    provenance-- versions, git commit, device and data checksum recorded with every result.
    cli       -- the ``nbprune`` command.
"""

__version__ = "0.1.0"
