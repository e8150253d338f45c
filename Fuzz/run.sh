#!/bin/sh
# Builds one fuzz target with libFuzzer and AddressSanitizer and runs it on its corpus:
#   Fuzz/run.sh record-decoder|app-loader|expression [libFuzzer flags, e.g. -max_total_time=600]
# New inputs go to Fuzz/.build/corpus/<target> (the repository's Fuzz/Corpus/<target> only
# seeds it), crashes to Fuzz/.build/crashes/<target>-*.
set -eu
cd "$(dirname "$0")"
case "${1:-}" in
record-decoder) product=FuzzRecordDecoder dictionary=json.dict ;;
app-loader) product=FuzzAppLoader dictionary=yaml.dict ;;
expression) product=FuzzExpression dictionary=expression.dict ;;
*)
    echo "usage: $0 record-decoder|app-loader|expression [libFuzzer flags]" >&2
    exit 2
    ;;
esac
target=$1
shift
# lld: gold fails on the renamed entry point (SwiftPM links main as <product>_main).
swift build -c release --product "$product" -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
mkdir -p ".build/corpus/$target" .build/crashes
exec ".build/release/$product" -dict="Dictionaries/$dictionary" -artifact_prefix=".build/crashes/$target-" \
    -max_len=8192 -timeout=10 -rss_limit_mb=4096 "$@" ".build/corpus/$target" "Corpus/$target"
