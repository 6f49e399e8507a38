// Elementwise activations and their gradients, one value per invocation. The dispatch is
// two-dimensional so that tensors past 65,535 workgroups of 256 still fit: an invocation's
// index is its x plus its y times the row of invocations.

struct Params {
    len: u32,
    // 0: ReLU, 1: sigmoid, 2: tanh, 3: linear.
    kind: u32,
    // Invocations per row of the dispatch.
    row: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

// out = f(x); `dy` is not read (both entry points share one bind group layout).
@compute @workgroup_size(256, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.len) {
        return;
    }
    let v = x[i];
    var y = v;
    if (p.kind == 0u) {
        y = max(v, 0.0);
    } else if (p.kind == 1u) {
        y = 1.0 / (1.0 + exp(-v));
    } else if (p.kind == 2u) {
        y = tanh(v);
    }
    out[i] = y;
}

// out = dy * f'(x), with f' from the activation's output y = f(x), which `x` holds here.
@compute @workgroup_size(256, 1, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.len) {
        return;
    }
    let y = x[i];
    var slope = 1.0;
    if (p.kind == 0u) {
        slope = select(0.0, 1.0, y > 0.0);
    } else if (p.kind == 1u) {
        slope = y * (1.0 - y);
    } else if (p.kind == 2u) {
        slope = 1.0 - y * y;
    }
    out[i] = dy[i] * slope;
}
