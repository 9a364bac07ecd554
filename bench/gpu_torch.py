#!/usr/bin/env python3
"""PyTorch's version of natgrad's exact natural-gradient direction, on the same GPU (issue #19).

  python3 bench/gpu_torch.py --data DIR [--out torch.json] [--deadline EPOCH_S] [--smoke]
  python3 bench/gpu_torch.py --numpy        # proves the math here, in float64 numpy (no torch needed)
  python3 bench/gpu_torch.py --env env.json # the card, driver, CUDA, nvidia-* wheels, torch (gpu.sh runs it)

bench/gpu.sh runs it after bench/gpu.js, which writes, under DIR (its --out folder, data/meta.json):
θ (float32, natgrad's layout: per linear layer W [out, in] row-major, then b [out], layers in order),
x [Nmax, 784] float32, y [Nmax] int32 class indices (each N uses the first N rows), and natgrad's
direction n_θ for each N (GPU, and CPU where it ran). This script computes, for the same MLP
784-256-256-10 (tanh, categorical, damping λ = 1e-3), the same θ, x and y,

  n_θ = (F_θ + λI)⁻¹ g_θ,   F_θ = (1/N) Σ J_iᵀ F_i J_i,   g_θ = (1/N) Σ J_iᵀ g_i,
  F_i = diag(p_i) − p_i p_iᵀ,   g_i = p_i − e_{y_i},   J_i = ∂η_i/∂θ,

exactly, in kernel form (docs/design.md §1): with factors L_i L_iᵀ = F_i and L_i u_i = g_i,
S = [J_iᵀ L_i]_i [P, N·r],  n_θ = S (SᵀS + NλI)⁻¹ u  (= (SSᵀ + NλI)⁻¹ S u = (F_θ + λI)⁻¹ g_θ, whatever the
factor). The fast version ("manual"): one forward pass; the seeds L_i backpropagated by hand through the
known MLP, B_l [N, r, out_l]; the kernel Σ_l (B_l B_lᵀ) ⊙ (A_l A_lᵀ + 1) (A_l: layer l's input) —
never the Jacobian; torch.linalg.cholesky_ex + cholesky_solve; n_W_l = C_lᵀ A_l, n_b_l = Σ_i C_l,
C_l[i] = Σ_m c_(i,m) B_l[i, m]. Factors:
  'householder' (r = k − 1, natgrad's own; lib/distributions/categorical.ts): Q = the Householder
     reflector H = I − v vᵀ/(1 + √p_t), v = √p + e_t, t = argmax p, without its column t; L = diag(√p) Q,
     u = Qᵀ (g ⊘ √p);
  'sym' (r = k): L = diag(√p) − p √pᵀ = diag(√p)(I − √p√pᵀ), L Lᵀ = diag(p) − ppᵀ exactly (as ‖√p‖ = 1),
     u = g ⊘ √p (L u = g since g ⊥ 1, i.e. g ⊘ √p ⊥ √p).
Also the generic torch.func way at small N ("jacrev"): per-sample Jacobians vmap(jacrev(f)) [N, k, P],
S = Jᵀ L formed densely, then the same solve.

Timings: float32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False), then a TF32 run; warm-up
calls, then the median of reps: "deviceMs" with θ, x, y already on the GPU (CUDA events), "hostMs" from
x, y in host memory to n_θ in host memory (synchronised wall time; what natgrad's opt.direction does).
Accuracy: against natgrad's directions and a float64 reference (torch float64 on the GPU; numpy float64
on the CPU without torch, for N ≤ --reference-max-n).

--numpy: the same functions run on numpy in float64 against references formed without the kernel
trick: per-sample Jacobians by the complex step (exact to rounding, independent of the backprop code),
F_θ formed explicitly and solved densely (a 24-16-16-10 MLP) or by CG (784-16-16-10), N = 8; plus the
factor identities. With --data DIR it also recomputes natgrad's dumped directions in float64.

Fails soft: any error is recorded in the output JSON (which is always written) and the exit status is 0
(except --numpy's checks, which exit 1 when they fail).
"""
import argparse
import json
import math
import os
import sys
import time
import traceback

# ---------------------------------------------------------------------------------------------------
# The math, written once against a small array-namespace adapter (numpy or torch).


