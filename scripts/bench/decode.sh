#!/usr/bin/env bash
# Decode + resize all of LFW-a with twinflow and with tf.data, side by side, and print the ratios.
# Usage: scripts/bench/decode.sh LFWA_DIR [PYTHON] [ROUNDS]   (PYTHON must have tensorflow-cpu)
#
# twinflow runs pipelines/decode-fast.ron (JPEGs decoded straight to 125x125 in the DCT domain,
# `scale: Half`) and, for reference, pipelines/decode.ron (full decode, then the 2x resize),
# alternating, best of ROUNDS (default 3) each; tf.data runs the seed's approach (full decode,
# then tf.image.resize), best of 2. Every run uses both cores; the load average is printed
# because other work on the machine lowers every rate (compare ratios, not absolute rates).
set -euo pipefail
root=${1:?usage: decode.sh LFWA_DIR [PYTHON] [ROUNDS]}
py=${2:-python3}
rounds=${3:-3}
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
cargo build --release --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Prints the elapsed seconds of the image chain of one run of pipeline $1.
elapsed() {
    ./target/release/twinflow run "pipelines/$1.ron" --data "$root" --quiet --metrics "$tmp/m.json" >/dev/null
    python3 -c "import json; print(json.load(open('$tmp/m.json'))['chains'][0]['elapsed_s'])"
}
declare -A best
for ((i = 1; i <= rounds; i++)); do
    for p in decode-fast decode; do
        s=$(elapsed "$p")
        best[$p]=$(python3 -c "print(min(float('$s'), float('${best[$p]:-1e9}')))")
    done
done
n=$(python3 -c "import json; print(json.load(open('$tmp/m.json'))['counts']['images'])")
fast=$(python3 -c "print(round($n / ${best[decode-fast]}, 1))")
full=$(python3 -c "print(round($n / ${best[decode]}, 1))")
echo "twinflow: $n images in ${best[decode-fast]}s = $fast images/s (pipelines/decode-fast.ron, best of $rounds)"
echo "twinflow: $n images in ${best[decode]}s = $full images/s (pipelines/decode.ron, full decode, best of $rounds)"
tf=$("$py" scripts/bench/tfdata_decode.py "$root")
echo "tf.data:  $tf"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rate=$(python3 -c "import json; print(json.loads('''$tf''')['images_per_s'])")
python3 -c "print(f'ratio twinflow / tf.data = {$fast / $rate:.2f}x (decode-fast), {$full / $rate:.2f}x (decode, full)')"
