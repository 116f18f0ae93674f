"""The reference architectures' configs and tensor shapes, without torch: what the upload (web) and
the worker both check before any weight is loaded, in one place.

- :func:`normalize_config`: a checkpoint's config checked against the strict hyper-parameter
  schema of its architecture (``unknown_architecture``, ``bad_config`` naming the key) and
  completed with the defaults.
- :func:`expected_shapes`: the state-dict names and shapes of a config's generator, written out
  per architecture (``gan_core.generators`` builds the modules; tests/gan_core/test_architectures.py
  checks both agree over the hyper-parameter space).
- :func:`check_state_shapes`: a checkpoint's tensors against those (``missing_tensor``,
  ``unexpected_tensor``, ``shape_mismatch``), naming the missing and the unexpected tensors and,
  for each unexpected one, the closest expected name.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from gan_core.failures import CheckpointError, FailureCode, quoted

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_VALUE_RANGE",
    "SCHEMAS",
    "VALUE_RANGES",
    "HyperParameter",
    "check_state_shapes",
    "expected_shapes",
    "normalize_config",
]

VALUE_RANGES = ("-1,1", "0,1")
DEFAULT_VALUE_RANGE = "-1,1"
CONFIG_KEYS = frozenset({"architecture", "hyperparameters", "value_range"})
SHOWN = 5


@dataclasses.dataclass(frozen=True)
class HyperParameter:
    """One hyper-parameter: its type, default and allowed values (``choices`` or ``minimum..maximum``)."""

    kind: type
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def validate(self, key: str, value: Any) -> Any:
        """Return ``value`` if it is allowed for ``key``; raise ``CheckpointError(bad_config)`` naming the key otherwise."""
        type_ok = isinstance(value, self.kind) and not (self.kind is int and isinstance(value, bool))
        if not type_ok:
            raise CheckpointError(
                FailureCode.BAD_CONFIG,
                f"Hyper-parameter {key!r} must be of type {self.kind.__name__}, got {quoted(value)}. {self.describe()}",
            )
        if self.choices is not None and value not in self.choices:
            raise CheckpointError(
                FailureCode.BAD_CONFIG, f"Hyper-parameter {key!r} = {quoted(value)} is not allowed. {self.describe()}"
            )
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise CheckpointError(
                FailureCode.BAD_CONFIG, f"Hyper-parameter {key!r} = {quoted(value)} is out of range. {self.describe()}"
            )
        return value

    def describe(self) -> str:
        """A sentence listing the allowed values."""
        if self.choices is not None:
            allowed = " or ".join(repr(choice) for choice in self.choices)
        elif self.minimum is not None or self.maximum is not None:
            allowed = f"{self.kind.__name__} from {self.minimum} to {self.maximum}"
        else:
            allowed = f"any {self.kind.__name__}"
        return f"Allowed: {allowed} (default {self.default!r})."


SCHEMAS: dict[str, dict[str, HyperParameter]] = {
    "resnet": {
        "n_blocks": HyperParameter(int, 9, choices=(6, 9), doc="ResNet blocks (resnet_6blocks / resnet_9blocks)"),
        "ngf": HyperParameter(int, 64, minimum=1, maximum=256, doc="filters of the first conv layer"),
        "use_dropout": HyperParameter(bool, False, doc="dropout in the ResNet blocks (shifts state-dict names)"),
    },
    "transformer_net": {
        "channels": HyperParameter(int, 32, minimum=1, maximum=128, doc="channels of the first conv layer"),
        "n_residual": HyperParameter(int, 5, minimum=1, maximum=10, doc="residual blocks"),
    },
    "unet_small": {
        "base_channels": HyperParameter(int, 32, minimum=1, maximum=128, doc="channels of the first level"),
        "depth": HyperParameter(int, 2, minimum=1, maximum=4, doc="downsampling steps; H and W multiples of 2**depth"),
    },
}
"""Each reference architecture's hyper-parameters (``gan_core.generators.ARCHITECTURES`` builds them)."""


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a generator config strictly and return it complete, defaults filled in.

    ``config`` = ``{"architecture": str, "hyperparameters": {...}, "value_range": "-1,1" | "0,1"}``
    (``hyperparameters`` and ``value_range`` optional). Raises ``CheckpointError`` with
    ``unknown_architecture`` or ``bad_config`` naming the offending key.
    """
    if not isinstance(config, Mapping):
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            'The generator config must be a JSON object like {"architecture": "resnet", "hyperparameters": {...}}.',
        )
    unknown = sorted(str(key) for key in config if key not in CONFIG_KEYS)
    if unknown:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f"Unknown config key {quoted(unknown[0])}; allowed keys are {', '.join(sorted(CONFIG_KEYS))}.",
        )
    name = config.get("architecture")
    if not isinstance(name, str) or name not in SCHEMAS:
        raise CheckpointError(
            FailureCode.UNKNOWN_ARCHITECTURE,
            f"Unknown architecture {quoted(name)}; the reference architectures are {', '.join(sorted(SCHEMAS))}. "
            "For any other architecture, upload an ONNX model where the phase allows it "
            "(python -m gan_core export --onnx ...).",
        )
    schema = SCHEMAS[name]
    given = config.get("hyperparameters", {})
    if not isinstance(given, Mapping):
        raise CheckpointError(FailureCode.BAD_CONFIG, "Config key 'hyperparameters' must be a JSON object.")
    unknown = sorted(str(key) for key in given if key not in schema)
    if unknown:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f"Unknown hyper-parameter {quoted(unknown[0])} for architecture {name!r}; "
            f"its hyper-parameters are {', '.join(sorted(schema))}.",
        )
    hyperparameters = {
        key: spec.validate(key, given[key]) if key in given else spec.default for key, spec in schema.items()
    }
    value_range = config.get("value_range", DEFAULT_VALUE_RANGE)
    if value_range not in VALUE_RANGES:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f"Config key 'value_range' = {quoted(value_range)} is not allowed; use {' or '.join(map(repr, VALUE_RANGES))}.",
        )
    return {"architecture": name, "hyperparameters": hyperparameters, "value_range": value_range}


Shapes = dict[str, tuple[int, ...]]


def _conv(shapes: Shapes, prefix: str, out: int, into: int, kernel: int) -> None:
    shapes[f"{prefix}.weight"] = (out, into, kernel, kernel)
    shapes[f"{prefix}.bias"] = (out,)


def _transposed(shapes: Shapes, prefix: str, into: int, out: int, kernel: int) -> None:
    shapes[f"{prefix}.weight"] = (into, out, kernel, kernel)  # ConvTranspose2d keeps (in, out, k, k)
    shapes[f"{prefix}.bias"] = (out,)


def _norm(shapes: Shapes, prefix: str, channels: int) -> None:
    shapes[f"{prefix}.weight"] = (channels,)
    shapes[f"{prefix}.bias"] = (channels,)


def _resnet(*, ngf: int, n_blocks: int, use_dropout: bool) -> Shapes:
    """junyanz's ``ResnetGenerator``: one ``model`` Sequential; instance norms hold no parameters."""
    shapes: Shapes = {}
    _conv(shapes, "model.1", ngf, 3, 7)
    _conv(shapes, "model.4", 2 * ngf, ngf, 3)
    _conv(shapes, "model.7", 4 * ngf, 2 * ngf, 3)
    second = 6 if use_dropout else 5
    for block in range(n_blocks):
        _conv(shapes, f"model.{10 + block}.conv_block.1", 4 * ngf, 4 * ngf, 3)
        _conv(shapes, f"model.{10 + block}.conv_block.{second}", 4 * ngf, 4 * ngf, 3)
    up = 10 + n_blocks
    _transposed(shapes, f"model.{up}", 4 * ngf, 2 * ngf, 3)
    _transposed(shapes, f"model.{up + 3}", 2 * ngf, ngf, 3)
    _conv(shapes, f"model.{up + 7}", 3, ngf, 7)
    return shapes


