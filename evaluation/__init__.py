"""test.py's machinery: input resolution (:mod:`.inputs`), the prediction loop (:mod:`.runner`) and the
reports (:mod:`.report`)."""
