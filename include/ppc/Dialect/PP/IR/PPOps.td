//===- PPOps.td - pp tensor ops -----------------------------*- tablegen -*-===//
//
// Static-shaped tensor ops. Verifiers share their shape rules with the ONNX
// importer (ShapeInference.h), so that a rule is written once.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPOPS_TD
#define PPC_DIALECT_PP_IR_PPOPS_TD

include "ppc/Dialect/PP/IR/PPDialect.td"
include "ppc/Dialect/PP/IR/PPInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

def PP_ElementType : AnyTypeOf<[AnyFloat, AnyInteger]>;
def PP_Tensor : StaticShapeTensorOf<[PP_ElementType]>;
def PP_FloatTensor : StaticShapeTensorOf<[AnyFloat]>;
def PP_NumericTensor : StaticShapeTensorOf<[AnyFloat, AnyInteger]>;
def PP_BoolTensor : StaticShapeTensorOf<[I1]>;
def PP_IndexTensor : StaticShapeTensorOf<[I32, I64]>;

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

// Every op has the cost interface; `costOverrides` names the methods an op
// implements itself instead of the elementwise defaults.
class PP_Op<string mnemonic, list<Trait> traits = [],
            list<string> costOverrides = []>
    : Op<PP_Dialect, mnemonic, !listconcat(traits,
          [DeclareOpInterfaceMethods<PP_CostOpInterface, costOverrides>])>;

// Ops with a gradient rule (-pp-autodiff) implement it through this.
def PP_Grad : DeclareOpInterfaceMethods<PP_GradientOpInterface>;

class PP_UnaryOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : PP_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

class PP_FloatUnaryOp<string mnemonic, string what, list<Trait> traits = []>
    : PP_UnaryOp<mnemonic, PP_FloatTensor, traits> {
  let summary = what # ", elementwise";
}

