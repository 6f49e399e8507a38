// Per-channel batch normalisation of NCHW values (Keras 3: biased batch variance, running
// statistics moved by `momentum`, `eps` added to the variance), and its gradients.
// Per-channel sums run one workgroup per channel in a fixed order; elementwise steps take
// one invocation per value. No atomics, so results repeat on one adapter.

struct Params {
    // Values the entry point writes (one invocation each).
    len: u32,
    // Invocations per row of the dispatch.
    row: u32,
    batch: u32,
    channels: u32,
    // Values per plane (height * width).
    plane: u32,
    // 1 in training (batch statistics, running ones updated), 0 in inference.
    train: u32,
    // f32 bits.
    momentum: u32,
    // f32 bits.
    eps: u32,
}

// stats: a = x. normalize: a = x, xhat written. param_grad: a = gy, xhat read, out = dgamma
// then dbeta. input_grad: a = gy, xhat read, out = gx (reads dgamma, dbeta from `sums`).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> xhat: array<f32>;
// gamma (channels), then beta (channels).
@group(0) @binding(2) var<storage, read> affine: array<f32>;
// mean (channels), then 1 / sqrt(var + eps) (channels): what normalises this batch.
@group(0) @binding(3) var<storage, read_write> stat: array<f32>;
// running mean (channels), then running variance (channels).
@group(0) @binding(4) var<storage, read_write> running: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

fn channel_of(at: u32) -> u32 {
    return (at / p.plane) % p.channels;
}

// `REDUCE`, `shares` and `workgroup_sum` come from reduce.wgsl, prepended at load.

// Where the t-th value of channel c sits.
fn at_of(c: u32, t: u32) -> u32 {
    return ((t / p.plane) * p.channels + c) * p.plane + t % p.plane;
}

// Per channel, one workgroup each: the statistics to normalise with (the batch's, updating
// the running ones, in training; the running ones in inference).
@compute @workgroup_size(256, 1, 1)
fn stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    if (c >= p.channels) {
        return;
    }
    let eps = bitcast<f32>(p.eps);
    if (p.train == 0u) {
        if (lid == 0u) {
            stat[c] = running[c];
            stat[p.channels + c] = 1.0 / sqrt(running[p.channels + c] + eps);
        }
        return;
    }
    let values = p.batch * p.plane;
    let count = f32(values);
    var sum = 0.0;
    for (var t = lid; t < values; t = t + REDUCE) {
        sum = sum + a[at_of(c, t)];
    }
    let mean = workgroup_sum(sum, lid) / count;
    var squares = 0.0;
    for (var t = lid; t < values; t = t + REDUCE) {
        let d = a[at_of(c, t)] - mean;
        squares = squares + d * d;
    }
    let variance = workgroup_sum(squares, lid) / count;
    if (lid == 0u) {
        let m = bitcast<f32>(p.momentum);
        running[c] = m * running[c] + (1.0 - m) * mean;
        running[p.channels + c] = m * running[p.channels + c] + (1.0 - m) * variance;
        stat[c] = mean;
        stat[p.channels + c] = 1.0 / sqrt(variance + eps);
    }
}

// Per value: xhat = (x - mean) * inv_std, y = gamma * xhat + beta.
@compute @workgroup_size(256, 1, 1)
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let c = channel_of(at);
    let h = (a[at] - stat[c]) * stat[p.channels + c];
    xhat[at] = h;
    out[at] = affine[c] * h + affine[p.channels + c];
}

// Per channel, one workgroup each: dgamma = sum(gy * xhat), dbeta = sum(gy).
@compute @workgroup_size(256, 1, 1)
fn param_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    if (c >= p.channels) {
        return;
    }
    var dgamma = 0.0;
    var dbeta = 0.0;
    for (var t = lid; t < p.batch * p.plane; t = t + REDUCE) {
        let at = at_of(c, t);
        let g = a[at];
        dgamma = dgamma + g * xhat[at];
        dbeta = dbeta + g;
    }
    let gamma_total = workgroup_sum(dgamma, lid);
    let beta_total = workgroup_sum(dbeta, lid);
    if (lid == 0u) {
        out[c] = gamma_total;
        out[p.channels + c] = beta_total;
    }
}

// Per value: gx = gamma * inv_std * (gy - (dbeta + xhat * dgamma) / m) in training, with
// `running` holding dgamma then dbeta here; gx = gamma * inv_std * gy in inference.
@compute @workgroup_size(256, 1, 1)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    let c = channel_of(at);
    let scale = affine[c] * stat[p.channels + c];
    var g = a[at];
    if (p.train != 0u) {
        let count = f32(p.batch * p.plane);
        g = g - (running[p.channels + c] + xhat[at] * running[c]) / count;
    }
    out[at] = scale * g;
}
