"""Loading what the commands, notebooks, benchmarks and the experiment harness start from: a dataset's train and
test splits, a model under a bit policy (from a float or a quantized checkpoint), a uniform ``W/A`` spec."""
from __future__ import annotations

from ..core.errors import MpqlabError
from ..core.files import load_weights
from ..data import create_dataset, make_loader, proxy_subset
from ..models import create_model
from .checkpoints import load_model, pretrained
from .policy import Policy
from .quantizers import calibrate, parse_bits


def load_splits(data: str, root=None, subset: int | None = None, seed: int = 0):
    """``(train, test)`` of a registered dataset; ``subset`` images of train (class-balanced, seeded) when given."""
    train = create_dataset(data, "train", root=root)
    test = create_dataset(data, "test", root=root)
    if subset:
        train, _ = proxy_subset(train, size=subset, seed=seed)
    return train, test


def parse_uniform(spec: str) -> tuple[int, int]:
    """'4/8' -> (4, 8); '4' -> (4, 4); 'W4A8' -> (4, 8) (:func:`mpqlab.quant.quantizers.parse_bits`)."""
    return parse_bits(spec, "--uniform")


def model_under_policy(model: str, checkpoint: str | None, num_classes: int, policy=None,
                       uniform: str | None = None, calib_data=None, input_size=(3, 32, 32), device="cpu",
                       calib_batches: int = 4, calib_batch_size: int = 128):
    """Build ``model`` from a float checkpoint (or a quantized one written by ``transfer``), quantized by
    ``policy`` (a :class:`~mpqlab.quant.policy.Policy`) or a uniform W/A policy, calibrated on ``calib_batches`` batches
    of ``calib_data`` (a stratified sample) when its quantizers are fresh. Returns (model, Policy or None). The one
    checkpoint -> policy -> calibrate path of the CLI, the grid's proxy side and the at-checkpoint score."""
    if policy and uniform:
        raise MpqlabError("give --policy or --uniform, not both")
    sd = meta = None
    if checkpoint:
        sd, meta = load_weights(checkpoint)
    quantized_ckpt = sd is not None and any("_quant." in k for k in sd)
    if quantized_ckpt:
        net = create_model(model, num_classes=num_classes)
    elif checkpoint:
        net, _ = load_model(model, checkpoint, num_classes=num_classes)
    else:
        net = create_model(model, num_classes=num_classes)
    pol = None
    if policy is not None:
        if not isinstance(policy, Policy):
            raise MpqlabError(f"model_under_policy takes a Policy, got {type(policy).__name__} (Policy.load(path) "
                              "reads a file)")
        pol = policy
    elif uniform:
        w, a = parse_uniform(uniform)
        pol = Policy.uniform(net, w, a, input_size=input_size)
    if quantized_ckpt and pol is None:
        raise MpqlabError(f"checkpoint {checkpoint} holds a quantized model; give the --policy it was trained with")
    if pol is not None:
        pol.apply(net, input_size)
    if quantized_ckpt:
        missing, unexpected = net.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise MpqlabError(f"checkpoint {checkpoint} does not fit {model} under this policy: missing "
                              f"{missing[:5]}, unexpected {unexpected[:5]}")
    elif pol is not None and calib_data is not None:
        calibrate(net, [x for x, _ in make_loader(calib_data, calib_batch_size, train=False, device=device,
                                                  max_batches=calib_batches)])
    return net.to(device), pol


def analysis_target(smoke: bool, root=None) -> tuple[str, str, object, object]:
    """What the analysis notebooks study: ResNet-20 on full CIFAR-10 (its shipped checkpoint) when that data is on
    this machine and ``smoke`` is off, else on the embedded ``cifar10-mini``. Returns (dataset name, checkpoint
    path, train split, test split) and prints which one and why."""
    if not smoke:
        try:
            train, test = load_splits("cifar10", root)
            print("studying ResNet-20 on full CIFAR-10 (checkpoints/resnet20_cifar10)")
            return "cifar10", str(pretrained("resnet20_cifar10")), train, test
        except MpqlabError as e:
            print(f"full CIFAR-10 is not here ({e}); studying the cifar10-mini model instead")
    else:
        print("smoke run: studying the cifar10-mini model")
    train, test = load_splits("cifar10-mini", root)
    return "cifar10-mini", str(pretrained("resnet20_cifar10-mini")), train, test
