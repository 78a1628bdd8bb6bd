# Source this file to build candle code with the `cuda` feature on a machine with no GPU and no
# CUDA toolkit:
#   source scripts/cuda_env.sh && cargo build --release --features cuda --example X
# It installs CUDA 13.0's compiler and libraries from PyPI into target/venv-cuda once
# (scripts/requirements-cuda.txt, via scripts/venv.sh), makes a link stub for the driver library
# (libcuda.so.1, which only a GPU machine has), and exports what candle's build scripts read:
# PATH (nvcc), CUDA_ROOT/CUDA_PATH/CUDA_HOME, CUDA_COMPUTE_CAP (default 90: H100/H200) and
# LIBRARY_PATH. The binary then needs, on the GPU machine: the driver's libcuda.so.1, and
# libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10 (PyTorch's cu13 wheels
# carry them: point LD_LIBRARY_PATH at their lib folders).
# Provenance: the approach and package pins are those of the project's tools/cuda-env.sh (checked
# there: a candle-core program with a matmul builds and links with CUDA 13.0, candle 0.11.1);
# here the venv lives under the repository's target/ and the pins are a requirement file.
_cu_py=$("$(dirname "${BASH_SOURCE[0]}")/venv.sh" cuda "$(dirname "${BASH_SOURCE[0]}")/requirements-cuda.txt") || {
  echo "cuda_env: making the CUDA venv failed" >&2; return 1; }
_cu=$("$_cu_py" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
_cu_link=$(dirname "$(dirname "$_cu_py")")/link
if [ ! -f "$_cu_link/libcuda.so" ]; then
  mkdir -p "$_cu_link"
  for l in cublas cublasLt cudart nvrtc curand; do
    ln -sf "$(ls "$_cu/lib/lib$l.so."* | head -1)" "$_cu_link/lib$l.so"
  done
  # a stub exporting every CUDA driver entry point named in cuda.h, with the driver's soname
  grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\s*\(' "$_cu/include/cuda.h" | sed 's/[ (]//g' | sort -u |
    awk '{print "void " $1 "(void){}"}' >"$_cu_link/stub.c"
  # the versioned names (cuMemAlloc_v2 ...) that cuda.h maps to by macros
  grep -ohE '#define\s+cu[A-Za-z0-9_]+\s+cu[A-Za-z0-9_]+' "$_cu/include/cuda.h" | awk '{print $3}' |
    sort -u | awk '{print "void " $1 "(void){}"}' >>"$_cu_link/stub.c"
  sort -u "$_cu_link/stub.c" -o "$_cu_link/stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$_cu_link/libcuda.so" "$_cu_link/stub.c"
fi
export PATH=$_cu/bin:$PATH CUDA_ROOT=$_cu CUDA_PATH=$_cu CUDA_HOME=$_cu
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export LIBRARY_PATH=$_cu_link:$_cu/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
unset _cu _cu_link _cu_py
