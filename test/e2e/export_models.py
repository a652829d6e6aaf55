"""The models test/e2e/export_check.py exports with the current torch: small
configurations of Hugging Face transformers and timm models, torchvision's
catalogue, and torch.nn's sequence models, all with random weights (nothing
is downloaded).

make(name) -> Model: the module in eval mode, one micro-batch of example
inputs, the axis that holds the batch, and how to draw a whole batch.
"""
import dataclasses

import torch

# One micro-batch holds MICROBATCH samples; a token sequence is SEQ long.
MICROBATCH = 2
SEQ = 16
VOCAB = 256

# The transformers and timm models of issue 16, and a control: the
# project's own GPT (test/e2e/models.py), which ppc runs today, so that the
# harness itself is seen to pass where the importer does.
HF_TIMM = ["gpt2", "llama", "bert", "convnext", "vit", "ppc-gpt"]
# Those that also train (cross-entropy on their logits, as ppc -train).
TRAIN = {"gpt2", "llama", "ppc-gpt"}
SEQUENCE = ["nn-transformer", "nn-lstm", "nn-gru"]


@dataclasses.dataclass
class Model:
    module: torch.nn.Module
    inputs: dict            # input name -> one micro-batch (example) tensor
    batch_axis: int = 0     # of every input and of the output
    vocab: int = 0          # > 0: the inputs are token ids below vocab

    def batch(self, microbatches, generator):
        """A batch of `microbatches` micro-batches: {name: tensor}."""
        out = {}
        for name, ex in self.inputs.items():
            shape = list(ex.shape)
            shape[self.batch_axis] *= microbatches
            if self.vocab:
                out[name] = torch.randint(0, self.vocab, shape,
                                          generator=generator)
            else:
                out[name] = torch.randn(shape, generator=generator)
        return out


class LogitsOf(torch.nn.Module):
    """A causal language model's logits for token ids, without the KV
    cache. An all-ones attention mask (what a tokenizer gives an unpadded
    batch) is passed because without one transformers 5 looks for packed
    sequences with torch.diff, which the TorchScript exporter
    (dynamo=False) cannot export."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model(input_ids=tokens,
                          attention_mask=torch.ones_like(tokens),
                          use_cache=False).logits


class HiddenOf(torch.nn.Module):
    """An encoder's last hidden state for token ids (mask as LogitsOf)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model(input_ids=tokens,
                          attention_mask=torch.ones_like(tokens)
                          ).last_hidden_state