class NumpyOps:
    name = 'numpy'

    def __init__(self, dtype='float64'):
        import numpy as np

        self.np = np
        self.dtype = np.dtype(dtype)

    def asarray(self, a, dtype=None):
        return self.np.asarray(a, dtype=dtype or self.dtype)

    def tanh(self, a):
        return self.np.tanh(a)

    def softmax(self, z):
        np = self.np
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def eye(self, n):
        return self.np.eye(n, dtype=self.dtype)

    def arange(self, n):
        return self.np.arange(n)

    def onehot(self, y, k):
        o = self.np.zeros((y.shape[0], k), dtype=self.dtype)
        o[self.np.arange(y.shape[0]), y] = 1
        return o

    def argmax(self, a):
        return a.argmax(axis=1)

    def gather_cols(self, H, idx):  # H [N, k, k], idx [N, r] → H[n, :, idx[n, j]]
        return self.np.take_along_axis(H, idx[:, None, :], axis=2)

    def einsum(self, spec, *ops):
        return self.np.einsum(spec, *ops, optimize=True)

    def where_pos(self, cond, a):
        return self.np.where(cond, a, 0)

    def add_kernel(self, K, Bf, G, N, r):  # K += (Bf Bfᵀ) ⊙ (G ⊗ 1_r 1_rᵀ)
        BB = (Bf @ Bf.T).reshape(N, r, N, r)
        BB *= G[:, None, :, None]
        K += BB.reshape(N * r, N * r)

    def zeros(self, *shape):
        return self.np.zeros(shape, dtype=self.dtype)

    def add_diag(self, K, v):
        K[self.np.diag_indices(K.shape[0])] += v

    def chol_solve(self, K, u):
        np = self.np
        Lc = np.linalg.cholesky(K)
        z = np.linalg.solve(Lc, u)  # triangular, solved as general (small sizes only)
        return np.linalg.solve(Lc.T, z)

    def cat(self, parts):
        return self.np.concatenate([p.reshape(-1) for p in parts])

    def sum0(self, a):
        return a.sum(axis=0)

    def sync(self):
        pass


