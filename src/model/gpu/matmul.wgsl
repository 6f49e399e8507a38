// C = op(A) op(B) (+ C), row-major f32, where op transposes when its flag is set.
// A is (m, k) as stored, or (k, m) when transposed; B is (k, n), or (n, k) when transposed.
// Tiled through workgroup memory, 16 x 16 outputs per workgroup, one output per invocation.
// Each output sums over k in one fixed order, so results repeat bit for bit on one adapter.

struct Dims {
    m: u32,
    k: u32,
    n: u32,
    // bit 0: transpose A; bit 1: transpose B; bit 2: add to C instead of overwriting it.
    flags: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const TILE: u32 = 16u;

var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

// op(A)[row, col], zero outside the matrix.
fn load_a(row: u32, col: u32) -> f32 {
    if (row >= dims.m || col >= dims.k) {
        return 0.0;
    }
    if ((dims.flags & 1u) != 0u) {
        return a[col * dims.m + row];
    }
    return a[row * dims.k + col];
}

// op(B)[row, col], zero outside the matrix.
fn load_b(row: u32, col: u32) -> f32 {
    if (row >= dims.k || col >= dims.n) {
        return 0.0;
    }
    if ((dims.flags & 2u) != 0u) {
        return b[col * dims.k + row];
    }
    return b[row * dims.n + col];
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let row = wid.y * TILE + lid.y;
    let col = wid.x * TILE + lid.x;
    var acc = 0.0;
    let tiles = (dims.k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t = t + 1u) {
        tile_a[lid.y][lid.x] = load_a(row, t * TILE + lid.x);
        tile_b[lid.y][lid.x] = load_b(t * TILE + lid.y, col);
        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < dims.m && col < dims.n) {
        let at = row * dims.n + col;
        if ((dims.flags & 4u) != 0u) {
            c[at] = c[at] + acc;
        } else {
            c[at] = acc;
        }
    }
}
