//===- PPTrainingOps.td - losses and backward ops ---------*- tablegen -*-===//
//
// What -pp-autodiff adds to a model: a loss, and the ops that gradient rules
// build where no forward op serves (the backward of an activation, of a
// normalisation, of an embedding lookup). Each has a CPU kernel of the same
// name in the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPTRAININGOPS_TD
#define PPC_DIALECT_PP_IR_PPTRAININGOPS_TD

//===----------------------------------------------------------------------===//
// Losses: scalar results, already scaled so that summing the micro-batches'
// losses gives the mean over the global batch.
//===----------------------------------------------------------------------===//

def PP_CrossEntropyOp : PP_Op<"cross_entropy", [Pure, PP_Grad]> {
  let summary = "scale * sum over positions of -log softmax(logits)[label]";
  let description = [{
    The classes are the last axis of `logits`; `labels` has the other axes
    and holds class indices. `scale` is 1 / (positions of the global batch).
  }];
  let arguments = (ins PP_FloatTensor:$logits, PP_IndexTensor:$labels,
                       F64Attr:$scale);
  let results = (outs PP_FloatTensor:$loss);
  let assemblyFormat =
      "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
}

def PP_CrossEntropyGradOp : PP_Op<"cross_entropy_grad", [Pure]> {
  let summary = "scale * (softmax(logits) - onehot(labels))";
  let arguments = (ins PP_FloatTensor:$logits, PP_IndexTensor:$labels,
                       F64Attr:$scale);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
}

def PP_MseLossOp : PP_Op<"mse_loss", [Pure, PP_Grad]> {
  let summary = "scale * sum of (prediction - target)^2";
  let arguments = (ins PP_FloatTensor:$prediction, PP_FloatTensor:$target,
                       F64Attr:$scale);
  let results = (outs PP_FloatTensor:$loss);
  let assemblyFormat = "$prediction `,` $target attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_MseLossGradOp : PP_Op<"mse_loss_grad", [Pure]> {
  let summary = "2 * scale * (prediction - target)";
  let arguments = (ins PP_FloatTensor:$prediction, PP_FloatTensor:$target,
                       F64Attr:$scale);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$prediction `,` $target attr-dict `:` "
                       "functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Backward ops
//===----------------------------------------------------------------------===//

class PP_ActivationGradOp<string mnemonic, string what>
    : PP_Op<mnemonic, [Pure]> {
  let summary = what;
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}
def PP_ReluGradOp : PP_ActivationGradOp<"relu_grad", "grad where x > 0, else 0">;
def PP_TanhGradOp
    : PP_ActivationGradOp<"tanh_grad", "grad * (1 - y^2), y = tanh(x) given">;
def PP_SigmoidGradOp
    : PP_ActivationGradOp<"sigmoid_grad", "grad * y * (1 - y), y = sigmoid(x) given">;
def PP_HardSwishGradOp : PP_ActivationGradOp<"hard_swish_grad",
    "grad * hard_swish'(x): 0 below -3, x / 3 + 1 / 2 up to 3, then 1">;
def PP_HardSigmoidGradOp : PP_Op<"hard_sigmoid_grad", [Pure]> {
  let summary = "grad * alpha where 0 < alpha * x + beta < 1, else 0";
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad,
                       F64Attr:$alpha, F64Attr:$beta);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}
def PP_GeluGradOp : PP_Op<"gelu_grad", [Pure]> {
  let summary = "grad * gelu'(x), exact or tanh-approximate";
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad,
                       UnitAttr:$approximate);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def PP_SoftmaxGradOp : PP_Op<"softmax_grad", [Pure]> {
  let summary = "y * (grad - sum(grad * y)) along `axis`, y the softmax";
  let description = [{ With `log`, y is log_softmax: grad - exp(y) * sum(grad). }];
  let arguments = (ins PP_FloatTensor:$output, PP_FloatTensor:$grad,
                       I64Attr:$axis, UnitAttr:$log);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$output `,` $grad attr-dict `:` functional-type(operands, results)";
}

def PP_LayerNormGradOp : PP_Op<"layer_norm_grad", [Pure]> {
  let summary = "gradient of layer_norm's input";
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       PP_FloatTensor:$mean, PP_FloatTensor:$inv_std_dev,
                       PP_FloatTensor:$grad, I64Attr:$axis);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale `,` $mean `,` $inv_std_dev `,` $grad "
                       "attr-dict `:` functional-type(operands, results)";
}

