"""pip install path for the xlstm_cpp Python module (offline, with Debian's setuptools and wheel):

    /usr/bin/python3 -m pip install --no-build-isolation .

builds the module with this repository's CMake project (python/bindings.cpp; the same build as
`cmake -DXLSTM_PYTHON=ON`) and installs the one extension file. CMake, Ninja and the Debian -dev packages of
scripts/install_deps.sh must be present. XLSTM_CUDA=1 in the environment builds the CUDA backend in too.
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
(ROOT / "build-pip").mkdir(exist_ok=True)  # setuptools' build and egg-info output (git-ignored, as /build*/)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        args = ["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DXLSTM_PYTHON=ON", "-DXLSTM_TESTS=OFF",
                f"-DPython3_EXECUTABLE={sys.executable}", f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}"]
        if os.environ.get("XLSTM_CUDA", "0") not in ("", "0"):
            args += ["-DXLSTM_CUDA=ON"]
        subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args])
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "xlstm_cpp", "-j", str(os.cpu_count() or 1)])


setup(
    name="xlstm_cpp",
    version="0.1.0",
    description="xLSTM language-model inference engine (xlstm.cpp) for Python",
    ext_modules=[Extension("xlstm_cpp", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": "build-pip"}, "egg_info": {"egg_base": "build-pip"}},  # build/: CMake's
    python_requires=">=3.9",
    install_requires=["numpy"],
    zip_safe=False,
)
