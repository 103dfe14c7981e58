"""Look at one photo in the browser: a local web page over a CaCL-Net checkpoint.

    python demo.py --ckpt run/.../model_best.pth.tar [--host 127.0.0.1] [--port 7860] [--device auto]
                   [--tta hflip]

Drop a photo on the page to see the tamper-probability heat map over it, the mask at a threshold slider,
the image-level score, and download the probability map, mask and overlay. Without ``--ckpt`` the newest
``model_best.pth.tar`` under ``run/`` is used. The server (``serving/``) listens on 127.0.0.1 only unless
``--host`` says otherwise.
"""
from __future__ import annotations

import argparse
import ipaddress
import signal
import tempfile
from pathlib import Path

from evaluation.inference import TTA_MODES
from utils.device import resolve_device
from utils.dist import DistInfo
from utils.errors import UserError, run_cli

RUN_DIR = Path("run")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint written by train.py (default: the newest run/**/model_best.pth.tar)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (127.0.0.1: this computer only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (0: any free port)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--tta", choices=TTA_MODES, default="none",
                        help="test-time augmentation, as test.py --tta: none, hflip (2x the time) or "
                             "flips (4x)")
    parser.add_argument("--max-upload-mb", type=float, default=50, help="largest accepted upload, in MB")
    parser.add_argument("--max-pixels", type=int, default=24_000_000,
                        help="largest accepted photo, in pixels (larger ones are refused with a message)")
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0 or args.max_pixels <= 0:
        raise UserError("--max-upload-mb and --max-pixels must be positive")
    return args


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def announce(host: str, port: int, checkpoint: str) -> None:
    """Print the address, and whether other computers can reach it."""
    shown = f"[{host}]" if ":" in host else host
    print(f"CaCL-Net demo of {checkpoint}: open http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
    if _is_loopback(host):
        print("listening on this computer only (pass --host 0.0.0.0 to let other computers connect)")
    else:
        print(f"listening on {host}: anyone who can reach this computer on port {port} can upload photos")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Load the model once, then serve the page until interrupted."""
    args = parse_args(argv)
    try:
        from serving.app import create_app, make_demo_server
        from serving.predictor import Predictor, latest_checkpoint
    except ModuleNotFoundError as error:
        raise UserError(f"the demo needs {error.name}: pip install -r requirements.txt") from None
    ckpt = Path(args.ckpt) if args.ckpt else latest_checkpoint(RUN_DIR)
    if not args.ckpt:
        print(f"no --ckpt given: using the newest checkpoint under {RUN_DIR}/, {ckpt}")
    predictor = Predictor(ckpt, resolve_device(args.device, False, [], DistInfo()), args.tta)
    with tempfile.TemporaryDirectory(prefix="cacl-demo-") as upload_dir:
        app = create_app(predictor, Path(upload_dir), args.max_upload_mb, args.max_pixels)
        server = make_demo_server(app, args.host, args.port)
        announce(args.host, server.server_port, str(ckpt))
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it like Ctrl-C, so the temp folder goes too
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches the KeyboardInterrupt)
    print("demo stopped")


if __name__ == "__main__":
    run_cli(main)
