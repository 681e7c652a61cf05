// Executable that carries the shared precompiled LibTorch header for executables (see
// CMakeLists.txt); it is never run.
int main() {
  return 0;
}
