#!/usr/bin/env python3
"""The PyTorch peer of tests/bench/bench_cuda.c, run in the same device call.

1. Attention forward + backward with torch SDPA (causal, bf16; b1 h8 d64 at T = 4k,
   16k, 64k), once per backend (flash, cuDNN), tensors in scalelab's [b, T, h, d]
   layout seen through a transpose, as our kernels get them.
2. A training step of the same model as scalelab's softmax mixer (token embedding,
   4 pre-LayerNorm blocks of bias-free q/k/v/o projections with RoPE (half-split
   pairs, base 10000) and causal attention, GELU(tanh) MLP with biases, final
   LayerNorm, untied LM head; vocab 256, head_dim 64, context 2048, batch 8) under
   bf16 autocast, torch.compile and fused AdamW; d_model 256 and 512.

3. --model12: the 12-layer d_model 768 (12 heads of 64) context 1024 batch 8 model, softmax as
   above and power retention p=2 (gated, chunk 64, no RoPE, sum-normalised, eps 1e-6: DESIGN
   section 3 and ../shared/MATH.md's chunked form, in plain PyTorch below), same recipe. With
   --ours FILE (bench_cuda's "model12" output) it prints one line per model: both rates and
   the ratio. --check first compares the chunked power retention with the quadratic form
   (float64, CPU, values and gradients) and exits 1 on a mismatch.

Times are CUDA-event medians after warm-up. Prints one table per part.
  python3 peer_torch.py [--steps N] [--skip-train] [--skip-attention]
  python3 peer_torch.py --model12 [--steps N] [--ours FILE] [--mixers softmax,power]
  (--sdpa flash|cudnn|efficient: the one SDPA backend the training steps may use; default torch's choice)
  python3 peer_torch.py --check
"""
import argparse
import math
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def timed(fn, reps=5, warm=2):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def attention_part():
    print("torch SDPA forward + backward, causal, bf16, b1 h8 d64, [b,T,h,d] layout; median of 5 (ms); "
          "TFLOP/s by FlashAttention's count (fwd 2 b h d T^2, bwd 2.5 x fwd)")
    print(f"{'backend':8} {'T':>7} {'fwd ms':>10} {'fwd+bwd ms':>11} {'TFLOP/s':>9}")
    for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
        for T in (4096, 16384, 65536):
            try:
                g = torch.Generator(device="cuda").manual_seed(0)
                mk = lambda: (torch.rand(1, T, 8, 64, device="cuda", generator=g) * 2 - 1).to(torch.bfloat16)
                q, k, v, dy = mk().requires_grad_(), mk().requires_grad_(), mk().requires_grad_(), mk()

                def fwd():
                    with sdpa_kernel(be):
                        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                              v.transpose(1, 2), is_causal=True)

                def fwd_bwd():
                    y = fwd()
                    y.backward(dy.transpose(1, 2))

                fms = timed(lambda: fwd())
                ms = timed(fwd_bwd)
                fl = 3.5 * 2 * 8 * 64 * T * T
                print(f"{name:8} {T:7d} {fms:10.3f} {ms:11.3f} {fl / ms / 1e9:9.1f}", flush=True)
            except Exception as e:  # a backend that does not take this shape: say so
                print(f"{name:8} {T:7d}  failed: {type(e).__name__}: {str(e)[:120]}", flush=True)


