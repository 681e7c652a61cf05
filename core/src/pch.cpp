// Translation unit that carries the shared precompiled LibTorch header (see CMakeLists.txt).
