"""``export`` and ``check``: write a checkpoint the platform accepts, and validate one as the platform would.

``export`` is the one place where torch objects come from user code: the participant's own,
trusted module factory, run locally. ``check`` runs the platform's checks: header inspection
here (safe: it allocates nothing large and runs nothing), then loading and the probe run in the
same sandbox as the worker (:func:`gan_core.sandbox.validate_checkpoint`), so an organiser
checking someone else's file is as safe as the platform. ``check --no-sandbox`` loads and probes
in this process instead, with a warning: only for a file one made oneself (it also shows a
crashing generator's full error).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VALUE_RANGE_HELP = "the value range of inputs and outputs: -1,1 (default) or 0,1"
_VALUE_RANGE_ARGUMENT = re.compile(r"^-\d+$|^-\d*\.\d+$|^-1,1$")


def _accept_minus_one_one(parser: argparse.ArgumentParser) -> None:
    """Let ``--value-range -1,1`` parse: argparse takes a leading ``-`` for an option unless it looks like a number.

    ``--value-range=-1,1`` works on any Python; this widens argparse's negative-number pattern
    (a private attribute, present in Python 3.11) for the parser's own arguments.
    """
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = _VALUE_RANGE_ARGUMENT


EXPORT_TOLERANCE = 1e-3
"""Largest accepted difference between the exported file's output and the module's on the probe (float32 exports)."""


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _load_json_argument(value: str, what: str) -> Any:
    """A JSON value given inline (starting with ``{``) or as a path to a JSON file."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{what} is not valid JSON: {error}") from None


