"""Inference cost of a model that takes [0, 1] pixels: parameters, FLOPs, weight size, peak memory, latency.

What each figure means (the same on every device):

* ``params``: number of parameter elements (buffers such as BatchNorm statistics excluded).
* ``flops_per_image``: ``torch.utils.flop_counter.FlopCounterMode`` on a batch of one, in inference mode. One
  multiply-add counts as 2 FLOPs: a convolution costs ``2 * H_out * W_out * C_out * C_in / groups * k_h * k_w``,
  a linear layer ``2 * in * out``; bias additions, normalisation, activations and pooling are not counted
  (as in most papers' FLOP tables, which call the same number "2 x MACs"). The first count in a process imports
  ``torch._dynamo`` (a few seconds, once).
* ``weight_bytes``: size on disk of the safetensors file the project saves (the file itself when the model came
  from one, otherwise the serialised bytes of its state dict).
* ``peak_activation_mib`` per batch size: the most bytes of tensors alive at once during one forward, above what
  was allocated before it (weights and the input excluded, the output included). On CUDA:
  ``torch.cuda.max_memory_allocated`` minus the allocation before the forward; on a CPU: the same quantity from
  the allocation and free events of ``torch.profiler`` with ``profile_memory=True`` (the process's resident set is
  not used: the allocator keeps freed memory, so it under-reports a second forward).
* latency per batch size: ``warmup`` untimed forwards, then ``repeats`` timed ones (device synchronised around
  each), all in ``torch.inference_mode()``; median, quartiles, min and max in milliseconds; throughput is
  images per second at the median. The intra-op threads in force are recorded.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import safetensors.torch
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from art_bmtad.benchmark.results import describe_device
from art_bmtad.deploy.folded import fold_normalisation
from art_bmtad.utils.device import synchronize

DEFAULT_REPEATS = 20
DEFAULT_WARMUP = 5
BENCH_REPEATS = 10
BENCH_WARMUP = 2
"""Timed and warm-up forwards per batch size inside a benchmark: cheap enough for the smoke preset."""
MIB = 2**20
CPU_MEMORY_KIND = "cpu: peak live tensors during one forward (torch.profiler allocation events)"
CUDA_MEMORY_KIND = "cuda: torch.cuda.max_memory_allocated during one forward, minus the allocation before it"


@dataclass(frozen=True)
class Timing:
    """Latency, throughput and peak activation memory at one batch size.

    Attributes:
        batch_size: images per forward.
        repeats: timed forwards.
        median_ms: median latency of one forward, in milliseconds.
        q1_ms: first quartile.
        q3_ms: third quartile.
        min_ms: fastest forward.
        max_ms: slowest forward.
        images_per_second: ``batch_size`` divided by the median latency.
        peak_activation_mib: see the module docstring.
    """

    batch_size: int
    repeats: int
    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    images_per_second: float
    peak_activation_mib: float


@dataclass
class CostReport:
    """Everything :func:`measure_cost` measured for one model (see the module docstring for each figure).

    Attributes:
        model: what the user named (run folder, file or zoo name).
        input_shape: one image, (C, H, W).
        params: parameter elements.
        flops_per_image: FLOPs of one image (a multiply-add is 2 FLOPs).
        weight_bytes: size of the weights on disk.
        device: where it ran (``cpu``, ``cuda:0`` ...), with ``device_name``.
        device_name: the CPU or GPU's name.
        threads: PyTorch intra-op threads during the timing.
        memory_kind: how ``peak_activation_mib`` was measured.
        timings: one :class:`Timing` per batch size.
    """

    model: str
    input_shape: tuple[int, int, int]
    params: int
    flops_per_image: int
    weight_bytes: int
    device: str
    device_name: str
    threads: int
    memory_kind: str
    timings: list[Timing] = field(default_factory=list)

    def timing(self, batch_size: int) -> Timing:
        """The timing at ``batch_size``.

        Raises:
            KeyError: that batch size was not measured.
        """
        for timing in self.timings:
            if timing.batch_size == batch_size:
                return timing
        raise KeyError(f"batch size {batch_size} was not measured ({[t.batch_size for t in self.timings]})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``timings`` as a list of dicts)."""
        return {**asdict(self), "input_shape": list(self.input_shape)}


