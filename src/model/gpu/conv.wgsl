// Stride-1, unpadded 2-D convolution with a fused bias, NCHW, and its three gradients.
// The forward pass and the input's gradient take one invocation per value they write; the
// kernel's and bias's gradients, sums over the whole batch, one workgroup per value. Every
// sum runs in one fixed order (no atomics), so a result repeats bit for bit on one adapter.
// Each invocation reads its window from storage (tiling through workgroup memory comes
// once measured on a GPU).

struct Params {
    // Values the entry point writes (one invocation each).
    len: u32,
    // Invocations per row of the dispatch.
    row: u32,
    batch: u32,
    in_channels: u32,
    height: u32,
    width: u32,
    out_channels: u32,
    kernel: u32,
}

// forward: a = x, b = w, c = bias, out = y.
// input_grad: a = gy, b = w, c unused, out = gx.
// weight_grad: a = gy, b = x, c unused, out = gw.
// bias_grad: a = gy, out = gb.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn out_height() -> u32 {
    return p.height - p.kernel + 1u;
}

fn out_width() -> u32 {
    return p.width - p.kernel + 1u;
}

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

// y[n, o, i, j] = bias[o] + sum over (c, ki, kj) of x[n, c, i + ki, j + kj] * w[o, c, ki, kj].
@compute @workgroup_size(256, 1, 1)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let oh = out_height();
    let ow = out_width();
    let k = p.kernel;
    let j = at % ow;
    let i = (at / ow) % oh;
    let o = (at / (ow * oh)) % p.out_channels;
    let n = at / (ow * oh * p.out_channels);
    var acc = c[o];
    for (var ch = 0u; ch < p.in_channels; ch = ch + 1u) {
        let x0 = ((n * p.in_channels + ch) * p.height + i) * p.width + j;
        let w0 = (o * p.in_channels + ch) * k * k;
        for (var ki = 0u; ki < k; ki = ki + 1u) {
            for (var kj = 0u; kj < k; kj = kj + 1u) {
                acc = acc + a[x0 + ki * p.width + kj] * b[w0 + ki * k + kj];
            }
        }
    }
    out[at] = acc;
}

// gx[n, c, y, x] = sum over (o, ki, kj) with a valid output (y - ki, x - kj) of
// gy[n, o, y - ki, x - kj] * w[o, c, ki, kj].
@compute @workgroup_size(256, 1, 1)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let oh = out_height();
    let ow = out_width();
    let k = p.kernel;
    let x = at % p.width;
    let y = (at / p.width) % p.height;
    let ch = (at / (p.width * p.height)) % p.in_channels;
    let n = at / (p.width * p.height * p.in_channels);
    var acc = 0.0;
    for (var o = 0u; o < p.out_channels; o = o + 1u) {
        let g0 = (n * p.out_channels + o) * oh * ow;
        let w0 = (o * p.in_channels + ch) * k * k;
        for (var ki = 0u; ki < k; ki = ki + 1u) {
            if (y < ki || y - ki >= oh) {
                continue;
            }
            for (var kj = 0u; kj < k; kj = kj + 1u) {
                if (x < kj || x - kj >= ow) {
                    continue;
                }
                acc = acc + a[g0 + (y - ki) * ow + (x - kj)] * b[w0 + ki * k + kj];
            }
        }
    }
    out[at] = acc;
}

// `REDUCE`, `shares` and `workgroup_sum` come from reduce.wgsl, prepended at load.

// The value a reducing workgroup writes (`p.row` holds workgroups per row here).
fn group_index(wid: vec3<u32>) -> u32 {
    return wid.x + wid.y * p.row;
}

// gw[o, c, ki, kj] = sum over (n, i, j) of gy[n, o, i, j] * x[n, c, i + ki, j + kj]: one
// workgroup per kernel value.
@compute @workgroup_size(256, 1, 1)
fn weight_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let at = group_index(wid);
    // The whole workgroup leaves together, so no thread skips a barrier.
    if (at >= p.len) {
        return;
    }
    let oh = out_height();
    let ow = out_width();
    let plane = oh * ow;
    let k = p.kernel;
    let kj = at % k;
    let ki = (at / k) % k;
    let ch = (at / (k * k)) % p.in_channels;
    let o = at / (k * k * p.in_channels);
    // Each thread takes whole output rows (n, i), so its inner loop runs over contiguous
    // values without divisions.
    var acc = 0.0;
    for (var row = lid; row < p.batch * oh; row = row + REDUCE) {
        let n = row / oh;
        let i = row % oh;
        let g0 = (n * p.out_channels + o) * plane + i * ow;
        let x0 = ((n * p.in_channels + ch) * p.height + ki + i) * p.width + kj;
        for (var j = 0u; j < ow; j = j + 1u) {
            acc = acc + a[g0 + j] * b[x0 + j];
        }
    }
    let total = workgroup_sum(acc, lid);
    if (lid == 0u) {
        out[at] = total;
    }
}

// gb[o] = sum over (n, i, j) of gy[n, o, i, j]: one workgroup per channel.
@compute @workgroup_size(256, 1, 1)
fn bias_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let o = group_index(wid);
    if (o >= p.len) {
        return;
    }
    let plane = out_height() * out_width();
    var acc = 0.0;
    for (var t = lid; t < p.batch * plane; t = t + REDUCE) {
        let n = t / plane;
        acc = acc + a[(n * p.out_channels + o) * plane + t % plane];
    }
    let total = workgroup_sum(acc, lid);
    if (lid == 0u) {
        out[o] = total;
    }
}