def _resolve_factory(spec: str) -> Callable[[], Any]:
    """``package.module:function`` or ``path/to/file.py:function`` -> the callable (imports the participant's module)."""
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(f"--module-factory must look like package.module:function or file.py:function, got {spec!r}")
    if module_name.endswith(".py"):
        file_path = Path(module_name).resolve()
        module_spec = importlib.util.spec_from_file_location(file_path.stem, file_path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot import {file_path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[file_path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part)
    if not callable(factory):
        raise ValueError(f"{spec!r} is not callable")
    return factory


def _build_source_module(args: argparse.Namespace, config: dict | None) -> Any:
    """The module to export: the participant's factory, or a reference architecture with weights from --state-dict."""
    import torch

    from gan_core.checkpoints import CheckpointError, CheckpointFormat, check_state_shapes, detect_format
    from gan_core.generators import build_generator

    if args.module_factory:
        module = _resolve_factory(args.module_factory)()
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"{args.module_factory} returned {type(module).__name__}, not a torch.nn.Module")
        return module
    if config is None:
        raise ValueError("--state-dict needs --architecture (and --hyperparameters) to know which network it fills")
    path = Path(args.state_dict)
    try:
        detected = detect_format(path)
    except CheckpointError as error:
        raise ValueError(
            f"--state-dict reads safetensors files only ({error.message}) To convert a .pt file, load it in your own "
            "code inside a function that returns the module, and pass that function with --module-factory."
        ) from None
    if detected is not CheckpointFormat.SAFETENSORS:
        raise ValueError("--state-dict reads safetensors files only")
    from safetensors.torch import load_file

    state = load_file(str(path))
    check_state_shapes({name: tuple(tensor.shape) for name, tensor in state.items()}, config)
    module = build_generator(config)
    module.load_state_dict(state, strict=True)
    return module


def _probe_and_compare(path: Path, info: Any, module: Any, contract: Any, probe_size: int) -> tuple[float, int]:
    """Load the written file as the platform does, run the probe, check the contract; (max |file - module|, clamped)."""
    import torch

    from gan_core.checkpoints import load_generator
    from gan_core.contract import check_output, probe_image

    probe = probe_image(contract, size=probe_size)
    generator = load_generator(path, info, device=torch.device("cpu"))
    output = generator(probe)
    _, clamped = check_output(output, input=probe, contract=contract)
    with torch.inference_mode():
        reference = module.eval()(probe)
    return float((output.float() - reference.float()).abs().max()), clamped


def _export(args: argparse.Namespace) -> int:
    from gan_core.checkpoints import (
        CheckpointFormat,
        check_state_shapes,
        export_onnx,
        inspect_checkpoint,
        save_safetensors_checkpoint,
    )
    from gan_core.contract import ContractViolation, GeneratorContract, ValueRange
    from gan_core.failures import GeneratorFailure
    from gan_core.generators import normalize_config, required_size_multiple

    target_format = CheckpointFormat(args.format)
    output = Path(args.output)
    config: dict | None = None
    try:
        if args.architecture:
            hyperparameters = _load_json_argument(args.hyperparameters, "--hyperparameters")
            config = normalize_config(
                {"architecture": args.architecture, "hyperparameters": hyperparameters, "value_range": args.value_range}
            )
        elif target_format is CheckpointFormat.SAFETENSORS:
            return _fail(
                "safetensors export needs --architecture (one of the reference architectures); use --onnx otherwise"
            )
        if bool(args.state_dict) == bool(args.module_factory):
            return _fail(
                "give exactly one of --state-dict FILE.safetensors or --module-factory package.module:function"
            )
        module = _build_source_module(args, config)
        if target_format is CheckpointFormat.SAFETENSORS:
            check_state_shapes({name: tuple(t.shape) for name, t in module.state_dict().items()}, config)
    except GeneratorFailure as error:
        return _fail(f"[{error.code}] {error.message}")
    except (ValueError, OSError, ImportError, AttributeError, RuntimeError) as error:
        return _fail(str(error))

    size_multiple = required_size_multiple(config) if config else 4
    contract = GeneratorContract(value_range=ValueRange(args.value_range), size_multiple=size_multiple)
    temporary = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        if target_format is CheckpointFormat.SAFETENSORS:
            save_safetensors_checkpoint(module.state_dict(), temporary, config=config, dtype=args.dtype)
        else:
            export_onnx(module, temporary, value_range=args.value_range, sample_size=args.probe_size)
        info = inspect_checkpoint(temporary, value_range=args.value_range)
        difference, clamped = _probe_and_compare(temporary, info, module, contract, args.probe_size)
    except (GeneratorFailure, ContractViolation) as error:
        temporary.unlink(missing_ok=True)
        return _fail(f"the exported file would be refused: [{error.code}] {error.message}")
    except Exception as error:  # the participant's module may fail in any way while exporting
        temporary.unlink(missing_ok=True)
        return _fail(f"export failed: {type(error).__name__}: {error}")
    if args.dtype == "float32" and difference > EXPORT_TOLERANCE:
        temporary.unlink(missing_ok=True)
        return _fail(
            f"the exported file's output differs from your module's by {difference:.3g} on the probe image "
            f"(tolerance {EXPORT_TOLERANCE:g}); your module may behave differently in evaluation mode or on other image "
            "sizes, or it was built for another value range than --value-range"
        )
    temporary.replace(output)
    print(f"wrote {output} ({info.format.value}, {info.size} bytes, sha256 {info.sha256})")
    if info.architecture:
        print(f"architecture: {info.architecture} {json.dumps(info.config['hyperparameters'], sort_keys=True)}")
    print(f"parameters: {info.parameter_count}")
    print(f"probe: max |file - module| = {difference:.3g}, {clamped} values clamped to [{args.value_range}]")
    print("OK: the platform's checks pass for this file.")
    return 0


def _check(args: argparse.Namespace) -> int:
    import torch

    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint, load_generator
    from gan_core.contract import GeneratorContract, ValueRange, check_latency, check_output, probe_image
    from gan_core.failures import FailureCode, GeneratorFailure
    from gan_core.generators import required_size_multiple

    report: dict[str, Any] = {"file": str(args.file)}
    try:
        config = _load_json_argument(args.config, "--config") if args.config else None
        formats = frozenset(CheckpointFormat(name.strip()) for name in args.formats.split(","))
        architectures = frozenset(a.strip() for a in args.architectures.split(",")) if args.architectures else None
    except (ValueError, OSError) as error:
        return _fail(str(error))
    value_range = ValueRange(args.value_range)
    try:
        info = inspect_checkpoint(
            Path(args.file),
            allowed_formats=formats,
            allowed_architectures=architectures,
            max_bytes=args.max_bytes,
            config=config,
            value_range=value_range,
        )
        report.update(
            format=info.format.value,
            size=info.size,
            sha256=info.sha256,
            architecture=info.architecture,
            config=info.config,
            parameters=info.parameter_count,
        )
        size_multiple = required_size_multiple(info.config) if info.architecture else 4
        contract = GeneratorContract(
            value_range=value_range, size_multiple=size_multiple, max_seconds_per_image=args.max_seconds_per_image
        )
        probe = probe_image(contract, size=args.probe_size)
        if not args.no_sandbox:
            report.update(
                _probe_in_sandbox(args, contract, config=config, formats=formats, architectures=architectures)
            )
            return _finish_check(args, report)
        generator = load_generator(Path(args.file), info, device=torch.device(args.device))
        output = generator(probe)
        _, clamped = check_output(output, input=probe, contract=contract)
        started = time.perf_counter()  # timed on a second run, after the first one warmed up
        generator(probe)
        seconds = time.perf_counter() - started
        check_latency(seconds, contract=contract)
        report.update(
            accepted=True, probe={"shape": list(output.shape), "clamped": clamped, "seconds": round(seconds, 4)}
        )
    except GeneratorFailure as error:
        report.update(accepted=False, code=error.code, message=error.message)
    except ValueError as error:  # a probe size that is not a multiple of the architecture's factor
        return _fail(str(error))
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror or error}")
    except RuntimeError as error:  # the generator itself failed while running the probe
        first_line = (str(error).splitlines() or [""])[0][:300]
        report.update(
            accepted=False,
            code=FailureCode.CRASHED.value,
            message=f"Your generator failed on the probe image: {first_line}",
        )
    return _finish_check(args, report)


