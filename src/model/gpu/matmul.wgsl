// C = op(A) op(B) (+ C), row-major f32, where op transposes when its flag is set.
// A is (m, k) as stored, or (k, m) when transposed; B is (k, n), or (n, k) when transposed.
// Tiled through workgroup memory and registers (see BLOCK).
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

// A workgroup of 16 x 16 threads computes a 64 x 64 block of C; each thread 4 x 4 values,
// rows `ty + 16 r` and columns `tx + 16 c`, so neighbouring threads read neighbouring
// workgroup-memory words and write neighbouring outputs. Steps of 16 along k.
const THREADS: u32 = 16u;
const PER: u32 = 4u;
const BLOCK: u32 = 64u;
const STEP: u32 = 16u;

// op(A)'s block rows by the step's 16 columns, and op(B)'s step rows by the block columns.
var<workgroup> tile_a: array<array<f32, 64>, 16>;
var<workgroup> tile_b: array<array<f32, 64>, 16>;

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
    let row0 = wid.y * BLOCK;
    let col0 = wid.x * BLOCK;
    let tx = lid.x;
    let ty = lid.y;
    var acc: array<array<f32, 4>, 4>;
    for (var r = 0u; r < PER; r = r + 1u) {
        for (var q = 0u; q < PER; q = q + 1u) {
            acc[r][q] = 0.0;
        }
    }
    let steps = (dims.k + STEP - 1u) / STEP;
    for (var t = 0u; t < steps; t = t + 1u) {
        let k0 = t * STEP;
        // Each thread loads 4 values of each tile: A's (k = tx, rows ty + 16 q) and B's
        // (k = ty, columns tx + 16 q).
        for (var q = 0u; q < PER; q = q + 1u) {
            tile_a[tx][ty + THREADS * q] = load_a(row0 + ty + THREADS * q, k0 + tx);
            tile_b[ty][tx + THREADS * q] = load_b(k0 + ty, col0 + tx + THREADS * q);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < STEP; kk = kk + 1u) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var q = 0u; q < PER; q = q + 1u) {
                av[q] = tile_a[kk][ty + THREADS * q];
                bv[q] = tile_b[kk][tx + THREADS * q];
            }
            for (var r = 0u; r < PER; r = r + 1u) {
                for (var q = 0u; q < PER; q = q + 1u) {
                    acc[r][q] = acc[r][q] + av[r] * bv[q];
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < PER; r = r + 1u) {
        let row = row0 + ty + THREADS * r;
        for (var q = 0u; q < PER; q = q + 1u) {
            let col = col0 + tx + THREADS * q;
            if (row < dims.m && col < dims.n) {
                let at = row * dims.n + col;
                if ((dims.flags & 4u) != 0u) {
                    c[at] = c[at] + acc[r][q];
                } else {
                    c[at] = acc[r][q];
                }
            }
        }
    }
}
