"""Compile a CUDA C file to PTX with NVRTC, without a GPU: the library the pinned PyTorch wheels ship
(nvidia/cu13/lib/libnvrtc.so.13 in the venv). make lib-cuda runs it on device/kernels.h.

usage: python tools/nvrtc.py SOURCE OUT.ptx [ARCH]   (ARCH default compute_75, the oldest CUDA 13 targets)
"""
import ctypes
import glob
import os
import sys
import sysconfig

# No fused multiply-add: the kernels must round as the Go engine does (device/kernels.h).
OPTIONS = ["--fmad=false", "--std=c++17", "-default-device"]


def library() -> ctypes.CDLL:
    site = sysconfig.get_paths()["purelib"]
    found = sorted(glob.glob(os.path.join(site, "nvidia", "cu*", "lib", "libnvrtc.so.*")))
    found = [f for f in found if "builtins" not in f and "alt" not in os.path.basename(f)]
    if not found:
        sys.exit(f"nvrtc.py: no libnvrtc.so.* under {site}/nvidia (the pinned torch wheels bring it: make venv)")
    return ctypes.CDLL(found[-1])


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    arch = sys.argv[3] if len(sys.argv) == 4 else "compute_75"
    lib = library()
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    text = open(source, "rb").read()
    prog = ctypes.c_void_p()

    def check(status: int, what: str) -> None:
        if status != 0:
            sys.exit(f"nvrtc.py: {what}: {lib.nvrtcGetErrorString(status).decode()}")

    check(lib.nvrtcCreateProgram(ctypes.byref(prog), text, os.path.basename(source).encode(), 0, None, None),
          "nvrtcCreateProgram")
    opts = [o.encode() for o in OPTIONS + [f"--gpu-architecture={arch}"]]
    status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if status != 0:
        sys.exit(f"nvrtc.py: {source} does not compile:\n{log.value.decode(errors='replace')}")
    check(lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
    ptx = ctypes.create_string_buffer(size.value)
    check(lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(ptx.value)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
