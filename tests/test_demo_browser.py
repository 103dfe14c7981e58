"""The demo page in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven
by Selenium) loads the page from a server started here on 127.0.0.1, uploads a 1024×768 photo with a
pasted patch, waits for the overlay, moves the threshold slider, checks the mask follows, and checks from
the browser's network log that the page asked nothing of any other host.

Time to first overlay (file chosen → overlay drawn) is printed (``-s``). ``CACL_DEMO_SCREENSHOT=PATH``
saves a screenshot there (the README's is ``docs/images/demo.png``); ``CACL_DEMO_CKPT=PATH`` shows that
checkpoint instead of a tiny untrained MobileNetV2 (same inference cost).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from dataloaders.synthetic.photos import PhotoPool
from modeling import build_model
from serving.app import create_app, make_demo_server
from serving.predictor import Predictor
from utils.checkpoint import save_checkpoint

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -r "
                                "requirements.txt)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Chromium and its driver "
                                "(apt-get install chromium chromium-driver; .ci/run installs them)")
SIZE = (1024, 768)
ANSWER_TIMEOUT = 180  # seconds; generous for a busy 2-core CPU


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo server on a free 127.0.0.1 port, in a thread; yields its address."""
    ckpt = os.environ.get("CACL_DEMO_CKPT")
    if not ckpt:
        torch.manual_seed(0)
        model = build_model("mobilenet", 16, 32, False, None)
        ckpt = tmp_path_factory.mktemp("browser") / "model_best.pth.tar"
        save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, ckpt)
    uploads = tmp_path_factory.mktemp("uploads")
    app = create_app(Predictor(ckpt, torch.device("cpu")), uploads)
    httpd = make_demo_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    assert list(uploads.iterdir()) == []


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1050",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def tampered_photo(path: Path) -> Path:
    """A 1024×768 photo (scikit-image's chelsea) with a patch of another (coffee) pasted through a soft
    ellipse: a synthetic splice."""
    host, donor = (photo.resize(SIZE, Image.BICUBIC) for photo in PhotoPool(["skimage:chelsea",
                                                                              "skimage:coffee"]))
    region = Image.new("L", SIZE)
    ImageDraw.Draw(region).ellipse((560, 260, 860, 520), fill=255)
    host.paste(donor, (0, 0), region.filter(ImageFilter.GaussianBlur(1.5)))
    host.save(path, quality=92)
    return path


def page_state(driver) -> str:
    """``empty``, ``busy`` (waiting for the server), ``ready`` (overlay drawn) or ``error`` (a message)."""
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def mask_count(driver) -> int:
    return int(driver.find_element(By.ID, "mask").get_attribute("data-count"))


def outside_requests(driver, origin: str) -> list[str]:
    """URLs the page requested from anywhere but ``origin`` (data: and blob: URLs are local)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls, "the network log is empty"
    return [u for u in urls if not u.startswith((origin + "/", "data:", "blob:"))]


def test_upload_overlay_threshold_and_no_outside_request(server, browser, tmp_path):
    browser.get(server + "/")
    wait = WebDriverWait(browser, ANSWER_TIMEOUT)
    wait.until(lambda d: d.find_element(By.ID, "checkpoint").text not in ("", "…"))
    assert browser.find_element(By.ID, "pretrained").text
    photo = tampered_photo(tmp_path / "cat with coffee.jpg")
    start = time.perf_counter()
    browser.find_element(By.ID, "file").send_keys(str(photo))
    wait.until(lambda d: page_state(d) in ("ready", "error"))
    seconds = time.perf_counter() - start
    assert browser.find_element(By.ID, "message").text == ""
    in_page = browser.execute_script("return window.firstOverlayMs") / 1000
    print(f"\nfirst overlay of a {SIZE[0]}x{SIZE[1]} photo: {in_page:.2f} s in the page, "
          f"{seconds:.2f} s from the test")
    overlay = browser.find_element(By.ID, "overlay")
    assert (int(overlay.get_attribute("width")), int(overlay.get_attribute("height"))) == SIZE
    assert browser.find_element(By.ID, "name").text == "cat with coffee.jpg"

    slider = browser.find_element(By.ID, "threshold")
    at_half = mask_count(browser)
    slider.send_keys(Keys.HOME)  # threshold 0: every pixel
    assert browser.find_element(By.ID, "threshold-value").text == "0.00"
    assert mask_count(browser) == SIZE[0] * SIZE[1] and browser.find_element(By.ID, "area").text == "100.0 %"
    slider.send_keys(Keys.END)  # threshold 1: (almost) none
    assert mask_count(browser) < SIZE[0] * SIZE[1]
    for _ in range(50):
        slider.send_keys(Keys.ARROW_LEFT)  # back to 0.50, one step at a time
    assert browser.find_element(By.ID, "threshold-value").text == "0.50" and mask_count(browser) == at_half

    browser.find_element(By.ID, "side-by-side").click()
    assert browser.find_element(By.ID, "heat").is_displayed() and not overlay.is_displayed()
    browser.find_element(By.ID, "side-by-side").click()
    assert overlay.is_displayed()
    assert outside_requests(browser, server) == []
    shot = os.environ.get("CACL_DEMO_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(shot)


def test_a_bad_file_is_a_message_on_the_page(server, browser, tmp_path):
    browser.get(server + "/")
    bad = tmp_path / "not a photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    WebDriverWait(browser, ANSWER_TIMEOUT).until(lambda d: page_state(d) == "error")
    assert "not a photo.jpg: cannot read image" in browser.find_element(By.ID, "message").text
    good = tmp_path / "small.png"
    Image.fromarray(np.full((48, 64, 3), 128, dtype=np.uint8)).save(good)
    browser.find_element(By.ID, "file").send_keys(str(good))  # the server still answers
    WebDriverWait(browser, ANSWER_TIMEOUT).until(lambda d: page_state(d) == "ready")
    assert browser.find_element(By.ID, "name").text == "small.png"
