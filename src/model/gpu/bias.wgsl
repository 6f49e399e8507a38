// A bias per column of a row-major (rows x columns) matrix: added to every row, and its
// gradient, each column's sum over the rows in order (one invocation per column).

struct Params {
    len: u32,
    row: u32,
    rows: u32,
    columns: u32,
}

// add: x = the bias, out = the matrix (updated in place).
// grad: x = the output gradient, out = the bias gradient.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row;
}

@compute @workgroup_size(256, 1, 1)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = index(gid);
    if (at >= p.len) {
        return;
    }
    out[at] = out[at] + x[at % p.columns];
}

@compute @workgroup_size(256, 1, 1)
fn grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = index(gid);
    if (c >= p.columns) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r = r + 1u) {
        acc = acc + x[r * p.columns + c];
    }
    out[c] = acc;
}
