# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "ppc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "conformance", "e2e", "runtime"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ppc_obj_root, "test")

llvm_config.with_system_environment(["HOME", "TMPDIR"])
llvm_config.use_default_substitutions()
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(
    ("%onnxgen", config.python_executable + " " +
     os.path.join(config.test_source_root, "Import", "ONNX", "Inputs",
                  "make_model.py")))
llvm_config.add_tool_substitutions(["ppc", "ppc-opt", "pprun"], [config.ppc_tools_dir])
llvm_config.add_tool_substitutions(["FileCheck", "not"], [config.llvm_tools_dir])
