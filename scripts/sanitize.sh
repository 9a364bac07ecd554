#!/usr/bin/env bash
# Memory and undefined-behaviour checks of the native addon (issue #8).
#
#   bash scripts/sanitize.sh asan [test files…]   (npm run test:asan)
#     Builds the addon with -fsanitize=address,undefined (every UBSan finding fatal) into
#     build-asan/ (cmake-js, -DNATGRAD_SANITIZE=ON), then runs the native tests against it —
#     test/kernels, native, fuzz (NATGRAD_FUZZ_CALLS, default 5,000), async_memory, and the
#     optimizer's faults and concurrency tests (whole steps through the addon), after
#     scripts/sanitize-workload.js (2 rounds) — with
#     libasan/libubsan preloaded into node (node itself is not instrumented). OpenBLAS is
#     linked statically and not instrumented: ASan sees natgrad's own code, valgrind below
#     sees everything. LeakSanitizer is off: its exit-time check never runs inside node (no
#     report even for a deliberately unreachable block), so leaks are checked by valgrind
#     and by the RSS soak (npm run bench:soak).
#
#   bash scripts/sanitize.sh valgrind              (npm run test:valgrind)
#     valgrind memcheck, normal build (build/Release), on scripts/sanitize-workload.js (every
#     kernel sync and async, every error path, arrays transferred while pending) and on
#     NATGRAD_VALGRIND_CALLS (default 1,500) fuzz calls, and on 4 Workers ended with every …Async
#     kernel in flight (test/helpers/worker-teardown-child.cjs); any memcheck error or definitely
#     lost block fails. scripts/valgrind-node.supp suppresses V8's conservative stack scan.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-asan}"
shift || true

case "$mode" in
  asan)
    echo "sanitize: building build-asan/ (ASan + UBSan)"
    mkdir -p build-asan
    npx cmake-js compile -O build-asan --CDNATGRAD_SANITIZE=ON >build-asan/build.log 2>&1 || { tail -40 build-asan/build.log; exit 1; }
    addon="$PWD/build-asan/Release/natgrad.node"
    preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
    for lib in ${preload//:/ }; do [ -f "$lib" ] || { echo "sanitize: $lib not found (gcc's sanitizer runtimes)"; exit 1; }; done
    export LD_PRELOAD="$preload"
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:strict_string_checks=1:check_initialization_order=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
    export NATGRAD_ADDON="$addon"
    # the run is only meaningful if the instrumented addon and the ASan runtime are what node loads
    node -e '
      const a = require(process.env.NATGRAD_ADDON);
      const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
      if (!maps.includes("libasan") || !maps.includes("build-asan/Release/natgrad.node")) { console.error("sanitize: ASan runtime or build-asan addon not loaded"); process.exit(1); }
      console.log("sanitize: ASan + UBSan addon loaded:", a.backendInfo().blas);'
    files=("$@")
    [ ${#files[@]} -gt 0 ] || files=(test/kernels.test.ts test/native.test.ts test/fuzz.test.ts test/async_memory.test.ts test/faults.test.ts test/concurrency.test.ts test/workers.test.ts test/memory.test.ts test/exact_step.test.ts)
    start=$(date +%s)
    # the valgrind workload too (every kernel sync and async, layerGramSum over several tiles on the worker pool)
    node --expose-gc scripts/sanitize-workload.js "$addon" 2
    npx vitest run "${files[@]}"
    echo "sanitize: asan+ubsan clean on scripts/sanitize-workload.js ${files[*]} ($(( $(date +%s) - start )) s)"
    ;;
  valgrind)
    command -v valgrind >/dev/null || { echo "sanitize: valgrind not installed (apt-get install -y valgrind)"; exit 1; }
    addon="$PWD/build/Release/natgrad.node"
    [ -f "$addon" ] || npx cmake-js compile
    calls="${NATGRAD_VALGRIND_CALLS:-1500}"
    logs="$(mktemp -d)"
    vg=(valgrind --tool=memcheck --error-exitcode=99 --smc-check=all-non-file --leak-check=full
        --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=40
        --suppressions=scripts/valgrind-node.supp)
    status=0
    start=$(date +%s)
    run() {  # name, command…
      local name="$1"; shift
      local t0=$(date +%s)
      if "${vg[@]}" --log-file="$logs/$name.log" "$@" >"$logs/$name.out" 2>&1; then rc=0; else rc=$?; fi
      echo "sanitize: valgrind $name: exit $rc, $(grep -h 'ERROR SUMMARY' "$logs/$name.log" | tail -1 | sed 's/^==[0-9]*== //'); $(grep -h 'definitely lost' "$logs/$name.log" | tail -1 | sed 's/^==[0-9]*== *//') ($(( $(date +%s) - t0 )) s)"
      if [ "$rc" != 0 ]; then
        status=1
        tail -5 "$logs/$name.out"
        grep -v 'Warning: set address range perms' "$logs/$name.log" | head -80
      fi
    }
    run workload node --expose-gc scripts/sanitize-workload.js "$addon" 3
    run fuzz node --expose-gc test/fuzz-child.cjs "$addon" "$calls" 4242
    # Workers ended with every …Async kernel and stepAsync in flight: nothing may leak (a dropped
    # promise's Node-API deferred did, 8 bytes a call, before the promises were made from references)
    NATGRAD_ADDON="$addon" run workers node test/helpers/worker-teardown-child.cjs "$PWD/dist/index.js" 4
    if [ "$status" = 0 ]; then
      node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
        if (r.wrong.length || r.undocumented.length) { console.log("sanitize: fuzz under valgrind found", r.wrong, r.undocumented); process.exit(1); }
        console.log(`sanitize: fuzz under valgrind: ${r.calls} calls, ${r.correct} checked results, ${r.rejected} documented errors`);' "$logs/fuzz.out" || status=1
    fi
    rm -rf "$logs"
    [ "$status" = 0 ] && echo "sanitize: valgrind memcheck clean ($(( $(date +%s) - start )) s)"
    exit "$status"
    ;;
  *)
    echo "usage: bash scripts/sanitize.sh asan [test files…] | valgrind" >&2
    exit 2
    ;;
esac
