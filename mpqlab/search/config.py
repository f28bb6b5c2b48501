"""The settings of a search as plain data (:class:`SearchConfig`: every field a :func:`~mpqlab.core.knobs.knob` with
its help and range, one command-line option each, settable from a grid's ``search`` block, stored in the policy's
provenance), their checks, and the softmax temperature schedule they define."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import MpqlabError
from .objectives import OBJECTIVES, objective_spec
from ..optim import RADII, RULES
from ..optim.radius import RHO0, RHO_MAX, RHO_MIN
from ..optim.rules.asga import BETA
from ..optim.rules.gsam import GAMMA
from ..quant.quantizers import BIT_CANDIDATES
from ..core.knobs import knob
from ..core.precision import PRECISIONS
from ..core.runtime import dist_info
from .budget import check_budget


# settings added after search runs were first saved, with the value an older run folder's missing key stands for
# (so that such a run still resumes)
ADDED_SETTINGS = {"precision": "fp32", "channels_last": False}
COST_TERMS = ("expected", "realised")
REPAIRS = ("fewest", "most_probable")


@dataclass
class SearchConfig:
    """Every setting of a search, as plain data (stored in the policy's provenance)."""

    model: str = knob("resnet20", "a registered model (mpqlab.list_models)", common=True)
    data: str = knob("cifar10-mini", "the proxy dataset, a registered one (mpqlab.list_datasets)", common=True)
    root: str | None = knob(None, "data root; unset: $MPQLAB_DATA or ~/.cache/mpqlab/data", common=True)
    subset: int | None = knob(None, "class-balanced proxy subset of the training split; unset: all of it",
                              lo=1, hi=10 ** 9)
    proxy_seed: int = knob(0, "seed that draws the proxy subset (a grid sets it to the cell's seed)", lo=0,
                           hi=2 ** 32 - 1)
    holdout: int | None = knob(None, "class-balanced images of the training split held out before the proxy subset "
                                     "is drawn (a validation set the search never sees) [option]", lo=1, hi=10 ** 9)
    holdout_seed: int = knob(0, "seed of the held-out images", lo=0, hi=2 ** 32 - 1)
    checkpoint: str | None = knob(None, "full-precision weights to start from (the proxy checkpoint); unset: random init")
    objective: str = knob("edmips", "the search objective", choices=OBJECTIVES)
    sharpness: str = knob("none", "the weight-update rule", choices=RULES)
    budget: float = knob(4.0, "average bits B: the BitOPs of uniform WbAb; must lie in the range the candidates "
                              "reach", lo=0, hi=32, lo_open=True)
    epochs: int = knob(8, "search epochs over the proxy set", lo=1, hi=10 ** 6)
    batch_size: int = knob(128, "images per step", lo=1, hi=10 ** 6)
    lr: float = knob(0.01, "weights' learning rate, cosine-annealed from the checkpoint [choice]", lo=0, hi=10,
                     lo_open=True)
    lr_alpha: float = knob(0.05, "bit logits' (alpha) learning rate, Adam [choice: CPU-scale searches are a few "
                                 "hundred steps]", lo=0, hi=10, lo_open=True)
    momentum: float = knob(0.9, "weights' SGD momentum (Nesterov)", lo=0, hi=1)
    weight_decay: float = knob(1e-4, "weights' weight decay (quantizer steps and BatchNorm excluded)", lo=0, hi=1)
    cost_weight: float = knob(2.0, "lambda, the weight of the cost hinge", lo=0, hi=1e6)
    w_candidates: list = knob(list(BIT_CANDIDATES), "candidate weight bits, e.g. 2,3,4")
    a_candidates: list = knob(list(BIT_CANDIDATES), "candidate activation bits, e.g. 2,3,4")
    fixed_bits: int = knob(8, "bits of the layers the search does not choose (first conv, last linear)", lo=2, hi=32)
    rho: float = knob(RHO0, "rho_0, the perturbation radius (the fixed rule's rho, the adaptive rules' start)",
                      lo=0, hi=10)
    rho_max: float = knob(RHO_MAX, "rho_max, the adaptive radius's ceiling", lo=0, hi=10)
    rho_min: float = knob(RHO_MIN, "rho_min, the adaptive radius's floor (see mpqlab.optim.radius) [choice]", lo=0, hi=10)
    beta: float = knob(BETA, "beta, ASGA's alignment step in the perturbation (rho/|g| - beta) g", lo=0, hi=10)
    radius: str | None = knob(None, "rho schedule; unset: the rule's own (SAM fixed, GSAM lr, ASGA relative); the "
                                    "paper's ln(1+h) rule taken literally is adaptive", choices=RADII)
    h_ema: float | None = knob(None, "decay of the adaptive radius's running scale; unset: 0.9", lo=0, hi=1)
    gsam_gamma: float = knob(GAMMA, "alpha of GSAM, the weight of the surrogate gap's orthogonal component", lo=0, hi=10)
    perturb_quantizers: bool = knob(False, "the sharpness rule's ascent also moves the quantizer steps / clips "
                                           "[option]")
    gmpq_weight: float = knob(40.0, "GMPQ's attribution-rank loss weight", lo=0, hi=1e6)
    bilevel: bool = knob(False, "first-order bi-level search: the bit logits' task gradient on a held-out split")
    val_fraction: float = knob(0.1, "share of the proxy held out for the bi-level search's logit step", lo=0,
                               hi=0.9)
    hawq_probes: int = knob(16, "HAWQ: Hutchinson probes per layer trace", lo=1, hi=10 ** 6)
    hawq_batches: int = knob(2, "HAWQ: batches the layer traces are taken on", lo=1, hi=10 ** 6)
    seed: int = knob(0, "seed of the search (weights' init, batch order)", lo=0, hi=2 ** 32 - 1)
    device: str = knob("cpu", "torch device", common=True)
    max_batches: int | None = knob(None, "batches per epoch (tests, smoke runs); unset: all", lo=1, hi=10 ** 9)
    per_layer_telemetry: bool = knob(True, "log each layer's bit probabilities every step (--no-per-layer-telemetry: "
                                           "totals only)")
    freeze_bn: bool = knob(False, "BatchNorm on its running statistics (not updated) during the search [option]")
    freeze_weights: bool = knob(False, "weights and quantizer steps / clips held where the search starts (the "
                                       "checkpoint, calibrated): only the bit logits move, so the search scores "
                                       "policies on the model the transfer starts from [option]")
    # -- making the search decide (see "A search that decides" in the module docstring) --------------------
    tau_start: float = knob(1.0, "tau_0, the bit logits' softmax temperature when they start to move", lo=0, hi=100,
                            lo_open=True)
    tau_end: float = knob(0.1, "tau_T, the temperature at the last step, annealed geometrically (1 and 1: none) "
                               "[choice]", lo=0, hi=100, lo_open=True)
    warmup_fraction: float = knob(0.0, "share of the steps that train the weights only, logits still [option]",
                                  lo=0, hi=0.99)
    cost_on: str = knob("realised", "cost hinge on the argmax policy (straight-through) or the expected cost [choice]",
                        choices=COST_TERMS)
    entropy_weight: float = knob(0.0, "weight of the bit distributions' entropy in the logits' loss [option]",
                                 lo=0, hi=1e6)
    repair: str = knob("fewest", "budget step: fewest layers changed, or the most probable policy in budget [choice]",
                       choices=REPAIRS)
    ascent_every: int = knob(1, "k: the ascent pass every k steps, the perturbation reused between (amortised, "
                                "LookSAM-style) [option]", lo=1, hi=10 ** 6)
    # -- the arithmetic of a step (a GPU's fast path; float32 and the default layout are the reference) ---------
    precision: str = knob("fp32", "arithmetic of the forward passes: fp32, or bf16 autocast with float32 weights, "
                                  "bit logits, gradients and optimizer state (auto: bf16 where the device runs it "
                                  "natively) [option]", choices=PRECISIONS)
    channels_last: bool = knob(False, "the supernet's weights and each batch in the channels-last memory layout "
                                      "(the layout GPUs' and oneDNN's fast convolutions use) [option]")

    def check(self) -> None:
        """Refuse, naming the field, settings that cannot run (before any work: the budget against the range the
        candidates reach, the registry's objectives and sharpness rules, the option ranges)."""
        spec = objective_spec(self.objective)
        RULES.lookup(self.sharpness)
        if spec.searcher and self.sharpness != "none":
            raise MpqlabError(f"{self.objective} is not a gradient search; it takes --sharpness none")
        if self.objective == "gmpq" and dist_info()[1] > 1:
            raise MpqlabError("gmpq does not run distributed: its attribution maps need autograd.grad inside the "
                              "forward, which DistributedDataParallel does not synchronise")
        check_budget(self.budget, self.w_candidates, self.a_candidates)
        if self.epochs < 1:
            raise MpqlabError(f"epochs must be at least 1, got {self.epochs}")
        if self.radius is not None:
            RADII.lookup(self.radius)
        if self.cost_on not in COST_TERMS:
            raise MpqlabError(f"unknown cost_on {self.cost_on!r}; use one of {', '.join(COST_TERMS)}")
        if self.repair not in REPAIRS:
            raise MpqlabError(f"unknown repair {self.repair!r}; use one of {', '.join(REPAIRS)}")
        if not (self.tau_start > 0 and self.tau_end > 0):
            raise MpqlabError(f"softmax temperatures must be positive, got tau_start={self.tau_start}, "
                              f"tau_end={self.tau_end}")
        if not 0 <= self.warmup_fraction < 1:
            raise MpqlabError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not (isinstance(self.ascent_every, int) and self.ascent_every >= 1):
            raise MpqlabError(f"ascent_every must be an integer >= 1, got {self.ascent_every}")
        if self.freeze_weights and self.sharpness != "none":
            raise MpqlabError(f"freeze_weights holds the weights still, so there is nothing for the sharpness rule "
                              f"{self.sharpness!r} to update; use sharpness 'none'")
        if not self.entropy_weight >= 0:
            raise MpqlabError(f"entropy_weight must be non-negative, got {self.entropy_weight}")

    @property
    def method(self) -> str:
        """The method's registry name, e.g. ``edmips+asga``."""
        return self.objective + ("" if self.sharpness == "none" else f"+{self.sharpness}")


def warmup_steps(cfg: SearchConfig, total_steps: int) -> int:
    """Steps at the start that train the weights only (the bit logits do not move)."""
    return int(cfg.warmup_fraction * total_steps)


def temperature(cfg: SearchConfig, step: int, total_steps: int) -> float:
    """Softmax temperature at ``step`` (0-based): ``tau_start`` through the warm-up, then geometric to ``tau_end``
    at the last step."""
    w = warmup_steps(cfg, total_steps)
    span = max(total_steps - 1 - w, 1)
    frac = min(max((step - w) / span, 0.0), 1.0)
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** frac
