"""`energybench power`: list the power sensors this machine offers and measure for a while."""

from __future__ import annotations

import argparse
import math

from energybench.commands import options
from energybench.config import MAX_POWER_RATE_HZ
from energybench.errors import UserError

DESCRIPTION = (
    "List the power sensors that energybench can read on this machine (NVIDIA GPUs through "
    "NVML, CPU packages and DRAM through RAPL under /sys/class/powercap) and, for each kind "
    "that is unavailable, why. Then measure energy and power for --duration seconds, sampling "
    "at --power-rate Hz, the same way a training run measures each phase."
)
EPILOG = (
    "Exits 0 even when no sensor is available (it then says why). Reading RAPL needs root "
    "on Linux 5.10 and newer. Examples: 'energybench power', "
    "'energybench power --device cuda:0 --duration 10 --json'."
)


MAX_DURATION_S = 86_400.0  # a day: the sleep it measures must end (time.sleep refuses the largest floats)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "power",
        help="list power sensors and measure energy for a few seconds",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("--duration", type=float, default=5.0, metavar="S",
                        help=f"seconds to measure, at most {MAX_DURATION_S:,.0f} (a day); 0 only lists the sensors "
                             "(default: 5)")
    options.add(parser, "power_rate", type=float, default=10.0, default_text="10")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N",
                        help="what to measure: auto = every visible GPU plus the CPU; cpu = CPU "
                             "packages and DRAM only; cuda[:N] = that GPU plus the CPU "
                             "(default: auto)")
    options.add(parser, "json")
    parser.set_defaults(handler=main)


def _check_args(args: argparse.Namespace) -> tuple[str, int | None]:
    from energybench.power.monitor import parse_power_device

    if not math.isfinite(args.duration) or not 0 <= args.duration <= MAX_DURATION_S:
        raise UserError(f"--duration must be from 0 to {MAX_DURATION_S:,.0f} seconds (a day), got {args.duration:g}")
    if not math.isfinite(args.power_rate) or not 0 < args.power_rate <= MAX_POWER_RATE_HZ:
        raise UserError(f"--power-rate must be more than 0 and at most {MAX_POWER_RATE_HZ:,.0f} Hz, "
                        f"got {args.power_rate:g}")
    try:
        kind, ordinal = parse_power_device(args.device)
    except ValueError:
        raise UserError(
            f"--device must be auto, cpu, cuda or cuda:N, got {args.device!r}") from None
    if kind == "cpu" and args.device.strip().lower() != "cpu":
        raise UserError(f"--device must be auto, cpu, cuda or cuda:N, got {args.device!r}")
    if kind == "cuda":
        import os

        import torch

        count = torch.cuda.device_count()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = "unset" if visible is None else repr(visible)
        if count == 0:
            raise UserError(f"no CUDA GPU is visible (torch finds none; CUDA_VISIBLE_DEVICES is "
                            f"{shown}); use --device cpu or --device auto")
        if ordinal is not None and ordinal >= count:
            raise UserError(f"no CUDA GPU cuda:{ordinal}: {count} visible (cuda:0 to "
                            f"cuda:{count - 1}; CUDA_VISIBLE_DEVICES is {shown})")
    return kind, ordinal


def _measure(monitor, duration: float) -> dict | None:
    import time

    if not monitor.available or duration == 0:
        return None
    with monitor.window("energybench power") as window:
        try:
            time.sleep(duration)
        except KeyboardInterrupt:  # stop early, still report what was measured
            pass
    return window.summary


def _text(report: dict) -> str:
    lines = [f"Power sensors for device {report['device']}:"]
    working = [s for s in report["sensors"] if s["available"]]
    missing = [s for s in report["sensors"] if not s["available"]]
    width = max([len(s["device"]) for s in working] + [0])
    for s in working:
        lines.append(f"  {s['device']:<{width}}  {s['method']:<29} {s['detail']}")
    if not working:
        lines.append("  none")
    if missing:
        lines.append("Unavailable:")
        for s in missing:
            where = f"{s['kind']} {s['device']}" if s["device"] else s["kind"]
            lines.append(f"  {where}: {s['reason']}")
    m = report["measurement"]
    if m is None:
        lines.append("No power sensor is available, so nothing was measured (see above)."
                     if not report["available"] else report["message"])
        return "\n".join(lines)
    lines.append(f"Measured {m['duration_s']:.2f} s at {report['rate_hz']:g} Hz "
                 f"({m['samples']} samples):")
    if m["measured_energy_j"] is None:
        lines.append("  nothing: every sensor failed during the measurement (see above)")
        return "\n".join(lines)
    lines.append(f"  energy  {m['measured_energy_j']:.3f} J ({m['measured_energy_method']})")
    if m["mean_power_w"] is not None:
        lines.append(f"  mean    {m['mean_power_w']:.1f} W")
    if m["peak_power_w"] is not None:
        lines.append(f"  peak    {m['peak_power_w']:.1f} W")
    for name, joules in m["per_device_energy_j"].items():
        lines.append(f"  {name:<{width}}  {joules:.3f} J")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    import warnings

    from energybench.files import json_text
    from energybench.power.monitor import PowerMeasurementWarning, PowerMonitor

    kind, ordinal = _check_args(args)
    device = kind if ordinal is None else f"cuda:{ordinal}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerMeasurementWarning)  # the report says why instead
        # no idle baseline: this command measures whatever runs meanwhile, idle or not
        with PowerMonitor(device=device, rate_hz=args.power_rate, idle_seconds=0) as monitor:
            measurement = _measure(monitor, args.duration)
            sensors = monitor.describe()
    available = any(s["available"] for s in sensors) or measurement is not None
    if not available:
        reasons = "; ".join(f"{s['kind']}: {s['reason']}" for s in sensors)
        message = f"No power sensor is available, so nothing was measured ({reasons})."
    elif measurement is None:
        message = "Nothing measured (--duration 0)."
    else:
        message = "Measured."
    report = {
        "device": device,
        "rate_hz": args.power_rate,
        "duration_s": args.duration,
        "available": available,
        "message": message,
        "sensors": sensors,
        "measurement": measurement,
    }
    print(json_text(report) if args.json else _text(report))  # strict JSON: null, never NaN
    return 0
