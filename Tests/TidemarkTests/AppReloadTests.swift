// The reload rule of `tidemark run`: given the running apps and a fresh read of the app
// directory, a broken file keeps its app's previous version, the rest take effect, and every
// refusal comes back as an error naming its file.
import Foundation
import Streaming
import Testing
import Tidemark

/// An app file reading `input` and writing `output` (and `<name>-late`).
private func appFile(_ name: String, reads input: String = "readings", writes output: String = "alerts", when: String = "v > 1")
    -> String
{
    "app: \(name)\ninput: {topic: \(input)}\ntriggers: [{name: x, when: \(when), output: \(output)}]\n"
}

private let broken = "app: x\ninput: {topic: readings, colour: blue}\n"

/// The running apps after loading `files` (name, text) cleanly.
private func running(_ files: [(String, String)]) throws -> [AppDefinition] {
    try AppLoader.parse(files)
}

/// One line per app: `name (file) when`, so expectations read like the set.
private func describe(_ apps: [AppDefinition]) -> [String] {
    apps.map { "\($0.name) (\($0.sourceFile)) \($0.triggers.first?.condition.source ?? "")" }
}

@Suite struct AppReloadTests {
    @Test func aBrokenFileKeepsItsPreviousVersionWhileTheOthersTakeEffect() throws {
        let before = try running([
            ("a.yaml", appFile("a")), ("b.yaml", appFile("b")), ("c.yaml", appFile("c")),
        ])
        let load = AppLoader.parseEach([
            ("a.yaml", appFile("a", when: "v > 2")),  // changed: takes effect
            ("b.yaml", broken),  // broken: b keeps running as it was
            // c.yaml removed: c stops
            ("d.yaml", appFile("d")),  // new: starts
            ("e.yaml", "app: e\n"),  // new and broken: does not start
        ])
        let next = AppReload.next(running: before, load: load)
        #expect(describe(next.apps) == ["a (a.yaml) v > 2", "b (b.yaml) v > 1", "d (d.yaml) v > 1"])
        #expect(next.keptPrevious == ["b.yaml"])
        #expect(
            next.errors.map(\.description) == [
                "b.yaml:2:26: error: unknown key 'colour' in input; allowed keys: topic, format, device, time, time_unit, start, key",
                "b.yaml:1:1: error: an app needs at least one series or trigger",
                "e.yaml:1:1: error: missing required key 'input' in the app file",
                "e.yaml:1:1: error: an app needs at least one series or trigger",
            ])
        // Nothing changed, nothing reported.
        let same = AppReload.next(running: next.apps, load: AppLoader.parseEach([("a.yaml", appFile("a", when: "v > 2")), ("b.yaml", appFile("b")), ("d.yaml", appFile("d"))]))
        #expect(describe(same.apps) == ["a (a.yaml) v > 2", "b (b.yaml) v > 1", "d (d.yaml) v > 1"])
        #expect(same.errors.isEmpty && same.keptPrevious.isEmpty)
    }

    @Test func anAppThatCannotStartIsReportedAndItsPreviousVersionKeepsRunning() throws {
        let before = try running([("a.yaml", appFile("a"))])
        let exploding = """
            app: a
            input: {topic: readings}
            series:
              - {name: s, window: {size: 1d, slide: 1ms}, aggregate: {c: count()}, output: counts}

            """
        let next = AppReload.next(running: before, load: AppLoader.parseEach([("a.yaml", exploding)]))
        #expect(next.apps == before)
        #expect(
            next.errors.map(\.description) == [
                "a.yaml:4:41: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide"
            ])
    }

    @Test func aNewAppTakingTheNameOfAnAppWhoseFileBrokeIsRefused() throws {
        let before = try running([("a.yaml", appFile("a"))])
        let next = AppReload.next(
            running: before, load: AppLoader.parseEach([("a.yaml", broken.replacingOccurrences(of: "app: x", with: "app: a")), ("z.yaml", appFile("a"))]))
        #expect(describe(next.apps) == ["a (a.yaml) v > 1"])
        #expect(next.errors.map(\.description).last == "z.yaml:1:6: error: duplicate app name 'a' (also defined at a.yaml)")
    }

    @Test func aNewAppClosingACycleWithAnAppsPreviousVersionIsRefused() throws {
        // a reads t1 and writes t2. Its file now writes t3 but is broken elsewhere, so a keeps
        // writing t2; b, new, reads t2 and writes t1: together they would loop.
        let before = try running([("a.yaml", appFile("a", reads: "t1", writes: "t2"))])
        let brokenA = appFile("a", reads: "t1", writes: "t3") + "colour: blue\n"
        let next = AppReload.next(
            running: before, load: AppLoader.parseEach([("a.yaml", brokenA), ("b.yaml", appFile("b", reads: "t2", writes: "t1"))]))
        #expect(describe(next.apps) == ["a (a.yaml) v > 1"])
        #expect(
            next.errors.map(\.description) == [
                "a.yaml:4:1: error: unknown key 'colour' in the app file; allowed keys: app, input, watermark, series, triggers, late",
                "b.yaml:3:43: error: topic cycle: app 'b' reads 't2' and writes 't1', app 'a' reads 't1' and writes 't2'; records would go round these apps forever",
            ])
        // Fixed, a writes t3 and b may start.
        let fixed = AppReload.next(
            running: next.apps,
            load: AppLoader.parseEach([("a.yaml", appFile("a", reads: "t1", writes: "t3")), ("b.yaml", appFile("b", reads: "t2", writes: "t1"))]))
        #expect(fixed.errors.isEmpty)
        #expect(fixed.apps.map(\.name) == ["a", "b"])
    }

    @Test func aDirectoryThatCannotBeReadChangesNothing() throws {
        let before = try running([("a.yaml", appFile("a"))])
        let missing = AppLoader.loadEach(path: "/nonexistent/tidemark-apps")
        #expect(!missing.isListed)
        let next = AppReload.next(running: before, load: missing)
        #expect(next.apps == before)
        #expect(next.errors.map(\.description) == ["/nonexistent/tidemark-apps: error: no such file or directory"])
    }
}
