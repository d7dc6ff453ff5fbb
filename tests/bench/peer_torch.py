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

Times are CUDA-event medians after warm-up. Prints one table per part.
  python3 peer_torch.py [--steps N] [--skip-train]
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


class LM(nn.Module):
    def __init__(self, V, H, L, nh, T):
        super().__init__()
        self.emb = nn.Embedding(V, H)
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
        torch.manual_seed(0)
        model = LM(256, H, 4, H // 64, T).cuda()
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

        for _ in range(3):  # compile and warm up
            loss = step()
        ms = timed(step, reps=steps, warm=1)
        print(f"{H:7d} {ms:9.2f} {B * T / ms * 1e3:10.0f} {loss.item():8.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--skip-train", action="store_true")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    attention_part()
    if not a.skip_train:
        train_part(a.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