def rope_tables(T, d, device):
    inv = 10000.0 ** (-torch.arange(0, d // 2, device=device, dtype=torch.float32) * 2 / d)
    ang = torch.arange(T, device=device, dtype=torch.float32)[:, None] * inv[None, :]
    return ang.cos(), ang.sin()


def rope(x, cos, sin):  # x [b, T, h, d]; pairs (x[i], x[i + d/2])
    d2 = x.shape[-1] // 2
    a, b = x[..., :d2], x[..., d2:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat((a * c - b * s, a * s + b * c), dim=-1)


class Block(nn.Module):
    def __init__(self, H, nh, F_):
        super().__init__()
        self.nh, self.hd = nh, H // nh
        self.n1, self.n2 = nn.LayerNorm(H, eps=1e-5), nn.LayerNorm(H, eps=1e-5)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(H, H, bias=False) for _ in range(4))
        self.w1, self.w2 = nn.Linear(H, F_), nn.Linear(F_, H)

    def forward(self, x, cos, sin):
        B, T, H = x.shape
        h = self.n1(x)
        q = rope(self.wq(h).view(B, T, self.nh, self.hd), cos, sin)
        k = rope(self.wk(h).view(B, T, self.nh, self.hd), cos, sin)
        v = self.wv(h).view(B, T, self.nh, self.hd)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.wo(y.transpose(1, 2).reshape(B, T, H))
        return x + self.w2(F.gelu(self.w1(self.n2(x)), approximate="tanh"))


def phi2(x):
    """Symmetric power embedding, p = 2 (MATH.md): x_i^2, and sqrt(2) x_i x_j for i < j; D = d(d+1)/2."""
    d = x.shape[-1]
    i, j = torch.triu_indices(d, d, device=x.device)
    coef = torch.full(i.shape, math.sqrt(2.0), dtype=x.dtype, device=x.device)
    coef[i == j] = 1.0
    return x[..., i] * x[..., j] * coef


def power_retention(q, k, v, log_g, chunk, eps=1e-6):
    """Gated power retention, p = 2, chunked (MATH.md "Chunked form"). q, k, v [B, T, h, d];
    log_g [B, T, h] (log gates <= 0). Scores and gates in FP32; the products may run in bf16
    under autocast (as scalelab's bf16 backend: bf16 operands, FP32 accumulation)."""
    B, T, h, d = q.shape
    c, n, p = chunk, T // chunk, 2
    s = 1.0 / math.sqrt(d)
    f32 = torch.float64 if q.dtype == torch.float64 else torch.float32  # float64 only in --check
    qc = q.to(f32).view(B, n, c, h, d).transpose(2, 3)           # [B, n, h, c, d]
    kc = k.to(f32).view(B, n, c, h, d).transpose(2, 3)
    vc = v.view(B, n, c, h, d).transpose(2, 3)
    a = log_g.to(f32).view(B, n, c, h).transpose(2, 3)           # [B, n, h, c]
    Gp = a.cumsum(-1)                                            # G' inside each chunk
    Gam = Gp[..., -1]                                            # [B, n, h]
    # 1. intra-chunk: A_ij = (s q_i.k_j)^2 exp(G'_i - G'_j), j <= i
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    dec = (Gp[..., :, None] - Gp[..., None, :]).masked_fill(~causal, float("-inf")).exp()
    A = (torch.matmul(qc, kc.transpose(-1, -2)).to(f32) * s) ** p * dec
    N = torch.matmul(A, vc).to(f32)                              # [B, n, h, c, d]
    M = A.sum(-1)                                                # [B, n, h, c]
    # 4. each chunk's state contribution, decayed to its end: phi(u_j) with u_j = exp((Gamma - G'_j)/p) k_j
    pk = phi2(kc * ((Gam[..., None] - Gp) / p).exp()[..., None])  # [B, n, h, c, D]
    C = torch.matmul(pk.transpose(-1, -2), vc).to(f32)           # [B, n, h, D, d]
    Cz = pk.sum(-2)                                              # [B, n, h, D]
    # carried into chunk m: sum over m' < m of exp(Lambda_{m-1} - Lambda_{m'}) C_{m'}
    Lam = Gam.cumsum(1)                                          # [B, n, h]
    E = (Lam - Gam)[:, :, None, :] - Lam[:, None, :, :]          # [B, m, m', h]
    before = torch.ones(n, n, dtype=torch.bool, device=q.device).tril(-1)[None, :, :, None]
    Dm = E.masked_fill(~before, float("-inf")).exp()
    S = torch.einsum("bmnh,bnhDe->bmhDe", Dm, C)
    z = torch.einsum("bmnh,bnhD->bmhD", Dm, Cz)
    # 2. query the carried state: s^p exp(G'_i) phi(q_i) = phi(s exp(G'_i / p) q_i)
    pq = phi2(qc * (s * (Gp / p).exp())[..., None])              # [B, n, h, c, D]
    N = N + torch.matmul(pq, S.to(pq.dtype)).to(f32)
    M = M + (pq * z[:, :, :, None, :]).sum(-1)
    y = N / (eps + M)[..., None]                                 # 3.
    return y.transpose(2, 3).reshape(B, T, h, d).to(v.dtype)


def power_retention_quadratic(q, k, v, log_g, eps=1e-6):
    """The attention form of the same weights (for --check): w_ij = (s q_i.k_j)^2 exp(G_i - G_j)."""
    B, T, h, d = q.shape
    s = 1.0 / math.sqrt(d)
    G = log_g.cumsum(1).transpose(1, 2)                          # [B, h, T]
    sc = torch.einsum("bihd,bjhd->bhij", q, k) * s
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    w = sc ** 2 * (G[..., :, None] - G[..., None, :]).masked_fill(~causal, float("-inf")).exp()
    y = torch.einsum("bhij,bjhd->bihd", w, v)
    return y / (eps + w.sum(-1)).transpose(1, 2)[..., None]


def check_power():
    """Chunked vs quadratic in float64 on the CPU: outputs and gradients, several chunk sizes."""
    torch.manual_seed(0)
    B, T, h, d = 2, 32, 3, 8
    ok = True
    for chunk in (1, 4, 8, 32):
        q, k, v = (torch.randn(B, T, h, d, dtype=torch.float64, requires_grad=True) for _ in range(3))
        lg = (-0.3 * torch.rand(B, T, h, dtype=torch.float64)).requires_grad_()
        dy = torch.randn(B, T, h, d, dtype=torch.float64)
        got, ref = [], []
        for fn, out in ((lambda: power_retention(q, k, v, lg, chunk), got),
                        (lambda: power_retention_quadratic(q, k, v, lg), ref)):
            y = fn()
            gq, gk, gv, gg = torch.autograd.grad((y * dy).sum(), (q, k, v, lg))
            out += [y, gq, gk, gv, gg]
        for name, a, b in zip(("y", "dq", "dk", "dv", "dlog_g"), got, ref):
            err = ((a - b).abs().max() / (b.abs().max() + 1e-30)).item()
            good = err < 1e-9
            ok &= good
            print(f"power retention chunk {chunk:2d} {name:7s} max rel err {err:.2e} {'ok' if good else 'FAIL'}")
    return ok


class PowerBlock(nn.Module):
    """DESIGN section 3's power block: no RoPE; log g = logsigmoid(b + W_g x) per head, b = logit(0.999)."""
    def __init__(self, H, nh, F_, chunk):
        super().__init__()
        self.nh, self.hd, self.chunk = nh, H // nh, chunk
        self.n1, self.n2 = nn.LayerNorm(H, eps=1e-5), nn.LayerNorm(H, eps=1e-5)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(H, H, bias=False) for _ in range(4))
        self.wg = nn.Linear(H, nh)
        nn.init.constant_(self.wg.bias, math.log(0.999 / 0.001))
        self.w1, self.w2 = nn.Linear(H, F_), nn.Linear(F_, H)

    def forward(self, x, cos, sin):
        B, T, H = x.shape
        h = self.n1(x)
        q = self.wq(h).view(B, T, self.nh, self.hd)
        k = self.wk(h).view(B, T, self.nh, self.hd)
        v = self.wv(h).view(B, T, self.nh, self.hd)
        log_g = F.logsigmoid(self.wg(h).float())
        y = power_retention(q, k, v, log_g, self.chunk)
        x = x + self.wo(y.reshape(B, T, H))
        return x + self.w2(F.gelu(self.w1(self.n2(x)), approximate="tanh"))


class LM(nn.Module):
    def __init__(self, V, H, L, nh, T, mixer="softmax", chunk=64):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        if mixer == "power":
            self.blocks = nn.ModuleList(PowerBlock(H, nh, 4 * H, chunk) for _ in range(L))
        else:
            self.blocks = nn.ModuleList(Block(H, nh, 4 * H) for _ in range(L))
        self.nf = nn.LayerNorm(H, eps=1e-5)
        self.head = nn.Linear(H, V, bias=False)
        cos, sin = rope_tables(T, H // nh, "cuda")
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, tok, tgt):
        x = self.emb(tok)
        for b in self.blocks:
            x = b(x, self.cos, self.sin)
        logits = self.head(self.nf(x))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.view(-1))


