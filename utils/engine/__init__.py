"""The training engine behind train.py, one module per concern.

- :mod:`utils.engine.args`: the command line (every flag, defaults in ``--help``);
- :mod:`utils.engine.distributed`: torchrun environment, ``reduce_dict``, device choice (rank queries:
  :mod:`utils.dist`);
- :mod:`utils.engine.optim`: SGD/AdamW and the warm-up + poly/step/cos schedule;
- :mod:`utils.engine.rng`: seeding and RNG state for exact resume;
- :mod:`utils.engine.run_dir`: ``run/<dataset>/<checkname>/experiment_<k>/`` and ``args.json``;
- :mod:`utils.engine.logging`: tqdm bars, TensorBoard (rank 0), tables and the end-of-run summary;
- :mod:`utils.engine.trainer`: ``Trainer`` (fit / train_epoch / step / validate) and ``AMPTrainer``.
"""