// Binary ops broadcast their operands numpy-style (ONNX multidirectional
// broadcasting); the result shape is the broadcast shape.
class PP_BinaryOp<string mnemonic, Type operandType, Type resultType,
                  list<Trait> traits = []>
    : PP_Op<mnemonic, !listconcat(traits, [Pure])> {
  let arguments = (ins operandType:$lhs, operandType:$rhs);
  let results = (outs resultType:$result);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

class PP_ArithOp<string mnemonic, string what, list<Trait> traits = []>
    : PP_BinaryOp<mnemonic, PP_NumericTensor, PP_NumericTensor, traits> {
  let summary = what # ", elementwise with broadcasting";
}
class PP_CompareOp<string mnemonic, string what>
    : PP_BinaryOp<mnemonic, PP_NumericTensor, PP_BoolTensor> {
  let summary = "lhs " # what # " rhs, elementwise with broadcasting";
}
class PP_LogicOp<string mnemonic>
    : PP_BinaryOp<mnemonic, PP_BoolTensor, PP_BoolTensor> {
  let summary = "logical " # mnemonic # ", elementwise with broadcasting";
}

//===----------------------------------------------------------------------===//
// Parameters and constants
//===----------------------------------------------------------------------===//

def PP_ParamOp : PP_Op<"param", [Symbol]> {
  let summary = "a named tensor whose bytes live in the weight store";
  let description = [{
    Declares a weight (an ONNX initializer, by its ONNX name) or a large
    constant. Its bytes are never in the IR: the dialect's weight store holds
    them, keyed by the symbol name. `constant` marks tensors that are not
    trainable (folded constants, integer buffers).

    ```mlir
    pp.param @"fc.weight" : tensor<10x64xf32>
    pp.param constant @mask : tensor<1x1x8x8xi1>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<PP_Tensor>:$type,
                       UnitAttr:$constant);
  let assemblyFormat = "(`constant` $constant^)? $sym_name `:` $type attr-dict";
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def PP_GetParamOp : PP_Op<"get_param",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>],
    ["getFlops", "getBytesMoved"]> {
  let summary = "the value of a pp.param";
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def PP_ConstantOp : PP_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "result"]>],
    ["getFlops", "getBytesMoved"]> {
  let summary = "a small constant tensor";
  let description = [{
    Holds small or splat constants inline. Large non-splat constants become
    `pp.param constant` symbols so that printed IR never carries them.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

def PP_ReluOp : PP_FloatUnaryOp<"relu", "max(x, 0)", [PP_Grad]>;
def PP_SigmoidOp : PP_FloatUnaryOp<"sigmoid", "1 / (1 + exp(-x))", [PP_Grad]>;
def PP_TanhOp : PP_FloatUnaryOp<"tanh", "hyperbolic tangent", [PP_Grad]>;
def PP_ErfOp : PP_FloatUnaryOp<"erf", "Gauss error function", [PP_Grad]>;
def PP_SqrtOp : PP_FloatUnaryOp<"sqrt", "square root", [PP_Grad]>;
def PP_ExpOp : PP_FloatUnaryOp<"exp", "e^x", [PP_Grad]>;
def PP_LogOp : PP_FloatUnaryOp<"log", "natural logarithm", [PP_Grad]>;
def PP_ReciprocalOp : PP_FloatUnaryOp<"reciprocal", "1 / x", [PP_Grad]>;
def PP_FloorOp : PP_FloatUnaryOp<"floor", "round down">;
def PP_CeilOp : PP_FloatUnaryOp<"ceil", "round up">;
def PP_RoundOp : PP_FloatUnaryOp<"round", "round half to even">;
def PP_SinOp : PP_FloatUnaryOp<"sin", "sine", [PP_Grad]>;
def PP_CosOp : PP_FloatUnaryOp<"cos", "cosine", [PP_Grad]>;
def PP_SoftplusOp : PP_FloatUnaryOp<"softplus", "log(1 + exp(x))">;
def PP_NegOp : PP_UnaryOp<"neg", PP_NumericTensor, [PP_Grad]> { let summary = "-x"; }
def PP_AbsOp : PP_UnaryOp<"abs", PP_NumericTensor> { let summary = "|x|"; }
def PP_SignOp : PP_UnaryOp<"sign", PP_NumericTensor> {
  let summary = "-1, 0 or 1 by the sign of x";
}
def PP_NotOp : PP_UnaryOp<"not", PP_BoolTensor> { let summary = "logical not"; }

def PP_GeluOp : PP_UnaryOp<"gelu", PP_FloatTensor, [PP_Grad]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    x * Phi(x), exact (erf) or, with `approximate`, the tanh approximation.
    Recognised from the exporters' decomposed forms by -pp-canonicalize.
  }];
  let arguments = (ins PP_FloatTensor:$input, UnitAttr:$approximate);
}

def PP_LeakyReluOp : PP_UnaryOp<"leaky_relu", PP_FloatTensor> {
  let summary = "x if x >= 0 else alpha * x";
  let arguments = (ins PP_FloatTensor:$input, F64Attr:$alpha);
}

def PP_HardSigmoidOp : PP_UnaryOp<"hard_sigmoid", PP_FloatTensor, [PP_Grad]> {
  let summary = "max(0, min(1, alpha * x + beta))";
  let arguments = (ins PP_FloatTensor:$input, F64Attr:$alpha, F64Attr:$beta);
}

def PP_HardSwishOp : PP_FloatUnaryOp<"hard_swish", "x * max(0, min(1, x / 6 + 1 / 2))",
                                     [PP_Grad]>;

def PP_ClipOp : PP_UnaryOp<"clip", PP_NumericTensor> {
  let summary = "min(max(x, min), max)";
  let description = [{
    Clamps to [min, max]; an absent bound is unbounded. ReLU6 is
    `pp.clip %x {min = 0.0, max = 6.0}`.
  }];
  let arguments = (ins PP_NumericTensor:$input,
                       OptionalAttr<F64Attr>:$min,
                       OptionalAttr<F64Attr>:$max);
  let hasVerifier = 1;
}

def PP_AddOp : PP_ArithOp<"add", "lhs + rhs", [PP_Grad]>;
def PP_SubOp : PP_ArithOp<"sub", "lhs - rhs", [PP_Grad]>;
def PP_MulOp : PP_ArithOp<"mul", "lhs * rhs", [PP_Grad]>;
def PP_DivOp : PP_ArithOp<"div", "lhs / rhs (truncating for integers)", [PP_Grad]>;
def PP_MaxOp : PP_ArithOp<"max", "max(lhs, rhs)">;
def PP_MinOp : PP_ArithOp<"min", "min(lhs, rhs)">;
def PP_PowOp : PP_ArithOp<"pow", "lhs ^ rhs (the exponent may have its own type)", [PP_Grad]>;
def PP_ModOp : PP_ArithOp<"mod", "remainder of lhs / rhs", [PP_Grad]> {
  let description = [{
    ONNX Mod. Without `fmod`, the remainder takes the sign of the divisor
    (Python's `%`, numpy.mod); with `fmod`, the sign of the dividend (C's
    fmod, numpy.fmod). An integer remainder by zero is 0.
  }];
  let arguments = (ins PP_NumericTensor:$lhs, PP_NumericTensor:$rhs,
                       UnitAttr:$fmod);
}
def PP_EqualOp : PP_CompareOp<"equal", "==">;
def PP_LessOp : PP_CompareOp<"less", "<">;
def PP_LessEqualOp : PP_CompareOp<"less_equal", "<=">;
def PP_GreaterOp : PP_CompareOp<"greater", ">">;
def PP_GreaterEqualOp : PP_CompareOp<"greater_equal", ">=">;
def PP_AndOp : PP_LogicOp<"and">;
def PP_OrOp : PP_LogicOp<"or">;
def PP_XorOp : PP_LogicOp<"xor">;

def PP_WhereOp : PP_Op<"where", [Pure, PP_Grad]> {
  let summary = "cond ? lhs : rhs, elementwise with broadcasting";
  let arguments = (ins PP_BoolTensor:$cond, PP_Tensor:$lhs, PP_Tensor:$rhs);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$cond `,` $lhs `,` $rhs attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_CastOp : PP_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "convert elements to the result's element type";
  let description = [{
    Float to integer truncates toward zero; to i1 tests for non-zero;
    as ONNX Cast.
  }];
  let arguments = (ins PP_Tensor:$input);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

def PP_MatMulOp : PP_Op<"matmul", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "matrix product with numpy semantics";
  let description = [{
    1-D operands are promoted to matrices and the added dimension removed from
    the result; leading (batch) dimensions broadcast.
  }];
  let arguments = (ins PP_NumericTensor:$lhs, PP_NumericTensor:$rhs);
  let results = (outs PP_NumericTensor:$result);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_GemmOp : PP_Op<"gemm", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "alpha * op(A) * op(B) + beta * C";
  let description = [{
    A and B are matrices, transposed when `trans_a` / `trans_b` are set; the
    optional C broadcasts to the M x N result.
  }];
  let arguments = (ins PP_FloatTensor:$a, PP_FloatTensor:$b,
                       Optional<PP_FloatTensor>:$c,
                       UnitAttr:$trans_a, UnitAttr:$trans_b,
                       DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F64Attr, "1.0">:$beta);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_ConvOp : PP_Op<"conv", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "N-d grouped convolution (cross-correlation), NCHW";
  let description = [{
    `pads` holds the begin paddings of every spatial axis, then the end
    paddings. Depthwise convolution is `group` = channels.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$filter,
                       Optional<PP_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $filter (`,` $bias^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

class PP_PoolOp<string mnemonic, string what>
    : PP_Op<mnemonic, [Pure, PP_Grad], ["getFlops"]> {
  let summary = what # " pooling over the spatial axes, NCHW";
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_MaxPoolOp : PP_PoolOp<"max_pool", "max"> {
  let results = (outs PP_NumericTensor:$result);
  let arguments = (ins PP_NumericTensor:$input,
                       DenseI64ArrayAttr:$kernel_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations, UnitAttr:$ceil_mode);
}

def PP_AvgPoolOp : PP_PoolOp<"avg_pool", "average"> {
  let results = (outs PP_FloatTensor:$result);
  let arguments = (ins PP_FloatTensor:$input,
                       DenseI64ArrayAttr:$kernel_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       UnitAttr:$ceil_mode, UnitAttr:$count_include_pad);
}

//===----------------------------------------------------------------------===//
// Normalisation and softmax
//===----------------------------------------------------------------------===//

def PP_BatchNormOp : PP_Op<"batch_norm", [Pure], ["getFlops"]> {
  let summary = "batch normalisation with running statistics (inference form)";
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       PP_FloatTensor:$bias, PP_FloatTensor:$mean,
                       PP_FloatTensor:$variance, F64Attr:$epsilon);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale `,` $bias `,` $mean `,` $variance "
                       "attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_BatchNormTrainOp
    : PP_Op<"batch_norm_train", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "batch normalisation with the batch's statistics (training)";
  let description = [{
    ONNX BatchNormalization with training_mode=1. Each channel (axis 1) is
    normalised with the mean and biased variance over the batch and spatial
    axes. Also returns that mean and 1 / sqrt(variance + epsilon) per
    channel (for the backward), and the running statistics after this
    batch: momentum * running + (1 - momentum) * batch. The variance in the
    update is the biased one, as the ONNX operator defines it, or with
    `unbiased_running_var` the unbiased one, as PyTorch keeps it (the
    importer sets it for models PyTorch exported). `ppc -train`
    makes the new running statistics state updates: the runtime writes them
    over the parameters after each training forward. In evaluation
    (`pprun --eval`) the runtime normalises with the running statistics
    instead, as PyTorch's eval mode does.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       PP_FloatTensor:$bias, PP_FloatTensor:$running_mean,
                       PP_FloatTensor:$running_var, F64Attr:$epsilon,
                       F64Attr:$momentum, UnitAttr:$unbiased_running_var);
  let results = (outs PP_FloatTensor:$result, PP_FloatTensor:$mean,
                      PP_FloatTensor:$inv_std_dev,
                      PP_FloatTensor:$new_running_mean,
                      PP_FloatTensor:$new_running_var);
  let assemblyFormat = "$input `,` $scale `,` $bias `,` $running_mean `,` "
                       "$running_var attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_LayerNormOp : PP_Op<"layer_norm", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "layer normalisation over the axes from `axis` on";
  let description = [{
    Also returns the mean and the reciprocal standard deviation (shape of the
    input with the normalised axes set to 1), which the backward uses.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_FloatTensor:$scale,
                       Optional<PP_FloatTensor>:$bias,
                       I64Attr:$axis, F64Attr:$epsilon);
  let results = (outs PP_FloatTensor:$result, PP_FloatTensor:$mean,
                      PP_FloatTensor:$inv_std_dev);
  let assemblyFormat = "$input `,` $scale (`,` $bias^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

class PP_SoftmaxBase<string mnemonic, string what>
    : PP_Op<mnemonic, [Pure, SameOperandsAndResultType, PP_Grad], ["getFlops"]> {
  let summary = what # " along one axis";
  let arguments = (ins PP_FloatTensor:$input, I64Attr:$axis);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}
def PP_SoftmaxOp : PP_SoftmaxBase<"softmax", "softmax">;
def PP_LogSoftmaxOp : PP_SoftmaxBase<"log_softmax", "log of softmax">;

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class PP_ReduceOp<string mnemonic, string what, list<Trait> traits = []>
    : PP_Op<mnemonic, !listconcat(traits, [Pure]), ["getFlops"]> {
  let summary = what # " over `axes`";
  let description = [{
    `axes` are sorted, distinct and non-negative; with `keepdims` the reduced
    axes stay as size 1.
  }];
  let arguments = (ins PP_NumericTensor:$input, DenseI64ArrayAttr:$axes,
                       UnitAttr:$keepdims);
  let results = (outs PP_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}
def PP_ReduceSumOp : PP_ReduceOp<"reduce_sum", "sum", [PP_Grad]>;
def PP_ReduceMeanOp : PP_ReduceOp<"reduce_mean", "mean", [PP_Grad]>;
def PP_ReduceMaxOp : PP_ReduceOp<"reduce_max", "maximum">;
def PP_ReduceMinOp : PP_ReduceOp<"reduce_min", "minimum">;
def PP_ReduceProdOp : PP_ReduceOp<"reduce_prod", "product">;

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def PP_ReshapeOp : PP_Op<"reshape", [Pure, PP_Grad], ["getFlops", "getBytesMoved"]> {
  let summary = "the same elements in another static shape";
  let arguments = (ins PP_Tensor:$input);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def PP_TransposeOp : PP_Op<"transpose", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "permute axes: result axis i is input axis perm[i]";
  let arguments = (ins PP_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_SliceOp : PP_Op<"slice", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "strided slice, one (start, end, step) per axis";
  let description = [{
    Per axis: elements start, start + step, ... up to but excluding end;
    negative steps walk backward. Bounds are normalised (non-negative, clamped;
    an end of -1 with a negative step means "through index 0").
  }];
  let arguments = (ins PP_Tensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$ends, DenseI64ArrayAttr:$steps);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_ConcatOp : PP_Op<"concat", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "join tensors along one axis";
  let arguments = (ins Variadic<PP_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat =
      "$inputs attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

def PP_GatherOp : PP_Op<"gather", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "take slices along `axis` at the given indices";
  let description = [{
    result = data[:axis] ++ indices.shape ++ data[axis+1:]; negative indices
    count from the end (embeddings are gathers on axis 0).
  }];
  let arguments = (ins PP_Tensor:$data, PP_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_BroadcastOp : PP_Op<"broadcast", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "broadcast to the result shape (ONNX Expand)";
  let arguments = (ins PP_Tensor:$input);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_PadOp : PP_Op<"pad", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "pad (or, with negative amounts, crop) every axis";
  let description = [{
    `pads` holds the begin amounts of every axis, then the end amounts.
  }];
  let arguments = (ins PP_Tensor:$input, DenseI64ArrayAttr:$pads,
                       PP_PadModeAttr:$mode,
                       DefaultValuedAttr<F64Attr, "0.0">:$value);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat =
      "$input $mode attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_ResizeOp : PP_Op<"resize", [Pure], ["getFlops"]> {
  let summary = "resample by nearest, linear or cubic interpolation";
  let description = [{
    `scales` holds the output/input scale of every axis (as ONNX Resize uses it
    in the coordinate transform); `roi` (2 x rank: starts then ends) is used
    by tf_crop_and_resize only.
  }];
  let arguments = (ins PP_FloatTensor:$input, PP_ResizeModeAttr:$mode,
                       PP_CoordinateTransformAttr:$coordinate_transform,
                       PP_NearestModeAttr:$nearest_mode,
                       DenseF64ArrayAttr:$scales,
                       OptionalAttr<DenseF64ArrayAttr>:$roi,
                       DefaultValuedAttr<F64Attr, "-0.75">:$cubic_coeff_a,
                       UnitAttr:$exclude_outside,
                       DefaultValuedAttr<F64Attr, "0.0">:$extrapolation_value);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat = "$input $mode $coordinate_transform $nearest_mode "
                       "attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def PP_TriluOp : PP_Op<"trilu", [Pure, SameOperandsAndResultType]> {
  let summary = "keep the upper or lower triangle of the last two axes";
  let description = [{
    Upper keeps elements with col - row >= k, lower those with col - row <= k;
    the rest become zero.
  }];
  let arguments = (ins PP_Tensor:$input, UnitAttr:$upper,
                       DefaultValuedAttr<I64Attr, "0">:$k);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

include "ppc/Dialect/PP/IR/PPIndexingOps.td"
include "ppc/Dialect/PP/IR/PPTransformerOps.td"
include "ppc/Dialect/PP/IR/PPTrainingOps.td"
include "ppc/Dialect/PP/IR/PPPipelineOps.td"

#endif // PPC_DIALECT_PP_IR_PPOPS_TD
