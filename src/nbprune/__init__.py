"""nbprune: "Rethinking the Value of Network Pruning" (Liu et al., ICLR 2019) on modern PyTorch.

Modules, from the leaves up (a module imports only modules listed before it; ``tests/test_layout.py`` checks
that the import graph has no cycle):

    atomic, params, choices, stats   -- atomic writes, parameter parsing, "did you mean" errors, TOST verdicts
    log, plugins -- the package's logger; plug-in discovery (a package importing all its modules registers them)
    paper      -- the paper's reference numbers (its tables as tidy data)
    presets    -- smoke / quick / cpu / paper: how much of the protocol a run of the book does
    models     -- CIFAR VGG/ResNet/PreResNet/DenseNet with explicit channel cfgs; one leaf registry
    data, flops, step, hooks -- CIFAR as uint8 tensors; FLOPs in the paper's convention; the training step;
                  the training hooks a pruning method may add (its regulariser)
    config, train -- RunConfig and the trainer of one run (it knows no pruning method by name)
    prune      -- the pruning methods: scores, plans, surgery, masks, and each method's training hooks
    plans      -- a chain's pruning plan, computed once and stored beside the run it prunes
    distributed -- DistributedDataParallel under torchrun or Slurm (rank 0 writes)
    runs, store_io, provenance -- the content-addressed run store, its export/import, where a result came from
    variants   -- one record per variant (fine-tuned, Scratch-E/B, tickets, ...): label, order, claims, derivation
    pipeline   -- the configs of the runs derived from a large model (fine-tuned, Scratch-E/B, tickets)
    experiments, chapters -- the book's rows and chapters as data (grids per preset, claims, comparisons)
    graph      -- a grid's run graph (configs named from stored plans)
    projection -- a grid's cost before it trains (training FLOPs, the store's measured rates), read via RunStore
    progress   -- the progress bar over a grid's runs (ETA from measured rates)
    executors  -- where runs train: locally (processes, devices) or on Slurm
    report     -- pure functions of result rows: tables, verdicts, figures
    runner     -- the chapter runner that the notebooks and ``nbprune grid`` both call
    later_work -- chapter 6's setting read from its run (chains shown, rewinding point, draws)
    book, run_summary, coverage -- the intro's book-wide verdicts and run paragraph; the paper's tables each
                  chapter covers and what the committed book does not run
    bench_measure -- the benchmark's reference loop (the authors' PIL/torchvision pipeline) and memory probe
    cli, bench -- the ``nbprune`` command and its benchmark
"""

__version__ = "0.1.0"
