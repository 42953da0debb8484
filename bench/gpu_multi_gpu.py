"""multi_gpu_model, MirroredStrategy and distributed_fit on real GPUs.

    python bench/gpu_multi_gpu.py

With 2 or more GPUs it replicates over all of them (the real speed-up). With
one GPU it splits it into 2 logical GPUs (overhead only, like the CPU
benchmark). With no GPU it says so and exits 0. Same table as
bench/bench_multi_gpu.py (ratios to the single-device template).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_multi_gpu import measure

LOGICAL_GPU_MEMORY_MB = 8192


def main() -> None:
    """Measures on the GPUs this machine has, or reports that it has none."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("No GPUs visible to TensorFlow: nothing to measure (run bench/bench_multi_gpu.py for CPUs).")
        return
    if len(gpus) == 1:
        config = tf.config.LogicalDeviceConfiguration(memory_limit=LOGICAL_GPU_MEMORY_MB)
        tf.config.set_logical_device_configuration(gpus[0], [config, config])
        measure(["/gpu:0", "/gpu:1"], "1 GPU split into 2 logical GPUs (overhead only)")
        return
    measure([f"/gpu:{index}" for index in range(len(gpus))], f"{len(gpus)} GPUs")


if __name__ == "__main__":
    main()
