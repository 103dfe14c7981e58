"""demo.py's server through Flask's test client: every endpoint, the answer equal to test.py's inference,
bad uploads answered with a message while the server keeps serving, two requests at once, an empty temp
folder afterwards, and the command line's one-line errors."""
from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import demo
from evaluation.inference import predict_batch
from evaluation.runner import to_input
from evaluation.visualize import prob_to_uint16
from modeling import build_model
from serving.app import create_app, make_demo_server
from serving.predictor import Predictor, latest_checkpoint
from serving.uploads import display_name
from utils.checkpoint import save_checkpoint
from utils.errors import UserError, run_cli
from utils.provenance import describe_provenance

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, 32, False, None)
    path = tmp_path_factory.mktemp("demo") / "model_best.pth.tar"
    save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, path)
    return Predictor(path, torch.device("cpu"))


@pytest.fixture()
def uploads(tmp_path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture()
def client(predictor, uploads):
    return create_app(predictor, uploads, max_upload_mb=1, max_pixels=2_000_000).test_client()


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def post(client, data: bytes, name: str = "photo.png"):
    return client.post("/api/predict", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def decoded_prob(body: dict) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(body["prob16"]), dtype="<u2")
    return raw.reshape(body["height"], body["width"])


def data_url_image(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_page_static_files_and_info(client, predictor):
    page = client.get("/")
    assert page.status_code == 200 and b'src="/static/demo.js"' in page.data
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert b"http://" not in page.data and b"https://" not in page.data  # nothing from elsewhere
    for name in ("demo.js", "demo.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and b"http" not in response.data
        response.close()
    info = client.get("/api/info").get_json()
    assert info["checkpoint"] == predictor.info.path and info["backbone"] == "mobilenet"
    assert info["pretrained"].startswith("unknown")
    assert info["scorer"] == "mean of the top 1 % pixel probabilities"
    assert info["threshold"] == 0.5 and info["max_upload_mb"] == 1 and info["max_pixels"] == 2_000_000
    assert info["tta"] == "none"


def test_the_flip_tta_prediction_is_test_pys(predictor, uploads):
    flipping = Predictor(predictor.info.path, torch.device("cpu"), tta="flips")
    image = photo(40, 56)
    body = post(create_app(flipping, uploads).test_client(), encoded(image)).get_json()
    batch = to_input([np.asarray(image)], torch.device("cpu"))
    expected = predict_batch(flipping.model, batch, tta="flips")
    np.testing.assert_array_equal(decoded_prob(body), prob_to_uint16(expected[0, 0].numpy()))
    plain = predict_batch(flipping.model, batch)
    assert not np.array_equal(prob_to_uint16(plain[0, 0].numpy()), decoded_prob(body))


def test_an_unknown_tta_mode_is_one_line(predictor):
    with pytest.raises(UserError, match="--tta must be one of none, hflip, flips, got 'vflip'"):
        Predictor(predictor.info.path, torch.device("cpu"), tta="vflip")


def test_pretrained_source_is_described():
    entry = {"source": "imagenet", "path": "/w/mobilenet_v2.pth", "sha256": "0123456789abcdef0123"}
    assert describe_provenance(entry) == "imagenet (/w/mobilenet_v2.pth, sha256 0123456789ab)"
    assert describe_provenance({"source": "random init", "path": None, "sha256": None}) == "random init"
    assert describe_provenance({}).startswith("unknown") and describe_provenance(None).startswith("unknown")


@pytest.mark.parametrize("size", [(64, 48), (1030, 24)])  # the second is tiled (side > 1024), as test.py
def test_prediction_is_test_pys_inference(client, predictor, uploads, size):
    image = photo(*size)
    response = post(client, encoded(image))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["width"], body["height"]) == size
    expected = predict_batch(predictor.model, to_input([np.asarray(image)], torch.device("cpu")))[0, 0]
    prob = decoded_prob(body)
    np.testing.assert_array_equal(prob, prob_to_uint16(expected.numpy()))
    np.testing.assert_array_equal(np.asarray(data_url_image(body["prob_png"])), prob)
    top = np.sort(expected.numpy().ravel())[-math.ceil(expected.numel() / 100):]  # default: top 1 % mean
    assert body["score"] == pytest.approx(float(top.mean()))
    assert body["tampered_fraction"] == pytest.approx(float((expected >= 0.5).float().mean()))
    assert data_url_image(body["photo"]).size == size and body["seconds"] > 0
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("TIFF", "RGB"), ("WEBP", "RGB"), ("PNG", "RGBA"),
                                      ("PNG", "L")])
def test_formats_are_read(client, fmt, mode):
    response = post(client, encoded(photo().convert(mode), fmt), f"photo.{fmt.lower()}")
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["width"], response.get_json()["height"]) == (64, 48)


def test_exif_rotation_is_respected(client):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64 wide, shown rotated by 90 degrees: 48 wide, 64 high
    response = post(client, encoded(photo(), "JPEG", exif=exif.tobytes()), "phone.jpg")
    body = response.get_json()
    assert (body["width"], body["height"]) == (48, 64)
    assert data_url_image(body["photo"]).size == (48, 64)


