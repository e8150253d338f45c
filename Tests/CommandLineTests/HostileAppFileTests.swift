// App files that would hurt a running process (a stack overflow, gigabytes for one record,
// durations that overflow, records looping forever, topics Kafka refuses, files that are not
// text): `validate`, `batch` and `run` refuse each at its file:line:column, in words.
import EmbeddedKafka
import Foundation
import Glibc
import Kafka
import Testing

#if canImport(Glibc)
#endif

extension TidemarkCommandLine {
    @Suite("hostile app files")
    struct HostileAppFiles {
        /// An app with one record trigger `when`.
        static func triggerApp(_ name: String, when: String) -> String {
            """
            app: \(name)
            input: {topic: readings, device: device, time: ts}
            triggers:
              - name: t
                when: \(when)
                output: alerts

            """
        }

        static let explodingWindow = """
            app: explode
            input: {topic: readings, device: device, time: ts}
            series:
              - name: s
                window: {size: 1d, slide: 1ms}
                aggregate: {n: count()}
                output: counts

            """

        static let overflowingDurations = """
            app: overflow
            input: {topic: readings, device: device, time: ts}
            watermark: {out_of_order: 9223372036854775807ms}
            series:
              - name: m
                window: {size: 106751991167d}
                aggregate: {n: count()}
                output: counts

            """

