//===- PPPipelineOps.td - pipeline ops: send, recv, schedule -*- tablegen -*-===//
//
// What -pp-split-stages and -pp-build-schedule produce: the transfers between
// stage functions, and the per-rank action lists that order them.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPPIPELINEOPS_TD
#define PPC_DIALECT_PP_IR_PPPIPELINEOPS_TD

include "ppc/Dialect/PP/IR/PPDialect.td"
include "mlir/IR/OpBase.td"

def PP_SendOp : Op<PP_Dialect, "send"> {
  let summary = "send tensors to a later (or, for gradients, earlier) stage";
  let description = [{
    Every tensor this stage hands to stage `to` for one micro-batch, as one
    message: several tensors of any dtype are packed together, so a boundary
    costs one transfer per micro-batch whatever crosses it. A tensor used
    several stages later (a skip connection) is sent directly to its
    consumer, not forwarded through the stages between.

    ```mlir
    pp.send %h, %mask to 2 : tensor<8x64xf32>, tensor<8x8xi1>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$values, I64Attr:$to);
  let assemblyFormat = "$values `to` $to attr-dict `:` type($values)";
  let hasVerifier = 1;
}

def PP_RecvOp : Op<PP_Dialect, "recv"> {
  let summary = "receive the tensors a pp.send of stage `from` packed";
  let description = [{
    The counterpart of one `pp.send`: same tensors, same order, same types.

    ```mlir
    %h, %mask = pp.recv from 0 : tensor<8x64xf32>, tensor<8x8xi1>
    ```
  }];
  let arguments = (ins I64Attr:$from);
  let results = (outs Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "`from` $from attr-dict `:` type($values)";
  let hasVerifier = 1;
}

def PP_ScheduleKind : I32EnumAttr<"ScheduleKind", "pipeline schedule", [
    I32EnumAttrCase<"Inference", 0, "inference">,
    I32EnumAttrCase<"GPipe", 1, "gpipe">,
    I32EnumAttrCase<"OneFOneB", 2, "one_f_one_b">,
    I32EnumAttrCase<"Interleaved", 3, "interleaved">,
    I32EnumAttrCase<"ZBH1", 4, "zb_h1">,
    I32EnumAttrCase<"ZBH2", 5, "zb_h2">,
    I32EnumAttrCase<"ZBV", 6, "zb_v">,
    I32EnumAttrCase<"VHalf", 7, "v_half">,
    I32EnumAttrCase<"LoopedBFS", 8, "looped_bfs">,
    I32EnumAttrCase<"DualPipeV", 9, "dualpipe_v">,
    I32EnumAttrCase<"InterleavedZB", 10, "interleaved_zb">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_ScheduleKindAttr : EnumAttr<PP_Dialect, PP_ScheduleKind, "schedule_kind">;

def PP_ActionKind : I32EnumAttr<"ActionKind", "one step of a rank", [
    I32EnumAttrCase<"Fwd", 0, "fwd">,
    I32EnumAttrCase<"Bwd", 1, "bwd">,
    I32EnumAttrCase<"BwdB", 2, "bwd_b">,
    I32EnumAttrCase<"BwdW", 3, "bwd_w">,
    I32EnumAttrCase<"SendAct", 4, "send_act">,
    I32EnumAttrCase<"RecvAct", 5, "recv_act">,
    I32EnumAttrCase<"SendGrad", 6, "send_grad">,
    I32EnumAttrCase<"RecvGrad", 7, "recv_grad">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_ActionKindAttr : EnumAttr<PP_Dialect, PP_ActionKind, "action_kind">;

def PP_ScheduleOp : Op<PP_Dialect, "schedule",
    [NoTerminator, SingleBlock, IsolatedFromAbove]> {
  let summary = "per-rank action lists of a pipeline schedule";
  let description = [{
    `stage_ranks[s]` is the rank that runs stage s. The body holds one
    `pp.rank` per rank, in rank order; each lists that rank's actions in the
    order it performs them. `-pp-verify-schedule` proves it runs.

    ```mlir
    pp.schedule gpipe attributes {microbatches = 2 : i64, stage_ranks = array<i64: 0, 1>} {
      pp.rank 0 {
        pp.action fwd 0 mb 0
        pp.action send_act 0 mb 0 peer 1
        ...
      }
      ...
    }
    ```
  }];
  let arguments = (ins PP_ScheduleKindAttr:$kind, I64Attr:$microbatches,
                       DenseI64ArrayAttr:$stage_ranks);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def PP_RankOp : Op<PP_Dialect, "rank",
    [NoTerminator, SingleBlock, HasParent<"ScheduleOp">]> {
  let summary = "the ordered actions of one rank";
  let arguments = (ins I64Attr:$rank);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$rank attr-dict-with-keyword $body";
}

def PP_ActionOp : Op<PP_Dialect, "action", [HasParent<"RankOp">]> {
  let summary = "one action: compute of a stage on a micro-batch, or a transfer";
  let description = [{
    `fwd`, `bwd` (input and weight gradients together), `bwd_b` (input
    gradients), `bwd_w` (weight gradients) run stage `stage` on micro-batch
    `mb`. `send_act`/`recv_act` move stage `stage`'s activations of `mb` to or
    from stage `peer`; `send_grad`/`recv_grad` move gradients the other way.
  }];
  let arguments = (ins PP_ActionKindAttr:$kind, I64Attr:$stage,
                       I64Attr:$microbatch, OptionalAttr<I64Attr>:$peer);
  let assemblyFormat = "$kind $stage `mb` $microbatch (`peer` $peer^)? attr-dict";
  let hasVerifier = 1;
}

#endif // PPC_DIALECT_PP_IR_PPPIPELINEOPS_TD
