"""``python demo.py``: a local web page to look at one photo. :mod:`serving.predictor` holds the model (the
inference code of test.py, one request at a time), :mod:`serving.uploads` reads uploads safely,
:mod:`serving.app` is the Flask server and ``static/`` the page."""
