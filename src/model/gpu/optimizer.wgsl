// One optimizer step per parameter value, as dfdx's CPU kernels compute it, with the L2
// penalty's gradient (2 * l2 * w, Keras' kernel_regularizer) added first; and the weight
// average's update. One invocation per value: no value depends on another.

struct Params {
    len: u32,
    row: u32,
    // 0: Adam, 1: RMSprop, 2: SGD.
    kind: u32,
    // 1 when SGD uses classic momentum.
    has_momentum: u32,
    // f32 bits from here on.
    lr: u32,
    l2: u32,
    // Adam: 1 / (1 - beta1^t) and 1 / (1 - beta2^t), computed on the host as the CPU does.
    // SGD: c1 is the momentum. The weight average: c1 is the decay.
    c1: u32,
    c2: u32,
}

// step: p = params, g = gradient, m1, m2 = moment buffers (Adam: first and second moments;
// RMSprop: momentum (unused) and the square average; SGD: velocity and unused).
// average: p = the average, g = the live weights.
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m1: array<f32>;
@group(0) @binding(3) var<storage, read_write> m2: array<f32>;
@group(0) @binding(4) var<uniform> q: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * q.row;
}

@compute @workgroup_size(256, 1, 1)
fn step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= q.len) {
        return;
    }
    let lr = bitcast<f32>(q.lr);
    let w = p[i];
    var grad = g[i] + 2.0 * bitcast<f32>(q.l2) * w;
    if (q.kind == 0u) {
        // Adam, betas (0.9, 0.999), eps 1e-8.
        let m = m1[i] * 0.9 + grad * (1.0 - 0.9);
        let v = m2[i] * 0.999 + grad * grad * (1.0 - 0.999);
        m1[i] = m;
        m2[i] = v;
        let m_hat = m * bitcast<f32>(q.c1);
        let v_hat = v * bitcast<f32>(q.c2);
        p[i] = w - lr * m_hat / (sqrt(v_hat) + 1e-8);
    } else if (q.kind == 1u) {
        // RMSprop, alpha 0.9, eps 1e-7 inside the root, no momentum, not centred.
        let s = m2[i] + (1.0 - 0.9) * (grad * grad - m2[i]);
        m2[i] = s;
        p[i] = w - (grad / sqrt(s + 1e-7)) * lr;
    } else {
        if (q.has_momentum != 0u) {
            let v = grad + bitcast<f32>(q.c1) * m1[i];
            m1[i] = v;
            grad = v;
        }
        p[i] = w - grad * lr;
    }
}

// avg = d * avg + (1 - d) * w.
@compute @workgroup_size(256, 1, 1)
fn average(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= q.len) {
        return;
    }
    let d = bitcast<f32>(q.c1);
    p[i] = d * p[i] + (1.0 - d) * g[i];
}
