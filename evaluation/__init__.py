"""Evaluation and inference, shared by test.py, the trainer's validation and the demo: settings
(:mod:`.config`), input resolution (:mod:`.inputs`), the prediction loop (:mod:`.runner`), reports
(:mod:`.report`), full-resolution prediction (:mod:`.inference`), overlays and grids (:mod:`.visualize`)
and ``--robust`` perturbations (:mod:`.robustness`)."""