class FirstOutput(torch.nn.Module):
    """An RNN's output sequence (not its final states)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def _tokens():
    return {"tokens": torch.randint(0, VOCAB, (MICROBATCH, SEQ))}


def _image(size):
    return {"image": torch.randn(MICROBATCH, 3, size, size)}


def _hf(name):
    import transformers as tf
    # Dropout off, so that PyTorch's training loop is deterministic; the
    # special token ids inside the small vocabulary.
    ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if name == "gpt2":
        cfg = tf.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=64,
                            n_layer=2, n_head=4, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0, **ids)
        return Model(LogitsOf(tf.GPT2LMHeadModel(cfg)), _tokens(),
                     vocab=VOCAB)
    if name == "llama":
        # RMSNorm, rotary embeddings, SwiGLU, grouped-query attention
        # (2 key/value heads for 4 query heads).
        cfg = tf.LlamaConfig(vocab_size=VOCAB, hidden_size=64,
                             intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=64,
                             attention_dropout=0.0, **ids)
        return Model(LogitsOf(tf.LlamaForCausalLM(cfg)), _tokens(),
                     vocab=VOCAB)
    cfg = tf.BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=0)
    return Model(HiddenOf(tf.BertModel(cfg, add_pooling_layer=False)),
                 _tokens(), vocab=VOCAB)


def _timm(name):
    import timm
    if name == "convnext":
        m = timm.create_model("convnext_atto", pretrained=False,
                              num_classes=10)
        return Model(m, _image(32))
    m = timm.create_model("vit_tiny_patch16_224", pretrained=False,
                          num_classes=10, img_size=32, patch_size=8)
    return Model(m, _image(32))


def _sequence(name):
    """torch.nn's sequence models in their default layout: sequence first,
    the batch on axis 1."""
    if name == "nn-transformer":
        m = torch.nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2,
                                 num_decoder_layers=2, dim_feedforward=64,
                                 dropout=0.0)
        return Model(m, {"src": torch.randn(8, MICROBATCH, 32),
                         "tgt": torch.randn(6, MICROBATCH, 32)},
                     batch_axis=1)
    rnn = {"nn-lstm": torch.nn.LSTM, "nn-gru": torch.nn.GRU}[name]
    return Model(FirstOutput(rnn(16, 32, num_layers=2)),
                 {"x": torch.randn(8, MICROBATCH, 16)}, batch_axis=1)


# torchvision: the images of the weights' transforms (224, inception_v3
# 299; segmentation at 224 instead of 520, video clips of 4 frames of
# 64 x 64 instead of 16 of 112, where the model allows, for a 2-core
# machine), and the models left out for their size.
TV_SIZE = {"inception_v3": 299}
# Parameters (millions, with 10 classes) of the models over 150M.
TV_TOO_LARGE = {"convnext_large": 196, "regnet_y_128gf": 637,
                "vit_h_14": 632, "vit_l_16": 303, "vit_l_32": 305}


def torchvision_names():
    """The current torchvision's classification, segmentation and video
    models: 'tv-NAME', 'tv-seg-NAME', 'tv-video-NAME'."""
    import torchvision.models as tvm
    names = [f"tv-{n}" for n in tvm.list_models(module=tvm)]
    names += [f"tv-seg-{n}" for n in tvm.list_models(module=tvm.segmentation)]
    names += [f"tv-video-{n}" for n in tvm.list_models(module=tvm.video)]
    return names


class OutOf(torch.nn.Module):
    """A segmentation model's 'out' map (its dict output)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model(image)["out"]


def _torchvision(name):
    import torchvision.models as tvm
    if name.startswith("tv-seg-"):
        base = name[len("tv-seg-"):]
        m = tvm.get_model(base, weights=None, weights_backbone=None,
                          num_classes=4, aux_loss=False)
        return Model(OutOf(m), _image(224))
    if name.startswith("tv-video-"):
        base = name[len("tv-video-"):]
        m = tvm.get_model(base, weights=None, num_classes=10)
        # (batch, channels, frames, height, width); MViT's are fixed, S3D
        # pools 7 x 7 at the end, so wants 224 x 224 and 16 frames.
        frames, size = {"mvit_v1_b": (16, 224), "mvit_v2_s": (16, 224),
                        "s3d": (16, 224)}.get(base, (4, 64))
        return Model(m, {"video": torch.randn(MICROBATCH, 3, frames, size,
                                              size)})
    base = name[len("tv-"):]
    kw = {"weights": None, "num_classes": 10}
    size = TV_SIZE.get(base, 224)
    if base in ("inception_v3", "googlenet"):
        kw["aux_logits"] = False
        kw["init_weights"] = True
    return Model(tvm.get_model(base, **kw), _image(size))


def too_large(name):
    """Millions of parameters of a model left out for its size, else 0."""
    return TV_TOO_LARGE.get(name[len("tv-"):], 0) if name.startswith(
        "tv-") else 0


def make(name):
    """The model `name` (HF_TIMM, SEQUENCE or torchvision_names()), in eval
    mode, its weights drawn from seed 0."""
    torch.manual_seed(0)
    if name in ("gpt2", "llama", "bert"):
        m = _hf(name)
    elif name in ("convnext", "vit"):
        m = _timm(name)
    elif name == "ppc-gpt":
        import models
        module, _, _ = models.make("gpt")
        m = Model(module, {"tokens": torch.randint(0, 256, (MICROBATCH, 32))},
                  vocab=256)
    elif name in SEQUENCE:
        m = _sequence(name)
    elif name.startswith("tv-"):
        m = _torchvision(name)
    else:
        raise ValueError(f"unknown model '{name}'")
    m.module.eval()
    return m


def parameters(model):
    return sum(p.numel() for p in model.module.parameters())
