// libFuzzer drives FuzzTargets.evaluateExpression, which traps on a broken promise.
import FuzzDriver
import Tidemark

/// SwiftPM links an executable's entry point under this name; libFuzzer's driver runs here.
@_cdecl("FuzzExpression_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in
        _ = FuzzTargets.evaluateExpression(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}