class TorchOps:
    name = 'torch'

    def __init__(self, torch, device, dtype):
        self.torch = torch
        self.device = device
        self.dtype = dtype

    def asarray(self, a, dtype=None):
        return self.torch.as_tensor(a, dtype=dtype or self.dtype, device=self.device)

    def tanh(self, a):
        return self.torch.tanh(a)

    def softmax(self, z):
        return self.torch.softmax(z, dim=1)

    def eye(self, n):
        return self.torch.eye(n, dtype=self.dtype, device=self.device)

    def arange(self, n):
        return self.torch.arange(n, device=self.device)

    def onehot(self, y, k):
        return self.torch.nn.functional.one_hot(y.long(), k).to(self.dtype)

    def argmax(self, a):
        return a.argmax(dim=1)

    def gather_cols(self, H, idx):
        n, k, _ = H.shape
        return self.torch.gather(H, 2, idx[:, None, :].expand(n, k, idx.shape[1]))

    def einsum(self, spec, *ops):
        return self.torch.einsum(spec, *ops)

    def where_pos(self, cond, a):
        return self.torch.where(cond, a, self.torch.zeros((), dtype=a.dtype, device=a.device))

    def add_kernel(self, K, Bf, G, N, r):
        BB = Bf @ Bf.T
        BB.view(N, r, N, r).mul_(G[:, None, :, None])
        K.add_(BB)

    def zeros(self, *shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def add_diag(self, K, v):
        K.diagonal().add_(v)

    def chol_solve(self, K, u):
        torch = self.torch
        Lc, _info = torch.linalg.cholesky_ex(K)  # no host sync on info; a failure shows as NaN
        return torch.cholesky_solve(u[:, None], Lc)[:, 0]

    def cat(self, parts):
        return self.torch.cat([p.reshape(-1) for p in parts])

    def sum0(self, a):
        return a.sum(dim=0)

    def sync(self):
        if self.device != 'cpu':
            self.torch.cuda.synchronize()


def unflatten(theta, sizes):
    """θ in natgrad's layout → [(W [out, in], b [out])] per linear layer (views)."""
    layers, o = [], 0
    for fin, fout in zip(sizes[:-1], sizes[1:]):
        W = theta[o : o + fout * fin].reshape(fout, fin)
        o += fout * fin
        b = theta[o : o + fout]
        o += fout
        layers.append((W, b))
    assert o == theta.shape[0], f'θ has {theta.shape[0]} entries, the MLP {sizes} needs {o}'
    return layers


def forward(ops, layers, x):
    """The MLP (tanh between linear layers): the inputs A_l of each linear layer, and the logits η."""
    acts, a = [], x
    for li, (W, b) in enumerate(layers):
        acts.append(a)
        z = a @ W.T + b
        a = ops.tanh(z) if li < len(layers) - 1 else z
    return acts, a


def factors(ops, p, g, factor):
    """Per-sample L_i [N, k, r] with L_i L_iᵀ = diag(p_i) − p_i p_iᵀ, and u_i [N, r] with L_i u_i = g_i."""
    N, k = p.shape
    sp = p**0.5
    pos = sp > 0
    w = ops.where_pos(pos, g / (sp + (~pos) * 1.0))  # w = g ⊘ √p (⊥ √p as g ⊥ 1); 0 where p underflowed
    if factor == 'sym':
        L = ops.einsum('nk,kj->nkj', sp, ops.eye(k)) - ops.einsum('nk,nj->nkj', p, sp)
        return L, w
    if factor != 'householder':
        raise ValueError(f'unknown factor {factor!r}')
    t = ops.argmax(p)  # √p_t ≥ 1/√k
    e_t = ops.onehot(t, k)
    v = sp + e_t
    spt = (sp * e_t).sum(1)
    H = ops.eye(k)[None] - ops.einsum('nk,nj->nkj', v, v) / (1 + spt)[:, None, None]
    j = ops.arange(k - 1)[None, :]
    idx = j + (j >= t[:, None]) * 1  # the columns ≠ t, in order
    Q = ops.gather_cols(H, idx)  # [N, k, k−1], orthonormal basis of √p^⊥
    L = sp[:, :, None] * Q
    u = ops.einsum('nkr,nk->nr', Q, w)
    return L, u


def kernel_direction(ops, layers, x, y, lam, factor='householder', parts=None):
    """n_θ = S (SᵀS + NλI)⁻¹ u by layer kernels (B_l B_lᵀ) ⊙ (A_l A_lᵀ + 1); θ-layout flat vector."""
    N = x.shape[0]
    acts, eta = forward(ops, layers, x)
    k = eta.shape[1]
    p = ops.softmax(eta)
    g = p - ops.onehot(y, k)
    L, u = factors(ops, p, g, factor)
    r = L.shape[2]
    # seeds: row (i, m) of B is ∂(L_i[:, m]ᵀ η_i)/∂z_l; at the output layer B = L_iᵀ
    B = L.transpose(1, 2) if ops.name == 'torch' else L.transpose(0, 2, 1)
    Bs = [None] * len(layers)
    for li in range(len(layers) - 1, -1, -1):
        Bs[li] = B
        if li > 0:
            W = layers[li][0]
            B = (B @ W) * (1 - acts[li] ** 2)[:, None, :]  # through W, then tanh' = 1 − tanh² of the layer input
    K = ops.zeros(N * r, N * r)
    for li, Bl in enumerate(Bs):
        A = acts[li]
        ops.add_kernel(K, Bl.reshape(N * r, -1), A @ A.T + 1, N, r)
    ops.add_diag(K, N * lam)
    c = ops.chol_solve(K, u.reshape(-1)).reshape(N, r)
    out = []
    for li, Bl in enumerate(Bs):
        C = ops.einsum('nr,nro->no', c, Bl)
        out.append(C.T @ acts[li])
        out.append(ops.sum0(C))
    if parts is not None:
        parts.update(p=p, g=g, L=L, u=u, K=K)
    return ops.cat(out)


def jacrev_direction(torch, layers_flat_theta, sizes, x, y, lam, factor='householder'):
    """The generic way: per-sample Jacobians by torch.func (vmap(jacrev)), S = Jᵀ L densely, then the same solve."""
    try:
        from torch.func import jacrev, vmap
    except ImportError:  # torch < 2.0
        from functorch import jacrev, vmap

    ops = TorchOps(torch, x.device, x.dtype)

    def f(theta, xi):
        layers = unflatten(theta, sizes)
        _, eta = forward(ops, layers, xi[None, :])
        return eta[0]

    theta = layers_flat_theta
    J = vmap(jacrev(f), in_dims=(None, 0))(theta, x)  # [N, k, P]
    N, k, P = J.shape
    _, eta = forward(ops, unflatten(theta, sizes), x)
    p = torch.softmax(eta, dim=1)
    g = p - torch.nn.functional.one_hot(y.long(), k).to(p.dtype)
    L, u = factors(ops, p, g, factor)
    r = L.shape[2]
    St = torch.einsum('nkr,nkp->nrp', L, J).reshape(N * r, P)  # Sᵀ
    del J
    K = St @ St.T
    K.diagonal().add_(N * lam)
    c = ops.chol_solve(K, u.reshape(-1))
    return St.T @ c


# ---------------------------------------------------------------------------------------------------
# numpy mode: the math against references formed without the kernel trick


def numpy_checks(args):
    import numpy as np

    ops = NumpyOps('float64')
    rng = np.random.default_rng(1)
    report = {'mode': 'numpy', 'checks': []}
    ok = True

    def check(name, err, bound):
        nonlocal ok
        good = bool(err <= bound)
        ok = ok and good
        report['checks'].append({'name': name, 'err': float(err), 'bound': bound, 'ok': good})
        print(f'  {name}: {err:.2e} (bound {bound:.0e}) {"ok" if good else "FAILED"}')

    # the factors
    for k in (2, 3, 10):
        z = rng.normal(size=(6, k)) * 3
        p = ops.softmax(z)
        y = rng.integers(0, k, size=6)
        g = p - ops.onehot(y, k)
        for factor in ('householder', 'sym'):
            L, u = factors(ops, p, g, factor)
            F = np.einsum('nk,kj->nkj', p, np.eye(k)) - np.einsum('nk,nj->nkj', p, p)
            check(f'factor {factor} k={k}: max|L Lᵀ − (diag p − ppᵀ)|', np.abs(L @ L.transpose(0, 2, 1) - F).max(), 1e-14)
            check(f'factor {factor} k={k}: max|L u − g|', np.abs(np.einsum('nkr,nr->nk', L, u) - g).max(), 1e-14)

    def eta_of(sizes, theta, x):
        return forward(ops, unflatten(theta, sizes), x)[1]

    def jac_complex_step(sizes, theta, x):
        """J [N, k, P] by the complex step: Im f(θ + ih e_j)/h, exact to rounding (no cancellation)."""
        h = 1e-30
        P = theta.shape[0]
        N = x.shape[0]
        k = sizes[-1]
        J = np.zeros((N, k, P))
        th = theta.astype(np.complex128)
        xc = x.astype(np.complex128)
        cops = NumpyOps('complex128')
        for j in range(P):
            th[j] += 1j * h
            J[:, :, j] = forward(cops, unflatten(th, sizes), xc)[1].imag / h
            th[j] -= 1j * h
        return J

    def reference(sizes, theta, x, y, lam, dense):
        J = jac_complex_step(sizes, theta, x)
        N, k, P = J.shape
        eta = eta_of(sizes, theta, x)
        p = ops.softmax(eta)
        g = p - ops.onehot(y, k)
        Fi = np.einsum('nk,kj->nkj', p, np.eye(k)) - np.einsum('nk,nj->nkj', p, p)
        gt = np.einsum('nkp,nk->p', J, g) / N
        if dense:
            F = np.einsum('nkp,nkj,njq->pq', J, Fi, J, optimize=True) / N
            return np.linalg.solve(F + lam * np.eye(P), gt), J

        def Fv(v):
            return np.einsum('nkp,nk->p', J, np.einsum('nkj,nj->nk', Fi, np.einsum('njp,p->nj', J, v))) / N + lam * v

        # CG on (F + λI) n = g: λI + rank ≤ N·k, so at most N·k + 1 steps in exact arithmetic
        n = np.zeros(P)
        res = gt.copy()
        d = res.copy()
        rr = res @ res
        for _ in range(20 * N * k):
            Ad = Fv(d)
            a = rr / (d @ Ad)
            n += a * d
            res -= a * Ad
            rr2 = res @ res
            if math.sqrt(rr2) <= 1e-15 * math.sqrt(gt @ gt):
                break
            d = res + (rr2 / rr) * d
            rr = rr2
        return n, J

    lam = 1e-3
    for sizes, dense in (([24, 16, 16, 10], True), ([784, 16, 16, 10], False)):
        N = 8
        P = sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
        theta = np.concatenate(
            [np.concatenate([rng.normal(size=o * i) / math.sqrt(i), rng.normal(size=o) * 0.1]) for i, o in zip(sizes[:-1], sizes[1:])]
        )
        x = rng.uniform(-1, 1, size=(N, sizes[0]))
        y = np.arange(N) * 7 % sizes[-1]
        t0 = time.time()
        ref, J = reference(sizes, theta, x, y, lam, dense)
        label = '-'.join(map(str, sizes))
        how = 'dense (F_θ + λI)⁻¹ g_θ' if dense else 'CG on explicit F_θ'
        print(f'  {label} (P={P}), N={N}: reference {how} from complex-step Jacobians ({time.time() - t0:.1f} s)')
        # the backprop's seeds against the complex-step Jacobian: S = Jᵀ L
        for factor in ('householder', 'sym'):
            parts = {}
            n = kernel_direction(ops, unflatten(theta, sizes), x, y, lam, factor, parts)
            check(f'{label} N={N} {factor}: ‖n_kernel − n_ref‖/‖n_ref‖', np.linalg.norm(n - ref) / np.linalg.norm(ref), 1e-9)
            St = np.einsum('nkr,nkp->nrp', parts['L'], J).reshape(N * parts['L'].shape[2], P)
            K = St @ St.T + N * lam * np.eye(St.shape[0])
            check(
                f'{label} N={N} {factor}: layer kernel vs Sᵀ S from Jacobians', np.abs(K - parts['K']).max() / np.abs(K).max(), 1e-12
            )

    if args.data:
        report['natgrad'] = natgrad_vs_numpy(args, ops)
    report['ok'] = ok
    return report


# ---------------------------------------------------------------------------------------------------
# the data gpu.js wrote


def load_meta(data_dir):
    with open(os.path.join(data_dir, 'meta.json')) as f:
        return json.load(f)


def read_f32(data_dir, name, np=None):
    with open(os.path.join(data_dir, name), 'rb') as f:
        buf = f.read()
    if np is not None:
        return np.frombuffer(buf, dtype='<f4')
    return bytearray(buf)


def natgrad_vs_numpy(args, ops):
    """natgrad's dumped directions against the kernel form in float64 numpy (N ≤ --reference-max-n)."""
    import numpy as np

    meta = load_meta(args.data)
    sizes = meta['sizes']
    theta = read_f32(args.data, meta['theta']['file'], np).astype(np.float64)
    X = read_f32(args.data, meta['x']['file'], np).reshape(meta['x']['shape']).astype(np.float64)
    with open(os.path.join(args.data, meta['y']['file']), 'rb') as f:
        Y = np.frombuffer(f.read(), dtype='<i4')
    out = []
    for d in meta['directions']:
        N = d['N']
        if N > args.reference_max_n:
            out.append({'N': N, 'skipped': f'N > --reference-max-n {args.reference_max_n}'})
            continue
        t0 = time.time()
        ref = kernel_direction(ops, unflatten(theta, sizes), X[:N], Y[:N], meta['damping'], 'householder')
        row = {'N': N, 'ms': (time.time() - t0) * 1e3}
        for which in ('gpu', 'cpu'):
            if d.get(which):
                v = read_f32(args.data, d[which], np).astype(np.float64)
                row[f'{which}VsFloat64'] = float(np.linalg.norm(v - ref) / np.linalg.norm(ref))
        out.append(row)
        print(f'  natgrad N={N} vs numpy float64: ' + ', '.join(f'{k} {v:.2e}' for k, v in row.items() if k.endswith('Float64')))
    return out


# ---------------------------------------------------------------------------------------------------
# torch mode


def rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def torch_bench(args, result):
    import torch

    result['torch'] = torch.__version__
    result['cudaAvailable'] = torch.cuda.is_available()
    if torch.cuda.is_available():
        dev = 'cuda'
        result['device'] = torch.cuda.get_device_name(0)
    elif args.smoke:  # the script's own check on a machine without a GPU: torch on the CPU, times meaningless
        dev = 'cpu'
        result['device'] = 'cpu (--smoke without a CUDA device: torch on the CPU, to check this script only)'
    else:
        raise RuntimeError(f'torch {torch.__version__}: torch.cuda.is_available() is False (torch.version.cuda = {torch.version.cuda})')
    result['torchCuda'] = torch.version.cuda
    result['cudnn'] = torch.backends.cudnn.version() if dev == 'cuda' else None
    meta = load_meta(args.data)
    sizes = meta['sizes']
    lam = meta['damping']
    result['model'] = '-'.join(map(str, sizes))
    result['damping'] = lam
    result['factor'] = args.factor
    deadline = args.deadline

    def left():
        return deadline - time.time() if deadline else float('inf')

    f32 = torch.float32
    theta_h = torch.frombuffer(read_f32(args.data, meta['theta']['file']), dtype=f32).clone()
    X_h = torch.frombuffer(read_f32(args.data, meta['x']['file']), dtype=f32).reshape(meta['x']['shape']).clone()
    Y_h = torch.frombuffer(read_f32(args.data, meta['y']['file']), dtype=torch.int32).clone()
    theta = theta_h.to(dev)
    ops32 = TorchOps(torch, dev, f32)
    ops64 = TorchOps(torch, dev, torch.float64)

    def natgrad_dir(name):
        return torch.frombuffer(read_f32(args.data, name), dtype=f32).to(dev) if name else None

    def sync():
        if dev == 'cuda':
            torch.cuda.synchronize()

    def timed(fn, reps, warm):
        if dev != 'cuda':
            return wall(fn, reps, warm)
        for _ in range(warm):
            fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(reps):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            ts.append(s.elapsed_time(e))
        return sorted(ts)[len(ts) // 2]

    def wall(fn, reps, warm):
        for _ in range(warm):
            fn()
        sync()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            sync()
            ts.append((time.perf_counter() - t0) * 1e3)
        return sorted(ts)[len(ts) // 2]

    result['runs'] = []
    for d in meta['directions']:
        N = d['N']
        row = {'N': N}
        result['runs'].append(row)
        est = d.get('gpuMs', 0) * 20 / 1e3 + 5  # seconds: a rough bound from natgrad's own GPU time
        if left() < est:
            row['skipped'] = f'time budget: {left():.0f} s left, ~{est:.0f} s needed'
            print(f'gpu_torch: N={N} skipped ({row["skipped"]})')
            continue
        t_sec = time.time()
        try:
            x_h, y_h = X_h[:N], Y_h[:N]
            x, y = x_h.to(dev), y_h.to(dev)
            reps = 3 if N >= 4096 else 10 if N >= 1024 else 20
            if args.smoke:
                reps = 3
            layers = unflatten(theta, sizes)
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            n32 = kernel_direction(ops32, layers, x, y, lam, args.factor)
            row['deviceMs'] = timed(lambda: kernel_direction(ops32, layers, x, y, lam, args.factor), reps, 2)

            def host():
                xx, yy = x_h.to(dev), y_h.to(dev)
                return kernel_direction(ops32, layers, xx, yy, lam, args.factor).cpu()

            row['hostMs'] = wall(host, reps, 1)
            row['reps'] = reps
            ref = None
            try:
                ref = kernel_direction(ops64, unflatten(theta.double(), sizes), x.double(), y, lam, args.factor)
            except Exception as e:  # noqa: BLE001 — e.g. out of memory at the largest N
                row['float64Error'] = f'{type(e).__name__}: {e}'[:500]
            ng_gpu, ng_cpu = natgrad_dir(d.get('gpu')), natgrad_dir(d.get('cpu'))
            if ng_gpu is not None:
                row['torchVsNatgradGpu'] = rel(n32, ng_gpu)
            if ng_cpu is not None:
                row['torchVsNatgradCpu'] = rel(n32, ng_cpu)
            if ref is not None:
                row['torchVsFloat64'] = rel(n32.double(), ref)
                if ng_gpu is not None:
                    row['natgradGpuVsFloat64'] = rel(ng_gpu.double(), ref)
                if ng_cpu is not None:
                    row['natgradCpuVsFloat64'] = rel(ng_cpu.double(), ref)
            if args.factor == 'householder' and N <= 1024:
                nsym = kernel_direction(ops32, layers, x, y, lam, 'sym')
                row['symFactorDeviceMs'] = timed(lambda: kernel_direction(ops32, layers, x, y, lam, 'sym'), min(reps, 5), 1)
                row['symVsHouseholder'] = rel(nsym, n32)
            # TF32
            torch.backends.cuda.matmul.allow_tf32 = True
            n_tf32 = kernel_direction(ops32, layers, x, y, lam, args.factor)
            row['tf32DeviceMs'] = timed(lambda: kernel_direction(ops32, layers, x, y, lam, args.factor), reps, 1)
            row['tf32VsFloat32'] = rel(n_tf32, n32)
            if ref is not None:
                row['tf32VsFloat64'] = rel(n_tf32.double(), ref)
            torch.backends.cuda.matmul.allow_tf32 = False
            # the generic torch.func way (per-sample Jacobians), at small N only
            if N <= args.jacrev_max_n and left() > 30:
                try:
                    nj = jacrev_direction(torch, theta, sizes, x, y, lam, args.factor)
                    row['jacrevDeviceMs'] = timed(lambda: jacrev_direction(torch, theta, sizes, x, y, lam, args.factor), 3, 1)
                    row['jacrevVsManual'] = rel(nj, n32)
                except Exception as e:  # noqa: BLE001
                    row['jacrevError'] = f'{type(e).__name__}: {e}'[:500]
            if dev == 'cuda':
                row['peakMemoryGiB'] = torch.cuda.max_memory_allocated() / 2**30
                torch.cuda.reset_peak_memory_stats()
        except Exception as e:  # noqa: BLE001 — one N failing (e.g. out of memory) does not stop the others
            row['error'] = f'{type(e).__name__}: {e}'[:1000]
            row['traceback'] = traceback.format_exc()[-3000:]
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
            if dev == 'cuda':
                torch.cuda.empty_cache()
            row['sectionS'] = time.time() - t_sec
        errs = ', '.join(f'{k} {v:.2e}' for k, v in row.items() if k.endswith(('Gpu', 'Cpu', 'Float64', 'Float32', 'Manual')))
        if 'error' in row:
            print(f'gpu_torch: N={N}: {row["error"]}')
        else:
            print(
                f'gpu_torch: N={N}: device {row["deviceMs"]:.2f} ms, host→host {row["hostMs"]:.2f} ms, TF32 {row["tf32DeviceMs"]:.2f} ms'
                + (f', jacrev {row["jacrevDeviceMs"]:.1f} ms' if 'jacrevDeviceMs' in row else '')
                + f'; {errs}'
            )


def probe_env(path):
    """env.json: the card, driver and CUDA versions (nvidia-smi), the Python nvidia-* wheel folders and
    their CUDA libraries, torch's view of the GPU, Python, the CPU. Every part is guarded."""
    import glob
    import platform
    import shutil
    import subprocess

    env = {'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'python': sys.version.split()[0], 'pythonExecutable': sys.executable}
    env['platform'] = platform.platform()
    env['cpuCount'] = os.cpu_count()
    try:
        env['cpuAffinity'] = len(os.sched_getaffinity(0))
    except Exception:  # noqa: BLE001
        pass
    try:
        with open('/proc/cpuinfo') as f:
            env['cpuModel'] = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')), None)
        with open('/proc/meminfo') as f:
            env['memTotalGiB'] = int(next(ln for ln in f if ln.startswith('MemTotal')).split()[1]) / 2**20
    except Exception:  # noqa: BLE001
        pass
    for var in ('NATGRAD_CUDA_PATH', 'CUDA_PATH', 'LD_LIBRARY_PATH', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYTHONPATH', 'CUDA_VISIBLE_DEVICES'):
        env.setdefault('environment', {})[var] = os.environ.get(var)
    smi = shutil.which('nvidia-smi')
    env['nvidiaSmi'] = smi
    if smi:
        fields = 'name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.max.mem,power.limit,pci.bus_id,compute_cap'
        try:
            r = subprocess.run([smi, f'--query-gpu={fields}', '--format=csv,noheader'], capture_output=True, text=True, timeout=30)
            env['gpus'] = [dict(zip(fields.split(','), (v.strip() for v in line.split(',')))) for line in r.stdout.strip().splitlines()]
            if r.returncode:
                env['nvidiaSmiError'] = r.stderr.strip()[-500:]
        except Exception as e:  # noqa: BLE001
            env['nvidiaSmiError'] = f'{type(e).__name__}: {e}'
        try:
            r = subprocess.run([smi], capture_output=True, text=True, timeout=30)
            head = r.stdout.splitlines()[:4]
            env['nvidiaSmiHeader'] = head
            for line in head:
                if 'CUDA Version' in line:
                    env['driverCudaVersion'] = line.split('CUDA Version:')[1].split()[0]
        except Exception:  # noqa: BLE001
            pass
    # the Python nvidia-* wheels: where `import nvidia` finds them, and the CUDA libraries in them
    wheels = {'roots': [], 'libDirs': {}}
    try:
        import nvidia  # namespace package of the nvidia-* wheels

        wheels['roots'] = list(getattr(nvidia, '__path__', []))
    except Exception as e:  # noqa: BLE001
        wheels['importError'] = f'{type(e).__name__}: {e}'
    try:
        import site

        extra = list(site.getsitepackages()) + [site.getusersitepackages()]
    except Exception:  # noqa: BLE001
        extra = []
    for sp in extra:
        if os.path.isdir(os.path.join(sp, 'nvidia')) and os.path.join(sp, 'nvidia') not in wheels['roots']:
            wheels['roots'].append(os.path.join(sp, 'nvidia'))
    for root in wheels['roots']:
        for lib in sorted(glob.glob(os.path.join(root, '*', 'lib'))):
            libs = sorted(os.path.basename(f) for f in glob.glob(os.path.join(lib, 'lib*.so*')))
            if libs:
                wheels['libDirs'][lib] = libs
    want = ('libcudart.so', 'libcublas.so', 'libcusolver.so')
    wheels['cudaLibDirs'] = [d for d, libs in wheels['libDirs'].items() if any(l.startswith(w) for l in libs for w in want)]
    env['nvidiaWheels'] = wheels
    try:
        from importlib import metadata

        env['nvidiaWheelVersions'] = {
            d.metadata['Name']: d.version for d in metadata.distributions() if (d.metadata['Name'] or '').lower().startswith('nvidia-')
        }
    except Exception:  # noqa: BLE001
        pass
    try:
        import torch

        env['torch'] = {'version': torch.__version__, 'cuda': torch.version.cuda, 'available': torch.cuda.is_available()}
        if torch.cuda.is_available():
            pr = torch.cuda.get_device_properties(0)
            env['torch'].update(device=pr.name, memoryGiB=pr.total_memory / 2**30, capability=f'{pr.major}.{pr.minor}', sms=pr.multi_processor_count)
    except Exception as e:  # noqa: BLE001
        env['torch'] = {'error': f'{type(e).__name__}: {e}'[:500]}
    with open(path, 'w') as f:
        json.dump(env, f, indent=2)
    gp = env.get('gpus') or [{}]
    print(f"env: {gp[0].get('name', 'no nvidia-smi GPU')}, driver {gp[0].get('driver_version', '?')}, CUDA (driver) {env.get('driverCudaVersion', '?')}")
    print(f"env: Python {env['python']} ({sys.executable}); torch {env['torch'].get('version', env['torch'].get('error'))}")
    print(f"env: nvidia-* wheel CUDA library folders: {', '.join(wheels['cudaLibDirs']) or 'none'}")
    # for bench/gpu.sh: the folders, ':'-separated, on the last line
    print('NVIDIA_WHEEL_LIB_DIRS=' + ':'.join(wheels['cudaLibDirs']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', help="gpu.js's output folder's data/ (meta.json and the binary files)")
    ap.add_argument('--out', help='the JSON to write (default: DATA/../torch.json)')
    ap.add_argument('--numpy', action='store_true', help='float64 numpy checks of the math (no torch needed)')
    ap.add_argument('--factor', default='householder', choices=['householder', 'sym'])
    ap.add_argument('--deadline', type=float, default=0, help='epoch seconds: skip remaining sizes past it')
    ap.add_argument('--jacrev-max-n', type=int, default=256)
    ap.add_argument('--reference-max-n', type=int, default=256, help='numpy float64 reference of natgrad directions up to this N')
    ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--env', metavar='FILE', help="write env.json (nvidia-smi, the nvidia-* wheels, torch) and exit")
    args = ap.parse_args()

    if args.env:
        probe_env(args.env)
        return

    if args.numpy:
        print('gpu_torch.py --numpy: the kernel-form direction in float64 against references without the kernel trick')
        report = numpy_checks(args)
        print(f'gpu_torch.py --numpy: {"all checks passed" if report["ok"] else "SOME CHECKS FAILED"}')
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(report, f, indent=2)
        sys.exit(0 if report['ok'] else 1)

    if not args.data:
        ap.error('--data DIR (or --numpy) is required')
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.data)), 'torch.json')
    result = {'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'python': sys.version.split()[0]}
    t0 = time.time()
    try:
        torch_bench(args, result)
    except Exception as e:  # noqa: BLE001 — fail soft: recorded, never fatal for gpu.sh
        result['error'] = f'{type(e).__name__}: {e}'[:2000]
        result['traceback'] = traceback.format_exc()[-4000:]
        print(f'gpu_torch: {result["error"]}')
    # without torch (or without a GPU for it): natgrad's directions against numpy float64, where numpy exists
    if 'runs' not in result or not any('deviceMs' in r for r in result.get('runs', [])):
        try:
            result['numpyReference'] = natgrad_vs_numpy(args, NumpyOps('float64'))
        except Exception as e:  # noqa: BLE001
            result['numpyReferenceError'] = f'{type(e).__name__}: {e}'[:500]
    result['wallS'] = time.time() - t0
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'gpu_torch: wrote {out}')


if __name__ == '__main__':
    main()
