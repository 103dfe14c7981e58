"""The training engine behind train.py, one module per concern (processes and devices: :mod:`utils.dist`,
:mod:`utils.device`).

- :mod:`engine.args`: the command line (every flag, defaults in ``--help``) and ``train_config``;
- :mod:`engine.config`: the run's typed, frozen settings (model, optimisation, run; with the data and loss
  settings in one ``TrainConfig``), built once from the flags;
- :mod:`engine.optim`: SGD/AdamW and the warm-up + poly/step/cos schedule;
- :mod:`engine.rng`: seeding and RNG state for exact resume;
- :mod:`engine.run_dir`: ``run/<dataset>/<checkname>/experiment_<k>/`` and ``args.json``;
- :mod:`engine.logging`: tqdm bars, TensorBoard (rank 0), tables and the end-of-run summary;
- :mod:`engine.trainer`: ``Trainer`` (fit / train_epoch / step / validate) and ``AMPTrainer``.
"""