def bad_uploads(tmp_path: Path) -> dict[str, tuple[bytes, str, int, str]]:
    """case → (file bytes, file name, expected status, expected fragment of the message)."""
    jpeg = encoded(photo(), "JPEG")
    big = tmp_path / "big.png"
    Image.new("L", (8660, 5774)).save(big)  # 50 megapixels, 50 kB
    return {
        "not an image": (b"just some text", "notes.txt", 400, "notes.txt: cannot read image"),
        "truncated JPEG": (jpeg[: len(jpeg) // 2], "cut.jpg", 400, "cut.jpg: cannot read image (image file "
                           "is truncated"),
        "empty file": (b"", "empty.png", 400, "empty.png: the file is empty (0 bytes)"),
        "50 megapixels": (big.read_bytes(), "huge.png", 413, "huge.png: 8660×5774 is 50.0 megapixels, "
                          "above"),
        "too many bytes": (bytes(2 * 2**20), "large.png", 413, "larger than this server's limit of 1 MB"),
        "odd name": (b"GIF89a garbage", "../../etc/x\x07\u00e9\u6f22 ;rm -rf.png", 400,
                     "x\u00e9\u6f22 ;rm -rf.png: cannot read image"),
    }


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(client, uploads, tmp_path):
    for case, (data, name, status, fragment) in bad_uploads(tmp_path).items():
        response = post(client, data, name)
        assert response.status_code == status, case
        assert fragment in response.get_json()["error"], (case, response.get_json())
        assert post(client, encoded(photo())).status_code == 200, case
    missing = client.post("/api/predict", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "form field 'image'" in missing.get_json()["error"]
    assert list(uploads.iterdir()) == []


def test_odd_file_names_are_shown_not_used():
    assert display_name("C:\\Users\\me\\IMG 01.jpg") == "IMG 01.jpg"
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("a\x00b\nc.png") == "abc.png"
    assert display_name("") == display_name(None) == display_name("/") == "upload"
    assert len(display_name("x" * 500 + ".jpg")) == 120


def test_a_model_failure_is_a_message_and_the_next_photo_works(client, predictor, monkeypatch):
    def broken(*_):
        raise RuntimeError("out of memory")
    with monkeypatch.context() as patch:
        patch.setattr(predictor, "model", broken)
        response = post(client, encoded(photo()))
    assert response.status_code == 500
    assert response.get_json()["error"] == "the model failed on this photo (RuntimeError: out of memory)"
    assert post(client, encoded(photo())).status_code == 200


def test_two_requests_at_once_are_both_answered_one_after_the_other(predictor, uploads, monkeypatch):
    app = create_app(predictor, uploads)
    active, most = [0], [0]
    model = predictor.model

    def slow(images):
        active[0] += 1
        most[0] = max(most[0], active[0])
        time.sleep(0.2)
        try:
            return model(images)
        finally:
            active[0] -= 1
    monkeypatch.setattr(predictor, "model", slow)
    answers: list[int] = []
    threads = [threading.Thread(target=lambda s=seed: answers.append(
        post(app.test_client(), encoded(photo(seed=s))).status_code)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [200, 200] and most[0] == 1
    assert list(uploads.iterdir()) == []


def test_latest_checkpoint_and_the_message_without_one(tmp_path, capsys, monkeypatch):
    old, new = tmp_path / "run/a/x/experiment_0", tmp_path / "run/b/y/experiment_3"
    for folder, stamp in ((old, 2_000_000_000), (new, 1_000_000_000)):
        folder.mkdir(parents=True)
        (folder / "model_best.pth.tar").write_bytes(b"")
        (folder / "checkpoint.pth.tar").write_bytes(b"")
        os.utime(folder / "model_best.pth.tar", (stamp, stamp))
    assert latest_checkpoint(tmp_path / "run") == old / "model_best.pth.tar"
    with pytest.raises(UserError, match="python train.py"):
        latest_checkpoint(tmp_path / "empty")
    monkeypatch.chdir(tmp_path / "run")  # no run/ below: the one-line message, exit code 2
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: demo.main([]))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no --ckpt given and no model_best.pth.tar under run/: train a model first with "
                   "`python train.py`, or pass --ckpt PATH"]


def test_a_busy_port_is_one_line(predictor, uploads):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port} .*choose another --port"):
            make_demo_server(create_app(predictor, uploads), "127.0.0.1", port)


def test_the_address_and_who_can_reach_it_are_printed(capsys):
    demo.announce("127.0.0.1", 7860, "run/x/model_best.pth.tar")
    out = capsys.readouterr().out
    assert "open http://127.0.0.1:7860/" in out and "this computer only" in out
    demo.announce("0.0.0.0", 7860, "m.pth")
    assert "anyone who can reach this computer on port 7860" in capsys.readouterr().out


def test_the_script_serves_and_cleans_up_when_stopped(predictor, tmp_path):
    """`python demo.py --tta hflip` end to end: prints the address, answers, and on `kill` (SIGTERM, like
    Ctrl-C) stops with exit code 0 and removes its upload folder."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "demo.py", "--ckpt", predictor.info.path, "--port", "0",
                               "--tta", "hflip"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        address = re.search(r"open (http://127\.0\.0\.1:\d+/)", first)
        assert address, first + server.stderr.read()
        assert [p.name[:10] for p in tmp_path.iterdir()] == ["cacl-demo-"]
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1
        with direct.open(address[1] + "api/info", timeout=30) as answer:
            info = json.loads(answer.read())
        assert info["checkpoint"] == predictor.info.path and info["tta"] == "hflip"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0 and "demo stopped" in out
    assert list(tmp_path.iterdir()) == []
