"""Unit tests of dlverify.train.augment (the torch-only augmentation of lab2)."""

from __future__ import annotations

import math

import pytest
import torch

from dlverify.data import TensorData
from dlverify.models import mlp
from dlverify.train import fit
from dlverify.train.augment import RandomAffine, affine_transform


def _images(n: int = 4, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _dot(size: int, row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size)
    image[0, 0, row, col] = 1.0
    return image


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 16, 20), (2, 28, 28)])
def test_shape_and_dtype_are_kept(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    out, y = RandomAffine()(x, torch.arange(shape[0]), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(y, torch.arange(shape[0]))


def test_zero_strength_is_identity():
    x = _images()
    out, _ = RandomAffine(0.0, 0.0, 0.0)(x, torch.zeros(4), torch.Generator().manual_seed(0))
    assert torch.equal(out, x)


def test_identity_parameters_resample_exactly():
    x = _images()
    out = affine_transform(
        x, translation=torch.zeros(4, 2), zoom=torch.zeros(4), rotation=torch.zeros(4)
    )
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)  # float32 grid coordinates


def test_same_generator_state_gives_same_batch_and_different_seeds_differ():
    x, augment = _images(), RandomAffine()
    first, _ = augment(x, None, torch.Generator().manual_seed(3))
    again, _ = augment(x, None, torch.Generator().manual_seed(3))
    other, _ = augment(x, None, torch.Generator().manual_seed(4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_known_translation_moves_a_pixel():
    """tx = 3/28 moves a dot 3 pixels right; ty = −2/28 moves it 2 pixels up."""
    size = 28
    out = affine_transform(
        _dot(size, 10, 12), translation=torch.tensor([[3 / size, -2 / size]]), padding_mode="zeros"
    )
    torch.testing.assert_close(out, _dot(size, 8, 15), atol=1e-6, rtol=0)


def test_quarter_turn_rotates_a_pixel_about_the_centre():
    """θ = 90°: the output at p samples the input at R(θ)p, i.e. the content turns by −90° (x right, y down)."""
    size = 28
    source = _dot(size, 5, 20)  # centred pixel coords: x = 20.5 - 14 = 6.5, y = 5.5 - 14 = -8.5
    out = affine_transform(source, rotation=torch.tensor([math.pi / 2]), padding_mode="zeros")
    # input (6.5, -8.5) = R(90°) p = (-p_y, p_x)  =>  p = (-8.5, -6.5)  => column 5, row 7
    torch.testing.assert_close(out, _dot(size, 7, 5), atol=1e-5, rtol=0)


def test_zoom_out_shrinks_content_towards_the_centre():
    """zoom = +1/3 (scale 4/3): a centred 12 px square shrinks to 9 px."""
    size = 24
    square = torch.zeros(1, 1, size, size)
    square[..., 6:18, 6:18] = 1.0
    out = affine_transform(square, zoom=torch.tensor([1 / 3]), padding_mode="zeros")
    assert float(out.sum()) == pytest.approx(9 * 9, rel=0.02)
    assert float(out[..., 12, 12]) == pytest.approx(1.0)


def test_strength_bounds_the_drawn_parameters():
    params = RandomAffine(0.1, 0.1, 10.0).draw(10_000, torch.Generator().manual_seed(0))
    assert params["translation"].abs().max() <= 0.1
    assert params["zoom"].abs().max() <= 0.1
    assert params["rotation"].abs().max() <= math.radians(10)
    assert params["rotation"].abs().max() > math.radians(9.9)  # the whole range is used


def test_invalid_strengths_are_refused():
    with pytest.raises(ValueError):
        RandomAffine(translation=-0.1)
    with pytest.raises(ValueError):
        RandomAffine(zoom=1.0)


def test_plugs_into_fit_and_is_deterministic():
    data = TensorData(_images(64, 8), torch.arange(64) % 3)

    def run() -> list[float]:
        torch.manual_seed(0)
        model = mlp([64, 8, 3])
        return fit(
            model, data, batch_size=16, epochs=2, seed=5, transform=RandomAffine()
        ).train_loss

    assert run() == run()