#: Printed on stderr by ``check --no-sandbox``.
NO_SANDBOX_WARNING = (
    "WARNING: --no-sandbox: the model is loaded and run in this process, with your privileges and access to "
    "your files and network. Only do this for a file you made yourself; check anyone else's file without it."
)


def _probe_in_sandbox(
    args: argparse.Namespace, contract: Any, *, config: Any, formats: frozenset, architectures: frozenset | None
) -> dict[str, Any]:
    """Load and probe the file in the worker's sandbox; the ``accepted``/``probe`` or ``code``/``message`` fields."""
    from gan_core import sandbox
    from gan_core.failures import FailureCode

    validation = sandbox.validate_checkpoint(
        Path(args.file),
        contract=contract,
        limits=sandbox.SandboxLimits(),
        device=args.device,
        allowed_formats=formats,
        allowed_architectures=architectures,
        max_bytes=args.max_bytes,
        config=config,
        probe_size=args.probe_size,
    )
    if not validation.ok or validation.run is None:
        message = validation.message or "The checkpoint was refused."
        if validation.code == FailureCode.SANDBOX_UNAVAILABLE.value:
            message += " To check a file you made yourself without the sandbox, add --no-sandbox."
        elif validation.code == FailureCode.CRASHED.value:
            message += " (For a file you made yourself, `check --no-sandbox` shows the full error.)"
        return {"accepted": False, "code": validation.code, "message": message}
    run = validation.run
    return {
        "accepted": True,
        "isolation": run.isolation.value,
        "probe": {
            "shape": [1, 3, *run.resolution],
            "clamped": run.clamped_values,
            "seconds": round(run.seconds_per_image, 4),
        },
    }


