// Signals to `tidemark run`: SIGHUP reloads the app files at once and the process goes on; a
// second SIGTERM during a drain ends it at once, saying so, with nothing counted as done that
// was not; app directory problems that appear while running are reported like those at start.
import EmbeddedKafka
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension TidemarkCommandLine {
    @Suite("signals and the app directory")
    struct Signals {
        @Test("SIGHUP reloads the app files at once: an added app starts, the process keeps running and drains to exit 0")
        func sighupReloads() throws {
            let running = try RunningEndToEnd("sighup", readings: 200, extraTopics: ["b-five-minutes", "b-late"])
            let (scratch, broker, service) = (running.scratch, running.broker, running.service)
            try scratch.write("b.yaml", HotReload.appB)
            try createChangelogs(on: broker, apps: scratch.path("b.yaml"), group: "g")
            try FileManager.default.moveItem(atPath: scratch.path("b.yaml"), toPath: scratch.path("apps/b.yaml"))
            service.tool.send(SIGHUP)
            try waitUntil("app b to start after SIGHUP; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                guard service.tool.isRunning else { throw TestFailure(description: "tidemark run exited on SIGHUP: \(service.tool.stderr.text.suffix(2000))") }
                return service.recordsIn(app: "b") != nil
            }
            #expect(service.tool.stderr.text.contains("reloading app files on request (SIGHUP)"), "\(service.tool.stderr.text.suffix(2000))")
            // A SIGHUP with nothing changed changes nothing, and is no problem either.
            service.tool.send(SIGHUP)
            try waitUntil("a second reload; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                service.tool.stderr.lines.filter { $0.contains("reloading app files on request (SIGHUP)") }.count == 2
            }
            #expect(service.tool.isRunning)
            #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)")
            #expect(service.recordsIn(app: "e2e") == 200)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        }

        @Test("a second SIGTERM while the drain waits for a broker that is down ends the process at once, non-zero, saying the next run reads again from the last committed offsets; that run makes every window equal batch's")
        func aSecondSigtermCutsTheDrainShort() throws {
            let scratch = try ScratchDirectory("second-sigterm")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: ["--drain-timeout", "60"])
            defer { service.tool.kill() }
            // Outputs and checkpoints are in flight when the broker goes.
            let stream = try ReadingStream(readings, broker: broker)
            try takeDownMidStream(broker, stream, service)
            service.tool.send(SIGTERM)
            try waitUntil("/health to say stopping; /health \(service.health ?? "nil")", within: .seconds(20)) {
                service.health?.hasPrefix(#"{"status":"stopping""#) ?? false
            }
            let second = ContinuousClock.now
            service.tool.send(SIGTERM)
            let status = try service.tool.waitForExit(within: .seconds(10))
            #expect(ContinuousClock.now - second < .seconds(5), "the process took \(ContinuousClock.now - second) to exit")
            #expect(status == 128 + SIGTERM, "\(service.tool.stderr.text.suffix(2000))")
            #expect(
                service.tool.stderr.text.contains(
                    "tidemark run: SIGTERM during the drain: stopped at once, the drain cut short; outputs, checkpoints and offsets it had not committed are not counted as done: the next run reads again from the last committed offsets"
                ), "\(service.tool.stderr.text.suffix(2000))")
            #expect(!service.tool.stderr.text.contains("drained"), "\(service.tool.stderr.text.suffix(2000))")

            // What the cut-short drain had not committed is read again, and nothing is lost.
            try broker.setBrokerUp(1)
            try stream.finish()
            let again = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            try waitForEverythingCommitted(group: "g", broker: broker, service: again)
            #expect(try again.stop() == 0, "\(again.tool.stderr.text.suffix(2000))")
            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
        }

        @Test("a symbolic link loop or a broken app file that appears while running is logged naming it and shown by /health as degraded until removed; the running app goes on")
        func problemsThatAppearWhileRunningAreReported() throws {
            let running = try RunningEndToEnd("appear-running", readings: 200)
            let (scratch, service) = (running.scratch, running.service)
            let ok = #"{"status":"ok","detail":"running"}"# + "\n"
            try waitUntil("ok health; /health \(service.health ?? "nil")", within: .seconds(30)) { service.health == ok }

            let loop = scratch.path("apps/loop.yaml")
            #expect(symlink("loop.yaml", loop) == 0)
            try waitUntil("the loop to be reported; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                service.problemsLogged.contains { $0.contains("\(loop): error: too many levels of symbolic links") }
            }
            let degraded = service.health ?? ""
            #expect(degraded.hasPrefix(#"{"status":"degraded","detail":"app files refused"#), "\(degraded)")
            #expect(degraded.contains("\(loop): error: too many levels of symbolic links"), "\(degraded)")

            try scratch.write("apps/broken.yaml", "app: broken\ninput: {topic: readings, colour: blue}\n")
            try waitUntil("both to be reported; /health \(service.health ?? "nil")", within: .seconds(20)) {
                (service.health ?? "").contains("broken.yaml:2:") && (service.health ?? "").contains("loop.yaml")
            }
            #expect(service.problemsLogged.contains { $0.contains("broken.yaml:2:") }, "\(service.problemsLogged)")

            try FileManager.default.removeItem(atPath: loop)
            try FileManager.default.removeItem(atPath: scratch.path("apps/broken.yaml"))
            try waitUntil("ok health once both are gone; /health \(service.health ?? "nil")", within: .seconds(20)) { service.health == ok }
            #expect(service.recordsIn(app: "e2e") == 200)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        }
    }
}
