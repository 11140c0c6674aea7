"""The attack's budget: its decoder's width, epochs and training data, stated in every report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from splitinfer.errors import BadInput

#: Fewer optimizer steps than this do not train a decoder: the run would measure nothing.
MIN_STEPS = 20
MIN_WIDTH = 4


@dataclass(frozen=True)
class AttackBudget:
    """How strong the attacker is. The CLI flags carry the same names (``--epochs`` ...)."""

    epochs: int = 2
    train_limit: int | None = 5_000  # first N training images; None: all
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 32  # channels of the decoder's convolutions
    seed: int = 0

    def steps(self, n_train: int) -> int:
        return self.epochs * -(-n_train // self.batch_size)

    def check(self, n_train: int) -> None:
        """Raise :class:`BadInput` naming the flag when this budget cannot train a decoder."""
        if self.epochs < 1:
            raise BadInput(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.lr <= 0:
            raise BadInput(f"--batch-size must be >= 1 and --lr > 0: {self}")
        if self.width < MIN_WIDTH:
            raise BadInput(f"--width {self.width} is too narrow for a decoder: use >= {MIN_WIDTH}")
        if self.train_limit is not None and self.train_limit < 1:
            raise BadInput(f"--train-limit must be >= 1, got {self.train_limit}")
        steps = self.steps(n_train)
        if n_train < self.batch_size or steps < MIN_STEPS:
            raise BadInput(
                f"attack budget too small to train: {n_train} training images "
                f"(--train-limit {self.train_limit}), --batch-size {self.batch_size}, "
                f"--epochs {self.epochs} give {steps} optimizer steps on batches of up to "
                f"{self.batch_size}; the decoder needs at least {MIN_STEPS} steps of full "
                "batches: raise --train-limit or --epochs, or lower --batch-size"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
