"""PyTorch's side of the training checks: the loop a pipeline computes.

A batch is split into micro-batches; each one's loss, divided by their
count, is backpropagated and accumulated; then the optimizer steps (after
clipping the global norm, when asked). Batches are taken in order,
wrapping, as pprun --data takes them. With `autocast`, each micro-batch's
forward and loss run under torch.autocast("cpu", dtype=torch.bfloat16)
(ppc -precision=bf16's reference); the parameters, gradients and
optimizer stay fp32.
"""
import contextlib

import torch
import torch.nn.functional as F


def loss_of(model, x, y):
    out = model(x)
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def backward(model, x, y, microbatches, autocast=False):
    """The batch's loss, its gradient accumulated over `microbatches`."""
    total = 0.0
    for part_x, part_y in zip(x.chunk(microbatches), y.chunk(microbatches)):
        with (torch.autocast("cpu", dtype=torch.bfloat16) if autocast
              else contextlib.nullcontext()):
            loss = loss_of(model, part_x, part_y) / microbatches
        loss.backward()
        total += loss.item()
    return total


def torch_curve(model, state, optimizer, steps, lr, batch, x, y,
                microbatches, grad_clip=0.0, autocast=False, **kw):
    """Losses of `steps` steps from `state`, and the trained model."""
    model.load_state_dict(state)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, **kw)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, **kw)
    losses, pos = [], 0
    for _ in range(steps):
        idx = torch.arange(pos, pos + batch) % x.shape[0]
        pos = (pos + batch) % x.shape[0]
        opt.zero_grad()
        losses.append(backward(model, x[idx], y[idx], microbatches,
                               autocast))
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
    return losses, model