def measure_cost(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    label: str = "model",
    device: str | torch.device = "cpu",
    batch_sizes: Sequence[int] = (1, 128),
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    threads: int | None = None,
    weights_file: str | Path | None = None,
    seed: int = 0,
) -> CostReport:
    """Measure the inference cost of ``model`` (a module taking [0, 1] pixels, such as a
    :class:`~art_bmtad.deploy.folded.FoldedClassifier`).

    The model is moved to ``device`` and put in eval mode; inputs are seeded uniform noise in [0, 1] (the cost of
    these networks does not depend on the pixel values).

    Args:
        model: the network.
        input_shape: one image, (C, H, W).
        label: the name recorded in the report.
        device: ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        batch_sizes: the batch sizes to time (duplicates are measured once).
        repeats: timed forwards per batch size (at least 3, for quartiles).
        warmup: untimed forwards before them.
        threads: PyTorch intra-op threads during the measurement (restored afterwards); ``None``: as they are.
        weights_file: the safetensors file the weights came from (its size is reported); ``None``: the size of
            the state dict serialised as safetensors.
        seed: seed of the input noise.

    Returns:
        The report.

    Raises:
        ValueError: a batch size below 1, fewer than 3 repeats, a negative warm-up or fewer than 1 thread.
    """
    _check(batch_sizes, repeats, warmup, threads)
    device = torch.device(device)
    model = model.to(device).eval()
    generator = torch.Generator().manual_seed(seed)
    with _threads(threads), torch.inference_mode():
        report = CostReport(
            model=label,
            input_shape=tuple(int(size) for size in input_shape),
            params=sum(parameter.numel() for parameter in model.parameters()),
            flops_per_image=count_flops(model, torch.rand(1, *input_shape, generator=generator).to(device)),
            weight_bytes=_weight_bytes(model, weights_file),
            device=str(device),
            device_name=describe_device(device)["name"],
            threads=torch.get_num_threads(),
            memory_kind=CUDA_MEMORY_KIND if device.type == "cuda" else CPU_MEMORY_KIND,
        )
        for batch_size in dict.fromkeys(int(size) for size in batch_sizes):
            x = torch.rand(batch_size, *input_shape, generator=generator).to(device)
            report.timings.append(_time(model, x, repeats, warmup))
    return report


def benchmark_cost(classifier: Any, *, label: str, batch_size: int,
                   weights_file: str | Path | None = None) -> dict[str, Any]:
    """The cost of a classifier as the benchmark records it: :func:`measure_cost` of its folded network on the
    classifier's own device at batch 1 and ``batch_size``, :data:`BENCH_REPEATS` timed forwards each, the run's
    threads.

    Args:
        classifier: an ART ``PyTorchClassifier`` (normalisation inside).
        label: the row's name.
        batch_size: the benchmark's batch size.
        weights_file: the safetensors file it was saved to, if any.

    Returns:
        :meth:`CostReport.to_dict`.
    """
    report = measure_cost(fold_normalisation(classifier), classifier.input_shape, label=label,
                          device=classifier.device, batch_sizes=(1, batch_size), repeats=BENCH_REPEATS,
                          warmup=BENCH_WARMUP, weights_file=weights_file)
    return report.to_dict()


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of ``model(x)`` per example of the batch ``x``, counted by ``FlopCounterMode`` (multiply-add = 2).

    Args:
        model: the network.
        x: one batch on the model's device.

    Returns:
        Total FLOPs divided by the batch size.
    """
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // len(x)


def peak_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of tensors alive during ``model(x)`` above those allocated before it (see the module docstring).

    Args:
        model: the network, in eval mode, on ``x``'s device.
        x: one batch.

    Returns:
        The peak, in bytes.
    """
    if x.device.type == "cuda":
        synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        before = torch.cuda.memory_allocated(x.device)
        with torch.inference_mode():
            model(x)
        synchronize(x.device)
        return torch.cuda.max_memory_allocated(x.device) - before
    return _cpu_peak_bytes(model, x)


