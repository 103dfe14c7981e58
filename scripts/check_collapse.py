"""How collapsed a checkpoint's contrastive projection heads are, on synthetic validation images.

Prints ``embed_collapse`` (utils.losses.contrastive): the length of the mean unit embedding over every
patch of the images, per branch; 1 means every patch has the same embedding (the contrastive terms have
no gradient left), values near 0 mean the embeddings spread out. Train mode (BatchNorm on batch
statistics) is what the training log's ``collapse`` measures; eval mode is what inference sees.

    python scripts/check_collapse.py run/synthetic/cacl-mobilenet/experiment_0/checkpoint.pth.tar
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataloaders.synthetic import SyntheticDataset  # noqa: E402
from dataloaders.synthetic.photos import bundled_sources  # noqa: E402
from modeling import build_model  # noqa: E402
from utils.checkpoint import load_checkpoint, load_model_weights, saved_model_config  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.losses.contrastive import embedding_collapse  # noqa: E402


def collapse(path: str, images: int, size: int) -> dict[str, float]:
    """``embed_collapse`` of both heads over ``images`` synthetic val images, in train and eval mode."""
    state = load_checkpoint(path)
    if not state["model_config"].get("with_projection", False):
        raise UserError(f"{path}: the model has no projection heads (trained without contrastive terms)")
    model = build_model(**saved_model_config(state))
    load_model_weights(model, state, path)
    data = SyntheticDataset(bundled_sources(), "val", images, size, seed=0)
    batch = torch.stack([data[i]["image"] for i in range(images)])
    results = {}
    for mode in ("train", "eval"):  # train mode: batch statistics, as during training
        model.train(mode == "train")
        with torch.no_grad():
            out = model(batch)
        z_t, z_a = (out[key].permute(0, 2, 3, 1).flatten(0, 2) for key in ("embed_t", "embed_a"))
        results[mode] = float(embedding_collapse(z_t, z_a))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ckpt", help="checkpoint written by train.py")
    parser.add_argument("--images", type=int, default=4, help="synthetic val images")
    parser.add_argument("--size", type=int, default=256, help="their side")
    args = parser.parse_args()
    for mode, value in collapse(args.ckpt, args.images, args.size).items():
        print(f"embed_collapse ({mode} mode): {value:.3f}")


if __name__ == "__main__":
    run_cli(main)
