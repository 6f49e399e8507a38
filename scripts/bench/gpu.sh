#!/usr/bin/env bash
# The GPU numbers of docs/performance.md, in one script for a machine with an NVIDIA GPU and
# its Vulkan driver: the adapter, then training pairs/s of the seed's model (batch 128) and of
# best.ron's network (batch 64) on the CPU pinned to 2 cores and on the GPU in the same run,
# each beside PyTorch eager when python3 has torch, a per-op profile, and best.ron's wall time
# per epoch on synthetic data (LFW-a need not be there).
#
# Usage: scripts/bench/gpu.sh [TWINFLOW_BINARY]   (default: target/release/twinflow)
# The binary can be built elsewhere and carried over; if the machine lacks the Vulkan loader
# (`ldconfig -p | grep libvulkan` prints nothing), unpack libvulkan1's .deb first.
set -euo pipefail
bin=$(realpath "${1:-target/release/twinflow}")
out=${OUT:-/tmp/twinflow-gpu}
mkdir -p "$out"
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
torch=()
if python3 -c 'import torch' 2>/dev/null; then torch=(--torch python3); fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
lscpu | grep -E 'Model name|^CPU\(s\)' || true
"$bin" devices | tee "$out/devices.txt"
taskset -c 0,1 "$bin" bench train --device gpu --batch 128 --steps 5 "${torch[@]}" | tee "$out/seed.txt"
taskset -c 0,1 "$bin" bench train --pipeline pipelines/best.ron --device gpu --batch 64 --steps 5 "${torch[@]}" | tee "$out/best.txt"
"$bin" bench train --pipeline pipelines/best.ron --device gpu --batch 64 --steps 3 --profile | tee "$out/profile.txt"
# best.ron on synthetic faces: the wall time of its epochs (8,192 training pairs each).
"$bin" data synth --out "$out/synth" --size 250 > /dev/null
sed -e 's/epochs: 40/epochs: 2/' -e "s#dir: \"cache\"#dir: \"$out/cache\"#" pipelines/best.ron > "$out/best-2.ron"
( cd "$out" && time "$bin" run best-2.ron --data synth --device gpu -q ) 2>&1 | tail -25 | tee "$out/epochs.txt"