def PP_LayerNormParamGradOp : PP_Op<"layer_norm_param_grad", [Pure]> {
  let summary = "gradients of layer_norm's scale and bias";
  let description = [{
    scale: sum over the leading axes of grad * (x - mean) * inv_std_dev;
    bias: sum of grad. A weight gradient: it runs in the W part.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$mean,
                       PP_FloatTensor:$inv_std_dev, PP_FloatTensor:$grad,
                       I64Attr:$axis);
  let results = (outs PP_FloatTensor:$scale_grad, PP_FloatTensor:$bias_grad);
  let assemblyFormat = "$input `,` $mean `,` $inv_std_dev `,` $grad "
                       "attr-dict `:` functional-type(operands, results)";
}

def PP_BatchNormGradOp : PP_Op<"batch_norm_grad", [Pure]> {
  let summary = "gradient of batch_norm_train's input";
  let description = [{
    scale * inv_std_dev * (grad - mean(grad) - xhat * mean(grad * xhat)),
    the means over the batch and spatial axes of each channel.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       PP_FloatTensor:$mean, PP_FloatTensor:$inv_std_dev,
                       PP_FloatTensor:$grad);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale `,` $mean `,` $inv_std_dev `,` $grad "
                       "attr-dict `:` functional-type(operands, results)";
}

def PP_BatchNormParamGradOp : PP_Op<"batch_norm_param_grad", [Pure]> {
  let summary = "gradients of batch_norm_train's scale and bias";
  let description = [{
    Per channel, scale: the sum of grad * (x - mean) * inv_std_dev; bias:
    the sum of grad. A weight gradient: it runs in the W part.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$mean,
                       PP_FloatTensor:$inv_std_dev, PP_FloatTensor:$grad);
  let results = (outs PP_FloatTensor:$scale_grad, PP_FloatTensor:$bias_grad);
  let assemblyFormat = "$input `,` $mean `,` $inv_std_dev `,` $grad "
                       "attr-dict `:` functional-type(operands, results)";
}

def PP_ConvInputGradOp : PP_Op<"conv_input_grad", [Pure], ["getFlops"]> {
  let summary = "gradient of conv's input (the transposed convolution)";
  let description = [{
    The attributes are the forward conv's; the result has its input's
    shape.
  }];
  let arguments = (ins PP_FloatTensor:$grad, PP_FloatTensor:$filter,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $filter attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_ConvFilterGradOp : PP_Op<"conv_filter_grad", [Pure], ["getFlops"]> {
  let summary = "gradient of conv's filter, summed over the batch";
  let description = [{
    The attributes are the forward conv's; the result has the filter's
    shape. A weight gradient: it runs in the W part.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_MaxPoolGradOp : PP_Op<"max_pool_grad", [Pure]> {
  let summary = "grad routed to the first maximum of each window";
  let description = [{
    The attributes are the forward max_pool's; the result has its input's
    shape. A window whose maximum appears more than once sends its gradient
    to the first in row-major order, as PyTorch does.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$grad,
                       DenseI64ArrayAttr:$kernel_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations, UnitAttr:$ceil_mode);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` "
                       "functional-type(operands, results)";
}

def PP_AvgPoolGradOp : PP_Op<"avg_pool_grad", [Pure]> {
  let summary = "grad spread evenly over each window";
  let description = [{
    The attributes are the forward avg_pool's; the result has its input's
    shape.
  }];
  let arguments = (ins PP_FloatTensor:$grad, DenseI64ArrayAttr:$kernel_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       UnitAttr:$ceil_mode, UnitAttr:$count_include_pad);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` type($grad) `->` type($result)";
}

def PP_GatherGradOp : PP_Op<"gather_grad", [Pure]> {
  let summary = "scatter-add grad into zeros of the data's shape";
  let arguments = (ins PP_IndexTensor:$indices, PP_FloatTensor:$grad,
                       I64Attr:$axis);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$indices `,` $grad attr-dict `:` functional-type(operands, results)";
}

def PP_SliceGradOp : PP_Op<"slice_grad", [Pure]> {
  let summary = "grad placed where pp.slice took it from, zeros elsewhere";
  let arguments = (ins PP_FloatTensor:$grad, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$steps);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` type($grad) `->` type($result)";
}

#endif // PPC_DIALECT_PP_IR_PPTRAININGOPS_TD
