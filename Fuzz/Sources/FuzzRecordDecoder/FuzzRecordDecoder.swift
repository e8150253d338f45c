// libFuzzer drives FuzzTargets.decodeRecord, which traps on a broken promise.
import FuzzDriver
import Tidemark

/// SwiftPM links an executable's entry point under this name; libFuzzer's driver runs here.
@_cdecl("FuzzRecordDecoder_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in
        _ = FuzzTargets.decodeRecord(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}