def _cpu_peak_bytes(model: nn.Module, x: torch.Tensor) -> int:
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), torch.inference_mode(), profile(
        activities=[ProfilerActivity.CPU], profile_memory=True
    ) as profiler:
        model(x)
    events = [event for event in profiler.profiler.kineto_results.events() if event.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        live += event.nbytes()  # allocations are positive, frees negative
        peak = max(peak, live)
    return peak


def _time(model: nn.Module, x: torch.Tensor, repeats: int, warmup: int) -> Timing:
    for _ in range(warmup):
        model(x)
    seconds = []
    for _ in range(repeats):
        synchronize(x.device)
        started = time.perf_counter()
        model(x)
        synchronize(x.device)
        seconds.append(time.perf_counter() - started)
    q1, median, q3 = statistics.quantiles(seconds, n=4, method="inclusive")
    return Timing(
        batch_size=len(x),
        repeats=repeats,
        median_ms=1e3 * median,
        q1_ms=1e3 * q1,
        q3_ms=1e3 * q3,
        min_ms=1e3 * min(seconds),
        max_ms=1e3 * max(seconds),
        images_per_second=len(x) / median,
        peak_activation_mib=peak_activation_bytes(model, x) / MIB,
    )


def _weight_bytes(model: nn.Module, weights_file: str | Path | None) -> int:
    if weights_file is not None:
        return Path(weights_file).stat().st_size
    tensors = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in model.state_dict().items()}
    return len(safetensors.torch.save(tensors))


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2 for the block: the profiler's C++ side logs its start and stop there (and, on a
    machine without a GPU, a failed GPU query), which is noise in a command's output. Python errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check(batch_sizes: Sequence[int], repeats: int, warmup: int, threads: int | None) -> None:
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be at least 1, got {list(batch_sizes)}")
    if repeats < 3:
        raise ValueError(f"repeats must be at least 3 (for quartiles), got {repeats}")
    if warmup < 0:
        raise ValueError(f"warm-up must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")


def cost_table(reports: Sequence[CostReport]) -> str:
    """A Markdown table of cost reports: one row per model and batch size, then how the figures were measured.

    Args:
        reports: the reports, measured on the same device.

    Returns:
        Markdown text.
    """
    header = ("| Model | Params | MFLOPs/image | Weights MiB | Batch | Latency ms: median [IQR] | min-max | Images/s "
              "| Peak activations MiB |")
    lines = [header, "|---|" + "---:|" * (header.count("|") - 2)]
    for report in reports:
        for timing in report.timings:
            lines.append(
                f"| `{report.model}` | {report.params:,} | {report.flops_per_image / 1e6:.2f} | "
                f"{report.weight_bytes / MIB:.2f} | {timing.batch_size} | {timing.median_ms:.3f} "
                f"[{timing.q1_ms:.3f}-{timing.q3_ms:.3f}] | {timing.min_ms:.3f}-{timing.max_ms:.3f} | "
                f"{timing.images_per_second:,.0f} | {timing.peak_activation_mib:.2f} |")
    first = reports[0]
    notes = [
        f"Device {first.device} ({first.device_name}), {first.threads} threads; {first.timings[0].repeats} timed "
        "forwards per batch size after a warm-up, in inference mode.",
        "FLOPs: torch.utils.flop_counter, a multiply-add = 2 FLOPs (convolutions and linear layers).",
        f"Peak activations: {first.memory_kind}.",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
