//===- PPIndexingOps.td - gathers and scatters by index tuples, scans --*- tablegen -*-===//
//
// ONNX GatherND, ScatterND, GatherElements, CumSum and Range with run-time
// operands. Shape
// rules are in ShapeInference.h, verifiers and costs in PPIndexingOps.cpp,
// gradient rules in Gradients.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPINDEXINGOPS_TD
#define PPC_DIALECT_PP_IR_PPINDEXINGOPS_TD

def PP_GatherNDOp : PP_Op<"gather_nd", [Pure, PP_Grad],
                          ["getFlops", "getBytesMoved"]> {
  let summary = "take slices of data at index tuples (ONNX GatherND)";
  let description = [{
    The last axis of `indices` holds tuples of m indices into the axes
    `batch_dims` .. `batch_dims + m - 1` of `data`; the first `batch_dims`
    axes of both are batch axes that match. The result is
    indices.shape[:-1] ++ data.shape[batch_dims + m:]. Negative indices
    count from the end of their axis.
  }];
  let arguments = (ins PP_Tensor:$data, PP_IndexTensor:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$batch_dims);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_ScatterNDOp : PP_Op<"scatter_nd", [Pure, PP_Grad], ["getFlops"]> {
  let summary = "data with slices at index tuples replaced or combined with updates";
  let description = [{
    ONNX ScatterND, and (with `batch_dims`) the adjoint of pp.gather_nd:
    the result is `data`, where each index tuple of `indices` selects a
    slice that becomes the tuple's slice of `updates` (`reduction` "none")
    or that slice combined with it ("add", "mul", "max", "min"), tuple after
    tuple in order. updates.shape = indices.shape[:-1] ++
    data.shape[batch_dims + m:].
  }];
  let arguments = (ins PP_Tensor:$data, PP_IndexTensor:$indices,
                       PP_Tensor:$updates,
                       DefaultValuedAttr<StrAttr, "\"none\"">:$reduction,
                       DefaultValuedAttr<I64Attr, "0">:$batch_dims);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat = "$data `,` $indices `,` $updates attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_GatherElementsOp : PP_Op<"gather_elements", [Pure, PP_Grad],
                                ["getFlops", "getBytesMoved"]> {
  let summary = "take one element of data per index along an axis (ONNX GatherElements)";
  let description = [{
    `indices` has data's rank and, on every axis but `axis`, at most data's
    size; the result has indices' shape, and its element at (i0, .., ir-1)
    is data's at the same position with the index along `axis` replaced by
    indices[i0, .., ir-1] (negative ones count from the end of the axis;
    out of range is a kernel error). torch.gather.
  }];
  let arguments = (ins PP_Tensor:$data, PP_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs PP_Tensor:$result);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_GatherElementsGradOp : PP_Op<"gather_elements_grad", [Pure], ["getFlops"]> {
  let summary = "the adjoint of pp.gather_elements: grad added into zeros of data's shape";
  let description = [{
    Each element of `grad` (indices' shape) is added to the place of the
    result (data's shape) that pp.gather_elements read it from; places no
    index names are 0. A place's terms are added in the order of their
    indices along `axis`, on every backend, so the sum is the same bits.
  }];
  let arguments = (ins PP_IndexTensor:$indices, PP_FloatTensor:$grad,
                       I64Attr:$axis);
  let results = (outs PP_FloatTensor:$result);
  let assemblyFormat =
      "$indices `,` $grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def PP_CumSumOp : PP_Op<"cumsum", [Pure, SameOperandsAndResultType, PP_Grad]> {
  let summary = "running sum along one axis (ONNX CumSum)";
  let description = [{
    Element i is the sum of elements 0..i along `axis` (i+1.. the end with
    `reverse`); `exclusive` leaves out element i itself.
  }];
  let arguments = (ins PP_NumericTensor:$input, I64Attr:$axis,
                       UnitAttr:$exclusive, UnitAttr:$reverse);
  let results = (outs PP_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def PP_RangeOp : PP_Op<"range", [Pure, PP_Grad]> {
  let summary = "start, start + delta, ... of a length fixed at compile time";
  let description = [{
    ONNX Range whose operands are known only at run time (constant ones
    fold in the importer). The result's length is static: the kernel fails
    when max(ceil((limit - start) / delta), 0) differs from it.
  }];
  let arguments = (ins PP_NumericTensor:$start, PP_NumericTensor:$limit,
                       PP_NumericTensor:$delta);
  let results = (outs PP_NumericTensor:$result);
  let assemblyFormat = "$start `,` $limit `,` $delta attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // PPC_DIALECT_PP_IR_PPINDEXINGOPS_TD
