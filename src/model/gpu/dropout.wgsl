// Dropout with masks drawn on the device: value i of a tensor is kept when a counter-based
// hash of (seed, i) maps to at least `rate` in [0, 1), so the backward pass redraws the
// same mask instead of storing it, and a seed gives the same mask on every run. Kept values
// are scaled as dfdx scales them: divided by (1 - rate) forward, multiplied by 1 / (1 - rate)
// backward.

struct Params {
    len: u32,
    row: u32,
    seed: u32,
    // f32 bits: the drop rate, 1 - rate, and 1 / (1 - rate), each rounded on the host.
    rate: u32,
    keep: u32,
    inverse: u32,
    pad0: u32,
    pad1: u32,
}

// forward: a = x, out = y. backward: a = dy, out = dx.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

// PCG's output permutation of one LCG step: a well-mixed 32-bit hash.
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn kept(i: u32) -> bool {
    let u = f32(pcg(i + pcg(p.seed)) >> 8u) / 16777216.0;
    return u >= bitcast<f32>(p.rate);
}

@compute @workgroup_size(256, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.len) {
        return;
    }
    out[i] = select(0.0, a[i] / bitcast<f32>(p.keep), kept(i));
}

@compute @workgroup_size(256, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.len) {
        return;
    }
    out[i] = select(0.0, bitcast<f32>(p.inverse) * a[i], kept(i));
}
