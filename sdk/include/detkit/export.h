// Symbol visibility for libdetkit. Everything is built with -fvisibility=hidden; the SDK's
// public classes and functions carry DETKIT_API so that exactly one copy of their vtables,
// typeinfo and registries exists in the process (docs/plugin-systems.md §3.4).
#pragma once

#if defined(_WIN32)
#if defined(DETKIT_BUILDING_LIBRARY)
#define DETKIT_API __declspec(dllexport)
#else
#define DETKIT_API __declspec(dllimport)
#endif
#define DETKIT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DETKIT_API __attribute__((visibility("default")))
#define DETKIT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#define DETKIT_CAT_IMPL(a, b) a##b
#define DETKIT_CAT(a, b) DETKIT_CAT_IMPL(a, b)
#define DETKIT_STR_IMPL(a) #a
#define DETKIT_STR(a) DETKIT_STR_IMPL(a)
