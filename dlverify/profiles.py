"""Run profiles: how much of each documented protocol a run can afford."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

PROFILES = ("default", "full")
DEFAULT_SEEDS = {"default": 3, "full": 5}


@dataclass(frozen=True)
class Profile:
    """The active profile and the seeds comparative claims use.

    ``default`` runs each documented protocol where it fits a 2-core CPU and a
    scaled-down version (fewer epochs or a subset, reported) where it does not;
    ``full`` always runs the documented protocol (meant for GPU machines).
    """

    name: str = "default"
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS["default"]))

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(f"unknown profile {self.name!r}; choose one of {PROFILES}")
        if not self.seeds:
            raise ValueError("a profile needs at least one seed")

    @property
    def full(self) -> bool:
        return self.name == "full"

    def pick(self, default: T, full: T) -> T:
        """``full`` under the full profile, else ``default``."""
        return full if self.full else default

    @classmethod
    def make(cls, name: str = "default", n_seeds: int | None = None) -> "Profile":
        n = DEFAULT_SEEDS.get(name, 3) if n_seeds is None else n_seeds
        if n < 1:
            raise ValueError(f"--seeds must be at least 1, got {n}")
        return cls(name, tuple(range(n)))
