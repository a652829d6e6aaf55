"""Models in plain PyTorch that ppc's tests and benchmarks export to ONNX.

GPT: a GPT-2-style decoder (token and position embeddings, pre-LayerNorm
blocks of causal self-attention and a GELU MLP, tied LM head).
ViT: a ViT-style encoder (patch convolution, class token, pre-LN blocks).
Both write attention out in matmuls, as most user models do.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads, seq, causal=True):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.causal = causal
        if causal:
            self.register_buffer(
                "mask", torch.tril(torch.ones(seq, seq, dtype=torch.bool))
                .view(1, 1, seq, seq), persistent=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if self.causal:
            att = att.masked_fill(~self.mask[:, :, :t, :t], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, d, heads, seq, causal=True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, seq, causal)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, layers=2, d=64, heads=4, vocab=256, seq=32):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads, seq) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied, as GPT-2

    def forward(self, idx):
        t = idx.shape[1]
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class MLP(nn.Module):
    def __init__(self, inputs=32, hidden=64, classes=10):
        super().__init__()
        self.l1 = nn.Linear(inputs, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.l3(torch.tanh(self.l2(torch.relu(self.l1(x)))))


class CNN(nn.Module):
    """A small convolutional net with every window op: padded and strided
    convolutions (one grouped), batch normalisation, ReLU, max and average
    pooling and a residual."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.b1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.b2 = nn.BatchNorm2d(16)
        self.c3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = nn.Linear(32, classes)

    def forward(self, img):
        x = torch.relu(self.b1(self.c1(img)))
        x = nn.functional.max_pool2d(x, 3, stride=2, padding=1)
        x = torch.relu(x + self.b2(self.c2(x)))
        x = nn.functional.avg_pool2d(self.c3(x), 2)
        return self.head(x.mean((2, 3)))


class ViT(nn.Module):
    def __init__(self, layers=2, d=64, heads=4, image=32, patch=8, classes=10):
        super().__init__()
        n = (image // patch) ** 2
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, n + 1, d) * 0.02)
        self.blocks = nn.ModuleList(
            Block(d, heads, n + 1, causal=False) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, img):
        x = self.patch(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x)[:, 0])


def make(name):
    """(module in eval mode, example input, input name) for a model name."""
    torch.manual_seed(0)
    if name == "gpt":
        return GPT().eval(), torch.randint(0, 256, (2, 32)), "tokens"
    if name == "gpt2-small":
        m = GPT(layers=12, d=768, heads=12, vocab=50257, seq=1024).eval()
        return m, torch.randint(0, 50257, (1, 1024)), "tokens"
    if name.startswith("gpt-l"):
        # gpt-lL: L GPT-2-small layers; gpt-lL-vV: with a vocabulary of V.
        spec = name[len("gpt-l"):].split("-v")
        layers = int(spec[0])
        vocab = int(spec[1]) if len(spec) > 1 else 50257
        m = GPT(layers=layers, d=768, heads=12, vocab=vocab, seq=1024).eval()
        return m, torch.randint(0, vocab, (1, 1024)), "tokens"
    if name == "gpt-dp":
        # A small decoder whose training step is worth splitting on a
        # 2-core machine (bench/dp_train.py).
        m = GPT(layers=4, d=256, heads=4, vocab=2048, seq=64).eval()
        return m, torch.randint(0, 2048, (1, 64)), "tokens"
    if name == "gpt-bench":
        # A mid-sized decoder for CPU throughput benchmarks.
        m = GPT(layers=6, d=384, heads=6, vocab=8192, seq=256).eval()
        return m, torch.randint(0, 8192, (1, 256)), "tokens"
    if name == "mlp":
        return MLP().eval(), torch.randn(4, 32), "x"
    if name == "cnn":
        return CNN().eval(), torch.randn(2, 3, 16, 16), "image"
    if name == "vit":
        return ViT().eval(), torch.randn(2, 3, 32, 32), "image"
    if name == "resnet18-train":
        # resnet18 with 10 classes on 64x64 images: the training tests'
        # convolutional model (batch normalisation, pooling, residuals).
        import torchvision
        m = torchvision.models.resnet18(num_classes=10).eval()
        return m, torch.randn(2, 3, 64, 64), "image"
    import torchvision
    ctor = getattr(torchvision.models, name)
    return ctor().eval(), torch.randn(1, 3, 224, 224), "image"


def export(name, path, opset=17, dynamic_batch=True):
    model, example, input_name = make(name)
    dynamic = {input_name: {0: "batch"}, "output": {0: "batch"}} \
        if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(model, (example,), path, opset_version=opset,
                          input_names=[input_name], output_names=["output"],
                          dynamic_axes=dynamic)


def cached_export(name, cache, opset=17):
    """The ONNX file of model `name` at `opset`, exported once into cache."""
    import os
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, f"{name}-opset{opset}.onnx")
    if not os.path.exists(path):
        export(name, path + ".tmp", opset)
        os.replace(path + ".tmp", path)
    return path


def export_train(name, path, opset=17):
    """Exports model `name` for training, as docs/training.md says: no
    constant folding (parameters keep their names, a tied weight stays one
    initializer), training mode, a dynamic batch axis. Returns the module
    (with the exported weights) and its input name."""
    import warnings
    model, example, input_name = make(name)
    model.train()
    with warnings.catch_warnings():
        # torch's tracer warns about every BatchNorm counter it drops.
        warnings.simplefilter("ignore")
        _export_for_training(model, example, input_name, path, opset)
    return model, input_name


def _export_for_training(model, example, input_name, path, opset):
    torch.onnx.export(model, (example,), path, opset_version=opset,
                      input_names=[input_name], output_names=["output"],
                      dynamic_axes={input_name: {0: "batch"},
                                    "output": {0: "batch"}},
                      do_constant_folding=False,
                      training=torch.onnx.TrainingMode.TRAINING)
