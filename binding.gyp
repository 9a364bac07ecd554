{
  "targets": [
    {
      "target_name": "natgrad",
      "sources": [
        "native/addon.cc",
        "native/memory.cc",
        "native/cpu/cpu_backend.cc",
        "native/cpu/gram.cc",
        "native/cpu/layer_gram.cc",
        "native/cpu/layer_gram64.cc",
        "native/cpu/cholesky_solve.cc",
        "native/cpu/pinv_solve.cc",
        "native/cpu/batched_gram_inverse.cc",
        "native/cpu/activation.cc",
        "native/cpu/rows.cc",
        "native/cpu/exact_step.cc",
        "native/cpu/conv2d.cc",
        "native/cpu/pool2d.cc",
        "native/cpu/gfortran_runtime.cc",
        "native/cpu/gemm_nt.cc",
        "native/cpu/parallel.cc",
        "native/cpu/potrf_recursive.cc",
        "native/cuda/cuda_api.cc",
        "native/cuda/cuda_backend.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node scripts/openblas.js include)"
      ],
      "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-fvisibility=hidden"],
      "libraries": [
        "<!@(node scripts/openblas.js link)",
        "-lpthread", "-lm"
      ],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-ldl", "-Wl,--exclude-libs,ALL"] }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno", "-fvisibility=hidden"],
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }]
      ]
    }
  ]
}