        @Test("validate and batch refuse deep or long expressions, exploding windows, overflowing durations and illegal topics at file:line:column")
        func appsThatWouldHurtAProcessAreRefused() throws {
            let scratch = try ScratchDirectory("hostile-apps")
            defer { scratch.remove() }
            // 10,000 parentheses crashed validate; 100,000 terms too.
            let deep = String(repeating: "(", count: 10_000) + "t > 1" + String(repeating: ")", count: 10_000)
            try scratch.write("apps/deep.yaml", Self.triggerApp("deep", when: deep))
            try scratch.write("apps/long.yaml", Self.triggerApp("long", when: Array(repeating: "t", count: 100_000).joined(separator: " + ") + " > 1"))
            try scratch.write("apps/explode.yaml", Self.explodingWindow)
            try scratch.write("apps/overflow.yaml", Self.overflowingDurations)
            try scratch.write("apps/topics.yaml", """
                app: topics
                input: {topic: bad topic!}
                triggers:
                  - {name: t, when: t > 1, output: \(String(repeating: "x", count: 300))}
                late: {output: ..}

                """)
            // A day sliding by the minute (1,440 windows a reading) is fine.
            try scratch.write("apps/fine.yaml", Self.explodingWindow.replacingOccurrences(of: "app: explode", with: "app: fine")
                .replacingOccurrences(of: "slide: 1ms", with: "slide: 1m"))

            let validate = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(validate.status == 1)
            #expect(validate.stdout == "")
            #expect(validate.stderr == """
                apps/deep.yaml:5:43: error: expression nested too deeply: at most 32 levels of parentheses, 'not' and '-'
                apps/explode.yaml:5:31: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide
                apps/long.yaml:5:1037: error: expression too long: at most 256 operators; split it into several triggers
                apps/overflow.yaml:3:27: error: duration '9223372036854775807ms' is too long: at most 3335999723d
                apps/overflow.yaml:6:20: error: duration '106751991167d' is too long: at most 3335999723d
                apps/topics.yaml:2:16: error: 'bad topic!' is not a legal Kafka topic name: use only letters, digits, '.', '_' and '-'
                apps/topics.yaml:4:36: error: topic name is 300 bytes long; Kafka allows at most 249
                apps/topics.yaml:5:16: error: '..' is not a legal Kafka topic name

                """)

            // batch stops before reading a record (it aborted, or failed with invalidDuration).
            try scratch.write("readings.jsonl", #"{"device":"a","ts":1795824000000,"t":1}"# + "\n")
            for (file, errors) in [
                ("explode", ["apps/explode.yaml:5:31: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide"]),
                ("overflow", [
                    "apps/overflow.yaml:3:27: error: duration '9223372036854775807ms' is too long: at most 3335999723d",
                    "apps/overflow.yaml:6:20: error: duration '106751991167d' is too long: at most 3335999723d",
                ]),
            ] {
                let batch = try runTool(
                    ["batch", "--app", "apps/\(file).yaml", "--input", "readings.jsonl", "--output", "out.jsonl"], in: scratch.url)
                #expect(batch.status == 1)
                #expect(batch.stderr == errors.joined(separator: "\n") + "\n")
            }

            for file in ["deep", "long", "explode", "overflow", "topics"] {
                try FileManager.default.removeItem(atPath: scratch.path("apps/\(file).yaml"))
            }
            let fine = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(fine.status == 0)
            #expect(fine.stdout == "fine: input readings, 1 series, 0 triggers (apps/fine.yaml)\n")
        }

        @Test("validate and run refuse an app writing into its own input, and apps whose topics form a cycle, naming apps and topics")
        func feedbackLoopsAreRefused() throws {
            let scratch = try ScratchDirectory("hostile-loops")
            defer { scratch.remove() }
            // One malformed record on `readings` went back to `readings`, about ten times a second, forever.
            try scratch.write("apps/echo.yaml", """
                app: echo
                input: {topic: readings, device: device, time: ts}
                series:
                  - {name: s, window: {size: 1m}, aggregate: {n: count()}, output: readings}
                triggers:
                  - {name: t, when: temperature > 1, output: alerts}
                late: {output: readings}

                """)
            try scratch.write("apps/forward.yaml", """
                app: forward
                input: {topic: readings, device: device, time: ts}
                triggers:
                  - {name: copy, when: temperature > -1000, output: copies}
                late: {output: forward-late}

                """)
            try scratch.write("apps/backward.yaml", """
                app: backward
                input: {topic: copies, device: device, time: time}
                triggers:
                  - {name: copy, when: temperature > -1000, output: readings}
                late: {output: backward-late}

                """)
            let loop = "is this app's input topic: every record written there would be read again, forever (a feedback loop)"
            let forever = "records would go round these apps forever"
            let expected = """
                apps/backward.yaml:4:53: error: topic cycle: app 'backward' reads 'copies' and writes 'readings', app 'forward' reads 'readings' and writes 'copies'; \(forever)
                apps/echo.yaml:4:68: error: output 'readings' \(loop)
                apps/echo.yaml:7:16: error: output 'readings' \(loop)
                apps/forward.yaml:4:53: error: topic cycle: app 'forward' reads 'readings' and writes 'copies', app 'backward' reads 'copies' and writes 'readings'; \(forever)

                """
            let validate = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(validate.status == 1)
            #expect(validate.stderr == expected)
            let run = try runTool(["run", "--brokers", "127.0.0.1:9", "--apps", "apps"], in: scratch.url)
            #expect(run.status == 1)
            #expect(run.stderr == expected)

            // Either app alone is fine.
            try FileManager.default.removeItem(atPath: scratch.path("apps/echo.yaml"))
            try FileManager.default.removeItem(atPath: scratch.path("apps/backward.yaml"))
            let fixed = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(fixed.status == 0)
            #expect(fixed.stdout == "forward: input readings, 0 series, 1 trigger (apps/forward.yaml)\n")
        }

        @Test("a binary file, a directory, an empty file, a FIFO and a dangling link named *.yaml are each reported in words with the path")
        func unreadableFilesAreReportedInWords() throws {
            let scratch = try ScratchDirectory("hostile-files")
            defer { scratch.remove() }
            try scratch.write("apps/ok.yaml", Self.triggerApp("ok", when: "t > 1"))
            // The start of an executable: valid UTF-8 up to the 0xFF at column 9.
            try Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0xFF, 0xFE]).write(to: scratch.url.appendingPathComponent("apps/binary.yaml"))
            try FileManager.default.createDirectory(atPath: scratch.path("apps/folder.yaml"), withIntermediateDirectories: false)
            try scratch.write("apps/empty.yaml", "")
            // A FIFO would block a reader opening it for good.
            #expect(mkfifo(scratch.path("apps/pipe.yaml"), 0o644) == 0)
            try FileManager.default.createSymbolicLink(atPath: scratch.path("apps/dangling.yaml"), withDestinationPath: "gone.yaml")
            var expected = [
                "apps/binary.yaml:1:9: error: not UTF-8 text (byte 0xFF here); configuration files are UTF-8 YAML",
                "apps/dangling.yaml: error: a symbolic link to a file that does not exist",
                "apps/empty.yaml:1:1: error: empty app file; expected 'app:'",
                "apps/folder.yaml: error: is a directory, not a YAML file",
            ]
            // Root reads any file, so a permission problem only shows for other users.
            if getuid() != 0 {
                try scratch.write("apps/locked.yaml", Self.triggerApp("locked", when: "t > 1"))
                #expect(chmod(scratch.path("apps/locked.yaml"), 0) == 0)
                expected.append("apps/locked.yaml: error: permission denied")
            }
            expected.append("apps/pipe.yaml: error: not a regular file (a FIFO, socket or device)")

            let validate = try runTool(["validate", "--apps", "apps"], in: scratch.url, within: .seconds(30))
            #expect(validate.status == 1)
            #expect(validate.stdout == "")
            #expect(validate.stderr == expected.joined(separator: "\n") + "\n")

            for (file, error) in [
                ("binary", expected[0]), ("folder", "apps/folder.yaml: error: is a directory, not a YAML file"),
                ("missing", "apps/missing.yaml: error: no such file"),
            ] {
                let batch = try runTool(["batch", "--app", "apps/\(file).yaml", "--input", "none.jsonl", "--output", "out.jsonl"], in: scratch.url)
                #expect(batch.status == 1)
                #expect(batch.stderr == error + "\n")
            }
        }
    
        @Test("a running process refuses harmful app files added while it runs, logs each at file:line:column, and its app goes on")
        func runRefusesHarmfulAppFilesAddedWhileRunning() throws {
            let scratch = try ScratchDirectory("hostile-reload")
            defer { scratch.remove() }
            try scratch.write("apps/guard.yaml", """
                app: guard
                input: {topic: readings, format: json, device: device, time: ts}
                triggers:
                  - {name: any, when: t > -1000, output: alerts}
                late: {output: guard-late}

                """)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings", "alerts", "guard-late"] { try broker.createTopic(topic, partitions: 1) }
            let readings = (0..<6).map { #"{"device":"d","ts":\#(1_795_824_000_000 + $0 * 1000),"t":\#($0)}"# }

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings[..<3], topic: "readings")
            try producer.finish()
            try service.waitForRecordsIn(app: "guard", 3)

            // Each of these killed the process or ran without its app, silently. Written
            // beside the directory, then renamed in, so the watcher never sees half a file.
            let deep = String(repeating: "(", count: 10_000) + "t > 1" + String(repeating: ")", count: 10_000)
            try scratch.write("deep.yaml", Self.triggerApp("deep", when: deep))
            try scratch.write("explode.yaml", Self.explodingWindow)
            try scratch.write("overflow.yaml", Self.overflowingDurations)
            for file in ["deep.yaml", "explode.yaml", "overflow.yaml"] {
                try FileManager.default.moveItem(atPath: scratch.path(file), toPath: scratch.path("apps/\(file)"))
            }
            let expected = [
                "apps/deep.yaml:5:43: error: expression nested too deeply: at most 32 levels of parentheses, 'not' and '-'",
                "apps/explode.yaml:5:31: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide",
                "apps/overflow.yaml:3:27: error: duration '9223372036854775807ms' is too long: at most 3335999723d",
                "apps/overflow.yaml:6:20: error: duration '106751991167d' is too long: at most 3335999723d",
            ]
            try waitUntil("the harmful files to be refused; stderr: \(service.tool.stderr.text.suffix(3000))", within: .seconds(20)) {
                service.problemsLogged.count >= expected.count
            }
            let problems = service.problemsLogged
            #expect(problems.count == expected.count, "\(problems)")
            for (problem, error) in zip(problems, expected) {
                #expect(problem.contains("app file rejected; its previous version (if any) goes on"), "\(problem)")
                #expect(problem.contains(error), "\(problem)")
            }

            try producer.sendReadings(readings[3...], topic: "readings")
            try producer.finish()
            try service.waitForRecordsIn(app: "guard", readings.count)
            #expect(service.recordsIn(app: "deep") == nil && service.recordsIn(app: "explode") == nil)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            let alerts = try readTopics(["alerts"], partitions: 1, bootstrap: broker.bootstrapServers)["alerts", default: []]
            #expect(alerts.map(\.valueText) == (0..<6).map {
                #"{"app":"guard","trigger":"any","device":"d","time":\#(1_795_824_000_000 + $0 * 1000),"value":{"t":\#($0)}}"#
            })
        }
    }
}