def _transformer_net(*, channels: int, n_residual: int) -> Shapes:
    """pytorch/examples' ``TransformerNet``: affine instance norms without running statistics."""
    c = channels
    shapes: Shapes = {}
    for name, out, into, kernel, norm in (
        ("conv1", c, 3, 9, "in1"),
        ("conv2", 2 * c, c, 3, "in2"),
        ("conv3", 4 * c, 2 * c, 3, "in3"),
    ):
        _conv(shapes, f"{name}.conv2d", out, into, kernel)
        _norm(shapes, norm, out)
    for index in range(1, n_residual + 1):
        for part in ("1", "2"):
            _conv(shapes, f"res{index}.conv{part}.conv2d", 4 * c, 4 * c, 3)
            _norm(shapes, f"res{index}.in{part}", 4 * c)
    _conv(shapes, "deconv1.conv2d", 2 * c, 4 * c, 3)
    _norm(shapes, "in4", 2 * c)
    _conv(shapes, "deconv2.conv2d", c, 2 * c, 3)
    _norm(shapes, "in5", c)
    _conv(shapes, "deconv3.conv2d", 3, c, 9)
    return shapes


def _double_conv(shapes: Shapes, prefix: str, into: int, out: int) -> None:
    _conv(shapes, f"{prefix}.0", out, into, 3)
    _norm(shapes, f"{prefix}.1", out)
    _conv(shapes, f"{prefix}.3", out, out, 3)
    _norm(shapes, f"{prefix}.4", out)


