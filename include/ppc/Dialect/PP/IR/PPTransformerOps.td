//===- PPTransformerOps.td - RMS norm, rotary embedding, attention -*- tablegen -*-===//
//
// The opset-23 transformer ops (ONNX RMSNormalization, RotaryEmbedding,
// Attention) and the backward ops their gradient rules build. Shape rules
// are in ShapeInference.h, verifiers and costs in PPTransformerOps.cpp,
// gradient rules in Gradients.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPTRANSFORMEROPS_TD
#define PPC_DIALECT_PP_IR_PPTRANSFORMEROPS_TD

def PP_RmsNormOp : PP_Op<"rms_norm", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "RMS normalisation over the axes from `axis` on";
  let description = [{
    x / sqrt(mean(x^2) + epsilon) * scale, the mean over the axes from
    `axis` on; `scale` has exactly the normalised axes' shape (the importer
    broadcasts ONNX's smaller scales). Also returns 1 / sqrt(mean(x^2) +
    epsilon) (the input's shape with the normalised axes set to 1), which
    the backward uses.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       I64Attr:$axis, F64Attr:$epsilon);
  let results = (outs PP_FloatTensor:$result, PP_FloatTensor:$inv_rms);
  let assemblyFormat = "$input `,` $scale attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_RotaryEmbeddingOp
    : PP_Op<"rotary_embedding", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "rotary position embedding (ONNX RotaryEmbedding)";
  let description = [{
    `input` is batch x heads x sequence x head_size, or batch x sequence x
    hidden with `num_heads` heads. The first `rotary_dim` channels of each
    head (all when 0) rotate pairwise by the angle whose cosine and sine
    `cos` and `sin` hold: pairs (i, i + rotary_dim / 2), or (2i, 2i + 1)
    with `interleaved`; the rest pass through. With `position_ids` (batch x
    sequence) the caches are max_position x rotary_dim / 2 and are read at
    each token's position; without, batch x sequence x rotary_dim / 2.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$cos,
                       PP_FloatTensor:$sin,
                       Optional<PP_IndexTensor>:$position_ids,
                       UnitAttr:$interleaved,
                       DefaultValuedAttr<I64Attr, "0">:$num_heads,
                       DefaultValuedAttr<I64Attr, "0">:$rotary_dim);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $cos `,` $sin (`,` $position_ids^)? "
                       "attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_AttentionOp : PP_Op<"attention", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "scaled dot-product attention (ONNX Attention, 4-D form)";
  let description = [{
    q is batch x q_heads x q_sequence x head_size, k batch x kv_heads x
    kv_sequence x head_size, v batch x kv_heads x kv_sequence x v_head_size;
    q head h reads kv head h / (q_heads / kv_heads) (grouped-query
    attention). Scores are scale * q k^T plus the bias: the optional `mask`,
    broadcast to batch x q_heads x q_sequence x kv_sequence, is added
    (float) or keeps the positions where it is true (i1), and `is_causal`
    keeps key j <= query i. Softmax over the keys, times v. A query whose
    every key is masked gives zeros. Also returns the log-sum-exp of each
    query's scores (batch x q_heads x q_sequence; -inf for a masked row),
    which the backward uses to recompute the probabilities.
  }];
  let arguments = (ins PP_FloatTensor:$q, PP_FloatTensor:$k, PP_FloatTensor:$v,
                       Optional<PP_Tensor>:$mask, F64Attr:$scale,
                       UnitAttr:$is_causal);
  let results = (outs PP_FloatTensor:$result, PP_FloatTensor:$lse);
  let assemblyFormat = "$q `,` $k `,` $v (`,` $mask^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

def PP_RmsNormGradOp : PP_Op<"rms_norm_grad", [Pure], ["getFlops"]> {
  let summary = "gradient of rms_norm's input";
  let description = [{
    inv * g - x * inv^3 * mean(g * x) with g = grad * scale, the mean over
    the normalised axes. (The scale's gradient, the sum over the leading
    axes of grad * x * inv, is layer_norm_param_grad's with a zero mean.)
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       PP_FloatTensor:$inv_rms, PP_FloatTensor:$grad,
                       I64Attr:$axis);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale `,` $inv_rms `,` $grad attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_RotaryEmbeddingCacheGradOp : PP_Op<"rotary_embedding_cache_grad", [Pure]> {
  let summary = "gradients of rotary_embedding's cosines and sines, per token";
  let description = [{
    From the forward's input x and the result's gradient g, for each token
    and rotated pair (x1, x2): cos gets g1 x1 + g2 x2 and sin g2 x1 - g1 x2,
    summed over the heads; both results are batch x sequence x
    rotary_dim / 2 (the gradient rule scatters them to the caches' rows by
    position when there are position_ids). The attributes are the
    forward's.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad,
                       UnitAttr:$interleaved,
                       DefaultValuedAttr<I64Attr, "0">:$num_heads,
                       DefaultValuedAttr<I64Attr, "0">:$rotary_dim);
  let results = (outs PP_FloatTensor:$cos_grad, PP_FloatTensor:$sin_grad);
  let assemblyFormat = "$input `,` $grad attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_AttentionGradOp : PP_Op<"attention_grad", [Pure], ["getFlops"]> {
  let summary = "gradients of attention's q, k and v";
  let description = [{
    From the forward's operands, its result and log-sum-exp, and the
    result's gradient: the probabilities are recomputed from the scores
    (never stored), and dq, dk, dv summed over the query heads that share a
    kv head. The attributes are the forward's.
  }];
  let arguments = (ins PP_FloatTensor:$q, PP_FloatTensor:$k, PP_FloatTensor:$v,
                       PP_FloatTensor:$out, PP_FloatTensor:$lse,
                       PP_FloatTensor:$grad, Optional<PP_Tensor>:$mask,
                       F64Attr:$scale, UnitAttr:$is_causal);
  let results = (outs PP_FloatTensor:$dq, PP_FloatTensor:$dk,
                      PP_FloatTensor:$dv);
  let assemblyFormat = "$q `,` $k `,` $v `,` $out `,` $lse `,` $grad "
                       "(`,` $mask^)? attr-dict `:` "
                       "functional-type(operands, results)";
}

#endif // PPC_DIALECT_PP_IR_PPTRANSFORMEROPS_TD
