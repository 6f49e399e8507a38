#!/usr/bin/env bash
# Decode + resize all of LFW-a with twinflow and with tf.data, side by side, and print the ratio.
# Usage: scripts/bench/decode.sh LFWA_DIR [PYTHON]   (PYTHON must have tensorflow-cpu installed)
set -euo pipefail
root=${1:?usage: decode.sh LFWA_DIR [PYTHON]}
py=${2:-python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
cargo build --release --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
best=""
for i in 1 2; do
    ./target/release/twinflow run pipelines/decode.ron --data "$root" --quiet --metrics "$tmp/m$i.json" >/dev/null
    s=$(python3 -c "import json,sys; print(json.load(open('$tmp/m$i.json'))['chains'][0]['elapsed_s'])")
    best=$(python3 -c "print(min(float('$s'), float('${best:-1e9}')))")
done
n=$(python3 -c "import json; print(json.load(open('$tmp/m1.json'))['counts']['images'])")
ours=$(python3 -c "print(round($n / $best, 1))")
echo "twinflow: $n images in ${best}s = $ours images/s (pipelines/decode.ron, best of 2)"
tf=$("$py" scripts/bench/tfdata_decode.py "$root")
echo "tf.data:  $tf"
rate=$(python3 -c "import json; print(json.loads('''$tf''')['images_per_s'])")
python3 -c "print(f'ratio twinflow / tf.data = {$ours / $rate:.2f}x')"