def _unet_small(*, base_channels: int, depth: int) -> Shapes:
    widths = [base_channels * 2**level for level in range(depth + 1)]
    shapes: Shapes = {}
    _double_conv(shapes, "inc", 3, widths[0])
    for level in range(depth):
        _double_conv(shapes, f"down.{level}", widths[level], widths[level + 1])
    for index, level in enumerate(reversed(range(depth))):
        _transposed(shapes, f"up.{index}", widths[level + 1], widths[level], 2)
    for index, level in enumerate(reversed(range(depth))):
        _double_conv(shapes, f"up_conv.{index}", 2 * widths[level], widths[level])
    _conv(shapes, "outc", 3, widths[0], 1)
    return shapes


_SHAPES = {"resnet": _resnet, "transformer_net": _transformer_net, "unet_small": _unet_small}


def expected_shapes(config: Mapping[str, Any]) -> Shapes:
    """State-dict names and shapes of the config's generator (in module order)."""
    normalized = normalize_config(config)
    return _SHAPES[normalized["architecture"]](**normalized["hyperparameters"])


def _closest(names: list[str], candidates: list[str]) -> str:
    """``'a' (closest expected: 'b')`` for the first few names."""
    shown = []
    for name in names[:SHOWN]:
        match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
        shown.append(f"{quoted(name)} (closest expected: {quoted(match[0])})" if match else quoted(name))
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(shown) + more


def _names(names: list[str]) -> str:
    shown = ", ".join(quoted(name) for name in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def check_state_shapes(shapes: Mapping[str, tuple[int, ...]], config: Mapping[str, Any]) -> None:
    """Compare a checkpoint's tensor names and shapes with the config's generator.

    Raises ``CheckpointError`` with ``missing_tensor``, ``unexpected_tensor`` or ``shape_mismatch``
    (in that order). The message names the missing tensors and the unexpected ones (each with the
    closest expected name: a renamed or shifted layer shows at once), and a common prefix to strip.
    """
    normalized = normalize_config(config)
    expected = expected_shapes(normalized)
    described = f"architecture {normalized['architecture']!r} with hyper-parameters {normalized['hyperparameters']}"
    missing = [name for name in expected if name not in shapes]
    unexpected = [name for name in shapes if name not in expected]
    extra = (
        f" The file has {len(unexpected)} tensors that are not part of it: {_closest(unexpected, missing or list(expected))}."
        if unexpected
        else ""
    )
    if missing:
        hint = ""
        prefixes = {name.split(".", 1)[0] + "." for name in unexpected if "." in name}
        if len(prefixes) == 1 and all(name.split(".", 1)[-1] in expected for name in unexpected):
            hint = (
                f" Your tensor names start with {prefixes.pop()!r}: save module.state_dict() of the generator itself."
            )
        raise CheckpointError(
            FailureCode.MISSING_TENSOR,
            f"{len(missing)} tensors of {described} are missing: {_names(missing)}.{extra}{hint} "
            "Check the architecture and hyper-parameters in the config.",
        )
    if unexpected:
        raise CheckpointError(
            FailureCode.UNEXPECTED_TENSOR,
            f"{len(unexpected)} tensors are not part of {described}: {_closest(unexpected, list(expected))}. "
            "Check the architecture and hyper-parameters in the config.",
        )
    mismatched = [name for name in expected if tuple(shapes[name]) != expected[name]]
    if mismatched:
        first = mismatched[0]
        raise CheckpointError(
            FailureCode.SHAPE_MISMATCH,
            f"{len(mismatched)} tensors have the wrong shape for {described}: {_names(mismatched)}; "
            f"for example {quoted(first)} is {list(shapes[first])}, expected {list(expected[first])}. "
            "Check the hyper-parameters in the config (ngf, channels, n_blocks...).",
        )
