"""Model inversion: how much of the input the cloud can rebuild from what it receives.

    image -> edge half -> frame -> cloud decodes -> (latent, restored feature)
                                                     |
                                    attack decoder --+--> reconstructed image
                                                     -> PSNR, SSIM, classifier top-1,
                                                        nearest-neighbour re-identification

The attacker is the server operator: it holds the bundle (both halves) and images of the
same kind (the training split), so it can make (view, image) pairs and train a decoder on
them (:mod:`splitinfer.privacy.decoder`). Its figures are lower bounds on leakage: a
stronger decoder, more epochs or more data can only recover more.

This is an apps-layer package: it may import anything below it; core and runtime never
import it.
"""

from splitinfer.privacy.attack import AttackResult, ViewResult, attack
from splitinfer.privacy.budget import AttackBudget
from splitinfer.privacy.observe import BundleObserver, ImageObserver, Observer, feature_bundle

__all__ = [
    "AttackBudget",
    "AttackResult",
    "BundleObserver",
    "ImageObserver",
    "Observer",
    "ViewResult",
    "attack",
    "feature_bundle",
]