def train_part(steps):
    print(f"torch training step (bf16 autocast, torch.compile, fused AdamW), softmax model, 4 layers, head_dim 64, "
          f"context 2048, batch 8; median of {steps} steps")
    print(f"{'d_model':>7} {'ms/step':>9} {'tok/s':>10} {'loss':>8}")
    B, T = 8, 2048
    for H in (256, 512):
        ms, loss = train_rate("softmax", H, 4, T, B, steps)
        print(f"{H:7d} {ms:9.2f} {B * T / ms * 1e3:10.0f} {loss:8.3f}", flush=True)


def train_rate(mixer, H, L, T, B, steps, warm=3):
    """Median ms/step and last loss of the bf16 autocast + torch.compile + fused AdamW step."""
    torch.manual_seed(0)
    model = LM(256, H, L, H // 64, T, mixer=mixer).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    cmodel = torch.compile(model)
    tok = torch.randint(0, 256, (B, T + 1), device="cuda")
    x, y = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = cmodel(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(warm):  # compile and warm up
        loss = step()
    ms = timed(step, reps=steps, warm=1)
    return ms, loss.item()


def model12_part(steps, ours_path, mixers=("softmax", "power")):
    """The 12-layer d_model 768 context 1024 batch 8 model, softmax and power p=2, beside scalelab's rates."""
    ours = {}
    if ours_path:
        try:
            for line in open(ours_path):
                f = line.split()
                if len(f) == 6 and f[0] == "ours":
                    ours[f[1]] = (float(f[2]), float(f[3]), float(f[4]))
        except OSError as e:
            print(f"--ours {ours_path}: {e}")
    B, T, L, H = 8, 1024, 12, 768
    print(f"training step, 12 layers, d_model 768, head_dim 64, context {T}, batch {B}; torch: bf16 autocast, "
          f"torch.compile, fused AdamW, median of {steps}; scalelab: bf16 (bench_cuda model12); power p=2 gated "
          f"chunk 64; TFLOP/s by scalelab's count (3 (W + S) FLOPs/token) for both")
    print(f"{'model':9} {'ours tok/s':>11} {'ours TF/s':>10} {'torch tok/s':>12} {'torch TF/s':>11} "
          f"{'ours/torch':>10} {'torch loss':>10}")
    for mixer in mixers:
        o = ours.get(mixer)
        try:
            ms, loss = train_rate(mixer, H, L, T, B, steps)
            tps = B * T / ms * 1e3
        except Exception as e:  # say so and go on to the next model
            print(f"{mixer:9} torch failed: {type(e).__name__}: {str(e)[:160]}", flush=True)
            continue
        if o:
            print(f"{mixer:9} {o[0]:11.0f} {o[1]:10.2f} {tps:12.0f} {o[2] * tps / 1e12:11.2f} {o[0] / tps:10.2f} "
                  f"{loss:10.3f}", flush=True)
        else:
            print(f"{mixer:9} {'-':>11} {'-':>10} {tps:12.0f} {'-':>11} {'-':>10} {loss:10.3f}", flush=True)
        torch._dynamo.reset()
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-attention", action="store_true", help="only the 4-layer training steps")
    ap.add_argument("--model12", action="store_true", help="only the 12-layer softmax and power models")
    ap.add_argument("--ours", help="bench_cuda ... model12 output, to print both rates and the ratio")
    ap.add_argument("--check", action="store_true", help="chunked power retention vs quadratic, float64, CPU")
    ap.add_argument("--mixers", default="softmax,power", help="--model12's models (comma-separated)")
    ap.add_argument("--sdpa", choices=("default", "flash", "cudnn", "efficient"), default="default",
                    help="the one SDPA backend the training steps may use (default: torch's own choice)")
    a = ap.parse_args()
    if a.check:
        return 0 if check_power() else 1
    if a.sdpa != "default":  # global switches, set before any model is traced
        torch.backends.cuda.enable_flash_sdp(a.sdpa == "flash")
        torch.backends.cuda.enable_cudnn_sdp(a.sdpa == "cudnn")
        torch.backends.cuda.enable_mem_efficient_sdp(a.sdpa == "efficient")
        torch.backends.cuda.enable_math_sdp(False)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; training steps' SDPA: {a.sdpa}")
    if a.model12:
        model12_part(a.steps, a.ours, a.mixers.split(","))
        return 0
    if not a.skip_attention:
        attention_part()
    if not a.skip_train:
        train_part(a.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
