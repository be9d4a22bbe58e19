#!/usr/bin/env bash
# Builds and runs one libFuzzer target of the unpack stage's container readers.
#
#   Tests/Fuzz/run.sh tar|zip|gzip [seconds] [extra libFuzzer flags…]
#
# The target is the reader sources (Sources/EOShare/Unpack, minus the pipeline glue in
# Unpacker.swift) plus Support/Digest.swift and the harness, compiled with
# -sanitize=fuzzer,address against the C shims' module maps. It runs on a copy of the seed
# corpus (Tests/Fuzz/corpus/<reader>) in .build/fuzz/, so the checked-in corpus stays small;
# findings (crash-*, leak-*, timeout-*) land in .build/fuzz/<reader>/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."

reader=${1:?usage: run.sh tar|zip|gzip [seconds] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
case "$reader" in
    tar) flag=FUZZ_TAR ;;
    zip) flag=FUZZ_ZIP ;;
    gzip) flag=FUZZ_GZIP ;;
    *) echo "unknown reader: $reader" >&2; exit 64 ;;
esac

# The Swift backtracer reads memory ASan considers wild; libFuzzer prints its own stack.
export SWIFT_BACKTRACE=enable=no

out=.build/fuzz/$reader
mkdir -p "$out/corpus" "$out/artifacts"
sources=$(ls Sources/EOShare/Unpack/*.swift | grep -v '/Unpacker.swift$')
swiftc -O -g -parse-as-library -swift-version 6 -sanitize=fuzzer,address -D "$flag" \
    -module-name EOShareFuzz \
    -I Sources/CEOShareZlib -I Sources/CEOShareCrypto \
    $sources Sources/EOShare/Support/Digest.swift Tests/Fuzz/FuzzTarget.swift \
    -lz -lcrypto -o "$out/fuzz-$reader"
cp -n Tests/Fuzz/corpus/"$reader"/* "$out/corpus/" 2>/dev/null || true

exec "$out/fuzz-$reader" "$out/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -dict=Tests/Fuzz/unpack.dict -artifact_prefix="$out/artifacts/" -print_final_stats=1 "$@"
