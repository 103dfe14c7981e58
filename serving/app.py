"""The demo's web server (Flask): one static page and two JSON endpoints.

- ``GET /``: the page (``serving/static/``; no external script, font or style, and a Content-Security-Policy
  that lets the browser load nothing from elsewhere).
- ``GET /api/info``: the checkpoint, its backbone and pretrained source, the scorer, the test-time
  augmentation, the limits.
- ``POST /api/predict`` (form field ``image``): the photo as the network saw it (JPEG), the probability
  map (raw little-endian uint16 for the page, and the 16-bit ``_prob.png`` of ``test.py`` for download),
  the image-level score, the tampered area at the threshold and the time taken.

Every refusal is ``{"error": message}`` with a 4xx/5xx status; the server keeps serving.
"""
from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import numpy as np
from flask import Flask, request
from PIL import Image
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server

from evaluation.visualize import prob_to_uint16
from serving.predictor import THRESHOLD, Prediction, Predictor
from serving.uploads import UploadError, display_name, read_upload
from utils.errors import UserError

PHOTO_QUALITY = 92
# the browser itself refuses anything from elsewhere: scripts, styles, fonts, images and fetches
CONTENT_POLICY = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
                  "form-action 'none'; frame-ancestors 'none'")


def _data_url(image: Image.Image, fmt: str, mime: str, **options) -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def encode_prediction(photo: np.ndarray, prediction: Prediction, name: str) -> dict:
    """The JSON answer of ``/api/predict`` for a uint8 (H,W,3) ``photo`` and its :class:`Prediction`."""
    prob16 = prob_to_uint16(prediction.prob)
    height, width = prob16.shape
    return {
        "name": name,
        "width": width,
        "height": height,
        "photo": _data_url(Image.fromarray(photo), "JPEG", "image/jpeg", quality=PHOTO_QUALITY),
        "prob16": base64.b64encode(prob16.astype("<u2").tobytes()).decode("ascii"),
        "prob_png": _data_url(Image.fromarray(prob16), "PNG", "image/png", compress_level=1),
        "score": prediction.score.score,
        "threshold": THRESHOLD,
        "tampered_fraction": prediction.score.tampered_fraction,
        "seconds": round(prediction.seconds, 3),
    }


def _error(message: str, status: int) -> tuple[dict, int]:
    return {"error": message}, status


def create_app(predictor: Predictor, upload_dir: Path, max_upload_mb: float = 50,
               max_pixels: int = 24_000_000) -> Flask:
    """The Flask app over ``predictor``; uploads are written to ``upload_dir`` only while being read."""
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 2**20)

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/api/info")
    def info() -> dict:
        return {"checkpoint": predictor.info.path, "backbone": predictor.info.backbone,
                "pretrained": predictor.info.pretrained, "scorer": predictor.scorer, "threshold": THRESHOLD,
                "device": str(predictor.device), "tta": predictor.tta, "max_upload_mb": max_upload_mb,
                "max_pixels": max_pixels}

    @app.post("/api/predict")
    def predict():
        upload = request.files.get("image")
        if upload is None:
            return _error("no image in the request (expected a form field 'image')", 400)
        try:
            photo = read_upload(upload, upload_dir, max_pixels)
        except UploadError as error:
            return _error(str(error), error.status)
        name = display_name(upload.filename)
        return encode_prediction(photo, predictor.predict(photo, name), name)

    @app.after_request
    def local_only(response):
        response.headers["Content-Security-Policy"] = CONTENT_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> tuple[dict, int]:
        return _error(f"the upload is larger than this server's limit of {max_upload_mb:g} MB "
                      "(start it with a larger --max-upload-mb)", 413)

    @app.errorhandler(InternalServerError)
    def failed(error: InternalServerError) -> tuple[dict, int]:
        cause = error.original_exception or error
        return _error(f"the model failed on this photo ({type(cause).__name__}: {cause})", 500)

    return app


def make_demo_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded WSGI server for ``app`` on ``host:port`` (port 0: a free one), not yet serving; a port in
    use or an unknown address is a one-line UserError (werkzeug would print and exit)."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return make_server(host, port, app, threaded=True)
    except (SystemExit, OSError) as error:
        reason = said.getvalue().strip().splitlines()[:1] or [str(error)]
        raise UserError(f"cannot listen on {host}:{port} ({reason[0]}); choose another --port or --host") \
            from None
