// Fixed-order workgroup sums, prepended to the shaders whose entry points reduce over a
// batch (conv.wgsl, batch_norm.wgsl). Such an entry point runs one workgroup per value it
// writes: each thread sums a strided share in a fixed order and the workgroup adds the
// shares in a fixed tree, so sums over a whole batch spread over the GPU and still repeat
// bit for bit (no atomics).

const REDUCE: u32 = 256u;
var<workgroup> shares: array<f32, 256>;

// The workgroup's total of `mine` over its threads, in a fixed order; every thread gets it.
fn workgroup_sum(mine: f32, lid: u32) -> f32 {
    shares[lid] = mine;
    workgroupBarrier();
    for (var half = REDUCE / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            shares[lid] = shares[lid] + shares[lid + half];
        }
        workgroupBarrier();
    }
    let total = shares[0];
    workgroupBarrier();
    return total;
}
