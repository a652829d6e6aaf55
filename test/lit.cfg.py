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

# A usable NVIDIA GPU here (nvidia-smi lists one): tests of the no-GPU error
# lines do not apply.
import shutil
import subprocess
if shutil.which("nvidia-smi"):
    try:
        if subprocess.run(["nvidia-smi", "-L"], capture_output=True,
                          timeout=20).returncode == 0:
            config.available_features.add("cuda-device")
    except (OSError, subprocess.TimeoutExpired):
        pass
