// 2x2, stride-2 max pooling of NCHW values (odd trailing rows and columns dropped), and its
// gradient. The forward pass records each window's winner (0..3, row-major in the window;
// the first maximum on ties, as the CPU does), which the backward pass routes the gradient
// to: one invocation per input value, so no two invocations write one value.

struct Params {
    // Values the entry point writes (one invocation each).
    len: u32,
    // Invocations per row of the dispatch.
    row: u32,
    height: u32,
    width: u32,
}

// forward: a = x, out = y, aux = winners. backward: a = gy, b = winners, out = gx.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> aux: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

@compute @workgroup_size(256, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let oh = p.height / 2u;
    let ow = p.width / 2u;
    let j = at % ow;
    let i = (at / ow) % oh;
    let plane = at / (ow * oh);
    let x0 = plane * p.height * p.width + 2u * i * p.width + 2u * j;
    var best = a[x0];
    var winner = 0u;
    let cells = array<u32, 4>(0u, 1u, p.width, p.width + 1u);
    for (var c = 1u; c < 4u; c = c + 1u) {
        let v = a[x0 + cells[c]];
        // Strictly greater keeps the first maximum on ties.
        if (v > best) {
            best = v;
            winner = c;
        }
    }
    out[at] = best;
    aux[at] = f32(winner);
}

@compute @workgroup_size(256, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let oh = p.height / 2u;
    let ow = p.width / 2u;
    let x = at % p.width;
    let y = (at / p.width) % p.height;
    let plane = at / (p.width * p.height);
    var g = 0.0;
    if (y / 2u < oh && x / 2u < ow) {
        let o = (plane * oh + y / 2u) * ow + x / 2u;
        if (u32(b[o]) == (y % 2u) * 2u + x % 2u) {
            g = a[o];
        }
    }
    out[at] = g;
}
