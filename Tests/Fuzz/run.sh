#!/usr/bin/env bash
# Builds and runs one libFuzzer target: a container reader of the unpack stage, a metadata
# reader of the normalize stage, or the fetch stage's listing parsers.
#
#   Tests/Fuzz/run.sh TARGET [seconds] [extra libFuzzer flags…]
#   TARGET: tar zip gzip | mtl sentinel2 cmr-umm-g cmr-atom ccsds | listing
#
# A target is the sources it reads with (the container readers: Sources/EOShareUnpack minus
# the pipeline glue in Unpacker.swift; the metadata readers: Sources/EOShareNormalize minus
# the stage in Normalizer.swift, with the records and support types they use; the listing
# parsers: Fetch/ListingParser.swift) and its harness, compiled with -sanitize=fuzzer,address
# against the C shims' module maps. It runs on a copy of the seed corpus
# (Tests/Fuzz/corpus/<target>) in .build/fuzz/, so the checked-in corpus stays small;
# findings (crash-*, leak-*, timeout-*, oom-*) land in .build/fuzz/<target>/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."

reader=${1:?usage: run.sh tar|zip|gzip|mtl|sentinel2|cmr-umm-g|cmr-atom|ccsds|listing [seconds] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))

core=Sources/EOShareCore
unpack_sources="$(ls Sources/EOShareUnpack/*.swift | grep -v '/Unpacker.swift$') $core/Support/Digest.swift"
reader_sources="$(find Sources/EOShareNormalize -name '*.swift' ! -name Normalizer.swift | sort)
    $core/Records/Record.swift $core/Config/PacketTimeConfig.swift
    $core/Support/JSONValue.swift $core/Support/Timestamp.swift
    $core/Support/ISODuration.swift $core/Support/UTF8Bytes.swift $core/Support/TextBytes.swift
    $core/Support/Digest.swift $core/Records/TreeLayout.swift"
listing_sources="Sources/EOShareFetch/ListingParser.swift $core/Support/JSONValue.swift
    $core/Support/UTF8Bytes.swift $core/Support/TextBytes.swift"
case "$reader" in
    tar) flag=FUZZ_TAR sources=$unpack_sources harness=FuzzTarget.swift dict=unpack.dict ;;
    zip) flag=FUZZ_ZIP sources=$unpack_sources harness=FuzzTarget.swift dict=unpack.dict ;;
    gzip) flag=FUZZ_GZIP sources=$unpack_sources harness=FuzzTarget.swift dict=unpack.dict ;;
    mtl) flag=FUZZ_MTL sources=$reader_sources harness=FuzzReaders.swift dict=mtl.dict ;;
    sentinel2) flag=FUZZ_SENTINEL2 sources=$reader_sources harness=FuzzReaders.swift dict=xml.dict ;;
    cmr-umm-g) flag=FUZZ_CMR_UMMG sources=$reader_sources harness=FuzzReaders.swift dict=cmr.dict ;;
    cmr-atom) flag=FUZZ_CMR_ATOM sources=$reader_sources harness=FuzzReaders.swift dict=cmr.dict ;;
    ccsds) flag=FUZZ_CCSDS sources=$reader_sources harness=FuzzReaders.swift dict= ;;
    listing) flag=FUZZ_LISTING sources=$listing_sources harness=FuzzReaders.swift dict=listing.dict ;;
    *) echo "unknown target: $reader" >&2; exit 64 ;;
esac

# The Swift backtracer reads memory ASan considers wild; libFuzzer prints its own stack.
export SWIFT_BACKTRACE=enable=no

out=.build/fuzz/$reader
mkdir -p "$out/corpus" "$out/artifacts"
# One module here: the sources' imports of the product's other targets go.
rm -rf "$out/src" && mkdir -p "$out/src"
copied=""
for f in $sources; do
    dest="$out/src/$(echo "$f" | tr / _)"
    sed '/^import EOShare/d' "$f" > "$dest"
    copied="$copied $dest"
done
sources=$copied
# shellcheck disable=SC2086  # the source lists are meant to split
swiftc -O -g -parse-as-library -swift-version 6 -sanitize=fuzzer,address -D "$flag" \
    -module-name EOShareFuzz -package-name eoshare \
    -I Sources/CEOShareZlib -I Sources/CEOShareCrypto -I Sources/CEOShareSystem \
    $sources "Tests/Fuzz/$harness" \
    -lz -lcrypto -o "$out/fuzz-$reader"
cp -n Tests/Fuzz/corpus/"$reader"/* "$out/corpus/" 2>/dev/null || true

exec "$out/fuzz-$reader" "$out/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 ${dict:+-dict=Tests/Fuzz/$dict} -artifact_prefix="$out/artifacts/" -print_final_stats=1 "$@"
