"""The training device and what a run's floating-point results depend on."""

import os

import torch


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device (use cpu or auto)")
    return torch.device(device)


def set_deterministic(device: torch.device, threads: int) -> None:
    """The CPU kernels used here are deterministic for a fixed thread count; on CUDA, ask for it.

    (torch.use_deterministic_algorithms imports torch's compiler stack, seconds per job: CUDA only.)
    """
    torch.set_num_threads(threads)
    if device.type == "cuda":  # cuBLAS needs a fixed workspace for reproducible matmuls
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def symmetry_context(device: torch.device, threads: int) -> dict:
    """What floating-point results (and so the breaking of exact symmetries) depend on."""
    info = [line.strip() for line in torch.__config__.parallel_info().splitlines()]
    blas = [x.split("=", 1)[1] for x in torch.__config__.show().replace(",", " ").split() if x.startswith("BLAS_INFO=")]
    return {"threads": int(threads), "torch": torch.__version__, "device": device_name(device),
            "blas": blas[0] if blas else "unknown",
            "parallel": "; ".join(x for x in info if x and not x.startswith(("ATen/Parallel", "Environment")))}
