"""Choosing the arithmetic precision of the generator's convolutions."""

import functools

from cartoongan.options import option

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def precision_option():
    """The `precision` field of an options dataclass (`cartoongan.options`): one of PRECISIONS."""
    return option("auto", "arithmetic of the convolutions", choices=PRECISIONS,
                  shown_default="auto, the fastest faithful one")


@functools.lru_cache(maxsize=None)
def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_gpu():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _check(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")


def _native_bfloat16():
    # oneDNN runs bfloat16 convolutions natively with AVX512-BF16 or AMX; elsewhere
    # bfloat16 is emulated and slower than float32.
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve(precision):
    """'auto' -> the fastest precision this machine runs natively; others are validated."""
    _check(precision)
    if precision != "auto":
        return precision
    if has_gpu():
        return "float16"
    return "bfloat16" if _native_bfloat16() else "float32"


def resolve_training(precision):
    """The precision a training run uses: 'auto' -> bfloat16 on a CPU that computes it
    natively when no GPU is used (its checkpoint is float32's: mixed_bfloat16 keeps float32
    variables), float32 elsewhere. Never float16 by itself: its loss scaling changes what a
    checkpoint holds. Named ones are validated."""
    _check(precision)
    if precision != "auto":
        return precision
    return "bfloat16" if _native_bfloat16() and not has_gpu() else "float32"


def dtype_policy(precision):
    return _POLICIES[precision]
