// The fuzz corpus (Fuzz/Corpus), run in-process through the same entry points as the
// libFuzzer targets: nothing crashes, every outcome has the shape the entry point promises,
// and the inputs named after a rule give the outcome the rule says.
import Foundation
import Testing
import Tidemark

private let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus")

/// Every file of one target's corpus, by name without extension, with its outcome.
private func outcomes(_ target: String, _ entry: (UnsafeRawBufferPointer) -> String) throws -> [String: String] {
    let directory = corpus.appendingPathComponent(target)
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    var outcomes: [String: String] = [:]
    for name in names {
        let bytes = try Data(contentsOf: directory.appendingPathComponent(name))
        outcomes[(name as NSString).deletingPathExtension] = bytes.withUnsafeBytes(entry)
    }
    return outcomes
}

@Suite struct FuzzCorpusTests {
    @Test func recordDecoderCorpus() throws {
        let results = try outcomes("record-decoder", FuzzTargets.decodeRecord)
        #expect(results.count >= 24)
        for (name, outcome) in results {
            #expect(outcome.hasPrefix("record ") || outcome.hasPrefix("malformed: "), "\(name): \(outcome)")
        }
        #expect(results["design-reading"] == "record dev-000017 1764288012345")
        #expect(results["duplicate-keys"] == "record d 1000")
        #expect(results["duplicate-device-null-first"] == "record d 1000")
        #expect(results["number-out-of-range"] == "malformed: number out of range")
        #expect(results["skipped-number-out-of-range"] == "malformed: number out of range")
        #expect(results["largest-double"] == "record d 1000")
        #expect(results["invalid-utf8"] == "malformed: invalid UTF-8")
        #expect(results["deep-nesting"] == "malformed: JSON nested too deeply")
        #expect(results["nested-paths"] == "record d 1000")
        #expect(results["nested-wrong-type"] == "malformed: an aggregated field is not a number")
        #expect(results["negative-time"] == "malformed: negative epoch time: set input.time_unit to say its unit")
    }

    @Test func appLoaderCorpus() throws {
        let results = try outcomes("app-loader", FuzzTargets.loadAppFile)
        #expect(results.count >= 24)
        for (name, outcome) in results {
            let isApp = outcome.hasPrefix("app ")
            let isErrors = outcome.split(separator: "\n").allSatisfy { $0.hasPrefix("fuzz.yaml") && $0.contains(" error: ") }
            #expect(isApp || isErrors, "\(name): \(outcome)")
        }
        for example in ["thermostat", "humidity", "sessions", "design-example", "every-shape", "anchors-and-aliases"] {
            #expect(results[example]?.hasPrefix("app ") == true, "\(example): \(results[example] ?? "missing")")
        }
        #expect(results["binary"] == "fuzz.yaml:1:11: error: not UTF-8 text")
        #expect(
            results["exploding-window"]
                == "fuzz.yaml:4:41: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide"
        )
        #expect(results["deep-expression"]?.hasSuffix("error: expression nested too deeply: at most 32 levels of parentheses, 'not' and '-'") == true)
        #expect(results["long-expression"]?.hasSuffix("error: expression too long: at most 256 operators; split it into several triggers") == true)
        #expect(results["feedback-loop"]?.contains("(a feedback loop)") == true)
        #expect(results["duration-overflow"]?.split(separator: "\n").count == 2)
    }

    @Test func expressionCorpus() throws {
        let results = try outcomes("expression", FuzzTargets.evaluateExpression)
        #expect(results.count >= 24)
        for (name, outcome) in results {
            #expect(["true", "false"].contains(outcome) || outcome.hasPrefix("error "), "\(name): \(outcome)")
        }
        #expect(results["design-either"] == "false")
        #expect(results["precedence"] == "true")
        #expect(results["backquoted-fields"] == "true")
        #expect(results["unterminated-backquote"] == "error 13: unterminated backquote in a field name")
        #expect(results["nesting-at-bound"] == "false")
        #expect(results["nesting-past-bound"] == "error 32: expression nested too deeply: at most 32 levels of parentheses, 'not' and '-'")
        #expect(results["operators-past-bound"] == "error 1026: expression too long: at most 256 operators; split it into several triggers")
    }
}