def _finish_check(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.output_format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_report(report, args.value_range)
    return 0 if report["accepted"] else 1


def _print_report(report: dict[str, Any], value_range: str) -> None:
    print(f"file: {report['file']}")
    for key in ("format", "size", "sha256", "parameters"):
        if key in report:
            print(f"{key}: {report[key]}")
    if report.get("architecture"):
        print(
            f"architecture: {report['architecture']} {json.dumps(report['config']['hyperparameters'], sort_keys=True)}"
        )
    if "config" in report:
        print(f"value range: {report['config'].get('value_range', value_range + ' (not declared; the phase range)')}")
    if report["accepted"]:
        probe = report["probe"]
        print(
            f"probe: output {'x'.join(map(str, probe['shape']))}, {probe['clamped']} values clamped to [{value_range}], "
            f"{probe['seconds']:.3f} s"
        )
        if report.get("isolation"):
            print(f"isolation: loaded and probed in the platform's sandbox ({report['isolation']})")
        print("OK: the platform would accept this checkpoint.")
    else:
        print(f"REFUSED [{report['code']}]: {report['message']}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``check``."""
    export = subparsers.add_parser(
        "export",
        help="write a checkpoint the platform accepts (safetensors + config, or ONNX) and validate it",
        description=(
            "Write a safetensors checkpoint of a reference architecture with its config, or an ONNX model of any "
            "module, then validate the result with the platform's checks. Examples: "
            "python -m gan_core export --architecture resnet --hyperparameters '{\"n_blocks\": 9}' "
            "--state-dict weights.safetensors -o model.safetensors; "
            "python -m gan_core export --onnx --module-factory mypackage.models:make_generator -o model.onnx"
        ),
    )
    export.add_argument("--architecture", help="reference architecture: resnet, transformer_net, unet_small")
    export.add_argument("--hyperparameters", default="{}", help="JSON object or path to a JSON file (default {})")
    source = export.add_mutually_exclusive_group()
    source.add_argument("--state-dict", help="weights of the reference architecture, as a safetensors file")
    source.add_argument(
        "--module-factory", help="package.module:function or file.py:function returning your torch.nn.Module"
    )
    export.add_argument("--format", choices=["safetensors", "onnx"], default="safetensors", help="default safetensors")
    export.add_argument("--onnx", dest="format", action="store_const", const="onnx", help="same as --format onnx")
    export.add_argument(
        "--value-range", choices=["-1,1", "0,1"], default="-1,1", metavar="RANGE", help=VALUE_RANGE_HELP
    )
    export.add_argument(
        "--dtype", choices=["float32", "float16", "bfloat16"], default="float32", help="safetensors weight dtype"
    )
    export.add_argument("--probe-size", type=int, default=64, help="side of the square probe image (default 64)")
    export.add_argument("-o", "--output", required=True, help="file to write (.safetensors or .onnx)")
    export.set_defaults(func=_export)
    _accept_minus_one_one(export)

    check = subparsers.add_parser(
        "check",
        help="validate a checkpoint as the platform would",
        description="Inspect, load and probe a checkpoint with the platform's checks, in the same sandbox as the "
        "platform's workers; exit 0 when accepted, 1 if not.",
    )
    check.add_argument("file", help="checkpoint file (.safetensors or .onnx)")
    check.add_argument("--config", help="sidecar generator config: JSON object or path to a JSON file")
    check.add_argument("--value-range", choices=["-1,1", "0,1"], default="-1,1", metavar="RANGE", help=VALUE_RANGE_HELP)
    check.add_argument("--formats", default="safetensors,onnx", help="accepted formats, comma-separated")
    check.add_argument("--architectures", help="accepted reference architectures, comma-separated (default all)")
    check.add_argument("--max-bytes", type=int, help="largest accepted file size in bytes")
    check.add_argument("--max-seconds-per-image", type=float, help="the phase's time limit per image")
    check.add_argument("--probe-size", type=int, default=64, help="side of the square probe image (default 64)")
    check.add_argument("--device", default="cpu", help="torch device to run on (default cpu)")
    check.add_argument("--output-format", choices=["text", "json"], default="text", help="report format (text)")
    check.add_argument(
        "--no-sandbox",
        action="store_true",
        help="load and run the model in this process instead of the sandbox: only for a file you made yourself",
    )
    check.set_defaults(func=_check)
    _accept_minus_one_one(check)
