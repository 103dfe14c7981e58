"""DeepLab model: output contract for every backbone × output stride, config, and the training helpers."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from modeling import build_model
from modeling.aspp import ImagePooling
from modeling.backbone import BACKBONES, OUTPUT_STRIDES
from modeling.heads import MEAN_CHUNK_ROWS, PivotMoments, ProjectionHead, project_patches
from modeling.layers import OneOutputConv3x3
import modeling.utils
from modeling.utils import (FrozenBatchNorm2d, convert_sync_bn, freeze_batch_norm, freeze_bn, param_groups,
                            scale_dropout)
from utils.errors import UserError
from utils.grid import gather_positions

HEIGHT, WIDTH, EMBED_DIM = 65, 67, 16
HEAD_MODULES = ("aspp", "decoder", "mask_head", "contour_head", "projection_t", "projection_a")


@pytest.fixture(scope="module", params=[(b, s) for b in BACKBONES.names() for s in OUTPUT_STRIDES], ids=str)
def model(request) -> nn.Module:
    torch.manual_seed(0)
    backbone, output_stride = request.param
    return build_model(backbone, output_stride, embed_dim=EMBED_DIM)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))


def test_eval_outputs_shapes_norm_determinism_and_batch_one(model, images) -> None:
    model.eval()
    with torch.no_grad():
        out = model(images)
        again = model(images)
        single = model(images[:1])
    grid = (math.ceil(HEIGHT / 4), math.ceil(WIDTH / 4))
    assert set(out) == {"mask", "contour", "embed_t", "embed_a"}
    assert out["mask"].shape == out["contour"].shape == (2, 1, HEIGHT, WIDTH)
    for key in ("embed_t", "embed_a"):
        assert out[key].shape == (2, EMBED_DIM, *grid)
        torch.testing.assert_close(out[key].norm(dim=1), torch.ones(2, *grid))
    for key, value in out.items():
        assert torch.equal(value, again[key]), key
        # eval-mode batch norm is per-sample, so a batch of one gives the first sample's output (up to
        # float rounding relative to the scale of an untrained network's logits)
        scale = value[:1].abs().max().item()
        torch.testing.assert_close(single[key], value[:1], rtol=0, atol=1e-4 * scale + 1e-6)
    with torch.no_grad():
        without = model(images, embed=False)  # validation, a loss without contrastive terms
    assert set(without) == {"mask", "contour"}
    assert torch.equal(without["mask"], out["mask"]) and torch.equal(without["contour"], out["contour"])


def test_gradients_reach_every_parameter(model, images) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(images)
    generator = torch.Generator().manual_seed(1)
    loss = sum((value * torch.randn(value.shape, generator=generator)).sum() for value in out.values())
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        if name.startswith(HEAD_MODULES):
            assert parameter.grad.abs().sum() > 0, name


def test_aspp_rates_follow_the_output_stride(model) -> None:
    convs = [m for m in model.aspp.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    rates = [conv.dilation[0] for conv in convs]
    assert rates == ([6, 12, 18] if model.config["output_stride"] == 16 else [12, 24, 36])
    assert model.aspp.branches[0][0].in_channels == model.backbone.high_level_channels


def test_config_rebuilds_the_same_architecture(model) -> None:
    rebuilt = build_model(**model.config)
    assert set(model.config) == {"backbone", "output_stride", "embed_dim", "with_projection", "separable",
                                 "contour_hidden", "contour_hidden_kernel"}
    rebuilt.load_state_dict(model.state_dict(), strict=True)


def test_without_projection_heads_and_any_size() -> None:
    model = build_model("mobilenet", with_projection=False).eval()
    assert model.projection_t is None and model.projection_a is None
    assert not any(name.startswith("projection") for name, _ in model.named_parameters())
    with torch.no_grad():
        out = model(torch.randn(1, 3, 250, 333))
    assert set(out) == {"mask", "contour"}
    assert out["mask"].shape == (1, 1, 250, 333)


def test_batch_of_one_trains() -> None:
    """The image-pooling branch has no batch norm, so batch size 1 works in train mode."""
    torch.manual_seed(0)
    model = build_model("mobilenet").train()
    model(torch.randn(1, 3, 64, 64))["mask"].sum().backward()
    (pool,) = [m for m in model.modules() if isinstance(m, ImagePooling)]
    for name, parameter in pool.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name}: no gradient reaches the image-pooling branch"


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="output stride 4"):
        build_model("mobilenet", output_stride=4)
    with pytest.raises(UserError, match="unknown backbone"):
        build_model("vgg")


def test_training_helpers_reexport_no_weight_loading() -> None:
    """Pretrained weights load through modeling.backbone.weights only (one import path)."""
    assert "load_pretrained" not in vars(modeling.utils)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("mode", ["train", "eval", "frozen"])
def test_projecting_sampled_rows_equals_the_dense_heads(mode: str, layout: torch.memory_format) -> None:
    """project_patches gives the dense heads' rows at the sampled positions, and the same gradient (a
    position sampled twice included); in training with BatchNorm statistics of every position, and the
    same running statistics afterwards."""
    torch.manual_seed(0)
    dense = [ProjectionHead(16, 12, 8).double() for _ in range(2)]
    for head in dense:
        head.mlp[0][1].running_mean.uniform_(-1, 1)
        head.mlp[0][1].weight.data.uniform_(0.5, 1.5)
        head.mlp[0][1].bias.data.uniform_(-0.5, 0.5)
        head.train(mode == "train")
        if mode == "frozen":
            freeze_bn(head)
    sampled = [copy.deepcopy(head) for head in dense]
    pivot = (torch.randn(2, 16, 5, 6, dtype=torch.float64) * 3 + 1).to(memory_format=layout).requires_grad_()
    index = torch.tensor([0, 3, 7, 29, 30, 45, 59, 7])
    weights = torch.randn(len(index), 8, dtype=torch.float64)
    expected = [gather_positions(head(pivot), index) for head in dense]
    got = project_patches(sampled, pivot, index)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-14)
    grads = [torch.autograd.grad(sum((z * weights).sum() for z in out), pivot)[0] for out in (expected, got)]
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-13)
    for head, twin in zip(dense, sampled):
        for (name, buffer), other in zip(head.named_buffers(), twin.buffers()):
            torch.testing.assert_close(other, buffer, rtol=1e-12, atol=1e-14, msg=name)


def _moments(pivot: torch.Tensor) -> PivotMoments:
    """The moments of the whole pivot, no rows gathered."""
    return PivotMoments.with_rows(pivot, torch.zeros(0, dtype=torch.long))[1]


def test_pivot_moments_and_their_gradient() -> None:
    pivot = torch.randn(3, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    moments = _moments(pivot)
    positions = pivot.detach().transpose(0, 1).flatten(1)
    torch.testing.assert_close(moments.mean, positions.mean(1))
    torch.testing.assert_close(moments.covariance, torch.cov(positions, correction=0))
    assert moments.count == 72

    def mean_and_covariance(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        of_p = _moments(p)
        return of_p.mean, of_p.covariance

    assert torch.autograd.gradcheck(mean_and_covariance, (pivot,))


def test_pivot_moments_under_autocast_stay_float32_and_close_to_the_exact_ones() -> None:
    """Under bf16 autocast the products run in bf16 (as the dense 1×1 conv would): the moments come back in
    float32, within bf16 rounding of the float32 ones, and so does their gradient."""
    torch.manual_seed(0)
    pivot = (torch.randn(2, 32, 16, 16) * 3 + 1).requires_grad_()
    exact = _moments(pivot)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = _moments(pivot)
    assert mixed.mean.dtype == mixed.covariance.dtype == torch.float32
    scale = exact.covariance.abs().max().item()
    torch.testing.assert_close(mixed.mean, exact.mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(mixed.covariance, exact.covariance, rtol=0, atol=1e-2 * scale)
    weight = torch.randn(32, 32)
    grads = [torch.autograd.grad((m.covariance * weight).sum() + m.mean.sum(), pivot)[0]
             for m in (exact, mixed)]
    assert grads[1].dtype == torch.float32
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-2 * grads[0].abs().max().item())


def test_moments_of_a_bfloat16_pivot_have_a_float32_mean() -> None:
    """A bf16 pivot (what the decoder gives under autocast): the mean is summed in float32 (in chunks, over
    more rows than one chunk), the covariance within bf16 rounding of the exact one."""
    torch.manual_seed(0)
    pivot = (torch.randn(2, 8, 64, 80) * 3 + 1).to(torch.bfloat16).to(memory_format=torch.channels_last)
    positions = pivot.double().permute(1, 0, 2, 3).flatten(1)
    assert positions.shape[1] > MEAN_CHUNK_ROWS
    with torch.autocast("cpu", dtype=torch.bfloat16):
        moments = _moments(pivot)
    assert moments.mean.dtype == torch.float32
    torch.testing.assert_close(moments.mean.double(), positions.mean(1), rtol=0, atol=1e-6)
    exact = torch.cov(positions, correction=0)
    torch.testing.assert_close(moments.covariance.double(), exact, rtol=0,
                               atol=1e-2 * exact.abs().max().item())


def test_sampled_projection_under_autocast_matches_the_dense_heads_within_bf16_rounding() -> None:
    torch.manual_seed(0)
    heads = [ProjectionHead(32, 24, 16) for _ in range(2)]
    pivot = torch.randn(2, 32, 8, 8) * 2 + 0.5
    index = torch.tensor([0, 5, 17, 63, 64, 100, 127])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dense = [gather_positions(copy.deepcopy(head)(pivot), index).float() for head in heads]
        rows = [r.float() for r in project_patches(heads, pivot, index)]
    for d, r in zip(dense, rows):
        torch.testing.assert_close(r, d, rtol=0, atol=3e-2)


def running_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def test_freeze_bn_really_freezes() -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet")
    reference = build_model("mobilenet")
    reference.load_state_dict(model.state_dict())
    freeze_bn(model).train()
    before = running_stats(model)
    images = torch.randn(2, 3, 48, 48)
    model(images)
    after = running_stats(model)
    assert before and all(torch.equal(before[k], after[k]) for k in before)
    frozen = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert frozen and all(isinstance(m, FrozenBatchNorm2d) and not m.training for m in frozen)
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    # in train mode the frozen backbone computes what the unfrozen one does in eval mode
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(images)[1], reference.backbone.eval()(images)[1])
    build_model("mobilenet").load_state_dict(model.state_dict(), strict=True)


def test_convert_sync_bn_replaces_every_batch_norm() -> None:
    model = build_model("mobilenet")
    count = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    model = convert_sync_bn(model)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == count > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_freeze_batch_norm_scopes() -> None:
    """Everywhere, the backbone only, or nowhere: what --freeze-bn / --freeze-backbone-bn apply."""
    def frozen(model: nn.Module) -> tuple[bool, bool]:
        in_backbone = [isinstance(m, FrozenBatchNorm2d) for m in model.backbone.modules()
                       if isinstance(m, nn.BatchNorm2d)]
        elsewhere = [isinstance(m, FrozenBatchNorm2d) for name, child in model.named_children()
                     if name != "backbone" for m in child.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(in_backbone) or not any(in_backbone)
        assert all(elsewhere) or not any(elsewhere)
        return in_backbone[0], elsewhere[0]

    assert frozen(freeze_batch_norm(build_model("mobilenet"), True, False)) == (True, True)
    assert frozen(freeze_batch_norm(build_model("mobilenet"), True, True)) == (True, True)
    assert frozen(freeze_batch_norm(build_model("mobilenet"), False, True)) == (True, False)
    assert frozen(freeze_batch_norm(build_model("mobilenet"), False, False)) == (False, False)


def test_param_groups_cover_each_parameter_once_with_multipliers() -> None:
    model = build_model("mobilenet")
    groups = param_groups(model, lr=0.01)
    by_name = {group["name"]: group for group in groups}
    assert (by_name["backbone"]["lr"], by_name["backbone"]["lr_mult"]) == (0.01, 1.0)
    assert (by_name["head"]["lr"], by_name["head"]["lr_mult"]) == (pytest.approx(0.1), 10.0)
    ids = [id(p) for group in groups for p in group["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert {id(p) for p in by_name["backbone"]["params"]} == {id(p) for p in model.backbone.parameters()}
    torch.optim.SGD(groups, lr=0.01, momentum=0.9)
    custom = {group["name"]: group for group in param_groups(model, lr=0.01, head_lr_mult=2.5)}
    assert (custom["head"]["lr"], custom["head"]["lr_mult"]) == (pytest.approx(0.025), 2.5)


def test_param_groups_skip_frozen_parameters() -> None:
    model = freeze_bn(build_model("mobilenet"))
    ids = {id(p) for group in param_groups(model, lr=0.01) for p in group["params"]}
    assert ids == {id(p) for p in model.parameters() if p.requires_grad}
    assert any(not p.requires_grad for p in model.parameters())



def test_scale_dropout_scales_every_dropout_and_zero_makes_training_deterministic() -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, 16, with_projection=False)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5, 0.1]
    assert scale_dropout(model, 0.5) is model
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.25, 0.05]
    x = torch.randn(2, 3, 64, 64)
    model.train()
    assert not torch.equal(model(x)["mask"], model(x)["mask"])  # dropout still on
    scale_dropout(model, 0.0)
    assert torch.equal(model(x)["mask"], model(x)["mask"])  # BatchNorm alone is deterministic
    with pytest.raises(UserError, match="dropout-scale"):
        scale_dropout(build_model("mobilenet", 16, 16, with_projection=False), 2.5)


def test_a_contour_head_without_hidden_layer_is_one_3x3_conv_that_trains_the_pivot() -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, EMBED_DIM, with_projection=False, contour_hidden=0)
    (conv,) = model.contour_head
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.out_channels == 1
    assert sum(p.numel() for p in model.contour_head.parameters()) == 256 * 9 + 1
    out = model(torch.randn(2, 3, HEIGHT, WIDTH))
    assert out["contour"].shape == (2, 1, HEIGHT, WIDTH)
    out["contour"].sum().backward()
    assert conv.weight.grad.abs().sum() > 0 and model.decoder.fuse[0][0].weight.grad.abs().sum() > 0
    rebuilt = build_model(**model.config)
    rebuilt.load_state_dict(model.state_dict())


def test_a_contour_head_with_a_1x1_hidden_layer_reads_a_3x3_window_and_trains_the_pivot() -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, EMBED_DIM, with_projection=False, contour_hidden_kernel=1)
    hidden, out_conv = model.contour_head
    assert hidden[0].kernel_size == (1, 1) and (hidden[0].in_channels, hidden[0].out_channels) == (256, 64)
    assert isinstance(out_conv, OneOutputConv3x3) and out_conv.kernel_size == (3, 3)
    assert sum(p.numel() for p in model.contour_head.parameters()) == 256 * 64 + 2 * 64 + 64 * 9 + 1
    model.eval()
    pivot = torch.randn(1, 256, 9, 9, requires_grad=True)
    model.contour_head(pivot)[0, 0, 4, 4].backward()  # one output pixel sees exactly its 3×3 neighbourhood
    seen = (pivot.grad.abs().sum(dim=(0, 1)) > 0).nonzero().tolist()
    assert seen == [[y, x] for y in (3, 4, 5) for x in (3, 4, 5)]
    model.train()
    out = model(torch.randn(2, 3, HEIGHT, WIDTH))
    assert out["contour"].shape == (2, 1, HEIGHT, WIDTH)
    out["contour"].sum().backward()
    assert hidden[0].weight.grad.abs().sum() > 0 and model.decoder.fuse[0][0].weight.grad.abs().sum() > 0
    build_model(**model.config).load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="hidden_kernel"):
        build_model("mobilenet", 16, EMBED_DIM, with_projection=False, contour_hidden_kernel=5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_one_output_3x3_conv_equals_conv2d_with_its_gradients(layout: torch.memory_format) -> None:
    torch.manual_seed(0)
    reference = nn.Conv2d(16, 1, 3, padding=1).double()
    fast = OneOutputConv3x3(16).double()
    fast.load_state_dict(reference.state_dict())  # the same parameters under the same names
    x = torch.randn(2, 16, 7, 9, dtype=torch.float64).to(memory_format=layout).requires_grad_()
    out, expected = fast(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    grad = torch.randn_like(expected)
    got = torch.autograd.grad(out, (x, fast.weight, fast.bias), grad)
    want = torch.autograd.grad(expected, (x, reference.weight, reference.bias), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = fast.float()(x.float())
    assert low.dtype == torch.bfloat16  # like nn.Conv2d under autocast
    torch.testing.assert_close(low.float(), expected.float(), rtol=0.02, atol=0.02)


def test_separable_convs_are_depthwise_smaller_and_rebuild_from_config() -> None:
    torch.manual_seed(0)
    standard = build_model("mobilenet", 16, EMBED_DIM)
    separable = build_model("mobilenet", 16, EMBED_DIM, separable=True)
    assert separable.config["separable"] and not standard.config["separable"]
    head_convs = [m for part in (separable.aspp, separable.decoder) for m in part.modules()
                  if isinstance(m, nn.Conv2d)]
    depthwise = [m for m in head_convs if m.groups > 1 and m.groups == m.in_channels]
    assert len(depthwise) == 5  # three atrous ASPP branches, two decoder convs
    assert sum(p.numel() for p in separable.parameters()) < 0.6 * sum(p.numel() for p in standard.parameters())
    rebuilt = build_model(**separable.config)
    rebuilt.load_state_dict(separable.state_dict())
    with torch.no_grad():
        out = separable.eval()(torch.randn(1, 3, HEIGHT, WIDTH))
    assert out["mask"].shape == (1, 1, HEIGHT, WIDTH) and torch.isfinite(out["mask"]).all()
    with pytest.raises(RuntimeError):
        standard.load_state_dict(separable.state_dict())
