//===- PPDialect.td - the pp dialect ------------------------*- tablegen -*-===//

#ifndef PPC_DIALECT_PP_IR_PPDIALECT_TD
#define PPC_DIALECT_PP_IR_PPDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def PP_Dialect : Dialect {
  let name = "pp";
  let cppNamespace = "::ppc::pp";
  let summary = "Tensor and pipeline ops of the ppc pipeline-parallel compiler";
  let description = [{
    Static-shaped tensor ops, one per ONNX concept the supported models need,
    `pp.param` symbols for weights whose bytes live in a weight store outside
    the IR, and (later) the pipeline ops: send, recv and schedule.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    /// The bytes of every pp.param of the modules in this context. Owned by
    /// the dialect so that passes reach it without copying.
    WeightStore &getWeightStore() { return *weights; }

  private:
    std::unique_ptr<WeightStore> weights;
  public:
  }];
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def PP_PadMode : I32EnumAttr<"PadMode", "padding mode", [
    I32EnumAttrCase<"Constant", 0, "constant">,
    I32EnumAttrCase<"Reflect", 1, "reflect">,
    I32EnumAttrCase<"Edge", 2, "edge">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_PadModeAttr : EnumAttr<PP_Dialect, PP_PadMode, "pad_mode">;

def PP_ResizeMode : I32EnumAttr<"ResizeMode", "interpolation mode", [
    I32EnumAttrCase<"Nearest", 0, "nearest">,
    I32EnumAttrCase<"Linear", 1, "linear">,
    I32EnumAttrCase<"Cubic", 2, "cubic">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_ResizeModeAttr : EnumAttr<PP_Dialect, PP_ResizeMode, "resize_mode">;

def PP_CoordinateTransform : I32EnumAttr<"CoordinateTransform",
    "how output coordinates map to input coordinates", [
    I32EnumAttrCase<"HalfPixel", 0, "half_pixel">,
    I32EnumAttrCase<"PytorchHalfPixel", 1, "pytorch_half_pixel">,
    I32EnumAttrCase<"AlignCorners", 2, "align_corners">,
    I32EnumAttrCase<"Asymmetric", 3, "asymmetric">,
    I32EnumAttrCase<"TfHalfPixelForNn", 4, "tf_half_pixel_for_nn">,
    I32EnumAttrCase<"TfCropAndResize", 5, "tf_crop_and_resize">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_CoordinateTransformAttr
    : EnumAttr<PP_Dialect, PP_CoordinateTransform, "coordinate_transform">;

def PP_NearestMode : I32EnumAttr<"NearestMode", "rounding of nearest resize", [
    I32EnumAttrCase<"RoundPreferFloor", 0, "round_prefer_floor">,
    I32EnumAttrCase<"RoundPreferCeil", 1, "round_prefer_ceil">,
    I32EnumAttrCase<"Floor", 2, "floor">,
    I32EnumAttrCase<"Ceil", 3, "ceil">]> {
  let cppNamespace = "::ppc::pp";
  let genSpecializedAttr = 0;
}
def PP_NearestModeAttr : EnumAttr<PP_Dialect, PP_NearestMode, "nearest_mode">;

#endif // PPC_DIALECT_PP_IR_PPDIALECT_TD
