// libFuzzer drives FuzzTargets.decodeRecord, which traps on a broken promise.
import Tidemark

/// SwiftPM links an executable's entry point under this name; libFuzzer's driver runs here.
@_cdecl("FuzzRecordDecoder_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in
        _ = FuzzTargets.decodeRecord(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
