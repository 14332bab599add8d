"""Image augmentation with torch ops: random translation, zoom and rotation.

:class:`RandomAffine` is a ``transform`` for :func:`dlverify.train.fit`
(``transform(inputs, targets, generator) -> (inputs, targets)``): it draws one
affine map per image from the given CPU generator and resamples the batch with
:func:`torch.nn.functional.affine_grid` / :func:`~torch.nn.functional.grid_sample`,
so it runs on whatever device the batch is on and a seed gives the same
augmentation on every device.

It mirrors Keras' ``RandomTranslation(t, t)``, ``RandomZoom(z)`` and
``RandomRotation`` layers stacked in that order, with their defaults: bilinear
interpolation, ``fill_mode="reflect"`` (``padding_mode="reflection"`` here),
translation and zoom factors drawn uniformly in ``[-factor, factor]``, and a
zoom that keeps the aspect ratio (Keras' ``width_factor=None``). The three maps
are composed into one and applied with a single resampling, where Keras
interpolates three times; the distribution of the geometric transform is the
same, the image is blurred once instead of three times.

Geometry (pixel coordinates centred on the image, ``x`` to the right, ``y``
down): the output pixel at ``p`` takes the input value at

    q = s · R(θ) · p − t,

with ``s = 1 + zoom`` (``zoom > 0`` zooms out, as in Keras), ``R(θ)`` the
rotation by ``θ`` and ``t = (tx·W, ty·H)`` the translation, so a positive
``tx`` moves the content ``tx·W`` pixels to the right.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import TrainingError


def affine_transform(
    images: torch.Tensor,
    *,
    translation: torch.Tensor | None = None,
    zoom: torch.Tensor | None = None,
    rotation: torch.Tensor | None = None,
    padding_mode: str = "reflection",
    mode: str = "bilinear",
) -> torch.Tensor:
    """Translate, zoom and rotate each image of ``images`` by the given amounts.

    Parameters
    ----------
    images:
        ``(N, C, H, W)`` (or ``(N, H, W)``, returned in the same shape).
    translation:
        ``(N, 2)`` shifts ``(tx, ty)`` as fractions of the width and height;
        positive moves the content right / down.
    zoom:
        ``(N,)`` zoom factors ``z``; the sampling grid is scaled by ``1 + z``
        (``z > 0`` zooms out, ``z < 0`` zooms in), as Keras' ``RandomZoom``.
    rotation:
        ``(N,)`` angles in radians.
    padding_mode, mode:
        Passed to :func:`~torch.nn.functional.grid_sample` (defaults follow
        Keras: reflect fill, bilinear interpolation).
    """
    squeeze = images.ndim == 3
    x = images.unsqueeze(1) if squeeze else images
    if x.ndim != 4:
        raise TrainingError(
            f"images must be (N, C, H, W) or (N, H, W), got shape {tuple(images.shape)}"
        )
    n, _, h, w = x.shape
    options = {"dtype": torch.float64, "device": x.device}
    scale = torch.ones(n, **options) if zoom is None else 1.0 + zoom.to(**options)
    angle = torch.zeros(n, **options) if rotation is None else rotation.to(**options)
    shift = torch.zeros(n, 2, **options) if translation is None else translation.to(**options)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Pixel-space linear part s·R(θ), conjugated into affine_grid's normalized [-1, 1] coordinates
    # (normalized = pixel / (size / 2)), so rotations stay rotations on non-square images.
    half = torch.tensor([w / 2.0, h / 2.0], **options)
    linear = scale[:, None, None] * torch.stack(
        [torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2
    )
    linear = linear * half[None, None, :] / half[None, :, None]
    offset = -2.0 * shift  # t·size pixels = 2·t in normalized units
    theta = torch.cat([linear, offset[:, :, None]], dim=2).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    return out.squeeze(1) if squeeze else out


class RandomAffine:
    """A ``transform``: random translation, zoom and rotation of each training image.

    ``translation=0.1, zoom=0.1, rotation_degrees=10`` is lab2's augmentation
    (Keras ``RandomTranslation(0.1, 0.1)``, ``RandomZoom(0.1)`` and a rotation of
    up to 10°): per image, ``tx, ty ~ U(−translation, translation)``,
    ``z ~ U(−zoom, zoom)`` and ``θ ~ U(−rotation, rotation)``, drawn from the
    generator ``fit`` passes (fresh every step, like Keras' random layers,
    which are active in training only). Targets pass through unchanged. With
    every strength zero the inputs are returned unchanged.
    """

    def __init__(
        self,
        translation: float = 0.1,
        zoom: float = 0.1,
        rotation_degrees: float = 10.0,
        *,
        padding_mode: str = "reflection",
    ) -> None:
        if translation < 0 or zoom < 0 or rotation_degrees < 0:
            raise TrainingError("augmentation strengths must be >= 0")
        if zoom >= 1:
            raise TrainingError(
                f"zoom must be < 1 (a scale of 1 - zoom must stay positive), got {zoom}"
            )
        self.translation, self.zoom, self.rotation_degrees = translation, zoom, rotation_degrees
        self.padding_mode = padding_mode

    def draw(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The per-image parameters (CPU, float64) for a batch of ``n`` images."""

        def uniform(shape, bound: float) -> torch.Tensor:
            return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

        return {
            "translation": uniform((n, 2), self.translation),
            "zoom": uniform((n,), self.zoom),
            "rotation": uniform((n,), math.radians(self.rotation_degrees)),
        }

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """The batch ``(x, y)`` with each image moved by its own draw from ``generator``."""
        if not (self.translation or self.zoom or self.rotation_degrees):
            return x, y
        params = self.draw(x.shape[0], generator)
        return affine_transform(x, padding_mode=self.padding_mode, **params), y

    def __repr__(self) -> str:
        return (
            f"RandomAffine(translation={self.translation}, zoom={self.zoom}, "
            f"rotation_degrees={self.rotation_degrees}, padding_mode={self.padding_mode!r})"
        )
