// The Siamese head on the twins' embeddings E (2B x U: left twins, then right twins): the
// distance, the score and the loss per pair, and their gradients, as the CPU head computes
// them. Per-pair and per-value steps take one invocation each; the head's own gradients sum
// over pairs in one fixed order. No atomics.

struct Params {
    len: u32,
    row: u32,
    pairs: u32,
    units: u32,
    // 0: binary cross-entropy, 1: contrastive.
    loss: u32,
    // 0: L1, 1: euclidean, 2: cosine.
    distance: u32,
    // f32 bits: the contrastive margin.
    margin: u32,
    pad: u32,
}

// pair: e = E, labels, head = weights then bias; writes per pair: loss, score, the loss's
// derivative by the logit (BCE) or the distance (contrastive) divided by the pair count,
// and the distance.
// embed_grad: writes dE from the same buffers.
// head_grad: writes the head's weight gradients, then its bias gradient.
@group(0) @binding(0) var<storage, read> e: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
@group(0) @binding(2) var<storage, read> head: array<f32>;
// PER values per pair (see PER).
@group(0) @binding(3) var<storage, read_write> pair_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const EPS: f32 = 1e-6;
// Values per pair in `pair_out`: loss, score, derivative, distance, and for the cosine
// distance the dot product and both norms, which its gradient needs for every value.
const PER: u32 = 7u;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

fn left(b: u32, u: u32) -> f32 {
    return e[b * p.units + u];
}

fn right(b: u32, u: u32) -> f32 {
    return e[(p.pairs + b) * p.units + u];
}

// The L1 head's weight for unit u, or the scalar head's weight.
fn weight(u: u32) -> f32 {
    if (p.distance == 0u) {
        return head[u];
    }
    return head[0];
}

fn bias() -> f32 {
    if (p.distance == 0u) {
        return head[p.units];
    }
    return head[1];
}

// The L1 or euclidean distance of pair b.
fn distance(b: u32) -> f32 {
    var s = 0.0;
    for (var u = 0u; u < p.units; u = u + 1u) {
        let d = left(b, u) - right(b, u);
        if (p.distance == 0u) {
            s = s + abs(d);
        } else {
            s = s + d * d;
        }
    }
    if (p.distance == 0u) {
        return s;
    }
    return sqrt(s + EPS);
}

// The cosine distance of pair b, keeping its dot product and norms for the gradient.
fn cosine(b: u32) -> f32 {
    var dot = 0.0;
    var ll = 0.0;
    var rr = 0.0;
    for (var u = 0u; u < p.units; u = u + 1u) {
        dot = dot + left(b, u) * right(b, u);
        ll = ll + left(b, u) * left(b, u);
        rr = rr + right(b, u) * right(b, u);
    }
    let nl = sqrt(ll + EPS);
    let nr = sqrt(rr + EPS);
    pair_out[PER * b + 4u] = dot;
    pair_out[PER * b + 5u] = nl;
    pair_out[PER * b + 6u] = nr;
    return 1.0 - dot / (nl * nr);
}

@compute @workgroup_size(256, 1, 1)
fn pair(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = index(gid);
    if (b >= p.pairs) {
        return;
    }
    let y = labels[b];
    let count = f32(p.pairs);
    var d = 0.0;
    if (p.distance == 2u) {
        d = cosine(b);
    } else {
        d = distance(b);
    }
    if (p.loss == 0u) {
        var z = bias();
        if (p.distance == 0u) {
            for (var u = 0u; u < p.units; u = u + 1u) {
                z = z + head[u] * abs(left(b, u) - right(b, u));
            }
        } else {
            z = z + head[0] * d;
        }
        let s = 1.0 / (1.0 + exp(-z));
        pair_out[PER * b] = max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        pair_out[PER * b + 1u] = s;
        pair_out[PER * b + 2u] = (s - y) / count;
    } else {
        let m = bitcast<f32>(p.margin);
        let gap = max(m - d, 0.0);
        pair_out[PER * b] = 0.5 * (y * d * d + (1.0 - y) * gap * gap);
        pair_out[PER * b + 1u] = -d;
        pair_out[PER * b + 2u] = (y * d - (1.0 - y) * gap) / count;
    }
    pair_out[PER * b + 3u] = d;
}

fn sign(v: f32) -> f32 {
    if (v == 0.0) {
        return 0.0;
    }
    return select(-1.0, 1.0, v > 0.0);
}

// dE[row, u]: rows 0..B are the left twins, B..2B the right ones.
@compute @workgroup_size(256, 1, 1)
fn embed_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= 2u * p.pairs * p.units) {
        return;
    }
    let u = at % p.units;
    let r = at / p.units;
    let is_left = r < p.pairs;
    let b = select(r - p.pairs, r, is_left);
    let side = select(-1.0, 1.0, is_left);
    let g = pair_out[PER * b + 2u];
    let diff = left(b, u) - right(b, u);
    // The derivative of the loss by the distance (or, for BCE on L1, by |diff_u|).
    var dd = g;
    if (p.loss == 0u) {
        dd = g * weight(u);
    }
    var grad = 0.0;
    if (p.distance == 0u) {
        grad = dd * sign(diff) * side;
    } else if (p.distance == 1u) {
        grad = dd * diff / pair_out[PER * b + 3u] * side;
    } else {
        // d = 1 - dot / (nl nr); by this twin's value v, with o the other twin's value:
        // -(o / (nl nr) - dot * v / (n_this^3 n_other)).
        let dot = pair_out[PER * b + 4u];
        let nl = pair_out[PER * b + 5u];
        let nr = pair_out[PER * b + 6u];
        let v = select(right(b, u), left(b, u), is_left);
        let o = select(left(b, u), right(b, u), is_left);
        let n_this = select(nr, nl, is_left);
        let n_other = select(nl, nr, is_left);
        grad = -dd * (o / (nl * nr) - dot * v / (n_this * n_this * n_this * n_other));
    }
    out[at] = grad;
}

// The head's gradients (binary cross-entropy only): one invocation per weight, then one for
// the bias, each summing over the pairs in order.
@compute @workgroup_size(256, 1, 1)
fn head_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = index(gid);
    let weights = select(1u, p.units, p.distance == 0u);
    if (w > weights) {
        return;
    }
    var acc = 0.0;
    for (var b = 0u; b < p.pairs; b = b + 1u) {
        let g = pair_out[PER * b + 2u];
        if (w == weights) {
            acc = acc + g;
        } else if (p.distance == 0u) {
            acc = acc + g * abs(left(b, w) - right(b, w));
        } else {
            acc = acc + g * pair_out[PER * b + 3u];
        }
    }
    out[w] = acc;
}
