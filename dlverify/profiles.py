"""Run profiles: how much of each documented protocol a run can afford, and how many seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .errors import ProfileError

if TYPE_CHECKING:  # imported where used: the pytest plugin imports this module at every start
    from .stats.sequential import SeedPlan

T = TypeVar("T")

__all__ = ["DEFAULT_MAX_SEEDS", "DEFAULT_SEEDS", "PROFILES", "Profile", "ProfileError"]

PROFILES = ("default", "full")
# Seeds of the first look and the budget a comparative claim may grow to while inconclusive.
DEFAULT_SEEDS = {"default": 3, "full": 5}
DEFAULT_MAX_SEEDS = {"default": 10, "full": 20}


@dataclass(frozen=True)
class Profile:
    """The active profile and the seed plan of comparative claims.

    ``default`` runs each documented protocol where it fits a 2-core CPU and a
    scaled-down version (fewer epochs or a subset, reported) where it does not;
    ``full`` always runs the documented protocol (meant for GPU machines).
    ``plan`` says at which numbers of seeds a comparative claim is decided:
    its first look (``seeds``) and, while the verdict is inconclusive, the
    later ones up to the budget (:class:`dlverify.stats.SeedPlan`).
    """

    name: str = "default"
    plan: SeedPlan = field(
        default_factory=lambda: _plan(DEFAULT_SEEDS["default"], DEFAULT_MAX_SEEDS["default"])
    )

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ProfileError(f"unknown profile {self.name!r}; choose one of {PROFILES}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the first look."""
        return tuple(range(self.plan.looks[0]))

    @property
    def full(self) -> bool:
        """Whether this is the full profile (every documented protocol, never scaled down)."""
        return self.name == "full"

    def pick(self, default: T, full: T) -> T:
        """``full`` under the full profile, else ``default``."""
        return full if self.full else default

    @classmethod
    def make(
        cls, name: str = "default", n_seeds: int | None = None, max_seeds: int | None = None
    ) -> Profile:
        """The profile ``name`` with ``n_seeds`` in the first look and a budget of ``max_seeds``.

        Without ``max_seeds`` the budget is the profile's (10 default, 20 full),
        or ``n_seeds`` itself when that is larger: ``--seeds 12`` alone means
        exactly 12 seeds, one look.
        """
        if name not in PROFILES:
            raise ProfileError(f"unknown profile {name!r}; choose one of {PROFILES}")
        first = DEFAULT_SEEDS[name] if n_seeds is None else n_seeds
        if first < 1:
            raise ProfileError(f"--seeds must be at least 1, got {first}")
        budget = DEFAULT_MAX_SEEDS[name] if max_seeds is None else max_seeds
        if max_seeds is None:
            budget = max(budget, first)
        if budget < first:
            raise ProfileError(f"--max-seeds ({budget}) must be at least --seeds ({first})")
        return cls(name, _plan(first, budget))


def _plan(first: int, budget: int) -> SeedPlan:
    from .stats.sequential import SeedPlan

    return SeedPlan.make(first, budget)
